package grpcauthtest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

var testClients = []grpcauthtest.Client{
	{ID: "svc", Secret: "s3cret", Scopes: []string{"items:read", "items:write"}},
	{ID: "odd id:1", Secret: "p@ss:w%rd+ é", Scopes: []string{"items:read"}},
	{ID: "plus", Secret: "a+b", Scopes: []string{"items:read"}},
}

// tokenRequest builds a POST to the token endpoint with form as body.
func tokenRequest(t *testing.T, iss *grpcauthtest.Issuer, form url.Values) *http.Request {
	t.Helper()
	req := mustRequest(t, http.MethodPost, iss.TokenURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// basic sets client_secret_basic credentials, form-url-encoded per RFC 6749 §2.3.1.
func basic(req *http.Request, id, secret string) *http.Request {
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return req
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for n := 0; n+1 < len(kv); n += 2 {
		v.Add(kv[n], kv[n+1])
	}
	return v
}

func TestTokenEndpoint_Outcomes(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: testClients})
	cc := "client_credentials"
	tests := []struct {
		name       string
		req        func() *http.Request
		wantStatus int
		wantError  string // "" means success
		wantScope  string
		challenge  bool // WWW-Authenticate expected
	}{
		{"basic auth, no scope gets all client scopes", func() *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", cc)), "svc", "s3cret")
		}, 200, "", "items:read items:write", false},
		{"basic auth, requested subset", func() *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", cc, "scope", "items:write")), "svc", "s3cret")
		}, 200, "", "items:write", false},
		{"basic auth with form-url-encoded id and secret", func() *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", cc)), "odd id:1", "p@ss:w%rd+ é")
		}, 200, "", "items:read", false},
		{"basic auth with client_id in body matching", func() *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", cc, "client_id", "svc")), "svc", "s3cret")
		}, 200, "", "items:read items:write", false},
		{"form post", func() *http.Request {
			return tokenRequest(t, iss, form("grant_type", cc, "client_id", "svc", "client_secret", "s3cret", "scope", "items:read items:read"))
		}, 200, "", "items:read", false},
		{"basic and form post at once", func() *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", cc, "client_id", "svc", "client_secret", "s3cret")), "svc", "s3cret")
		}, 400, "invalid_request", "", false},
		{"basic with a different client_id in body", func() *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", cc, "client_id", "odd id:1")), "svc", "s3cret")
		}, 400, "invalid_request", "", false},
		{"basic, bad secret", func() *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", cc)), "svc", "wrong")
		}, 401, "invalid_client", "", true},
		{"basic, secret with + encoded", func() *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", cc)), "plus", "a+b")
		}, 200, "", "items:read", false},
		{"basic, secret with + not form-url-encoded decodes to a space", func() *http.Request {
			req := tokenRequest(t, iss, form("grant_type", cc))
			req.SetBasicAuth("plus", "a+b")
			return req
		}, 401, "invalid_client", "", true},
		{"basic, invalid percent-encoding", func() *http.Request {
			req := tokenRequest(t, iss, form("grant_type", cc))
			req.SetBasicAuth("svc", "s3cret%zz")
			return req
		}, 401, "invalid_client", "", true},
		{"basic, unknown client", func() *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", cc)), "nobody", "s3cret")
		}, 401, "invalid_client", "", true},
		{"unknown client presenting the internal placeholder secret", func() *http.Request {
			return tokenRequest(t, iss, form("grant_type", cc, "client_id", "nobody", "client_secret", "\x00unknown client"))
		}, 401, "invalid_client", "", true},
		{"bearer instead of basic", func() *http.Request {
			req := tokenRequest(t, iss, form("grant_type", cc))
			req.Header.Set("Authorization", "Bearer abc")
			return req
		}, 401, "invalid_client", "", true},
		{"form post, bad secret", func() *http.Request {
			return tokenRequest(t, iss, form("grant_type", cc, "client_id", "svc", "client_secret", "s3cre"))
		}, 401, "invalid_client", "", true},
		{"form post, unknown client", func() *http.Request {
			return tokenRequest(t, iss, form("grant_type", cc, "client_id", "nobody", "client_secret", "s3cret"))
		}, 401, "invalid_client", "", true},
		{"no client authentication", func() *http.Request {
			return tokenRequest(t, iss, form("grant_type", cc))
		}, 401, "invalid_client", "", true},
		{"wrong grant_type", func() *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", "password", "username", "u", "password", "p")), "svc", "s3cret")
		}, 400, "unsupported_grant_type", "", false},
		{"missing grant_type", func() *http.Request {
			return basic(tokenRequest(t, iss, form("scope", "items:read")), "svc", "s3cret")
		}, 400, "invalid_request", "", false},
		{"disallowed scope", func() *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", cc, "scope", "items:read admin")), "odd id:1", "p@ss:w%rd+ é")
		}, 400, "invalid_scope", "", false},
		{"malformed scope token", func() *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", cc, "scope", `items:read "x"`)), "svc", "s3cret")
		}, 400, "invalid_scope", "", false},
		{"scopes separated by a tab, not a space", func() *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", cc, "scope", "items:read\titems:write")), "svc", "s3cret")
		}, 400, "invalid_scope", "", false},
		{"repeated parameter", func() *http.Request {
			return basic(tokenRequest(t, iss, url.Values{"grant_type": {cc, cc}}), "svc", "s3cret")
		}, 400, "invalid_request", "", false},
		{"GET", func() *http.Request {
			return basic(mustRequest(t, http.MethodGet, iss.TokenURL()+"?grant_type="+cc, nil), "svc", "s3cret")
		}, 405, "invalid_request", "", false},
		{"JSON body", func() *http.Request {
			req := basic(mustRequest(t, http.MethodPost, iss.TokenURL(), strings.NewReader(`{"grant_type":"client_credentials"}`)), "svc", "s3cret")
			req.Header.Set("Content-Type", "application/json")
			return req
		}, 400, "invalid_request", "", false},
		{"parameters only in the query string", func() *http.Request {
			req := mustRequest(t, http.MethodPost, iss.TokenURL()+"?grant_type="+cc, strings.NewReader(""))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return basic(req, "svc", "s3cret")
		}, 400, "invalid_request", "", false},
		{"oversized body", func() *http.Request {
			return basic(tokenRequest(t, iss, form("grant_type", cc, "pad", strings.Repeat("x", 1<<20))), "svc", "s3cret")
		}, 413, "invalid_request", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.req())
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.wantStatus, body)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if got := resp.Header.Get("WWW-Authenticate") != ""; got != tc.challenge {
				t.Errorf("WWW-Authenticate present = %v, want %v (%q)", got, tc.challenge, resp.Header.Get("WWW-Authenticate"))
			}
			if tc.wantError != "" {
				var e grpcauthtest.TokenError
				if err := json.Unmarshal(body, &e); err != nil {
					t.Fatalf("error body %s: %v", body, err)
				}
				if e.Code != tc.wantError {
					t.Fatalf("error %q, want %q (%s)", e.Code, tc.wantError, e.Description)
				}
				if strings.Contains(string(body), "s3cret") {
					t.Error("error body echoes the secret")
				}
				return
			}
			var tr grpcauthtest.TokenResponse
			if err := json.Unmarshal(body, &tr); err != nil {
				t.Fatal(err)
			}
			if tr.TokenType != "Bearer" || tr.ExpiresIn != 3600 || tr.Scope != tc.wantScope || tr.AccessToken == "" {
				t.Fatalf("response %+v, want Bearer, 3600, scope %q", tr, tc.wantScope)
			}
			_, claims := segments(t, tr.AccessToken)
			scp, _ := json.Marshal(claims["scp"])
			want, _ := json.Marshal(strings.Fields(tc.wantScope))
			if string(scp) != string(want) {
				t.Errorf("scp %s, want %s", scp, want)
			}
		})
	}
}

// TestTokens_VerifyForEachAlgorithmAndShape gets a token from the token
// endpoint for every algorithm and shape and checks it against the served
// JWKS with jwx, then checks the claims' exact JSON forms.
func TestTokens_VerifyForEachAlgorithmAndShape(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		for _, shape := range []grpcauthtest.Shape{grpcauthtest.ShapeOkta, grpcauthtest.ShapeRFC9068} {
			t.Run(alg+"/"+shape.String(), func(t *testing.T) {
				iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{
					Algorithm: alg, Shape: shape, Audience: "api://items", TokenLifetime: 5 * time.Minute,
					Clients: testClients,
				})
				resp, body := do(t, basic(tokenRequest(t, iss, form("grant_type", "client_credentials")), "svc", "s3cret"))
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				var tr grpcauthtest.TokenResponse
				if err := json.Unmarshal(body, &tr); err != nil {
					t.Fatal(err)
				}
				if tr.ExpiresIn != 300 {
					t.Errorf("expires_in %d, want 300", tr.ExpiresIn)
				}
				tok, err := jwt.Parse([]byte(tr.AccessToken), jwt.WithKeySet(fetchKeySet(t, iss)),
					jwt.WithIssuer(iss.URL()), jwt.WithAudience("api://items"))
				if err != nil {
					t.Fatalf("served token does not verify against served JWKS: %v", err)
				}
				if tok.Subject() != "svc" || tok.Expiration().Sub(tok.IssuedAt()) != 5*time.Minute || tok.JwtID() == "" {
					t.Errorf("sub %q, exp-iat %v, jti %q", tok.Subject(), tok.Expiration().Sub(tok.IssuedAt()), tok.JwtID())
				}

				header, claims := segments(t, tr.AccessToken)
				var wantTyp any // Okta's access tokens have no typ
				idClaim := "cid"
				if shape == grpcauthtest.ShapeRFC9068 {
					wantTyp, idClaim = "at+jwt", "client_id"
				}
				if header["alg"] != alg || header["typ"] != wantTyp || header["kid"] != iss.KeyID() {
					t.Errorf("header %v, want alg %s typ %v kid %s", header, alg, wantTyp, iss.KeyID())
				}
				if claims["aud"] != "api://items" { // a string, not an array
					t.Errorf("aud %#v, want the string api://items", claims["aud"])
				}
				if claims[idClaim] != "svc" {
					t.Errorf("%s %v, want svc", idClaim, claims[idClaim])
				}
				switch shape {
				case grpcauthtest.ShapeOkta:
					scp, ok := claims["scp"].([]any)
					if !ok || len(scp) != 2 || scp[0] != "items:read" || scp[1] != "items:write" {
						t.Errorf("scp %#v, want [items:read items:write]", claims["scp"])
					}
					if claims["ver"] != float64(1) {
						t.Errorf("ver %v, want 1", claims["ver"])
					}
					if _, ok := claims["scope"]; ok {
						t.Error("Okta shape carries scope")
					}
				case grpcauthtest.ShapeRFC9068:
					if claims["scope"] != "items:read items:write" {
						t.Errorf("scope %#v", claims["scope"])
					}
					for _, absent := range []string{"scp", "cid", "ver"} {
						if _, ok := claims[absent]; ok {
							t.Errorf("RFC 9068 shape carries %s", absent)
						}
					}
				}
			})
		}
	}
}

func TestToken_EnforcesConfiguredClientScopes(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: testClients})
	tok, err := iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	if _, c := segments(t, tok); len(c["scp"].([]any)) != 2 {
		t.Errorf("Token(svc) scp %v, want both client scopes", c["scp"])
	}
	if _, err := iss.Token("odd id:1", "items:write"); err == nil {
		t.Fatal("Token for a scope the client may not have succeeded")
	}
	// Unconfigured clients get exactly what was asked for.
	tok, err = iss.Token("adhoc", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, c := segments(t, tok); c["sub"] != "adhoc" || c["cid"] != "adhoc" || len(c["scp"].([]any)) != 1 {
		t.Errorf("Token(adhoc, admin) claims %v", c)
	}
	if _, err := iss.Token(""); err == nil {
		t.Error("Token with an empty client ID succeeded")
	}
}

// RFC 6749 §3.2: a parameter sent without a value is treated as omitted.
// Clients that always send client_id and client_secret, empty when they
// have none, must not be refused for using two authentication methods.
func TestTokenEndpoint_EmptyParametersCountAsOmitted(t *testing.T) {
	iss := codeIssuer(t, nil)
	resp, body := do(t, basic(tokenRequest(t, iss, form("grant_type", "client_credentials", "client_id", "", "client_secret", "")), "svc", "s3cret"))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("basic auth with empty client_id and client_secret in the body: %d %s, want 200", resp.StatusCode, body)
	}
	status, m := exchange(t, iss, "grant_type", "authorization_code", "client_id", "web", "client_secret", "",
		"code", codeFor(t, iss, "reader"), "redirect_uri", pageURI, "code_verifier", codeVerifier)
	if status != http.StatusOK {
		t.Errorf("public client with an empty client_secret: %d %v, want 200", status, m)
	}
}

// RFC 6749 §3.2: the token endpoint MUST ignore parameters it does not
// know, and RFC 8707 §2 lets a client repeat resource. Only a parameter
// the endpoint reads may not be repeated.
func TestTokenEndpoint_RepeatedUnknownParametersAreIgnored(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: testClients})
	f := form("grant_type", "client_credentials", "resource", "https://a.example/", "resource", "https://b.example/")
	if resp, body := do(t, basic(tokenRequest(t, iss, f), "svc", "s3cret")); resp.StatusCode != http.StatusOK {
		t.Errorf("two resource parameters: %d %s, want 200", resp.StatusCode, body)
	}
	f.Add("scope", "items:read")
	f.Add("scope", "items:read")
	if resp, body := do(t, basic(tokenRequest(t, iss, f), "svc", "s3cret")); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "parameter scope repeated") {
		t.Errorf("two scope parameters: %d %s, want 400 naming scope", resp.StatusCode, body)
	}
}

// Only the body counts (RFC 6749 §3.2 sends the token request's parameters
// there): a URL query is ignored, even one that is not a valid query.
func TestTokenEndpoint_URLQueryIsIgnoredEvenWhenMalformed(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: testClients})
	for _, query := range []string{"grant_type=password", "x=%zz", "a;b"} {
		req := basic(tokenRequest(t, iss, form("grant_type", "client_credentials")), "svc", "s3cret")
		req.URL.RawQuery = query
		if resp, body := do(t, req); resp.StatusCode != http.StatusOK {
			t.Errorf("query %q: %d %s, want 200", query, resp.StatusCode, body)
		}
	}
}
