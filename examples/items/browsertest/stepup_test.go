package browsertest

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// stepUpACR and stepUpMaxAge are what PurgeItems' rule (items.proto) asks
// for: the page must take them from the refusal, and the issuer put the
// acr in the new token.
const (
	stepUpACR    = "urn:grpcauth:example:mfa"
	stepUpMaxAge = "300"
)

// TestBrowser_PurgeNeedsAStepUpSignIn walks the step-up round trip of RFC
// 9470 from the page: the admin's PurgeItems is refused Unauthenticated
// (INSUFFICIENT_USER_AUTHENTICATION); the page shows what the server asks
// for and offers to sign in again, which sends the browser to the
// authorization endpoint with the refusal's acr_values and max_age; the
// new token carries that acr and a fresh auth_time, and the purge is then
// allowed.
func TestBrowser_PurgeNeedsAStepUpSignIn(t *testing.T) {
	srv := startServer(t)
	tab, rec := newBrowser(t)
	p := &page{t: t, tab: tab, url: srv.webURL}

	p.signIn("admin")
	if n := p.count(`#stepup:not([hidden])`); n != 0 {
		t.Errorf("the step-up offer shows before any refusal")
	}
	o := p.call(`#purge`)
	if o.method != "PurgeItems" || o.outcome != "refused" || o.code != "Unauthenticated" || o.reason != "INSUFFICIENT_USER_AUTHENTICATION" {
		t.Fatalf("admin PurgeItems after a plain sign-in: %+v, want refused Unauthenticated (INSUFFICIENT_USER_AUTHENTICATION)", o)
	}
	p.do("wait for the step-up offer", chromedp.WaitVisible(chromedp.CSS(`#stepup-signin`)))
	if text := get(p, "read the step-up offer", chromedp.Text(chromedp.CSS(`#stepup-text`))); !strings.Contains(text, stepUpACR) || !strings.Contains(text, stepUpMaxAge+" s") {
		t.Errorf("the step-up offer says %q; want the acr %s and max_age %s it asks for", text, stepUpACR, stepUpMaxAge)
	}
	if rows := p.count(`#items tbody tr`); rows != 0 {
		t.Errorf("the page shows %d items; none were listed", rows)
	}
	p.screenshotAs("stepup.png")
	// The same challenge, for HTTP clients, in the 401's WWW-Authenticate.
	if rs := rec.answered("PurgeItems"); len(rs) != 1 || rs[0].status != 401 ||
		!strings.Contains(rs[0].headers["www-authenticate"], `error="insufficient_user_authentication"`) ||
		!strings.Contains(rs[0].headers["www-authenticate"], `acr_values="`+stepUpACR+`"`) ||
		!strings.Contains(rs[0].headers["www-authenticate"], `max_age="`+stepUpMaxAge+`"`) {
		t.Errorf("PurgeItems responses %+v; want one 401 with the step-up challenge in WWW-Authenticate", rs)
	}

	p.stepUpSignIn()
	authz, err := url.Parse(get(p, "read the authorization request", chromedp.Evaluate[string](`location.href`)))
	if err != nil {
		t.Fatal(err)
	}
	if q := authz.Query(); q.Get("acr_values") != stepUpACR || q.Get("max_age") != stepUpMaxAge || q.Get("code_challenge") == "" {
		t.Errorf("the step-up sign-in asks %s?%s; want acr_values %s, max_age %s and PKCE", authz.Path, authz.RawQuery, stepUpACR, stepUpMaxAge)
	}
	// Readiness, which a failed sign-in reaches too, then the acr: a
	// failure ends the test at once, with the log, not after
	// browserTimeout.
	p.do("choose the admin",
		chromedp.Click(chromedp.CSS(`#user-admin`)),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready]`)),
	)
	if acr := get(p, "read the acr", chromedp.Evaluate[string](`document.getElementById('who').dataset.acr`)); acr != stepUpACR {
		t.Fatalf("after the step-up sign-in the page shows acr %q (log: %s); want %s", acr, p.logText(), stepUpACR)
	}
	if n := p.count(`#stepup:not([hidden])`); n != 0 {
		t.Errorf("the step-up offer still shows after the new sign-in")
	}
	p.call(`#list`)
	if o := p.call(`#purge`); o.method != "PurgeItems" || o.outcome != "allowed" {
		t.Fatalf("admin PurgeItems after the step-up sign-in: %+v, want allowed", o)
	}
	if rows := p.count(`#items tbody tr`); rows != 0 {
		t.Errorf("the page shows %d items after the purge, want none", rows)
	}
	// The server says so too: listing again finds nothing.
	p.call(`#list`)
	if rows := p.count(`#items tbody tr`); rows != 0 {
		t.Errorf("ListItems after the purge shows %d items, want none", rows)
	}

	purges := rec.sent("PurgeItems")
	if len(purges) != 2 {
		t.Fatalf("captured %d PurgeItems requests, want 2", len(purges))
	}
	before, after := tokenClaims(t, purges[0]), tokenClaims(t, purges[1])
	if before["acr"] != nil {
		t.Errorf("the first sign-in's token has acr %v; it asked for none", before["acr"])
	}
	if after["acr"] != stepUpACR || after["auth_time"] == nil || after["sub"] != "admin" {
		t.Errorf("the step-up token has acr %v, auth_time %v, sub %v; want %s, a sign-in time, admin", after["acr"], after["auth_time"], after["sub"], stepUpACR)
	}
}

// stepUpSignIn clicks the step-up offer's button and waits for the
// issuer's login page, or for the page to log the sign-in's refusal, so
// that an authorization request the issuer refuses fails the test at
// once (the callers log no sign-in before: a sign-in that succeeds is
// not logged).
func (p *page) stepUpSignIn() {
	p.t.Helper()
	p.do("sign in again with multi-factor",
		chromedp.Click(chromedp.CSS(`#stepup-signin`)),
		chromedp.WaitVisible(chromedp.CSS(`#user-admin, #log li[data-method="sign-in"]`)),
	)
	if p.count(`#user-admin`) == 0 {
		p.t.Fatalf("the step-up sign-in did not reach the issuer's login page (log: %s)", p.logText())
	}
}

// A person who cancels the step-up sign-in at the issuer comes back signed
// out: the page keeps its session in memory only, so leaving for the
// issuer has already ended it; the cancellation is logged (access_denied,
// after the state check), the step-up offer is gone, and no sign-in state
// is left in sessionStorage.
func TestBrowser_CancelledStepUpSignInComesBackSignedOut(t *testing.T) {
	p := newPage(t)
	p.signIn("admin")
	if o := p.call(`#purge`); o.reason != "INSUFFICIENT_USER_AUTHENTICATION" {
		t.Fatalf("admin PurgeItems after a plain sign-in: %+v, want refused for step-up", o)
	}
	p.stepUpSignIn()
	p.do("cancel at the issuer",
		chromedp.Click(chromedp.CSS(`button.cancel`)),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready]`)),
	)
	attrs := get(p, "read the log entry", chromedp.Attributes(chromedp.CSS(`#log li:last-child`)))
	if attrs["data-method"] != "sign-in" || attrs["data-code"] != "access_denied" {
		t.Errorf("the cancelled step-up sign-in is logged as %v, want sign-in refused access_denied", attrs)
	}
	if who := get(p, "read #who", chromedp.Text(chromedp.CSS(`#who`))); who != "Not signed in." {
		t.Errorf("after the cancelled step-up sign-in the page says %q, want Not signed in.", who)
	}
	if n := p.count(`#stepup:not([hidden])`); n != 0 {
		t.Errorf("the step-up offer still shows after the cancelled sign-in")
	}
	if saved := get(p, "read the stored verifier", chromedp.Evaluate[string](`String(sessionStorage.getItem('pkce'))`)); saved != "null" {
		t.Errorf("sessionStorage keeps the sign-in's state and verifier: %s", saved)
	}
}

// tokenClaims returns the claims of the JWT access token c carried, as the
// server reads them (without checking the signature: the server did).
func tokenClaims(t *testing.T, c capturedRequest) map[string]any {
	t.Helper()
	_, tok, _ := strings.Cut(c.headers["authorization"], " ")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("the request's token is not a JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// The page reads a step-up challenge from the ErrorInfo's protobuf bytes
// alone (metadata is field 3, map entries of key 1 and value 2), as other
// Connect servers send it without "debug", and passes on only well-formed
// acr_values and max_age.
func TestBrowser_StepUpChallengeIsReadFromTheErrorInfo(t *testing.T) {
	p := openPage(t)
	field := protoField
	entry := func(k, v string) []byte { return field(3, append(field(1, []byte(k)), field(2, []byte(v))...)) }
	info := func(reason string, md ...[]byte) string {
		b := append(field(1, []byte(reason)), field(2, []byte("grpcauth"))...)
		for _, e := range md {
			b = append(b, e...)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	read := func(value string) string {
		return get(p, "read a challenge", chromedp.Evaluate[string](
			`JSON.stringify(stepUpChallenge(errorInfo([{type: 'google.rpc.ErrorInfo', value: '`+value+`'}])))`))
	}
	for _, tt := range []struct {
		name, value, want string
	}{
		{"acr_values and max_age", info("INSUFFICIENT_USER_AUTHENTICATION", entry("acr_values", "urn:a:mfa phr"), entry("max_age", "60")), `{"acrValues":"urn:a:mfa phr","maxAge":"60"}`},
		{"max_age only", info("INSUFFICIENT_USER_AUTHENTICATION", entry("max_age", "60")), `{"acrValues":"","maxAge":"60"}`},
		{"malformed values dropped", info("INSUFFICIENT_USER_AUTHENTICATION", entry("acr_values", `a"b`), entry("max_age", "-1")), `{"acrValues":"","maxAge":""}`},
		{"another refusal", info("ACCESS_TOKEN_SCOPE_INSUFFICIENT", entry("acr_values", "urn:a:mfa")), `null`},
	} {
		if got := read(tt.value); got != tt.want {
			t.Errorf("%s: stepUpChallenge = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// What a step-up refusal carries goes into the new authorization request
// as the values of acr_values and max_age only: an acr_values that looks
// like more parameters (well-formed, so passed on) is sent encoded, as
// one value, to the configured authorization endpoint, with the page's
// own redirect_uri and state.
func TestBrowser_StepUpChallengeCannotRedirectTheSignIn(t *testing.T) {
	p := openPage(t)
	const hostile = "urn:a&redirect_uri=https://evil.example/&state=x#frag"
	got := get(p, "build the step-up request", chromedp.Evaluate[string](`(async () => {
		const su = stepUpChallenge(errorInfo([{ type: 'google.rpc.ErrorInfo',
			debug: { reason: 'INSUFFICIENT_USER_AUTHENTICATION', metadata: { acr_values: `+strconv.Quote(hostile)+`, max_age: '60' } } }]));
		return JSON.stringify({ su, url: await authorizationURL(su, 'st8', randomString(32)), endpoint: session.cfg.authorization_endpoint, redirect: session.cfg.redirect_uri });
	})()`, chromedp.EvalAwaitPromise))
	var r struct {
		SU                      struct{ AcrValues, MaxAge string }
		URL, Endpoint, Redirect string
	}
	if err := json.Unmarshal([]byte(got), &r); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if r.SU.AcrValues != hostile {
		t.Fatalf("stepUpChallenge took acr_values as %q; want it passed on as it came, %q", r.SU.AcrValues, hostile)
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme+"://"+u.Host+u.Path != r.Endpoint || u.Fragment != "" {
		t.Errorf("the step-up request goes to %s; want the configured authorization endpoint %s", r.URL, r.Endpoint)
	}
	if len(q["acr_values"]) != 1 || q.Get("acr_values") != hostile || q.Get("max_age") != "60" {
		t.Errorf("the step-up request's acr_values %q, max_age %q; want %q and 60, each once", q["acr_values"], q["max_age"], hostile)
	}
	if len(q["redirect_uri"]) != 1 || q.Get("redirect_uri") != r.Redirect || len(q["state"]) != 1 || q.Get("state") != "st8" {
		t.Errorf("the step-up request's redirect_uri %q and state %q; want the page's own %s and st8, each once", q["redirect_uri"], q["state"], r.Redirect)
	}
}

// A step-up refusal whose ErrorInfo names neither a well-formed
// acr_values nor a well-formed max_age (grpcauth always names one; a
// broken or hostile server might not) is shown as a step-up refusal but
// offers no sign-in: one without them would get a token like the refused
// one. A refusal naming a well-formed acr_values, max_age or both still
// offers it, acr_values up to the 2048 bytes grpcauth lets a rule's take.
func TestBrowser_StepUpRefusalNamingNothingOffersNoSignIn(t *testing.T) {
	p := openPage(t)
	// acrOf returns well-formed acr_values of n bytes: values of 15
	// bytes, then one of what is left.
	acrOf := func(n int) string {
		s := strings.TrimSuffix(strings.Repeat("urn:a:mfa:0000 ", n/16-1), " ")
		return s + " " + strings.Repeat("z", n-len(s)-1)
	}
	longest, tooLong := acrOf(2048), acrOf(2049)
	if len(longest) != 2048 || len(tooLong) != 2049 {
		t.Fatalf("acrOf gave %d and %d bytes", len(longest), len(tooLong))
	}
	// The page's PurgeItems answers with the refusal in window.refusal.
	p.do("answer PurgeItems with a refusal of the test's", chromedp.Evaluate[chromedp.Void](`(() => {
		const real = window.fetch;
		window.fetch = (u, o) => !String(u).endsWith('/PurgeItems') ? real(u, o) : Promise.resolve(new Response(JSON.stringify({
			code: 'unauthenticated', message: 'grpcauth: stronger authentication required',
			details: [{ type: 'google.rpc.ErrorInfo', debug: { reason: 'INSUFFICIENT_USER_AUTHENTICATION', domain: 'grpcauth', metadata: window.refusal } }],
		}), { status: 401, headers: { 'Content-Type': 'application/json' } }));
	})()`))
	for _, tt := range []struct {
		name, metadata string
		offered        bool
		text           string
	}{
		{"none", `{}`, false, "would not change its answer"},
		{"malformed", `{"acr_values": "a\"b", "max_age": "-1"}`, false, "would not change its answer"},
		{"max_age only well-formed", `{"acr_values": "a\"b", "max_age": "60"}`, true, "signed in at most 60 s ago"},
		{"acr_values only", `{"acr_values": "urn:a:mfa phr"}`, true, "sign-in: acr urn:a:mfa or phr."},
		{"both", `{"acr_values": "urn:a:mfa", "max_age": "60"}`, true, "sign-in: acr urn:a:mfa, signed in at most 60 s ago."},
		{"acr_values of 2048 bytes", `{"acr_values": "` + longest + `"}`, true, "sign-in: acr urn:a:mfa:0000 or "},
		{"acr_values of 2049 bytes", `{"acr_values": "` + tooLong + `"}`, false, "would not change its answer"},
	} {
		p.do("set the refusal", chromedp.Evaluate[chromedp.Void](`window.refusal = `+tt.metadata))
		o := p.call(`#purge`)
		if o.outcome != "refused" || o.reason != "INSUFFICIENT_USER_AUTHENTICATION" {
			t.Fatalf("%s: PurgeItems %+v, want refused (INSUFFICIENT_USER_AUTHENTICATION)", tt.name, o)
		}
		if n := p.count(`#stepup:not([hidden])`); n != 1 {
			t.Errorf("%s: the step-up refusal is not shown", tt.name)
		}
		if text := get(p, "read the step-up text", chromedp.Text(chromedp.CSS(`#stepup-text`))); !strings.Contains(text, tt.text) {
			t.Errorf("%s: the step-up text is %q, want it to say %q", tt.name, text, tt.text)
		}
		shown := get(p, "is the sign-in offered", chromedp.Evaluate[bool](`document.getElementById('stepup-signin').offsetParent !== null`))
		if shown != tt.offered {
			t.Errorf("%s: the step-up sign-in button shows: %v, want %v", tt.name, shown, tt.offered)
		}
		if tt.offered {
			continue
		}
		// Not even a click that reaches the hidden button starts a
		// sign-in (signIn saves its PKCE state before it goes).
		started := get(p, "click the hidden button", chromedp.Evaluate[bool](`(() => {
			document.getElementById('stepup-signin').click();
			return sessionStorage.getItem('pkce') !== null;
		})()`))
		if started {
			t.Fatalf("%s: a click on the hidden step-up button started a sign-in", tt.name)
		}
	}
}
