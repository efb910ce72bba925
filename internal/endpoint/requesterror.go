package endpoint

import (
	"encoding/base64"
	"errors"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Redacted is what RequestErrorText writes in place of each secret.
const Redacted = "[REDACTED]"

// maxSecretBody bounds how much of a request's body RequestSecrets reads:
// a token or introspection request's form takes far less.
const maxSecretBody = 64 << 10

// RequestErrorText returns the text of err, a failure of req, for a log or
// an error: WithoutSecrets' text, clipped to MaxErrorText bytes (after the
// secrets are out, so that the cut leaves no start of one).
func RequestErrorText(err error, req *http.Request, more ...string) string {
	return Clip(WithoutSecrets(err, req, more...).Error(), MaxErrorText)
}

// WithoutSecrets returns err, a failure of req, without the URL
// (WithoutURL), and, when its text holds a secret req carried
// (RequestSecrets) or one of more, in any form, in its place an error of
// that text with each replaced by Redacted (RedactSecrets; WithheldText
// when one is too short to cut out), which wraps nothing: what it wrapped
// would repeat them. net/http quotes a status or
// header line it cannot parse in its error, so that a server, or a proxy,
// that echoes the request into one puts the request's credentials, or its
// URL's query, there. The introspection verifier and the key set share
// it.
func WithoutSecrets(err error, req *http.Request, more ...string) error {
	err = WithoutURL(err)
	text := err.Error()
	if cut := RedactSecrets(text, append(RequestSecrets(req), more...), Redacted); cut != text {
		return errors.New(cut)
	}
	return err
}

// RedactSecrets returns text with every byte that an occurrence of a
// non-empty secret covers masked, also where text quotes it as %q does
// (net/http quotes the lines it cannot parse so) or as a JSON encoder
// escapes it in a string (an authorization server that echoes the
// request in its error body): as Go's encoding/json, JavaScript's
// JSON.stringify, PHP's json_encode (with and without its \uXXXX past
// ASCII), Python's json.dumps and .NET's System.Text.Json write it
// (jsonStyles), or as a URL encoder percent-encodes it (a server that
// echoes the request form-encoded or in a URL): as Go's url.QueryEscape,
// the WHATWG form serializer (URLSearchParams, Java's URLEncoder), RFC
// 3986's unreserved characters with %20 (Python's quote, PHP's
// rawurlencode), JavaScript's encodeURIComponent and .NET's
// HttpUtility.UrlEncode (lower-case hexadecimal) write it
// (percentStyles), so that each secret is sought in at most
// maxSecretForms forms (secretForms). Each run of masked bytes reads one mark,
// whichever secrets, and however many of their places, overlapping or
// abutting, it joins ("abab" in "ababab" goes whole: both of its places
// are masked). A character of UTF-8 that a run's edge would split goes
// whole into the run, so that a UTF-8 text gives UTF-8 whatever the
// secrets are (a secret that is not UTF-8 may begin or end inside a
// character); no byte of a secret, in any of its forms, is ever left.
//
// A secret (or one of its forms) of fewer than MinSecret bytes is not cut
// out where it stands, which would take each such byte of the text with
// it (every "1" of an address for a secret "1") and still tell the
// secret's length and place: when text holds one, RedactSecrets returns
// WithheldText instead, whatever the mark, and text as it is when it
// holds none. Callers leave out what is no credential (RequestSecrets'
// parameter values under MinSecret bytes); a credential of any length
// goes in, so that a short one is never left in a text.
//
// A text longer than maxRedactText bytes is cut there, and "…" follows (a
// secret the cut splits reads mark): a server sets the length of the line
// net/http quotes (up to 10 MB through http.DefaultTransport), and of a
// refresh token it issued, which the next token request carries. Each
// form of each secret is sought in linear time (occurrences), so that the
// cost is the examined text's length, plus the form's, a form, whatever
// the text.
func RedactSecrets(text string, secrets []string, mark string) string {
	all := make([]string, 0, len(secrets))
	longest := 0
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, f := range secretForms(s) {
			all = append(all, f)
			longest = max(longest, len(f))
		}
	}
	if len(all) == 0 {
		return text
	}
	end := len(text)
	if end > maxRedactText {
		end = cutAt(text, maxRedactText)
	}
	// A secret that starts before end is sought whole, past end when it
	// runs on, so that one the cut splits is found too.
	window := text[:min(len(text), end+longest-1)]
	depth := make([]int32, len(window)+1) // places starting, less places ending, at each byte
	found := false
	for _, s := range all {
		for from := range occurrences(window, s, end) {
			if len(s) < MinSecret {
				return WithheldText
			}
			depth[from]++
			depth[from+len(s)]--
			found = true
		}
	}
	if !found && end == len(text) {
		return text
	}
	masked := make([]bool, end)
	for i, d := 0, int32(0); i < end; i++ {
		d += depth[i]
		masked[i] = d > 0
	}
	for i := 1; i < end; i++ {
		if masked[i] == masked[i-1] {
			continue
		}
		if from, to, ok := runeAcross(window, i); ok { // a rune the edge splits goes whole
			for k := from; k < min(to, end); k++ {
				masked[k] = true
			}
			i = to
		}
	}
	var b strings.Builder
	for i := 0; i < end; {
		j := i
		for j < end && masked[j] == masked[i] {
			j++
		}
		if masked[i] {
			b.WriteString(mark)
		} else {
			b.WriteString(text[i:j])
		}
		i = j
	}
	if end < len(text) {
		b.WriteString("…")
	}
	return b.String()
}

// MinSecret is the fewest bytes of a secret that RedactSecrets cuts out
// of a text where it stands; a text holding a shorter one is withheld
// whole (WithheldText). It is also the fewest of a parameter's value that
// RequestSecrets takes for a secret (minParamSecret).
const MinSecret = 4

// WithheldText is what RedactSecrets returns for a text that holds a
// secret of fewer than MinSecret bytes.
const WithheldText = "[text withheld: it holds a secret too short to mask]"

// occurrences yields the start of every place of s (not empty) in text
// that starts before end, overlapping places included, in order: the
// Knuth-Morris-Pratt search, which reads each byte of text once and costs
// no more for a text shaped to collide with s (strings.Index's Rabin-Karp
// hash is fixed, and a server that issued a refresh token can make every
// place of the line it has net/http quote collide with it).
func occurrences(text, s string, end int) iter.Seq[int] {
	return func(yield func(int) bool) {
		if len(text) < len(s) {
			return
		}
		border := make([]int, len(s)) // border[i]: the longest proper border of s[:i+1]
		for i, k := 1, 0; i < len(s); i++ {
			for k > 0 && s[i] != s[k] {
				k = border[k-1]
			}
			if s[i] == s[k] {
				k++
			}
			border[i] = k
		}
		for i, k := 0, 0; i < len(text) && i-k < end; i++ {
			for k > 0 && text[i] != s[k] {
				k = border[k-1]
			}
			if text[i] == s[k] {
				k++
			}
			if k == len(s) {
				if from := i + 1 - k; from >= end || !yield(from) {
					return
				}
				k = border[k-1]
			}
		}
	}
}

// runeAcross returns the place of the UTF-8 character of text that byte
// boundary i falls inside, if one does.
func runeAcross(text string, i int) (from, to int, ok bool) {
	for p := i - 1; p >= 0 && p > i-utf8.UTFMax; p-- {
		if utf8.RuneStart(text[p]) {
			r, size := utf8.DecodeRuneInString(text[p:])
			return p, p + size, (r != utf8.RuneError || size > 1) && p+size > i
		}
	}
	return 0, 0, false
}

// maxRedactText bounds how much of a text RedactSecrets examines and
// returns: far more than any failure of a request net/http reports,
// whose echo of a request is itself bounded by the request
// (maxSecretBody).
const maxRedactText = 64 << 10

// credentialHeaders are the request headers whose values are secrets: the
// credentials, a DPoP proof, cookies.
var credentialHeaders = [...]string{"Authorization", "Proxy-Authorization", "DPoP", "Cookie"}

// publicParams are the names of form and query parameters of requests to
// an authorization server whose values are no secret, and so are left in
// an error's text; every other parameter's value may be one.
var publicParams = map[string]bool{
	"grant_type": true, "client_id": true, "scope": true, "token_type_hint": true,
	"audience": true, "resource": true, "redirect_uri": true, "client_assertion_type": true,
	"subject_token_type": true, "actor_token_type": true, "requested_token_type": true,
}

// RequestSecrets returns the texts in which req (nil: none) carries what
// may be a secret, in each form an echo of the request may repeat it: its
// URL's query whole and the value of each parameter but publicParams' (of
// MinSecret bytes or more, as the query: minParamSecret), as written and
// decoded (a key set's URL may carry an API key); the values of
// credentialHeaders, and the credentials after an Authorization header's
// scheme, also a Basic one's password and its parts (basicSecrets), as
// written (form-encoded, RFC 6749 2.3.1) and decoded; and the body (read
// again through GetBody, if set; up to 64 KiB): a form's values as the
// query's, or any other body whole. As written is the client's encoding
// (url.Values.Encode's for this module's requests); RedactSecrets seeks
// each of these in the forms other encoders write too (secretForms), for
// a server that decodes the request and echoes it encoded again. A
// credential is listed whatever its length, so that RedactSecrets
// withholds a text holding one too short to cut out (WithheldText) rather
// than leave it there.
func RequestSecrets(req *http.Request) []string {
	if req == nil {
		return nil
	}
	var secrets []string
	if req.URL != nil && len(req.URL.RawQuery) >= minParamSecret { // shorter, no part is one either
		secrets = append(secrets, req.URL.RawQuery)
		secrets = append(secrets, formSecrets(req.URL.RawQuery)...)
	}
	for _, name := range credentialHeaders {
		for _, v := range req.Header.Values(name) {
			secrets = append(secrets, v)
			if name != "Authorization" && name != "Proxy-Authorization" {
				continue
			}
			scheme, creds, ok := strings.Cut(v, " ")
			if !ok {
				continue
			}
			secrets = append(secrets, creds)
			if dec, err := base64.StdEncoding.DecodeString(creds); err == nil && strings.EqualFold(scheme, "Basic") {
				secrets = append(secrets, basicSecrets(string(dec))...)
			}
		}
	}
	return append(secrets, bodySecrets(req)...)
}

// basicSecrets returns the parts of dec, Basic credentials decoded
// ("user-id:password"), that may stand alone in an echo, as written and
// decoded (RFC 6749 2.3.1 form-encodes both): the password, which RFC
// 7617 takes to start after the first ':' (net/http's BasicAuth does), so
// that it holds the rest of a user-id that has one, as SetBasicAuth
// writes such a user-id unencoded; and, for each ':' in that password, the
// part before it and the part after it, which a reader splitting at
// another ':' takes for a user-id's end or for the password. The user-id
// before the first ':' is no secret (a client id, RFC 6749 2.2), and is
// left, as the form's client_id is.
func basicSecrets(dec string) []string {
	_, password, ok := strings.Cut(dec, ":")
	if !ok {
		return nil
	}
	secrets := []string{password, unescaped(password)}
	for i := range len(password) {
		if password[i] == ':' {
			secrets = append(secrets, password[:i], unescaped(password[:i]), password[i+1:], unescaped(password[i+1:]))
		}
	}
	return secrets
}

// bodySecrets is RequestSecrets' part of req's body.
func bodySecrets(req *http.Request) []string {
	if req.GetBody == nil {
		return nil
	}
	body, err := req.GetBody()
	if err != nil || body == nil {
		return nil
	}
	defer body.Close()
	b, _ := io.ReadAll(io.LimitReader(body, maxSecretBody))
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		return formSecrets(string(b))
	}
	return []string{string(b)}
}

// minParamSecret is the fewest bytes of a parameter's value that
// formSecrets takes for a secret, unless the parameter is one of
// credentialParams: shorter ones ("0", "yes", a small number) are no
// credential, and each would withhold a failure's text that holds its
// bytes anywhere (RedactSecrets), an address or a port, and in tokencreds
// the errors that tell an outage from a misconfiguration.
const minParamSecret = MinSecret

// credentialParams are the names of form and query parameters whose
// values are credentials (RFC 6749, 7521, 7523, 7636, 8628, 8693), which
// formSecrets takes for secrets whatever their length: a client secret of
// 3 bytes is still the whole of one. A token to introspect is not among
// them: a caller chose it, and a short one is no credential.
var credentialParams = map[string]bool{
	"client_secret": true, "password": true, "refresh_token": true, "code": true, "code_verifier": true,
	"client_assertion": true, "assertion": true, "subject_token": true, "actor_token": true, "device_code": true,
}

// formSecrets returns the value of each parameter of form (a query or a
// form-encoded body) but publicParams' and, but credentialParams', those
// shorter than minParamSecret, as written and decoded; a parameter without
// "=" is its own value.
func formSecrets(form string) []string {
	var secrets []string
	for pair := range strings.SplitSeq(form, "&") {
		name, value, ok := strings.Cut(pair, "=")
		if !ok {
			value = name // a bare word may be the secret itself
		}
		if publicParams[unescaped(name)] || len(unescaped(value)) < minParamSecret && !(ok && credentialParams[unescaped(name)]) {
			continue
		}
		secrets = append(secrets, value, unescaped(value))
	}
	return secrets
}

// unescaped is s decoded as a query's part is (url.QueryUnescape), or s
// when it does not decode.
func unescaped(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}
