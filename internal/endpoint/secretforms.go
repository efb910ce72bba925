package endpoint

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxSecretForms is the most forms secretForms returns for one secret: the
// secret, its %q form, one for each of jsonStyles and one for each of
// percentStyles.
const maxSecretForms = 2 + len(jsonStyles) + len(percentStyles)

// secretForms returns s (not empty) and each other form in which a text
// may quote it, each once: as %q quotes it (net/http quotes a status or
// header line it cannot parse so), as each of jsonStyles writes it in a
// JSON string (an authorization server that echoes the request in a JSON
// error body) and as each of percentStyles percent-encodes it (one that
// echoes the request form-encoded, or in a URL). A secret of letters,
// digits and "-._" has one form only; none has more than maxSecretForms,
// and none is shorter than s.
func secretForms(s string) []string {
	forms := make([]string, 1, maxSecretForms)
	forms[0] = s
	add := func(f string) {
		if !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	q := strconv.Quote(s)
	add(q[1 : len(q)-1])
	for _, st := range jsonStyles {
		add(st.escape(s))
	}
	for _, st := range percentStyles {
		add(st.escape(s))
	}
	return forms
}

// jsonStyle is how one JSON encoder writes a string's characters between
// its quotes. Each escapes '"' and '\' (as \" and \\ unless in uhex) and
// every control character below U+0020: U+0008, U+0009, U+000A, U+000C
// and U+000D as \b, \t, \n, \f and \r, each other one as \u00XX.
type jsonStyle struct {
	uhex     string // ASCII characters also written as \u00XX
	slash    bool   // '/' as \/
	nonASCII bool   // every character past ASCII as \uXXXX (a UTF-16 surrogate pair past U+FFFF)
	upper    bool   // hexadecimal digits in upper case
	goJSON   bool   // U+2028 and U+2029 as \u2028 and \u2029, and each byte of s that is not UTF-8 as \ufffd, as encoding/json writes them
}

// jsonStyles are the JSON encoders whose forms of a secret RedactSecrets
// seeks, one form each. Encoders differ in what they escape beyond what
// JSON requires; seeking each mix of their choices would give a secret
// forms exponential in number with its length, mixes that no encoder
// writes, so a secret has at most maxSecretForms forms whatever it holds.
// An encoder not named here is covered where its form of the secret is
// one of these: Jackson's (Keycloak, Okta) is the second's, but for a
// control character whose \u00XX has a hexadecimal letter (U+000B,
// U+000E, U+000F, U+001A to U+001F), which Jackson writes in upper case.
// Not sought either: a form of no encoder, such as one with every
// character but letters and digits as \u00XX, and a JSON form quoted
// again (a JSON echo in a line that net/http quotes with %q).
var jsonStyles = [...]jsonStyle{
	// Go's encoding/json (json.Marshal; Ory Hydra, Dex, ZITADEL).
	{uhex: "<>&", goJSON: true},
	// Only what JSON requires: JavaScript's JSON.stringify (Node.js
	// servers), Jackson, serde_json, Python's json.dumps with
	// ensure_ascii=False, encoding/json with SetEscapeHTML(false) (but
	// for U+2028, U+2029 and bytes that are not UTF-8).
	{},
	// '/' as \/ too: json-c, PHP's json_encode with
	// JSON_UNESCAPED_UNICODE, Ruby's with script_safe.
	{slash: true},
	// PHP's json_encode.
	{slash: true, nonASCII: true},
	// Python's json.dumps.
	{nonASCII: true},
	// .NET's System.Text.Json (JavaScriptEncoder.Default; Entra ID,
	// Duende IdentityServer): HTML-sensitive characters, '+', '`' and
	// DEL as \u00XX too, '"' among them, in upper case.
	{uhex: "\"&'+<>`\x7f", nonASCII: true, upper: true},
}

// escape returns s as st writes it between a JSON string's quotes.
func (st jsonStyle) escape(s string) string {
	digits := hexDigits(st.upper)
	var b strings.Builder
	b.Grow(len(s))
	u := func(r rune) {
		b.WriteString(`\u`)
		for shift := 12; shift >= 0; shift -= 4 {
			b.WriteByte(digits[r>>shift&0xf])
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case strings.IndexByte(st.uhex, c) >= 0:
				u(rune(c))
			case c == '"' || c == '\\' || c == '/' && st.slash:
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\b':
				b.WriteString(`\b`)
			case c == '\t':
				b.WriteString(`\t`)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\f':
				b.WriteString(`\f`)
			case c == '\r':
				b.WriteString(`\r`)
			case c < ' ':
				u(rune(c))
			default:
				b.WriteByte(c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1 && st.goJSON:
			b.WriteString(`\ufffd`)
		case r == utf8.RuneError && size == 1:
			b.WriteByte(c) // no encoder of these writes it: left as it is
		case st.nonASCII && r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			u(r1)
			u(r2)
		case st.nonASCII || st.goJSON && (r == '\u2028' || r == '\u2029'):
			u(r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// percentStyle is how one URL encoder percent-encodes a string (RFC 3986,
// section 2.1; a form's value, application/x-www-form-urlencoded): each
// byte as %XX, UTF-8 past ASCII byte by byte, but ASCII letters, digits
// and the characters of keep, which it writes as they are.
type percentStyle struct {
	keep  string // ASCII characters, besides letters and digits, written as they are
	plus  bool   // ' ' as '+', not %20
	lower bool   // hexadecimal digits in lower case
}

// percentStyles are the URL encoders whose forms of a secret
// RedactSecrets seeks, one form each, for a server that echoes the
// request form-encoded or in a URL after decoding it: its encoder, not
// the client's, chooses the form. Like jsonStyles, they are a fixed few,
// not each mix of their choices (which characters are left as they are,
// '+' or %20, the case of the hexadecimal digits). A request's query and
// form values are sought as written too (RequestSecrets). An encoder not
// named here is covered where its form of the secret is one of these:
// PHP's urlencode ("-._" left, space as '+', upper case) where the secret
// holds no '~' (the first's) or no '*' (the second's); Go's url.PathEscape
// where it holds none of "$&+:=@", which PathEscape leaves (the third's).
// Not sought: Python's quote with its default safe="/" ('/' left as it
// is), lower-case hexadecimal digits but for the last, and a form encoded
// twice.
var percentStyles = [...]percentStyle{
	// Go's url.QueryEscape and url.Values.Encode (what this module's
	// token and introspection requests send; oauth2's too), Python's
	// quote_plus and urlencode (requests).
	{keep: "-._~", plus: true},
	// The WHATWG application/x-www-form-urlencoded serializer (a
	// browser's form, JavaScript's URLSearchParams in Node.js), Java's
	// URLEncoder (Keycloak, Spring), Ruby's
	// URI.encode_www_form_component: '*' left, '~' as %7E.
	{keep: "-._*", plus: true},
	// RFC 3986's unreserved characters left, space as %20: Python's
	// quote(s, safe=""), PHP's rawurlencode, .NET's Uri.EscapeDataString,
	// Rust's urlencoding.
	{keep: "-._~"},
	// JavaScript's encodeURIComponent, and Node.js's querystring.escape
	// and querystring.stringify: "!'()*" left too.
	{keep: "-._~!'()*"},
	// .NET's HttpUtility.UrlEncode (ASP.NET, System.Web): RFC 1738's
	// safe characters less '+' left, space as '+', lower-case
	// hexadecimal digits ("%2f").
	{keep: "-._!*()", plus: true, lower: true},
}

// escape returns s as st percent-encodes it.
func (st percentStyle) escape(s string) string {
	digits := hexDigits(!st.lower)
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte(st.keep, c) >= 0:
			b.WriteByte(c)
		case c == ' ' && st.plus:
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(digits[c>>4])
			b.WriteByte(digits[c&0xf])
		}
	}
	return b.String()
}

// hexDigits are the hexadecimal digits, in upper case when upper is set.
func hexDigits(upper bool) string {
	if upper {
		return "0123456789ABCDEF"
	}
	return "0123456789abcdef"
}
