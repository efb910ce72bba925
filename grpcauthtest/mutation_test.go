package grpcauthtest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// The tests in this file hold checks that a hand-run mutation of
// grpcauthtest found no test holding (docs/security.md, "Mutation runs").

// prompt=select_account, like consent, is met by the login page, which
// lists the users to choose from: the request is not refused.
func TestAuthorize_PromptSelectAccountShowsTheLoginPage(t *testing.T) {
	iss := stepUpIssuer(t, nil)
	_, code := signInThroughPage(t, iss, authzParams("prompt", "select_account"), "writer", nil)
	if sub := userClaims(t, iss, code)["sub"]; sub != "writer" {
		t.Errorf("sub = %v, want writer", sub)
	}
}

// max_age is any whole number of seconds an int64 holds, whatever its
// digits.
func TestAuthorize_MaxAgeIsAnyWholeNumberOfSecondsAnInt64Holds(t *testing.T) {
	iss := stepUpIssuer(t, nil)
	for _, maxAge := range []string{"9", "3599", "3000000000", "9223372036854775807"} {
		_, code := signInThroughPage(t, iss, authzParams("max_age", maxAge), "writer", nil)
		if sub := userClaims(t, iss, code)["sub"]; sub != "writer" {
			t.Errorf("max_age %s: sub = %v, want writer", maxAge, sub)
		}
	}
}

// max_age and prompt, like every parameter the endpoint reads, may not be
// repeated (RFC 6749 §3.1): the request is refused on a page, not
// redirected.
func TestAuthorize_RepeatedMaxAgeOrPromptIsRefused(t *testing.T) {
	iss := stepUpIssuer(t, nil)
	for _, p := range [][2]string{{"max_age", "0"}, {"prompt", "login"}} {
		v := authzParams(p[0], p[1])
		v.Add(p[0], p[1])
		resp, err := noRedirect().Get(iss.AuthorizeURL() + "?" + v.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("repeated %s: status %d, Location %q; want 400 without redirect", p[0], resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// The login page says which classes the request asked for, as well as the
// one the sign-in gets.
func TestAuthorize_LoginPageNamesTheRequestedACRValues(t *testing.T) {
	iss := stepUpIssuer(t, nil)
	page, _ := signInThroughPage(t, iss, authzParams("acr_values", "urn:unknown"), "writer", nil)
	if !strings.Contains(page, "asks for a sign-in at <code>urn:unknown</code>") {
		t.Errorf("login page does not name the requested acr_values:\n%s", page)
	}
}

// Each of DefaultACRValues' documented classes is one the issuer signs in
// at when asked.
func TestAuthorize_EveryDefaultACRValueIsHonoured(t *testing.T) {
	want := []string{"urn:okta:loa:1fa:any", "urn:okta:loa:1fa:pwd", "urn:okta:loa:2fa:any", "urn:okta:loa:2fa:any:ifpossible", "phr", "phrh"}
	if got := grpcauthtest.DefaultACRValues(); !slices.Equal(got, want) {
		t.Errorf("DefaultACRValues() = %v, want the documented %v", got, want)
	}
	iss := codeIssuer(t, nil)
	for _, acr := range want {
		_, code := signInThroughPage(t, iss, authzParams("acr_values", "urn:example:none "+acr), "writer", nil)
		if got := userClaims(t, iss, code)["acr"]; got != acr {
			t.Errorf("acr_values %s: acr = %v", acr, got)
		}
	}
}

// Two equal ACRValues entries are refused, next to each other too.
func TestConfig_AdjacentDuplicateACRValuesAreRefused(t *testing.T) {
	iss, err := grpcauthtest.Start(grpcauthtest.Config{ACRValues: []string{"phr", "phr"}})
	if err == nil {
		iss.Close()
		t.Fatal("Start accepted ACRValues with a duplicate")
	}
	if !strings.HasPrefix(err.Error(), "grpcauthtest: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}

// The issuer keeps its own copy of Config.ACRValues, and Metadata returns
// a copy of it: changing either slice afterwards changes neither the
// classes the issuer signs in at nor what it advertises.
func TestConfig_ACRValuesAreCopied(t *testing.T) {
	acrs := []string{"urn:grpcauth:example:pwd", "urn:grpcauth:example:mfa"}
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{
		PublicClients: []grpcauthtest.PublicClient{webClient},
		Users:         testUsers,
		ACRValues:     acrs,
	})
	acrs[0] = "urn:changed:by:caller"
	md := iss.Metadata()
	md.ACRValuesSupported[1] = "urn:changed:through:metadata"
	if got := iss.Metadata().ACRValuesSupported; !slices.Equal(got, []string{"urn:grpcauth:example:pwd", "urn:grpcauth:example:mfa"}) {
		t.Errorf("acr_values_supported = %v after the caller changed its slices", got)
	}
	_, code := signInThroughPage(t, iss, authzParams("acr_values", "urn:unknown"), "writer", nil)
	if got := userClaims(t, iss, code)["acr"]; got != "urn:grpcauth:example:pwd" {
		t.Errorf("default acr = %v, want urn:grpcauth:example:pwd", got)
	}
}

// An opaque token whose exp no float64 holds (1e400) is inactive, as
// verifiers treat a NumericDate out of range: never active forever.
func TestIntrospect_ExpBeyondFloat64IsInactive(t *testing.T) {
	iss, _ := newIntrospectIssuer(t, grpcauthtest.ShapeRFC9068)
	tok := mustToken(t)(iss.MintOpaqueClaims(map[string]any{"exp": json.Number("1e400")}))
	if m := introspectToken(t, iss, tok); m["active"] != false {
		t.Errorf("opaque token with exp 1e400: %v, want inactive", m)
	}
}

// A confidential client that asks for the authorization_code grant of an
// issuer without public clients, authenticated, gets unsupported_grant_type
// and no token: that grant is for public clients only.
func TestTokenEndpoint_AuthenticatedAuthorizationCodeWithoutPublicClientsIsUnsupported(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: testClients})
	req := basic(tokenRequest(t, iss, form("grant_type", "authorization_code", "code", "x", "redirect_uri", pageURI, "code_verifier", codeVerifier)), "svc", "s3cret")
	resp, body := do(t, req)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if resp.StatusCode != http.StatusBadRequest || m["error"] != "unsupported_grant_type" || m["access_token"] != nil {
		t.Errorf("got %d %v; want 400 unsupported_grant_type", resp.StatusCode, m)
	}
}

// RFC 6749 §4.1.3: the exchange needs code and redirect_uri. A request
// without one is malformed (invalid_request) and does not use the code up.
func TestAuthorize_ExchangeWithoutCodeOrRedirectURIIsMalformedAndKeepsTheCode(t *testing.T) {
	iss := codeIssuer(t, nil)
	ac := "authorization_code"
	for _, missing := range []string{"code", "redirect_uri"} {
		code := codeFor(t, iss, "writer")
		kv := []string{"grant_type", ac, "client_id", "web", "code_verifier", codeVerifier}
		if missing != "code" {
			kv = append(kv, "code", code)
		}
		if missing != "redirect_uri" {
			kv = append(kv, "redirect_uri", pageURI)
		}
		if status, m := exchange(t, iss, kv...); status != http.StatusBadRequest || m["error"] != "invalid_request" {
			t.Errorf("without %s: %d %v, want 400 invalid_request", missing, status, m)
		}
		if status, m := exchange(t, iss, "grant_type", ac, "client_id", "web", "code", code, "redirect_uri", pageURI, "code_verifier", codeVerifier); status != http.StatusOK {
			t.Errorf("valid exchange after one without %s: %d %v", missing, status, m)
		}
	}
}

// RFC 6749 §4.1.3: redirect_uri must be identical to the one the code was
// issued for; one that extends it (a path, a query) is refused, and the
// attempt uses the code up.
func TestAuthorize_ExchangeRedirectURIMustBeIdentical(t *testing.T) {
	iss := codeIssuer(t, nil)
	ac := "authorization_code"
	for _, uri := range []string{pageURI + "x", pageURI + "/evil", pageURI + "?next=evil"} {
		code := codeFor(t, iss, "writer")
		if status, m := exchange(t, iss, "grant_type", ac, "client_id", "web", "code", code, "redirect_uri", uri, "code_verifier", codeVerifier); status != http.StatusBadRequest || m["error"] != "invalid_grant" || m["access_token"] != nil {
			t.Errorf("redirect_uri %s for a code issued to %s: %d %v, want 400 invalid_grant", uri, pageURI, status, m)
		}
		if status, m := exchange(t, iss, "grant_type", ac, "client_id", "web", "code", code, "redirect_uri", pageURI, "code_verifier", codeVerifier); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Errorf("the code after a mismatched redirect_uri: %d %v, want it used up", status, m)
		}
	}
}

// auth_time is when the user signed in, not when the client exchanged the
// code.
func TestAuthorize_AuthTimeIsTheSignInsNotTheExchanges(t *testing.T) {
	var sec atomic.Int64
	sec.Store(1_800_000_000)
	iss := codeIssuer(t, func() time.Time { return time.Unix(sec.Load(), 0) })
	code := codeFor(t, iss, "writer")
	signedIn := sec.Load()
	sec.Add(30) // within the code's lifetime
	if at := userClaims(t, iss, code)["auth_time"]; at != float64(signedIn) {
		t.Errorf("auth_time = %v, want the sign-in's %d", at, signedIn)
	}
}

// RFC 6749 §5.1, §5.2: every token endpoint answer, token or error, says
// not to cache it, to HTTP/1.0 caches (Pragma) too.
func TestTokenEndpoint_AnswersAreNotCached(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: testClients})
	for name, req := range map[string]*http.Request{
		"token": basic(tokenRequest(t, iss, form("grant_type", "client_credentials")), "svc", "s3cret"),
		"error": basic(tokenRequest(t, iss, form("grant_type", "client_credentials")), "svc", "wrong"),
	} {
		resp, _ := do(t, req)
		if cc, p := resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"); cc != "no-store" || p != "no-cache" {
			t.Errorf("%s: Cache-Control %q, Pragma %q; want no-store and no-cache", name, cc, p)
		}
	}
}

// A body that is not a well-formed form, or a Content-Type whose
// parameters are malformed, is refused as invalid_request, not read as far
// as it parses.
func TestTokenEndpoint_MalformedFormBodyIsInvalidRequest(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: testClients})
	for name, req := range map[string]*http.Request{
		"bad escape in the body": func() *http.Request {
			req := mustRequest(t, http.MethodPost, iss.TokenURL(), strings.NewReader("grant_type=client_credentials&scope=%zz"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return basic(req, "svc", "s3cret")
		}(),
		"malformed Content-Type parameter": func() *http.Request {
			req := mustRequest(t, http.MethodPost, iss.TokenURL(), strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset")
			return basic(req, "svc", "s3cret")
		}(),
	} {
		resp, body := do(t, req)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: body %q: %v", name, body, err)
		}
		if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_request" {
			t.Errorf("%s: %d %v, want 400 invalid_request", name, resp.StatusCode, m)
		}
	}
}

// An authorization request without scope gets a token with every scope the
// user holds, as a client without scope at the token endpoint gets all of
// its own.
func TestAuthorize_RequestWithoutScopeGetsAllTheUsersScopes(t *testing.T) {
	iss := codeIssuer(t, nil)
	_, code := signInThroughPage(t, iss, authzParams("scope", ""), "writer", nil)
	if scp := userClaims(t, iss, code)["scp"]; !slices.Equal(toStrings(scp), []string{"items:read", "items:write"}) {
		t.Errorf("scp = %v, want items:read items:write", scp)
	}
}

// toStrings returns v's strings when it is a JSON array of them.
func toStrings(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, e := range a {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// code_challenge and dpop_jkt are SHA-256 values: base64url of exactly 32
// bytes. A longer one, which no code_verifier or key could match, is
// refused at the authorization endpoint.
func TestAuthorize_ChallengeOrDPoPJKTLongerThanASHA256IsRefused(t *testing.T) {
	iss := codeIssuer(t, nil)
	long := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 48))
	for _, param := range []string{"code_challenge", "dpop_jkt"} {
		st, loc := signIn(t, iss, authzParams(param, long), "writer")
		if st != http.StatusSeeOther || loc.Query().Get("error") != "invalid_request" || loc.Query().Has("code") {
			t.Errorf("%s of 48 bytes: status %d, Location %v; want a redirect with invalid_request", param, st, loc)
		}
	}
}

// RFC 7636 §4.3: the issuer supports only S256, so a request whose
// code_challenge_method is plain, or missing (plain by default), is
// refused even when its challenge is shaped like an S256 one.
func TestAuthorize_ChallengeMethodOtherThanS256IsRefused(t *testing.T) {
	iss := codeIssuer(t, nil)
	for _, method := range []string{"plain", ""} {
		st, loc := signIn(t, iss, authzParams("code_challenge_method", method), "writer")
		if st != http.StatusSeeOther || loc.Query().Get("error") != "invalid_request" || loc.Query().Has("code") {
			t.Errorf("code_challenge_method %q: status %d, Location %v; want a redirect with invalid_request", method, st, loc)
		}
	}
}

// Cancelling the sign-in is access_denied even when the form also names a
// user: no code is issued.
func TestAuthorize_CancelWithAUserIssuesNoCode(t *testing.T) {
	iss := codeIssuer(t, nil)
	v := authzParams()
	v.Set("cancel", "1")
	st, loc := signIn(t, iss, v, "writer")
	if st != http.StatusSeeOther || loc.Query().Get("error") != "access_denied" || loc.Query().Has("code") {
		t.Errorf("cancel with user writer: status %d, Location %v; want a redirect with access_denied", st, loc)
	}
}

// RFC 9449 §6.2: token_type is DPoP only for a token bound to a key, a cnf
// with a jkt; an empty jkt binds to nothing.
func TestIntrospect_EmptyJKTIsNoDPoPBinding(t *testing.T) {
	iss, _ := newIntrospectIssuer(t, grpcauthtest.ShapeRFC9068)
	tok := mustToken(t)(iss.MintOpaqueClaims(map[string]any{"cnf": map[string]any{"jkt": ""}}))
	if m := introspectToken(t, iss, tok); m["active"] != true || m["token_type"] != "Bearer" {
		t.Errorf("token with an empty cnf.jkt: %v, want active of token_type Bearer", m)
	}
}

// Loopback host names pass the issuer's Host check however they are
// spelled (a bracketed IPv6 literal without a port, any letter case);
// names that merely start like one, and other addresses, are refused with
// 421.
func TestIssuer_HostCheckMatchesLoopbackNamesExactly(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	for host, want := range map[string]int{
		"[::1]":                      http.StatusOK,
		"LocalHost":                  http.StatusOK,
		"127.0.0.2":                  http.StatusOK,
		"localhost.attacker.example": http.StatusMisdirectedRequest,
		"192.0.2.1":                  http.StatusMisdirectedRequest,
		"[2001:db8::1]":              http.StatusMisdirectedRequest,
	} {
		req := mustRequest(t, http.MethodGet, iss.DiscoveryURL(), nil)
		req.Host = host
		if resp, _ := do(t, req); resp.StatusCode != want {
			t.Errorf("Host %s: status %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// A host name that only starts with "localhost" is not loopback: Start
// refuses it before looking it up.
func TestStart_RefusesANameThatOnlyStartsWithLocalhost(t *testing.T) {
	iss, err := grpcauthtest.Start(grpcauthtest.Config{Addr: "localhost.invalid:0"})
	if !errors.Is(err, grpcauthtest.ErrNonLoopback) {
		if iss != nil {
			iss.Close()
		}
		t.Fatalf("Start(localhost.invalid:0) error %v, want ErrNonLoopback", err)
	}
}

// The token endpoint reads only an application/x-www-form-urlencoded body
// (RFC 6749 §4.4.2): the same parameters sent as another media type are
// refused.
func TestTokenEndpoint_BodyOfAnotherMediaTypeIsRefused(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: testClients})
	for _, ct := range []string{"text/plain", "application/json", "multipart/form-data; boundary=x"} {
		req := mustRequest(t, http.MethodPost, iss.TokenURL(), strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", ct)
		resp, body := do(t, basic(req, "svc", "s3cret"))
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "access_token") {
			t.Errorf("Content-Type %s: %d %s, want 400 and no token", ct, resp.StatusCode, body)
		}
	}
}

// A JWT whose nbf no float64 holds is inactive: the endpoint cannot tell
// whether it is valid yet.
func TestIntrospect_NotBeforeBeyondFloat64IsInactive(t *testing.T) {
	iss, _ := newIntrospectIssuer(t, grpcauthtest.ShapeRFC9068)
	for _, claim := range []string{"nbf", "iat"} {
		tok := mustToken(t)(iss.Mint(map[string]any{claim: json.Number("1e400")}))
		if m := introspectToken(t, iss, tok); m["active"] != false {
			t.Errorf("JWT with %s 1e400: %v, want inactive", claim, m)
		}
	}
}

// The token endpoint's answers differ by Origin when public clients are
// configured, and say so (Vary: Origin), so that no cache serves an answer
// marked readable for one origin to a page of another, or one without the
// mark to a redirect origin.
func TestTokenEndpoint_AnswersVaryByOrigin(t *testing.T) {
	iss := codeIssuer(t, nil)
	for _, origin := range []string{"", pageOrigin, "http://evil.example"} {
		req := basic(tokenRequest(t, iss, form("grant_type", "client_credentials")), "svc", "s3cret")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if resp, _ := do(t, req); resp.Header.Get("Vary") != "Origin" {
			t.Errorf("Origin %q: Vary %q, want Origin", origin, resp.Header.Get("Vary"))
		}
	}
}

// An OPTIONS request without Access-Control-Request-Method is no CORS
// preflight (Fetch standard): even from a redirect origin it gets the
// endpoint's own answer (405), not the preflight's 204 and allowances.
func TestTokenEndpoint_OptionsWithoutRequestMethodIsNoPreflight(t *testing.T) {
	iss := codeIssuer(t, nil)
	req := mustRequest(t, http.MethodOptions, iss.TokenURL(), nil)
	req.Header.Set("Origin", pageOrigin)
	resp, _ := do(t, req)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("OPTIONS without Access-Control-Request-Method: %d %v; want 405 without preflight headers", resp.StatusCode, resp.Header)
	}
}

// A redirect URI with user info is refused at Start, as one with a
// fragment is.
func TestConfig_RedirectURIWithUserInfoIsRefused(t *testing.T) {
	iss, err := grpcauthtest.Start(grpcauthtest.Config{PublicClients: []grpcauthtest.PublicClient{{ID: "web", RedirectURIs: []string{"http://user:pass@127.0.0.1:8080/cb"}}}})
	if err == nil {
		iss.Close()
		t.Fatal("Start accepted a redirect URI with user info")
	}
	if !strings.HasPrefix(err.Error(), "grpcauthtest: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}
