package endpoint

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// Every secret a request carries, in each form an echo of it may quote
// (as written, decoded, and as %q quotes the decoded one), reads
// [REDACTED] in the text of its failure; the public form parameters and
// the rest of the text stay.
func TestRequestErrorText_RedactsEverySecretTheRequestCarriedInEveryForm(t *testing.T) {
	const secret = `pa"ss+w/rd=é` // %q escapes '"' and 'é' is kept: one form each
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "refresh_token": {secret}}
	req, err := http.NewRequest(http.MethodPost, "https://idp.example/token?key="+url.QueryEscape(secret)+"&BAREWORDkey", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", url.QueryEscape(secret))
	req.Header.Set("DPoP", "PROOFmarker")
	echo := form.Encode() + " " + req.URL.RawQuery + " " + req.Header.Get("Authorization") + " PROOFmarker " + secret + " " + url.QueryEscape(secret)
	text := RequestErrorText(&url.Error{Op: "Post", URL: req.URL.String(), Err: errors.New("malformed MIME header line: " + strconv.Quote(echo))}, req)
	for _, s := range []string{"pa", "PROOFmarker", "BAREWORDkey", "idp.example"} {
		if strings.Contains(text, s) {
			t.Errorf("the text holds %q: %s", s, text)
		}
	}
	for _, s := range []string{"malformed MIME header line", "grant_type=client_credentials", "client_id=svc", Redacted} {
		if !strings.Contains(text, s) {
			t.Errorf("the text lacks %q: %s", s, text)
		}
	}
}

// A body that is not a form is a secret whole; an error whose text holds
// no secret is returned as it is, still wrapping what it wrapped.
func TestWithoutSecrets_OtherBodyWholeAndCleanErrorAsItIs(t *testing.T) {
	req, err := http.NewRequest(http.MethodPost, "https://idp.example/token", strings.NewReader(`{"assertion":"JSONsecret"}`))
	if err != nil {
		t.Fatal(err)
	}
	got := WithoutSecrets(errors.New(`malformed HTTP response "{\"assertion\":\"JSONsecret\"}"`), req).Error()
	if strings.Contains(got, "JSONsecret") || !strings.Contains(got, Redacted) {
		t.Errorf("got %q, want the body redacted", got)
	}
	cause := errors.New("connection refused")
	if err := WithoutSecrets(&url.Error{Op: "Post", URL: "https://idp.example/token", Err: cause}, req); err != cause {
		t.Errorf("got %v, want the cause as it is", err)
	}
}

// A text longer than maxRedactText, such as the 10 MB status line a
// hostile server has net/http quote, is cut there, and a secret the cut
// splits reads Redacted whole: none of its start is left. Before, every
// secret was sought in the whole text, at a cost up to the product of the
// text's length and the secret's (strings.Index's Rabin-Karp hash is
// fixed: a server that issued the refresh token the request carries can
// make every place of its line collide with it, seconds of CPU a failure).
func TestRedactSecrets_LongTextIsCutAndASecretTheCutSplitsGoesWhole(t *testing.T) {
	const secret = "SECRETvalue"
	text := "malformed HTTP response " + strings.Repeat("x", maxRedactText-len("malformed HTTP response ")-3) + secret + strings.Repeat("y", 10<<20)
	got := RedactSecrets(text, []string{secret}, Redacted)
	if want := maxRedactText - 3 + len(Redacted) + len("…"); len(got) != want {
		t.Fatalf("len = %d, want %d: cut at maxRedactText", len(got), want)
	}
	if !strings.HasPrefix(got, "malformed HTTP response xxx") || !strings.HasSuffix(got, "xxx"+Redacted+"…") {
		t.Errorf("got …%q, want the text to the cut with the secret redacted and \"…\"", got[len(got)-40:])
	}
	// Cut inside the secret, and also where it starts.
	for _, before := range []int{maxRedactText - 1, maxRedactText - len(secret) + 1} {
		got := RedactSecrets(strings.Repeat("x", before)+secret+"tail", []string{secret}, Redacted)
		if !strings.HasSuffix(got, "x"+Redacted+"…") || strings.Contains(got, "SEC") {
			t.Errorf("secret at %d: got …%q, want it redacted whole", before, got[max(0, len(got)-40):])
		}
	}
	// A text within the bound, with no secret in it, is returned as it is.
	if short := strings.Repeat("x", maxRedactText); RedactSecrets(short, []string{secret}, Redacted) != short {
		t.Error("a text of maxRedactText bytes without a secret changed")
	}
}

// A secret that another, longer one holds goes with the longer one; one
// found where a longer one was is not sought again; each other place of
// each is redacted.
func TestRedactSecrets_LongestFirstAndEveryPlace(t *testing.T) {
	got := RedactSecrets("a=LONGsecretXYZ b=secret c=LONGsecretXYZ", []string{"secret", "LONGsecretXYZ"}, "#")
	if want := "a=# b=# c=#"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Secrets whose places in the text overlap go in one mark, so that
// nothing of either is left. Before, a shorter one was not sought where a
// longer one was: what it had outside the longer one's place stayed, and
// a secret starting with the mark's end ("D]ab") read whole after it.
func TestRedactSecrets_OverlappingSecretsGoInOneMark(t *testing.T) {
	for _, tc := range []struct {
		text    string
		secrets []string
		mark    string
		want    string
	}{
		{"a=abcdef b=cdef", []string{"abcd", "cdef"}, "#", "a=# b=#"},
		{"a=xabcdefgh", []string{"cdef", "abcd", "efgh"}, "#", "a=x#"},
		{"key: xxxxxD]ab.", []string{"xxxxxD]", "D]ab"}, Redacted, "key: " + Redacted + "."},
		{"abcd-cdef", []string{"abcd", "cdef"}, "#", "#-#"}, // apart, each its own
	} {
		if got := RedactSecrets(tc.text, tc.secrets, tc.mark); got != tc.want {
			t.Errorf("RedactSecrets(%q, %q) = %q, want %q", tc.text, tc.secrets, got, tc.want)
		}
	}
}

// A query of fewer than minParamSecret bytes ("?1", a cache buster) is no
// secret, whole or in its parts: the failure's text keeps the address it
// would otherwise take pieces of. Before, the whole query was a secret of
// any length, and every "1" of the address read Redacted.
func TestRequestErrorText_ShortQueryLeavesTheTextAsItIs(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "https://127.0.0.1:8443/keys?1", nil)
	if err != nil {
		t.Fatal(err)
	}
	const cause = "dial tcp 127.0.0.1:8443: connect: connection refused"
	if got := RequestErrorText(&url.Error{Op: "Get", URL: req.URL.String(), Err: errors.New(cause)}, req); got != cause {
		t.Errorf("got %q, want %q", got, cause)
	}
}

// A secret whose places overlap each other ("abab" twice in "ababab")
// leaves no byte of either: every byte a place covers is masked, in one
// mark. Before, the search went on after the first place's end, and the
// second place's rest ("ab") stayed.
func TestRedactSecrets_ASecretOverlappingItselfLeavesNothing(t *testing.T) {
	for _, tc := range []struct{ text, secret, want string }{
		{"ababab", "abab", "#"},
		{"x=ababababx", "abab", "x=#x"},
		{"aaaaaaaaaaab", "aaaa", "#b"},
		{"k=SECRETSECRET-SECRET", "SECRETSECRET", "k=#-SECRET"},
	} {
		if got := RedactSecrets(tc.text, []string{tc.secret}, "#"); got != tc.want {
			t.Errorf("RedactSecrets(%q, %q) = %q, want %q", tc.text, tc.secret, got, tc.want)
		}
	}
}

// A secret that is not UTF-8 and starts or ends inside a character of a
// UTF-8 text takes the whole character with it: the text stays UTF-8, and
// no byte of the secret is left. Before, the mark split the character,
// leaving its other bytes, which no log line reads as text.
func TestRedactSecrets_ACharacterASecretSplitsGoesWhole(t *testing.T) {
	for _, tc := range []struct{ text, secret, want string }{
		{"café9zz!", "\xa99zz", "caf#!"},        // the secret starts with é's last byte
		{"key=abcé.", "abc\xc3", "key=#."},      // and ends with its first
		{"€uro", "\x82\xacur", "#o"},            // € is 3 bytes: the secret holds 2
		{"a€\x82\xacuro", "\x82\xacur", "a€#o"}, // stray bytes after the rune: it stays
	} {
		got := RedactSecrets(tc.text, []string{tc.secret}, "#")
		if got != tc.want {
			t.Errorf("RedactSecrets(%q, %q) = %q, want %q", tc.text, tc.secret, got, tc.want)
		}
		if utf8.ValidString(tc.text) && !utf8.ValidString(got) {
			t.Errorf("RedactSecrets(%q, %q) = %q, not UTF-8", tc.text, tc.secret, got)
		}
	}
}

// Basic credentials whose user-id holds ':' (SetBasicAuth writes it as it
// is, and RFC 7617 reads the password from the first ':'): the password
// as RFC 7617 reads it, the password as set, and the user-id's part after
// its ':' each read Redacted where an echo shows them alone, decoded or
// not; the user-id's part before the first ':', a client id, stays.
// Before, only the password as RFC 7617 reads it was a secret, and an
// echo splitting at another ':' showed the rest.
func TestRequestErrorText_BasicUserIDHoldingAColonLeavesNoPartOfThePassword(t *testing.T) {
	req, err := http.NewRequest(http.MethodPost, "https://idp.example/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("svc:tenantKEY", "pass%3Aword:TAIL")
	echo := "u=svc:tenantKEY p=pass%3Aword:TAIL; u=svc p=tenantKEY:pass:word:TAIL; u=svc:tenantKEY:pass%3Aword p=TAIL"
	text := RequestErrorText(errors.New("malformed MIME header line: "+echo), req)
	for _, s := range []string{"tenant", "KEY", "pass", "word", "TAIL"} {
		if strings.Contains(text, s) {
			t.Errorf("the text holds %q: %s", s, text)
		}
	}
	if !strings.Contains(text, "u=svc") {
		t.Errorf("the text lacks the user-id: %s", text)
	}
}

// A credential too short to cut out where it stands (fewer than MinSecret
// bytes: a Basic password, the credential of a DPoP Authorization, a
// client secret given beside the request, a form's client_secret) withholds
// the whole text when the text holds it, and leaves a text that does not
// as it is. Before, a Basic password, a DPoP credential and a secret given
// beside it were cut out wherever their bytes stood (every "1" of an
// address for "1"), and a form's short client_secret was left whole.
func TestRequestErrorText_ShortCredentialWithholdsTheText(t *testing.T) {
	basic := func(r *http.Request) { r.SetBasicAuth("svc", "pw") }
	dpop := func(r *http.Request) { r.Header.Set("Authorization", "DPoP pw") }
	form := func(r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader("client_id=svc&client_secret=pw"))
		r.GetBody = func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("client_id=svc&client_secret=pw")), nil
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for name, tc := range map[string]struct {
		set  func(*http.Request)
		more []string
	}{
		"Basic password":       {basic, nil},
		"DPoP credential":      {dpop, nil},
		"secret beside":        {func(*http.Request) {}, []string{"pw"}},
		"form's client_secret": {form, nil},
	} {
		req, err := http.NewRequest(http.MethodPost, "https://idp.example/token", nil)
		if err != nil {
			t.Fatal(err)
		}
		tc.set(req)
		if got := RequestErrorText(errors.New(`malformed HTTP status code "pw 127.0.0.1"`), req, tc.more...); got != WithheldText {
			t.Errorf("%s: got %q, want %q", name, got, WithheldText)
		}
		const clean = "dial tcp 127.0.0.1:8443: connect: connection refused"
		if got := RequestErrorText(errors.New(clean), req, tc.more...); got != clean {
			t.Errorf("%s: got %q, want %q as it is", name, got, clean)
		}
	}
}

// A secret that an authorization server echoes in a JSON body, escaped as
// its encoder escapes it, reads Redacted there, and the rest of the body
// stays: encoding/json's \u003c, \u003e and \u0026 for '<', '>' and '&',
// PHP's \/ for '/', \" and \\, a control character as \u00XX (in upper
// case from .NET), .NET's \u0022 and \u002B for '"' and '+', and
// characters past ASCII as \uXXXX (Python, PHP, .NET). Before, only the
// secret as it is and as %q quotes it were sought, and these echoes left
// it in the text.
func TestRedactSecrets_JSONEscapedEchoLeavesNoSecret(t *testing.T) {
	const before, after = `{"error":"invalid_client","request":{"client_secret":"`, `","grant_type":"client_credentials"}}`
	for _, tc := range []struct{ encoder, secret, escaped string }{
		{"encoding/json", "sec<ret>42", `sec\u003cret\u003e42`},
		{"encoding/json", "s3cr3t&more", `s3cr3t\u0026more`},
		{"encoding/json", "tab\tand\x01ctl", `tab\tand\u0001ctl`},
		{"encoding/json", "a\u2028line", `a\u2028line`},
		{"encoding/json", "bad\xffbyte", `bad\ufffdbyte`},
		{"PHP", "abc/def/ghi", `abc\/def\/ghi`},
		{"PHP", "pässwörd/1", `p\u00e4ssw\u00f6rd\/1`},
		{"PHP", "key/😀/x", `key\/\ud83d\ude00\/x`},
		{"JSON.stringify", `pa"ss\word`, `pa\"ss\\word`},
		{"JSON.stringify", "line1\nline2\x1f", `line1\nline2\u001f`},
		{"Python", "pässwörd-1", `p\u00e4ssw\u00f6rd-1`},
		{".NET", `pa"ss+w<rd`, `pa\u0022ss\u002Bw\u003Crd`},
		{".NET", "ctl\x1fé", `ctl\u001F\u00E9`},
	} {
		text := before + tc.escaped + after
		if got, want := RedactSecrets(text, []string{tc.secret}, Redacted), before+Redacted+after; got != want {
			t.Errorf("%s's echo of %q: got %s, want %s", tc.encoder, tc.secret, got, want)
		}
	}
	// The same through the request that carried it, echoed by
	// encoding/json.
	const secret = "sec<ret>&/\"\\\x01é+"
	form := url.Values{"client_id": {"svc"}, "client_secret": {secret}}
	req, err := http.NewRequest(http.MethodPost, "https://idp.example/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	echo, err := json.Marshal(map[string]string{"client_secret": secret, "client_id": "svc"})
	if err != nil {
		t.Fatal(err)
	}
	got := RequestErrorText(errors.New("token endpoint answered 400: "+string(echo)), req)
	if want := `token endpoint answered 400: {"client_id":"svc","client_secret":"` + Redacted + `"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// A secret that a server echoes percent-encoded, as its own URL encoder
// writes it (not as the request carried it), reads [REDACTED]: '+' or
// %20 for a space, upper- or lower-case hexadecimal digits, '~' and
// JavaScript's "!'()*" left or escaped. Before, only the secret as the
// request's form or query wrote it and decoded was masked.
func TestRedactSecrets_PercentEncodedEchoLeavesNoSecret(t *testing.T) {
	const before, after = "token endpoint answered 302 to https://idp.example/error?client_secret=", "&error=invalid_client"
	for _, tc := range []struct{ encoder, secret, encoded string }{
		{"url.QueryEscape", "tok/en+x=", "tok%2Fen%2Bx%3D"},
		{"url.QueryEscape", "a&b=c d", "a%26b%3Dc+d"},
		{"Python's quote_plus", "pässwörd", "p%C3%A4ssw%C3%B6rd"},
		{"URLSearchParams", "Q8~x.secret*1", "Q8%7Ex.secret*1"},
		{"Java's URLEncoder", "pass word~/", "pass+word%7E%2F"},
		{"Python's quote", "my secret/key", "my%20secret%2Fkey"},
		{"PHP's rawurlencode", "a b+c~", "a%20b%2Bc~"},
		{"encodeURIComponent", "it's (a) secret!*~", "it's%20(a)%20secret!*~"},
		{"encodeURIComponent", "key/😀 (1)", "key%2F%F0%9F%98%80%20(1)"},
		{"HttpUtility.UrlEncode", "tok/en+x=~", "tok%2fen%2bx%3d%7e"},
		{"HttpUtility.UrlEncode", "pässwörd a&b", "p%c3%a4ssw%c3%b6rd+a%26b"},
	} {
		text := before + tc.encoded + after
		if got, want := RedactSecrets(text, []string{tc.secret}, Redacted), before+Redacted+after; got != want {
			t.Errorf("%s's echo of %q: got %s, want %s", tc.encoder, tc.secret, got, want)
		}
	}
	// The same through the request that carried them: a bearer token, and
	// a form's client secret, which url.Values.Encode wrote with '~' as
	// it is, echoed as Java's URLEncoder writes them.
	form := url.Values{"client_id": {"svc"}, "client_secret": {"my secret/key~"}}
	req, err := http.NewRequest(http.MethodPost, "https://idp.example/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer eyJ/abc+def=")
	got := RequestErrorText(errors.New("malformed HTTP response \"Location: /error?client_id=svc&client_secret=my+secret%2Fkey%7E&token=eyJ%2Fabc%2Bdef%3D\""), req)
	if want := `malformed HTTP response "Location: /error?client_id=svc&client_secret=` + Redacted + "&token=" + Redacted + `"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// A secret has one form per encoder at most, each once: one of letters,
// digits and "-._" has one only, and none has more than maxSecretForms.
func TestSecretForms_PercentFormsAreFewAndDeduplicated(t *testing.T) {
	if got := secretForms("abc-DEF_123.x"); len(got) != 1 {
		t.Errorf("secretForms of letters, digits and -._ = %q, want one form", got)
	}
	// '~' is left by two encoders, %7E or %7e by the other three.
	if got, want := secretForms("abc~def"), []string{"abc~def", "abc%7Edef", "abc%7edef"}; !slices.Equal(got, want) {
		t.Errorf("secretForms(abc~def) = %q, want %q", got, want)
	}
	all := " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\x7f\x01é😀\u2028\xff"
	if got := secretForms(all); len(got) != maxSecretForms {
		t.Errorf("secretForms(%q) has %d forms, want %d: %q", all, len(got), maxSecretForms, got)
	}
}
