package grpcauthtest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/lestrrat-go/jwx/v2/jws"
)

const (
	pageURI    = "http://127.0.0.1:8080/"
	pageOrigin = "http://127.0.0.1:8080"
	// codeVerifier is an RFC 7636 Appendix B code_verifier.
	codeVerifier = "dBjftJeZ4CVP-mJ92ZiOq7yU5SbQq2Ie8sjKtSK3xtX"
)

var (
	webClient = grpcauthtest.PublicClient{ID: "web", RedirectURIs: []string{pageURI, "http://localhost:9999/cb?app=1"}}
	testUsers = []grpcauthtest.User{
		{Subject: "reader", Name: "Rita Reader", Scopes: []string{"items:read"}},
		{Subject: "writer", Scopes: []string{"items:read", "items:write"}},
	}
)

func challenge(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// noRedirect is an HTTP client that returns redirects instead of following
// them, and keeps no idle connections.
func noRedirect() *http.Client {
	c := newClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// authzParams is a valid authorization request for webClient, with kv
// overriding (an empty value removes the parameter).
func authzParams(kv ...string) url.Values {
	v := form("response_type", "code", "client_id", "web", "redirect_uri", pageURI,
		"state", "st8", "scope", "items:read items:write", "code_challenge", challenge(codeVerifier),
		"code_challenge_method", "S256")
	for n := 0; n+1 < len(kv); n += 2 {
		if kv[n+1] == "" {
			v.Del(kv[n])
		} else {
			v.Set(kv[n], kv[n+1])
		}
	}
	return v
}

// signIn posts the login form for params as user and returns the
// redirect's status and Location.
func signIn(t *testing.T, iss *grpcauthtest.Issuer, params url.Values, user string) (int, *url.URL) {
	t.Helper()
	params = cloneValues(params)
	params.Set("user", user)
	req := mustRequest(t, http.MethodPost, iss.AuthorizeURL(), strings.NewReader(params.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	return resp.StatusCode, loc
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// codeFor signs in as user and returns the code the redirect carries.
func codeFor(t *testing.T, iss *grpcauthtest.Issuer, user string) string {
	t.Helper()
	st, loc := signIn(t, iss, authzParams(), user)
	if st != http.StatusSeeOther || loc.Query().Get("code") == "" {
		t.Fatalf("sign-in: status %d, Location %v; want 303 with a code", st, loc)
	}
	return loc.Query().Get("code")
}

// exchange redeems code at the token endpoint as a public client.
func exchange(t *testing.T, iss *grpcauthtest.Issuer, kv ...string) (int, map[string]any) {
	t.Helper()
	resp, body := do(t, tokenRequest(t, iss, form(kv...)))
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("token endpoint body %q: %v", body, err)
	}
	return resp.StatusCode, m
}

func codeIssuer(t testing.TB, now func() time.Time) *grpcauthtest.Issuer {
	return grpcauthtest.NewIssuer(t, grpcauthtest.Config{
		Clients:       testClients,
		PublicClients: []grpcauthtest.PublicClient{webClient},
		Users:         testUsers,
		Now:           now,
	})
}

func TestAuthorize_LoginPageListsUsersAndKeepsTheRequest(t *testing.T) {
	iss := codeIssuer(t, nil)
	resp, body := get(t, iss.AuthorizeURL()+"?"+authzParams("state", `"><script>`).Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	page := string(body)
	for _, want := range []string{"Rita Reader", `value="reader"`, `value="writer"`, "items:read items:write", "FOR LOCAL DEVELOPMENT ONLY", `name="code_challenge" value="` + challenge(codeVerifier) + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("login page lacks %q", want)
		}
	}
	if strings.Contains(page, `"><script>`) {
		t.Error("state is not HTML-escaped on the login page")
	}
	for name, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
}

func TestAuthorize_CodeBecomesAUserTokenWithTheClaimsOfAnIdP(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	iss := codeIssuer(t, func() time.Time { return now })

	st, loc := signIn(t, iss, authzParams("scope", "openid items:read items:write"), "reader")
	if st != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", st)
	}
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != pageURI {
		t.Errorf("redirected to %q, want %q", got, pageURI)
	}
	if q.Get("state") != "st8" || q.Get("iss") != iss.URL() || q.Get("code") == "" {
		t.Fatalf("redirect query %v: want state, iss and code", q)
	}

	status, m := exchange(t, iss, "grant_type", "authorization_code", "client_id", "web",
		"code", q.Get("code"), "redirect_uri", pageURI, "code_verifier", codeVerifier)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, m)
	}
	if m["token_type"] != "Bearer" || m["scope"] != "items:read" {
		t.Errorf("token response %v: want Bearer with scope items:read (the reader's share of the request)", m)
	}
	tok, _ := m["access_token"].(string)
	if _, err := jws.Verify([]byte(tok), jws.WithKeySet(fetchKeySet(t, iss), jws.WithInferAlgorithmFromKey(true))); err != nil {
		t.Fatalf("token does not verify with the issuer's JWKS: %v", err)
	}
	_, claims := segments(t, tok)
	// Okta's user tokens carry the user's id in uid, beside sub.
	want := map[string]any{"sub": "reader", "uid": "reader", "cid": "web", "auth_time": float64(now.Unix()), "iss": iss.URL(), "aud": iss.Audience()}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if scp, _ := json.Marshal(claims["scp"]); string(scp) != `["items:read"]` {
		t.Errorf("scp = %s, want [\"items:read\"]", scp)
	}
}

func TestAuthorize_ExchangeRefusals(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	iss := codeIssuer(t, clock)
	ac := "authorization_code"
	tests := []struct {
		name       string
		kv         func(code string) []string
		before     func() // runs after the code is issued, before the exchange
		wantStatus int
		wantError  string
	}{
		{"wrong codeVerifier", func(c string) []string {
			return []string{"grant_type", ac, "client_id", "web", "code", c, "redirect_uri", pageURI, "code_verifier", strings.Repeat("a", 43)}
		}, nil, 400, "invalid_grant"},
		{"other redirect_uri", func(c string) []string {
			return []string{"grant_type", ac, "client_id", "web", "code", c, "redirect_uri", "http://localhost:9999/cb?app=1", "code_verifier", codeVerifier}
		}, nil, 400, "invalid_grant"},
		{"unknown code", func(string) []string {
			return []string{"grant_type", ac, "client_id", "web", "code", "nope", "redirect_uri", pageURI, "code_verifier", codeVerifier}
		}, nil, 400, "invalid_grant"},
		{"no codeVerifier", func(c string) []string {
			return []string{"grant_type", ac, "client_id", "web", "code", c, "redirect_uri", pageURI}
		}, nil, 400, "invalid_request"},
		{"codeVerifier too short", func(c string) []string {
			return []string{"grant_type", ac, "client_id", "web", "code", c, "redirect_uri", pageURI, "code_verifier", "short"}
		}, nil, 400, "invalid_request"},
		{"unknown public client", func(c string) []string {
			return []string{"grant_type", ac, "client_id", "other", "code", c, "redirect_uri", pageURI, "code_verifier", codeVerifier}
		}, nil, 401, "invalid_client"},
		{"confidential client credentials", func(c string) []string {
			return []string{"grant_type", ac, "client_id", "svc", "client_secret", "s3cret", "code", c, "redirect_uri", pageURI, "code_verifier", codeVerifier}
		}, nil, 400, "unauthorized_client"},
		{"expired code", func(c string) []string {
			return []string{"grant_type", ac, "client_id", "web", "code", c, "redirect_uri", pageURI, "code_verifier", codeVerifier}
		}, func() { mu.Lock(); now = now.Add(grpcauthtest.DefaultAuthCodeLifetime); mu.Unlock() }, 400, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := codeFor(t, iss, "writer")
			if tt.before != nil {
				tt.before()
			}
			status, m := exchange(t, iss, tt.kv(code)...)
			if status != tt.wantStatus || m["error"] != tt.wantError {
				t.Fatalf("got %d %v, want %d %s", status, m, tt.wantStatus, tt.wantError)
			}
			if tt.wantError == "invalid_grant" || tt.wantError == "invalid_client" || tt.wantError == "unauthorized_client" {
				return
			}
			// A malformed exchange does not use the code up.
			status, m = exchange(t, iss, "grant_type", ac, "client_id", "web", "code", code, "redirect_uri", pageURI, "code_verifier", codeVerifier)
			if status != http.StatusOK {
				t.Fatalf("valid exchange after a malformed one: %d %v", status, m)
			}
		})
	}
}

// RFC 6749 §4.1.3: a code is redeemed only by the client it was issued to,
// even another public client registered for the same redirect URI, and
// the attempt uses it up.
func TestAuthorize_CodeIsRedeemedOnlyByItsClient(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{
		PublicClients: []grpcauthtest.PublicClient{webClient, {ID: "other-web", RedirectURIs: []string{pageURI}}},
		Users:         testUsers,
	})
	code := codeFor(t, iss, "writer")
	kv := []string{"grant_type", "authorization_code", "client_id", "other-web", "code", code, "redirect_uri", pageURI, "code_verifier", codeVerifier}
	if status, m := exchange(t, iss, kv...); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("another public client redeeming the code: %d %v, want 400 invalid_grant", status, m["error"])
	}
	kv[3] = "web"
	if status, m := exchange(t, iss, kv...); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("its own client after that: %d %v, want 400 invalid_grant (the code is used up)", status, m["error"])
	}
}

// RFC 7636 §4.1: a code_verifier is 43 to 128 characters of
// [A-Za-z0-9-._~]. One outside that is refused even when its S256 hash is
// the request's challenge.
func TestAuthorize_CodeVerifierMustBeRFC7636Shaped(t *testing.T) {
	iss := codeIssuer(t, nil)
	redeem := func(verifier string) (int, map[string]any) {
		t.Helper()
		st, loc := signIn(t, iss, authzParams("code_challenge", challenge(verifier)), "writer")
		if st != http.StatusSeeOther || loc.Query().Get("code") == "" {
			t.Fatalf("sign-in: status %d, Location %v; want 303 with a code", st, loc)
		}
		return exchange(t, iss, "grant_type", "authorization_code", "client_id", "web", "code", loc.Query().Get("code"),
			"redirect_uri", pageURI, "code_verifier", verifier)
	}
	for name, v := range map[string]string{
		"129 characters":   strings.Repeat("a", 129),
		"42 characters":    strings.Repeat("a", 42),
		"a plus sign":      strings.Repeat("a", 42) + "+",
		"a slash":          strings.Repeat("a", 42) + "/",
		"a space":          strings.Repeat("a", 42) + " ",
		"a non-ASCII rune": strings.Repeat("a", 41) + "é",
	} {
		if status, m := redeem(v); status != http.StatusBadRequest || m["error"] != "invalid_request" {
			t.Errorf("verifier with %s: %d %v, want 400 invalid_request", name, status, m["error"])
		}
	}
	for name, v := range map[string]string{
		"43 characters":                strings.Repeat("a", 43),
		"128 characters":               strings.Repeat("a", 128),
		"every unreserved punctuation": strings.Repeat("a", 39) + "-._~",
	} {
		if status, m := redeem(v); status != http.StatusOK {
			t.Errorf("verifier of %s: %d %v, want 200", name, status, m["error"])
		}
	}
}

// docs/browsers.md: at most 1024 codes, pending or used and not yet
// expired, are kept; past that the authorization endpoint answers
// temporarily_unavailable (to the redirect URI, with state) until some
// expire.
func TestAuthorize_PendingCodesAreBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	iss := codeIssuer(t, clock)
	first := codeFor(t, iss, "reader")
	kv := []string{"grant_type", "authorization_code", "client_id", "web", "code", first, "redirect_uri", pageURI, "code_verifier", codeVerifier}
	if status, m := exchange(t, iss, kv...); status != http.StatusOK { // used, still kept
		t.Fatalf("exchange: %d %v", status, m)
	}
	for n := 1; n < 1024; n++ {
		codeFor(t, iss, "reader")
	}
	st, loc := signIn(t, iss, authzParams(), "reader")
	if q := loc.Query(); st != http.StatusSeeOther || q.Get("error") != "temporarily_unavailable" || q.Get("state") != "st8" || q.Has("code") {
		t.Fatalf("code 1025: status %d, Location %v; want 303 with temporarily_unavailable and state", st, loc)
	}
	mu.Lock()
	now = now.Add(grpcauthtest.DefaultAuthCodeLifetime)
	mu.Unlock()
	codeFor(t, iss, "reader") // the expired ones make room
}

// RFC 6749 §5.2: client authentication a client cannot do (a public
// client has no secret) is invalid_client, with a 401 and a challenge when
// it came in an Authorization header; unauthorized_client is for a client
// that did authenticate but may not use the grant.
func TestAuthorize_ExchangeWithCredentialsAPublicClientCannotHaveIsInvalidClient(t *testing.T) {
	iss := codeIssuer(t, nil)
	ac := "authorization_code"
	tests := []struct {
		name       string
		req        func(code string) *http.Request
		wantStatus int
		wantError  string
	}{
		{"public client id with Basic", func(c string) *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", ac, "code", c, "redirect_uri", pageURI, "code_verifier", codeVerifier)), "web", "guess")
		}, 401, "invalid_client"},
		{"public client id with client_secret", func(c string) *http.Request {
			return tokenRequest(t, iss, form("grant_type", ac, "client_id", "web", "client_secret", "guess", "code", c, "redirect_uri", pageURI, "code_verifier", codeVerifier))
		}, 401, "invalid_client"},
		{"confidential client with a wrong secret", func(c string) *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", ac, "code", c, "redirect_uri", pageURI, "code_verifier", codeVerifier)), "svc", "wrong")
		}, 401, "invalid_client"},
		{"authenticated confidential client", func(c string) *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", ac, "code", c, "redirect_uri", pageURI, "code_verifier", codeVerifier)), "svc", "s3cret")
		}, 400, "unauthorized_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.req(codeFor(t, iss, "reader")))
			var e grpcauthtest.TokenError
			if resp.StatusCode != tt.wantStatus || json.Unmarshal(body, &e) != nil || e.Code != tt.wantError {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, tt.wantStatus, tt.wantError)
			}
			if tt.wantStatus == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate (RFC 6749 §5.2)")
			}
		})
	}
}

func TestAuthorize_CodeWorksOnce(t *testing.T) {
	iss := codeIssuer(t, nil)
	code := codeFor(t, iss, "writer")
	kv := []string{"grant_type", "authorization_code", "client_id", "web", "code", code, "redirect_uri", pageURI, "code_verifier", codeVerifier}
	if status, m := exchange(t, iss, kv...); status != http.StatusOK || m["scope"] != "items:read items:write" {
		t.Fatalf("first exchange: %d %v", status, m)
	}
	if status, m := exchange(t, iss, kv...); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("second exchange: %d %v, want 400 invalid_grant", status, m)
	}
	// A failed exchange uses the code up too: no guessing the codeVerifier.
	code = codeFor(t, iss, "writer")
	bad := []string{"grant_type", "authorization_code", "client_id", "web", "code", code, "redirect_uri", pageURI, "code_verifier", strings.Repeat("b", 43)}
	if status, _ := exchange(t, iss, bad...); status != http.StatusBadRequest {
		t.Fatalf("wrong codeVerifier: %d", status)
	}
	kv[5] = code
	if status, m := exchange(t, iss, kv...); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("exchange after a failed one: %d %v, want 400 invalid_grant", status, m)
	}
}

func TestAuthorize_RequestRefusals(t *testing.T) {
	iss := codeIssuer(t, nil)
	tests := []struct {
		name      string
		params    url.Values
		user      string
		wantError string // "" with redirect false: shown on a 400 page
		redirect  bool
	}{
		{"unknown client is not redirected", authzParams("client_id", "evil"), "reader", "", false},
		{"unregistered redirect_uri is not redirected", authzParams("redirect_uri", "http://127.0.0.1:8080/evil"), "reader", "", false},
		{"redirect_uri prefix is not a match", authzParams("redirect_uri", pageURI+"x"), "reader", "", false},
		{"plain PKCE", authzParams("code_challenge_method", "plain", "code_challenge", codeVerifier), "reader", "invalid_request", true},
		{"no PKCE", authzParams("code_challenge", "", "code_challenge_method", ""), "reader", "invalid_request", true},
		{"challenge not 32 bytes", authzParams("code_challenge", "abc"), "reader", "invalid_request", true},
		{"challenge not canonical base64url", authzParams("code_challenge", nonCanonical(challenge(codeVerifier))), "reader", "invalid_request", true},
		{"token response type", authzParams("response_type", "token"), "reader", "unsupported_response_type", true},
		{"malformed scope", authzParams("scope", "a\"b"), "reader", "invalid_scope", true},
		{"scopes separated by a newline", authzParams("scope", "items:read\nitems:write"), "reader", "invalid_scope", true},
		{"negative max_age", authzParams("max_age", "-1"), "reader", "invalid_request", true},
		{"fractional max_age", authzParams("max_age", "1.5"), "reader", "invalid_request", true},
		{"signed max_age", authzParams("max_age", "+5"), "reader", "invalid_request", true},
		{"max_age beyond int64", authzParams("max_age", "99999999999999999999"), "reader", "invalid_request", true},
		{"prompt none: there is no session", authzParams("prompt", "none"), "reader", "login_required", true},
		{"prompt none with another value", authzParams("prompt", "none login"), "reader", "invalid_request", true},
		{"prompt none twice: a list of one value", authzParams("prompt", "none none"), "reader", "login_required", true},
		{"unknown prompt", authzParams("prompt", "create"), "reader", "invalid_request", true},
		{"malformed acr_values", authzParams("acr_values", `urn:a "b"`), "reader", "invalid_request", true},
		{"repeated acr_values", func() url.Values { v := authzParams("acr_values", "a"); v.Add("acr_values", "b"); return v }(), "reader", "", false},
		{"fragment response_mode is not answered in the query", authzParams("response_mode", "fragment"), "reader", "", false},
		{"form_post response_mode is not answered in the query", authzParams("response_mode", "form_post"), "reader", "", false},
		{"repeated response_mode", func() url.Values {
			v := authzParams("response_mode", "query")
			v.Add("response_mode", "query")
			return v
		}(), "reader", "", false},
		{"request object is not ignored", authzParams("request", "eyJhbGciOiJub25lIn0.e30."), "reader", "request_not_supported", true},
		{"request_uri is not ignored", authzParams("request_uri", "urn:ietf:params:oauth:request_uri:x"), "reader", "request_uri_not_supported", true},
		{"unknown user", authzParams(), "mallory", "access_denied", true},
		{"cancel", func() url.Values { v := authzParams(); v.Set("cancel", "1"); return v }(), "", "access_denied", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				var status int
				var loc *url.URL
				if method == http.MethodGet {
					resp, err := noRedirect().Get(iss.AuthorizeURL() + "?" + tt.params.Encode())
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					status = resp.StatusCode
					loc, _ = url.Parse(resp.Header.Get("Location"))
					if tt.user != "reader" || tt.params.Has("cancel") {
						continue // only the POST knows the user
					}
				} else {
					status, loc = signIn(t, iss, tt.params, tt.user)
				}
				if !tt.redirect {
					if status != http.StatusBadRequest || loc.String() != "" {
						t.Errorf("%s: status %d, Location %q; want 400 without redirect", method, status, loc)
					}
					continue
				}
				q := loc.Query()
				if status != http.StatusSeeOther || q.Get("error") != tt.wantError || q.Get("state") != "st8" || q.Has("code") {
					t.Errorf("%s: status %d, Location %v; want 303 with error %s and state", method, status, loc, tt.wantError)
				}
			}
		})
	}
}

func TestAuthorize_SignInPostedFromAnotherOriginIsRefused(t *testing.T) {
	iss := codeIssuer(t, nil)
	u, _ := url.Parse(iss.AuthorizeURL())
	self := "http://" + u.Host
	post := func(hdr ...string) (int, string) {
		t.Helper()
		params := authzParams()
		params.Set("user", "writer")
		req := mustRequest(t, http.MethodPost, iss.AuthorizeURL(), strings.NewReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for n := 0; n+1 < len(hdr); n += 2 {
			req.Header.Set(hdr[n], hdr[n+1])
		}
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	// A page elsewhere auto-submitting the login form: no code, no
	// redirect, whatever the browser says about where it comes from.
	for name, hdr := range map[string][]string{
		"cross-site":                        {"Sec-Fetch-Site", "cross-site"},
		"same-site (another loopback port)": {"Sec-Fetch-Site", "same-site", "Origin", pageOrigin},
		"foreign Origin, no Sec-Fetch-Site": {"Origin", "https://attacker.example"},
		"opaque Origin, no Sec-Fetch-Site":  {"Origin", "null"},
		// Origin is compared with Host port and name included: another
		// loopback port, or the issuer's port under another loopback name.
		"another port's Origin, no Sec-Fetch-Site": {"Origin", pageOrigin},
		"localhost Origin, no Sec-Fetch-Site":      {"Origin", "http://localhost:" + u.Port()},
		"Sec-Fetch-Site wins over an Origin":       {"Sec-Fetch-Site", "cross-site", "Origin", self},
	} {
		if st, loc := post(hdr...); st != http.StatusForbidden || loc != "" {
			t.Errorf("%s: status %d, Location %q; want 403 without redirect", name, st, loc)
		}
	}
	// The login page's own form, as browsers send it, and a request with
	// neither header (not from a browser).
	for name, hdr := range map[string][]string{
		"same-origin":                   {"Sec-Fetch-Site", "same-origin", "Origin", self},
		"own Origin, no Sec-Fetch-Site": {"Origin", self},
		"no browser headers":            nil,
	} {
		st, loc := post(hdr...)
		if l, _ := url.Parse(loc); st != http.StatusSeeOther || l == nil || l.Query().Get("code") == "" {
			t.Errorf("%s: status %d, Location %q; want 303 with a code", name, st, loc)
		}
	}
}

func TestAuthorize_LoginFormPostCarriesItsOrigin(t *testing.T) {
	// Referrer-Policy no-referrer would make browsers send Origin: null with
	// the form's POST, which the same-origin check refuses when the
	// browser sends no Sec-Fetch-Site; same-origin still keeps the
	// Referer (the request's state) from leaving the issuer.
	iss := codeIssuer(t, nil)
	resp, _ := get(t, iss.AuthorizeURL()+"?"+authzParams().Encode())
	if got := resp.Header.Get("Referrer-Policy"); got != "same-origin" {
		t.Errorf("Referrer-Policy = %q, want same-origin", got)
	}
}

// nonCanonical returns c, the unpadded base64url encoding of 32 bytes, with
// its last character's two unused low bits set: the same bytes to a lax
// decoder, a different string to a strict one.
func nonCanonical(c string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c[len(c)-1])
	return c[:len(c)-1] + string(alphabet[i|3])
}

func TestAuthorize_RedirectKeepsTheRegisteredQuery(t *testing.T) {
	iss := codeIssuer(t, nil)
	st, loc := signIn(t, iss, authzParams("redirect_uri", "http://localhost:9999/cb?app=1"), "reader")
	if st != http.StatusSeeOther || loc.Query().Get("app") != "1" || loc.Query().Get("code") == "" {
		t.Fatalf("status %d, Location %v; want the registered query plus code", st, loc)
	}
}

// hiddenField matches the login page's hidden inputs.
var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

func TestAuthorize_StateIsPrintableASCIIAndComesBackExactly(t *testing.T) {
	iss := codeIssuer(t, nil)
	// Every VSCHAR: the login page carries it in a form field, as a
	// browser reads it back, and the code comes with it unchanged.
	var all strings.Builder
	for c := byte(0x20); c <= 0x7e; c++ {
		all.WriteByte(c)
	}
	resp, body := get(t, iss.AuthorizeURL()+"?"+authzParams("state", all.String()).Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page: status %d: %s", resp.StatusCode, body)
	}
	posted := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(string(body), -1) {
		posted.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	if st, loc := signIn(t, iss, posted, "reader"); st != http.StatusSeeOther || loc.Query().Get("code") == "" || loc.Query().Get("state") != all.String() {
		t.Errorf("sign-in from the page: status %d, state %q; want 303 with a code and state %q", st, loc.Query().Get("state"), all.String())
	}
	// Anything else would not come back as sent (a browser posts a
	// newline as CR LF, a byte that is not UTF-8 as U+FFFD): refused,
	// with the state sent back exactly.
	for _, state := range []string{"a\nb", "a\r\nb", "a\tb", "a\x00b", "a\x7fb", "\xff\xfe", "caf\u00e9"} {
		params := authzParams("state", state)
		resp, err := noRedirect().Get(iss.AuthorizeURL() + "?" + params.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		getLoc, _ := url.Parse(resp.Header.Get("Location"))
		postStatus, postLoc := signIn(t, iss, params, "reader")
		for method, r := range map[string]struct {
			status int
			loc    *url.URL
		}{"GET": {resp.StatusCode, getLoc}, "POST": {postStatus, postLoc}} {
			if q := r.loc.Query(); r.status != http.StatusSeeOther || q.Get("error") != "invalid_request" || q.Has("code") || q.Get("state") != state {
				t.Errorf("%s with state %q: status %d, Location %v; want 303 with invalid_request and the state as sent", method, state, r.status, r.loc)
			}
		}
	}
}

func TestTokenEndpoint_CORSOnlyForRedirectOrigins(t *testing.T) {
	iss := codeIssuer(t, nil)
	preflight := func(origin string) *http.Response {
		req := mustRequest(t, http.MethodOptions, iss.TokenURL(), nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type, dpop")
		resp, _ := do(t, req)
		return resp
	}
	resp := preflight(pageOrigin)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != pageOrigin ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "DPoP") {
		t.Errorf("preflight from the page's origin: %d %v", resp.StatusCode, resp.Header)
	}
	resp = preflight("http://evil.example")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d %v; want 405 without CORS headers", resp.StatusCode, resp.Header)
	}

	code := codeFor(t, iss, "reader")
	req := tokenRequest(t, iss, form("grant_type", "authorization_code", "client_id", "web", "code", code, "redirect_uri", pageURI, "code_verifier", codeVerifier))
	req.Header.Set("Origin", pageOrigin)
	resp, body := do(t, req)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != pageOrigin {
		t.Errorf("exchange from the page's origin: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

// A browser sends the Origin of a page in its serialised form (RFC 6454
// §6.1): host in lower case, no default port. A redirect URI registered
// with another spelling of that origin still gets CORS.
func TestTokenEndpoint_CORSMatchesTheBrowsersSpellingOfARedirectOrigin(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{PublicClients: []grpcauthtest.PublicClient{
		{ID: "web", RedirectURIs: []string{"http://LocalHost:80/cb", "https://App.Example:443/", "http://[::1]:8080/"}},
	}})
	for _, origin := range []string{"http://localhost", "https://app.example", "http://[::1]:8080"} {
		req := mustRequest(t, http.MethodOptions, iss.TokenURL(), nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, _ := do(t, req)
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("preflight from %s: %d, Access-Control-Allow-Origin %q; want 204 allowing it", origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}

func TestTokenEndpoint_AuthorizationCodeWithoutPublicClientsIsUnsupported(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: testClients})
	req := tokenRequest(t, iss, form("grant_type", "authorization_code", "client_id", "web", "code", "x", "redirect_uri", pageURI, "code_verifier", codeVerifier))
	resp, body := do(t, req)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "invalid_client") {
		t.Errorf("got %d %s; want the old 401 invalid_client (no client authentication)", resp.StatusCode, body)
	}
	if r, _ := get(t, iss.URL()+"/v1/authorize"); r.StatusCode != http.StatusNotFound {
		t.Errorf("authorization endpoint without public clients: %d, want 404", r.StatusCode)
	}
}

func TestMetadata_AdvertisesTheAuthorizationEndpoint(t *testing.T) {
	md := codeIssuer(t, nil).Metadata()
	if md.AuthorizationEndpoint == "" || md.AuthorizationEndpoint != strings.TrimSuffix(md.Issuer, "/")+"/v1/authorize" {
		t.Errorf("authorization_endpoint = %q", md.AuthorizationEndpoint)
	}
	checks := map[string]struct {
		got  []string
		want string
	}{
		"code_challenge_methods_supported":      {md.CodeChallengeMethodsSupported, "S256"},
		"grant_types_supported":                 {md.GrantTypesSupported, "authorization_code"},
		"response_types_supported":              {md.ResponseTypesSupported, "code"},
		"token_endpoint_auth_methods_supported": {md.TokenEndpointAuthMethodsSupported, "none"},
		"claims_supported (auth_time)":          {md.ClaimsSupported, "auth_time"},
		"claims_supported (uid)":                {md.ClaimsSupported, "uid"},
	}
	for name, c := range checks {
		if !strings.Contains(" "+strings.Join(c.got, " ")+" ", " "+c.want+" ") {
			t.Errorf("%s = %v, want it to include %s", name, c.got, c.want)
		}
	}
	if strings.Contains(strings.Join(md.CodeChallengeMethodsSupported, " "), "plain") {
		t.Error("plain PKCE advertised")
	}
	if !md.AuthorizationResponseIssParameterSupported {
		t.Error("authorization_response_iss_parameter_supported is false, but every authorization response carries iss (RFC 9207 §3)")
	}
}

func TestConfig_PublicClientsAndUsersAreChecked(t *testing.T) {
	tests := []struct {
		name string
		cfg  grpcauthtest.Config
	}{
		{"no id", grpcauthtest.Config{PublicClients: []grpcauthtest.PublicClient{{RedirectURIs: []string{pageURI}}}}},
		{"no redirect URI", grpcauthtest.Config{PublicClients: []grpcauthtest.PublicClient{{ID: "web"}}}},
		{"relative redirect URI", grpcauthtest.Config{PublicClients: []grpcauthtest.PublicClient{{ID: "web", RedirectURIs: []string{"/cb"}}}}},
		{"redirect URI with fragment", grpcauthtest.Config{PublicClients: []grpcauthtest.PublicClient{{ID: "web", RedirectURIs: []string{pageURI + "#x"}}}}},
		{"javascript redirect URI", grpcauthtest.Config{PublicClients: []grpcauthtest.PublicClient{{ID: "web", RedirectURIs: []string{"javascript:alert(1)"}}}}},
		{"id of a confidential client", grpcauthtest.Config{Clients: testClients, PublicClients: []grpcauthtest.PublicClient{{ID: "svc", RedirectURIs: []string{pageURI}}}}},
		{"user without subject", grpcauthtest.Config{Users: []grpcauthtest.User{{Name: "x"}}}},
		{"duplicate user", grpcauthtest.Config{Users: []grpcauthtest.User{{Subject: "a"}, {Subject: "a"}}}},
		{"bad user scope", grpcauthtest.Config{Users: []grpcauthtest.User{{Subject: "a", Scopes: []string{"a b"}}}}},
		{"negative code lifetime", grpcauthtest.Config{AuthCodeLifetime: -time.Second}},
		{"acr value with a space", grpcauthtest.Config{ACRValues: []string{"urn:a b"}}},
		{"empty acr value", grpcauthtest.Config{ACRValues: []string{""}}},
		{"duplicate acr value", grpcauthtest.Config{ACRValues: []string{"phr", "phrh", "phr"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if iss, err := grpcauthtest.Start(tt.cfg); err == nil {
				iss.Close()
				t.Fatal("Start accepted the config")
			} else if !strings.HasPrefix(err.Error(), "grpcauthtest: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// RFC 6749 §3.3 and §5.1: when the granted scope differs from the one
// requested, the token response MUST say so. A user who holds none of the
// requested scopes gets a token without them, and a scope of "" that
// says so, not a response without scope that lets the client assume all
// it asked for.
func TestAuthorize_TokenResponseSaysWhenNoRequestedScopeWasGranted(t *testing.T) {
	iss := codeIssuer(t, nil)
	st, loc := signIn(t, iss, authzParams("scope", "items:write"), "reader")
	if st != http.StatusSeeOther || loc.Query().Get("code") == "" {
		t.Fatalf("sign-in: status %d, Location %v", st, loc)
	}
	status, m := exchange(t, iss, "grant_type", "authorization_code", "client_id", "web",
		"code", loc.Query().Get("code"), "redirect_uri", pageURI, "code_verifier", codeVerifier)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, m)
	}
	if scope, ok := m["scope"]; !ok || scope != "" {
		t.Errorf("token response scope %#v (present: %v), want \"\" (none of items:write granted)", scope, ok)
	}
}

// RFC 6749 §4.1.2: a code used twice SHOULD revoke the tokens issued for it,
// as a stolen code replayed after the client redeemed it suggests.
func TestAuthorize_ReusedCodeRevokesTheTokenIssuedForIt(t *testing.T) {
	iss := introspectingCodeIssuer(t, nil)
	code := codeFor(t, iss, "writer")
	kv := []string{"grant_type", "authorization_code", "client_id", "web", "code", code, "redirect_uri", pageURI, "code_verifier", codeVerifier}
	status, m := exchange(t, iss, kv...)
	tok, _ := m["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("first exchange: %d %v", status, m)
	}
	if got := introspectToken(t, iss, tok); got["active"] != true {
		t.Fatalf("token before the code's reuse: %v, want active", got)
	}
	if status, m := exchange(t, iss, kv...); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("second exchange: %d %v, want 400 invalid_grant", status, m)
	}
	if got := introspectToken(t, iss, tok); got["active"] != false || len(got) != 1 {
		t.Fatalf("token after the code's reuse: %v, want {active: false}", got)
	}
	// Another code's token is untouched.
	kv[5] = codeFor(t, iss, "writer")
	if status, m = exchange(t, iss, kv...); status != http.StatusOK {
		t.Fatalf("exchange of a new code: %d %v", status, m)
	}
	if got := introspectToken(t, iss, m["access_token"].(string)); got["active"] != true {
		t.Fatalf("another code's token: %v, want active", got)
	}
}

// A reuse that comes while the first exchange of the code is still minting
// its token makes that token revoked as soon as it is issued: the clock
// holds the first exchange inside Mint until the reuse has been refused.
func TestAuthorize_ReuseDuringTheFirstExchangeRevokesItsToken(t *testing.T) {
	var (
		mu      sync.Mutex
		calls   int // Now calls since armed; 0 while disarmed
		minting = make(chan struct{})
		release = make(chan struct{})
	)
	now := func() time.Time {
		mu.Lock()
		if calls > 0 {
			calls++
		}
		n := calls
		mu.Unlock()
		if n == 3 { // the first exchange's second call: Mint's iat
			close(minting)
			<-release
		}
		return time.Unix(1_800_000_000, 0)
	}
	iss := introspectingCodeIssuer(t, now)
	kv := []string{"grant_type", "authorization_code", "client_id", "web", "code", codeFor(t, iss, "writer"), "redirect_uri", pageURI, "code_verifier", codeVerifier}
	first := tokenRequest(t, iss, form(kv...))
	mu.Lock()
	calls = 1 // armed
	mu.Unlock()
	type answer struct {
		status int
		token  string
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := newClient().Do(first)
		if err != nil {
			done <- answer{status: -1}
			return
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		tok, _ := m["access_token"].(string)
		done <- answer{resp.StatusCode, tok}
	}()
	<-minting
	status, m := exchange(t, iss, kv...)
	close(release)
	if status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("reuse during the first exchange: %d %v, want 400 invalid_grant", status, m)
	}
	a := <-done
	if a.status != http.StatusOK || a.token == "" {
		t.Fatalf("first exchange: status %d", a.status)
	}
	if got := introspectToken(t, iss, a.token); got["active"] != false {
		t.Fatalf("token of a code reused while it was minted: %v, want inactive", got)
	}
}

// introspectingCodeIssuer is codeIssuer with rsClient, the client
// introspectToken authenticates as.
func introspectingCodeIssuer(t *testing.T, now func() time.Time) *grpcauthtest.Issuer {
	return grpcauthtest.NewIssuer(t, grpcauthtest.Config{
		Clients:       []grpcauthtest.Client{rsClient},
		PublicClients: []grpcauthtest.PublicClient{webClient},
		Users:         testUsers,
		Now:           now,
	})
}

// uid is Okta's claim: an RFC 9068 user token names the user in sub only.
func TestAuthorize_RFC9068UserTokenHasNoUID(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{
		Shape:         grpcauthtest.ShapeRFC9068,
		PublicClients: []grpcauthtest.PublicClient{webClient},
		Users:         testUsers,
	})
	status, m := exchange(t, iss, "grant_type", "authorization_code", "client_id", "web",
		"code", codeFor(t, iss, "reader"), "redirect_uri", pageURI, "code_verifier", codeVerifier)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, m)
	}
	_, claims := segments(t, m["access_token"].(string))
	if uid, has := claims["uid"]; has || claims["sub"] != "reader" || claims["client_id"] != "web" {
		t.Errorf("claims %v: want sub reader, client_id web and no uid (got %v)", claims, uid)
	}
}

func TestAuthorize_QueryResponseModeIsTheOneAdvertisedAndAccepted(t *testing.T) {
	iss := codeIssuer(t, nil)
	st, loc := signIn(t, iss, authzParams("response_mode", "query"), "reader")
	if st != http.StatusSeeOther || loc.Query().Get("code") == "" || loc.Fragment != "" {
		t.Fatalf("response_mode=query: status %d, Location %v; want 303 with a code in the query", st, loc)
	}
	_, body := get(t, iss.URL()+"/.well-known/openid-configuration")
	var md map[string]any
	if err := json.Unmarshal(body, &md); err != nil {
		t.Fatal(err)
	}
	// Left out, these would mean ["query", "fragment"] (RFC 8414 section 2)
	// and true (OpenID Connect Discovery 1.0, section 3).
	modes, _ := json.Marshal(md["response_modes_supported"])
	if string(modes) != `["query"]` {
		t.Errorf("response_modes_supported = %s; want [\"query\"]", modes)
	}
	if v, ok := md["request_uri_parameter_supported"]; !ok || v != false {
		t.Errorf("request_uri_parameter_supported = %v (present %v); want false", v, ok)
	}
}

func TestAuthorize_PublicClientAskingForAnotherGrantIsRefusedForTheGrant(t *testing.T) {
	iss := codeIssuer(t, nil)
	tests := []struct {
		name, grantType, wantError string
	}{
		{"refresh_token, which the issuer does not support", "refresh_token", "unsupported_grant_type"},
		{"client_credentials, for confidential clients only", "client_credentials", "unauthorized_client"},
		{"no grant_type", "", "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := []string{"client_id", "web", "refresh_token", "rt"}
			if tt.grantType != "" {
				kv = append(kv, "grant_type", tt.grantType)
			}
			resp, body := do(t, tokenRequest(t, iss, form(kv...)))
			var e grpcauthtest.TokenError
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			// Not 401 invalid_client with a Basic challenge: a public
			// client has no credentials that could have failed.
			if resp.StatusCode != http.StatusBadRequest || e.Code != tt.wantError || resp.Header.Get("WWW-Authenticate") != "" {
				t.Errorf("status %d, error %q, WWW-Authenticate %q; want 400 %s without a challenge",
					resp.StatusCode, e.Code, resp.Header.Get("WWW-Authenticate"), tt.wantError)
			}
		})
	}
}

func TestAuthorize_RedirectKeepsTheRegisteredQueryAsItIsSpelt(t *testing.T) {
	const registered = "http://localhost:9999/cb?b=2&a=1;c&flag"
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{
		PublicClients: []grpcauthtest.PublicClient{{ID: "web", RedirectURIs: []string{registered}}},
		Users:         testUsers,
	})
	st, loc := signIn(t, iss, authzParams("redirect_uri", registered), "reader")
	if st != http.StatusSeeOther || !strings.HasPrefix(loc.RawQuery, "b=2&a=1;c&flag&") {
		t.Fatalf("status %d, Location %v; want the registered query b=2&a=1;c&flag unchanged, then the answer", st, loc)
	}
	rest, _ := url.ParseQuery(strings.TrimPrefix(loc.RawQuery, "b=2&a=1;c&flag&"))
	if rest.Get("code") == "" || rest.Get("state") != "st8" || rest.Get("iss") != iss.URL() {
		t.Errorf("answer %v; want code, state and iss", rest)
	}
}

func TestStart_RedirectURIWhoseQueryNamesAResponseParameterIsRefused(t *testing.T) {
	for _, uri := range []string{
		"http://localhost:9999/cb?code=x",
		"http://localhost:9999/cb?app=1&iss=http%3A%2F%2Fevil",
		"http://localhost:9999/cb?a=1;state",
		"http://localhost:9999/cb?%65rror=1", // "error", escaped
	} {
		iss, err := grpcauthtest.Start(grpcauthtest.Config{
			PublicClients: []grpcauthtest.PublicClient{{ID: "web", RedirectURIs: []string{uri}}},
		})
		if err == nil {
			iss.Close()
			t.Errorf("Start with redirect URI %q: no error; want one (the client would read the registered value)", uri)
		}
	}
}

func TestAuthorize_PublicClientIDWithCredentialsIsStillAuthenticated(t *testing.T) {
	iss := codeIssuer(t, nil)
	// A request that carries credentials is a confidential client's (or
	// an attempt at one): the public client's ID in it does not turn a
	// failed authentication into a refusal of the grant.
	withSecret := tokenRequest(t, iss, form("grant_type", "client_credentials", "client_id", "web", "client_secret", "guess"))
	withBasic := basic(tokenRequest(t, iss, form("grant_type", "client_credentials", "client_id", "web")), "web", "guess")
	for name, req := range map[string]*http.Request{"client_secret": withSecret, "Basic": withBasic} {
		resp, body := do(t, req)
		var e grpcauthtest.TokenError
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("%s: body %q: %v", name, body, err)
		}
		if resp.StatusCode != http.StatusUnauthorized || e.Code != "invalid_client" {
			t.Errorf("%s: status %d, error %q; want 401 invalid_client", name, resp.StatusCode, e.Code)
		}
	}
}
