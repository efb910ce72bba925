package endpoint

import (
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
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
// that text with each replaced by Redacted (RedactSecrets), which wraps
// nothing: what it wrapped would repeat them. net/http quotes a status or
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

// RedactSecrets returns text with each non-empty secret replaced by mark,
// also where text quotes it as %q does (net/http quotes the lines it
// cannot parse so): the longest first, so that one holding another goes
// whole; secrets whose places overlap go in one mark, leaving nothing of
// either. A text
// longer than maxRedactText bytes is cut there, and "…" follows (a
// secret the cut splits reads mark): a server sets the length of the
// line net/http quotes (up to 10 MB through http.DefaultTransport), and
// of a refresh token it issued, which the next token request carries,
// and strings.Index's search costs up to their product (its Rabin-Karp
// hash is fixed, and such a server can make every place of the line
// collide with the secret's).
func RedactSecrets(text string, secrets []string, mark string) string {
	all := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		if s == "" {
			continue
		}
		all = append(all, s)
		if q := strconv.Quote(s); q[1:len(q)-1] != s {
			all = append(all, q[1:len(q)-1])
		}
	}
	if len(all) == 0 {
		return text
	}
	slices.SortStableFunc(all, func(a, b string) int { return len(b) - len(a) })
	end := len(text)
	if end > maxRedactText {
		end = cutAt(text, maxRedactText)
	}
	// A secret that starts before end is sought whole, past end when it
	// runs on, so that one the cut splits is found too.
	window := text[:min(len(text), end+len(all[0])-1)]
	var found []span // the places of the secrets found, as found
	covered := make([]bool, len(window))
	before := make([]int, len(window)+1) // how many of window's first i bytes a secret found covers
	for _, s := range all {
		for i, c := range covered {
			before[i+1] = before[i]
			if c {
				before[i+1]++
			}
		}
		for i := 0; i < end; {
			j := strings.Index(window[i:], s)
			if j < 0 || i+j >= end {
				break
			}
			from, to := i+j, i+j+len(s)
			if before[to]-before[from] == len(s) {
				i = from + 1 // within those found before: a longer secret's
				continue
			}
			found = append(found, span{from, to}) // one it overlaps joins it below
			for k := from; k < to; k++ {
				covered[k] = true
			}
			i = to
		}
	}
	if len(found) == 0 && end == len(text) {
		return text
	}
	slices.SortFunc(found, func(a, b span) int { return a.from - b.from })
	var b strings.Builder
	at := 0 // the first byte of text not yet written or redacted
	for k := 0; k < len(found); {
		from, to := found[k].from, found[k].to
		for k++; k < len(found) && found[k].from < to; k++ {
			to = max(to, found[k].to) // overlapping places: one mark
		}
		b.WriteString(text[at:from])
		b.WriteString(mark)
		at = to
	}
	b.WriteString(text[min(at, end):end])
	if end < len(text) {
		b.WriteString("…")
	}
	return b.String()
}

// span is the place of a secret in a text, text[from:to].
type span struct{ from, to int }

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
// 4 bytes or more, as the query: minParamSecret), as written and decoded (a key set's
// URL may carry an API key); the values
// of credentialHeaders, and the credentials after an Authorization
// header's scheme, also a Basic one's password, as written (form-encoded,
// RFC 6749 2.3.1) and decoded; and the body (read again through GetBody,
// if set; up to 64 KiB): a form's values as the query's, or any other
// body whole.
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
				if _, password, ok := strings.Cut(string(dec), ":"); ok {
					secrets = append(secrets, password, unescaped(password))
				}
			}
		}
	}
	return append(secrets, bodySecrets(req)...)
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
// formSecrets takes for a secret: shorter ones ("0", "yes", a small
// number) are no credential, and cut out of an error's text they could
// take a piece of an address or a port with them, and in tokencreds the
// errors that tell an outage from a misconfiguration.
const minParamSecret = 4

// formSecrets returns the value of each parameter of form (a query or a
// form-encoded body) but publicParams' and those shorter than
// minParamSecret, as written and decoded; a parameter without "=" is its
// own value.
func formSecrets(form string) []string {
	var secrets []string
	for pair := range strings.SplitSeq(form, "&") {
		name, value, ok := strings.Cut(pair, "=")
		if !ok {
			value = name // a bare word may be the secret itself
		}
		if publicParams[unescaped(name)] || len(unescaped(value)) < minParamSecret {
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
