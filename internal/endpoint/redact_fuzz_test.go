package endpoint

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// Bounds of FuzzRedactSecrets' inputs, so that one runs in milliseconds.
const (
	fuzzMaxText   = 4 << 10
	fuzzMaxSecret = 128
)

// FuzzRedactSecrets checks what RedactSecrets promises, for any text
// (placed, when pad is not 0, so that the maxRedactText cut falls pad-1
// bytes into it, modulo its length) and one to three secrets (n%3+1 of
// s1, s2, s3), each sought in each of its forms (secretForms: as it is,
// %q-escaped, as each of jsonStyles escapes it in a JSON string, and as
// each of percentStyles percent-encodes it):
//
//   - the forms are what checkedForms checks: the secret, its %q form,
//     encoding/json's and each percent-encoded form that percentForms
//     makes of url.QueryEscape's (url.PathEscape's among them where it
//     is one) among them, at most maxSecretForms, each JSON one read by
//     encoding/json as the secret, each percent-encoded one by
//     url.QueryUnescape;
//   - it is what maskedText, the promise written the slow way, makes:
//     every byte that a place of a form of a secret starting before the
//     cut covers is masked, also where places overlap (the secret itself:
//     "abab" in "ababab"), and so is the rest of a UTF-8 character of
//     which one is; each run of masked bytes reads one mark; a text holding a form of fewer than MinSecret bytes
//     is WithheldText;
//   - which bytes go does not depend on the mark: the text redacted with a
//     mark of one byte that neither the text nor a secret holds, each of
//     its marks replaced by Redacted, is the text redacted with Redacted;
//   - no form of a secret is left whole in what remains of the text (the
//     output less its marks and "…"). With Redacted for a mark, a form can
//     read whole only using a mark's bytes (a secret "D]ab" after another
//     redacted, "[REDACTED]ab"): it is checked for every form that shares
//     no such overlap with Redacted;
//   - a form the cut splits goes whole: what is left before "…" does not
//     end with its start;
//   - with no secret cut out, the text is as it was, cut at maxRedactText
//     (a rune it splits left out whole) and "…" after it when longer;
//   - the output is at most min(len(text), maxRedactText) + k*len(mark) +
//     len("…") bytes, k the marks written, and k is at most that kept
//     length over the shortest form's, rounded up;
//   - a text in UTF-8 gives UTF-8, whatever the secrets (one that is not
//     UTF-8 may start or end inside a character of the text).
//
// Its seeds, in testdata/fuzz/FuzzRedactSecrets, hold a secret %q
// escapes, secrets echoed JSON-escaped (encoding/json's \u003c and
// \u0026, PHP's \/ and \uXXXX past ASCII, .NET's \u0022 and upper-case
// hex, a control character), a JSON form the cut splits, secrets echoed
// percent-encoded ('+' and %20 for a space, lower-case hex, '~' as %7E,
// encodeURIComponent's "!'()*"), a percent-encoded form the cut splits,
// one under MinSecret bytes as '+' but not as %20, one of a secret that
// is not UTF-8, a secret the cut
// splits and one starting at it, overlapping secrets, secrets
// overlapping themselves, secrets within the mark or ending in its start,
// empty secrets, secrets under MinSecret bytes, text and secrets that are
// not UTF-8, a secret ending or starting inside a character of the text,
// and runes at the cut.
func FuzzRedactSecrets(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string, pad uint16, n uint8, s1, s2, s3 string) {
		if len(text) > fuzzMaxText || len(s1) > fuzzMaxSecret || len(s2) > fuzzMaxSecret || len(s3) > fuzzMaxSecret {
			return
		}
		if pad != 0 {
			text = strings.Repeat("x", maxRedactText-int(pad-1)%(len(text)+1)) + text
		}
		secrets := []string{s1, s2, s3}[:n%3+1]
		var sought []string // each form of each non-empty secret
		for _, s := range secrets {
			if s != "" {
				sought = append(sought, checkedForms(t, s)...)
			}
		}
		out := RedactSecrets(text, secrets, Redacted)
		if len(sought) == 0 {
			if out != text {
				t.Fatalf("no secret, and the text changed: %q", out)
			}
			return
		}
		if want := maskedText(text, sought, Redacted); out != want {
			t.Fatalf("not every byte of a secret masked, or more:\n got %s\nwant %s", short(out), short(want))
		}
		if out == WithheldText {
			return
		}
		mark, ok := absentByte(append([]string{text}, sought...))
		if !ok {
			return // every mark of one byte may be read in the text
		}
		byteOut := RedactSecrets(text, secrets, mark)
		if want := strings.ReplaceAll(byteOut, mark, Redacted); out != want {
			t.Fatalf("the mark changed what was cut out:\n got %s\nwant %s", short(out), short(want))
		}
		kept, cut := strings.CutSuffix(byteOut, "…")
		cut = cut && len(text) > maxRedactText
		k := strings.Count(kept, mark)
		rest := strings.Split(kept, mark) // what remains of the text
		for _, s := range sought {
			for _, r := range rest {
				if strings.Contains(r, s) {
					t.Fatalf("secret %q is left whole in %s", s, short(byteOut))
				}
			}
			if !touches(s, Redacted) && strings.Contains(strings.TrimSuffix(out, "…"), s) {
				t.Fatalf("secret %q reads whole in %s", s, short(out))
			}
		}
		end := len(text)
		if cut {
			end = cutAt(text, maxRedactText)
			if end > maxRedactText || end < maxRedactText-utf8.UTFMax+1 {
				t.Fatalf("cut at %d", end)
			}
		} else if len(text) > maxRedactText {
			t.Fatalf("a text of %d bytes is not cut", len(text))
		}
		if last := rest[len(rest)-1]; cut {
			for _, s := range sought {
				for i := 1; i < len(s) && i <= len(last); i++ {
					if strings.HasPrefix(text[end-i:], s) && strings.HasSuffix(last, s[:i]) {
						t.Fatalf("secret %q, split by the cut, leaves %q: %s", s, s[:i], short(byteOut))
					}
				}
			}
		}
		if k == 0 && kept != text[:end] {
			t.Fatalf("nothing cut out, yet the text changed: %s", short(byteOut))
		}
		shortest := len(slices.MinFunc(sought, func(a, b string) int { return len(a) - len(b) }))
		if bound := end + k*len(Redacted) + len("…"); len(out) > bound || k > (end+shortest-1)/shortest {
			t.Fatalf("%d bytes with %d marks: over %d, or too many marks", len(out), k, bound)
		}
		if len(kept)-k > end {
			t.Fatalf("%d bytes of text kept, over %d", len(kept)-k, end)
		}
		if utf8.ValidString(text) && !utf8.ValidString(out) {
			t.Fatalf("UTF-8 in, not out: %s", short(out))
		}
	})
}

// checkedForms returns secretForms(s), having checked what it promises: s
// first, its %q form, the form encoding/json writes (json.Marshal's,
// and, for a UTF-8 s without U+2028 or U+2029, SetEscapeHTML(false)'s;
// for an ASCII s, that one with each '/' as \/, PHP's) and each of
// percentForms (url.PathEscape's among them when s holds none of the
// characters "$&+:=@" it leaves) among them, each once, at most
// maxSecretForms, none shorter than s, each percent-encoded one read by
// url.QueryUnescape as s and, for a UTF-8 s, each other but s and its %q
// form the inside of a JSON string that encoding/json reads as s.
func checkedForms(t *testing.T, s string) []string {
	t.Helper()
	forms := secretForms(s)
	q := strconv.Quote(s)
	want := []string{s, q[1 : len(q)-1], jsonInside(t, s, true)}
	if utf8.ValidString(s) && !strings.ContainsAny(s, "\u2028\u2029") {
		want = append(want, jsonInside(t, s, false))
	}
	if !strings.ContainsFunc(s, func(r rune) bool { return r >= utf8.RuneSelf }) {
		want = append(want, strings.ReplaceAll(jsonInside(t, s, false), "/", `\/`)) // PHP's
	}
	percent := percentForms(s)
	want = append(want, percent...)
	if !strings.ContainsAny(s, "$&+:=@") {
		want = append(want, url.PathEscape(s))
	}
	if len(forms) == 0 || forms[0] != s || len(forms) > maxSecretForms {
		t.Fatalf("secretForms(%q) = %q: want %q first, at most %d", s, forms, s, maxSecretForms)
	}
	for _, w := range want {
		if !slices.Contains(forms, w) {
			t.Fatalf("secretForms(%q) = %q, without %q", s, forms, w)
		}
	}
	for i, f := range forms {
		if slices.Contains(forms[:i], f) || len(f) < len(s) {
			t.Fatalf("secretForms(%q) = %q: %q twice, or shorter than the secret", s, forms, f)
		}
		if slices.Contains(percent, f) {
			if got, err := url.QueryUnescape(f); err != nil || got != s {
				t.Fatalf("secretForms(%q) holds %q, which url.QueryUnescape reads as %q (%v)", s, f, got, err)
			}
			continue
		}
		if f == s || f == want[1] || !utf8.ValidString(s) {
			continue
		}
		var got string
		if err := json.Unmarshal([]byte(`"`+f+`"`), &got); err != nil || got != s {
			t.Fatalf("secretForms(%q) holds %q, which encoding/json reads as %q (%v)", s, f, got, err)
		}
	}
	return forms
}

// percentForms is s as each of percentStyles' encoders writes it, made
// of url.QueryEscape's form (Go's, Python's quote_plus), which writes
// every byte as %XX but letters, digits and "-._~", and a space as '+':
// with '*' as it is and '~' as %7E (URLSearchParams, Java's URLEncoder);
// with %20 for a space, as '+' is %2B (Python's quote, PHP's
// rawurlencode); that with "!'()*" as they are (encodeURIComponent); and
// with "!()*" as they are, '~' as %7E and hexadecimal digits in lower
// case (.NET's HttpUtility.UrlEncode). Each '%' of the form starts an
// escape, a '%' of s being %25, so no replacement reads across two.
func percentForms(s string) []string {
	plus := url.QueryEscape(s)
	space := strings.ReplaceAll(plus, "+", "%20")
	return []string{
		plus,
		strings.NewReplacer("%2A", "*", "~", "%7E").Replace(plus),
		space,
		strings.NewReplacer("%21", "!", "%27", "'", "%28", "(", "%29", ")", "%2A", "*").Replace(space),
		lowerHex(strings.NewReplacer("%21", "!", "%28", "(", "%29", ")", "%2A", "*", "~", "%7E").Replace(plus)),
	}
}

// lowerHex is s, percent-encoded, with the hexadecimal digits of each
// escape in lower case.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] != '%' {
			continue
		}
		for _, k := range []int{i + 1, i + 2} {
			if 'A' <= b[k] && b[k] <= 'F' {
				b[k] += 'a' - 'A'
			}
		}
		i += 2
	}
	return string(b)
}

// jsonInside is s as encoding/json writes it in a JSON string, without
// the quotes, with HTML's characters escaped or not.
func jsonInside(t *testing.T, s string, html bool) string {
	t.Helper()
	var b strings.Builder
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(html)
	if err := e.Encode(s); err != nil {
		t.Fatal(err)
	}
	out := b.String() // "…" and a newline
	return out[1 : len(out)-2]
}

// maskedText is what RedactSecrets returns for text and sought (each
// secret and its %q form, none empty), written the slow way: sought at
// every byte before the cut, each byte of each place masked, a UTF-8
// character of which a byte is masked masked whole, each run of masked
// bytes one mark; WithheldText when a secret of fewer than MinSecret bytes
// has a place.
func maskedText(text string, sought []string, mark string) string {
	end := len(text)
	if end > maxRedactText {
		end = cutAt(text, maxRedactText)
	}
	masked := make([]bool, end+1) // one past end: never masked
	for i := range end {
		for _, s := range sought {
			if strings.HasPrefix(text[i:], s) {
				if len(s) < MinSecret {
					return WithheldText
				}
				for k := i; k < min(i+len(s), end); k++ {
					masked[k] = true
				}
			}
		}
	}
	for i := 0; i < end; {
		_, size := utf8.DecodeRuneInString(text[i:end])
		if slices.Contains(masked[i:i+size], true) {
			for k := i; k < i+size; k++ {
				masked[k] = true
			}
		}
		i += size
	}
	var b strings.Builder
	for i := range end {
		switch {
		case !masked[i]:
			b.WriteByte(text[i])
		case i == 0 || !masked[i-1]:
			b.WriteString(mark)
		}
	}
	if end < len(text) {
		b.WriteString("…")
	}
	return b.String()
}

// short is s quoted, only its last 200 bytes when longer.
func short(s string) string {
	if len(s) > 200 {
		return fmt.Sprintf("…%q (%d bytes)", s[len(s)-200:], len(s))
	}
	return strconv.Quote(s)
}

// absentByte returns a printable ASCII byte that none of texts holds.
func absentByte(texts []string) (string, bool) {
	for b := byte('!'); b <= '~'; b++ {
		if !slices.ContainsFunc(texts, func(s string) bool { return strings.IndexByte(s, b) >= 0 }) {
			return string(b), true
		}
	}
	return "", false
}

// touches reports whether s can read in a text holding mark using some of
// mark's bytes: s within mark, mark within s, or an end of one the other's
// start.
func touches(s, mark string) bool {
	if strings.Contains(mark, s) || strings.Contains(s, mark) {
		return true
	}
	for i := 1; i < len(mark); i++ {
		if strings.HasPrefix(s, mark[i:]) || strings.HasSuffix(s, mark[:i]) {
			return true
		}
	}
	return false
}

// FuzzRequestSecrets checks that RequestSecrets lists, for any query, body
// (a form or not) and Basic credentials: the query whole (of 4 bytes or
// more), the value of every parameter of the query and of a form body
// that is not one of publicParams and decodes to 4 bytes or more, as
// written and decoded (a bare word being its own value); any other body
// whole; the Authorization header, its credentials, and the Basic
// password as written and decoded, and as set when the user-id holds a
// ':' (each of them, and the user-id's part after its ':'); the value of
// a credentialParams parameter of any length.
func FuzzRequestSecrets(f *testing.F) {
	f.Add("key=API%2Bkey&v=1&BAREword&client_id=svc", "grant_type=refresh_token&refresh_token=R%2B%2Ftok&scope=a+b&code=%41%42", true, "svc", "pa%3Ass:word")
	f.Add("", `{"assertion":"JSONsecret"}`, false, "", "")
	f.Add("%zz=%zzzz&x=%41%42%43%44&audience=aud1", "a=b%&c=%ff%fe%fd%fc&=nameless", true, "", "p")
	f.Fuzz(func(t *testing.T, query, body string, form bool, user, password string) {
		if len(query)+len(body)+len(user)+len(password) > fuzzMaxText {
			return
		}
		req, err := http.NewRequest(http.MethodPost, "https://idp.example/token", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawQuery = query
		if form {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		}
		if user != "" || password != "" {
			req.SetBasicAuth(user, password)
		}
		got := RequestSecrets(req)
		want := func(what, s string) {
			if !slices.Contains(got, s) {
				t.Fatalf("%s %q is not listed in %q", what, s, got)
			}
		}
		if len(query) >= minParamSecret {
			want("the query", query)
			wantFormValues(t, query, want)
		}
		if form {
			wantFormValues(t, body, want)
		} else if body != "" {
			want("the body", body)
		}
		if user != "" || password != "" {
			creds := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
			want("the Authorization header", "Basic "+creds)
			want("the credentials", creds)
			_, pw, _ := strings.Cut(user+":"+password, ":") // a user's ":" (RFC 7617 forbids it) starts the password
			want("the password", pw)
			want("the decoded password", unescaped(pw))
			// Each part of it that a reader splitting at another ":" may
			// show alone: the password as set, the user's part after its
			// ":".
			if password != "" {
				want("the password as set", password)
				want("the decoded password as set", unescaped(password))
			}
			if _, rest, ok := strings.Cut(user, ":"); ok && rest != "" {
				want("the user's part RFC 7617 reads as the password", rest)
				want("the decoded user's part RFC 7617 reads as the password", unescaped(rest))
			}
		}
	})
}

// wantFormValues calls want for each value of form's parameters that
// RequestSecrets must list, as written and decoded.
func wantFormValues(t *testing.T, form string, want func(what, s string)) {
	t.Helper()
	for _, pair := range strings.Split(form, "&") {
		name, value, ok := strings.Cut(pair, "=")
		if !ok {
			value = name
		}
		if publicParams[unescaped(name)] {
			continue
		}
		if dec := unescaped(value); len(dec) >= minParamSecret || ok && credentialParams[unescaped(name)] {
			want("the value of "+strconv.Quote(name), value)
			want("the decoded value of "+strconv.Quote(name), dec)
		}
	}
}
