package grpcauthtest_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// rsClient is the resource server's client at the issuer, which it
// authenticates with to introspect.
var rsClient = grpcauthtest.Client{ID: "resource-server", Secret: "rs+secret/1", Scopes: []string{"items:read", "items:write"}}

// introspectClock is a settable clock for introspection tests.
type introspectClock struct{ sec atomic.Int64 }

func (c *introspectClock) Now() time.Time          { return time.Unix(c.sec.Load(), 0) }
func (c *introspectClock) Advance(d time.Duration) { c.sec.Add(int64(d / time.Second)) }

func newIntrospectIssuer(t *testing.T, shape grpcauthtest.Shape) (*grpcauthtest.Issuer, *introspectClock) {
	t.Helper()
	clk := &introspectClock{}
	clk.sec.Store(1_900_000_000)
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Shape: shape, Now: clk.Now, Clients: []grpcauthtest.Client{rsClient}})
	return iss, clk
}

// postIntrospect POSTs form to the introspection endpoint, with HTTP Basic
// credentials when basic is true, and returns the status and decoded body.
func postIntrospect(t *testing.T, iss *grpcauthtest.Issuer, form url.Values, basic bool) (int, map[string]any) {
	t.Helper()
	req := mustRequest(t, http.MethodPost, iss.IntrospectionURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(rsClient.ID), url.QueryEscape(rsClient.Secret))
	}
	resp, body := do(t, req)
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return resp.StatusCode, m
}

// introspectToken asks about token as the resource server (Basic).
func introspectToken(t *testing.T, iss *grpcauthtest.Issuer, token string) map[string]any {
	t.Helper()
	status, m := postIntrospect(t, iss, url.Values{"token": {token}, "token_type_hint": {"access_token"}}, true)
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, m)
	}
	return m
}

// mustToken returns a function that returns a minted token, failing t if
// minting failed: mustToken(t)(iss.MintOpaque("svc")).
func mustToken(t *testing.T) func(string, error) string {
	return func(tok string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

func TestIntrospect_MetadataAdvertisesTheEndpoint(t *testing.T) {
	iss, _ := newIntrospectIssuer(t, grpcauthtest.ShapeOkta)
	resp, body := get(t, iss.DiscoveryURL())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var md grpcauthtest.Metadata
	if err := json.Unmarshal(body, &md); err != nil {
		t.Fatal(err)
	}
	if md.IntrospectionEndpoint != iss.URL()+"/v1/introspect" || md.IntrospectionEndpoint != iss.IntrospectionURL() {
		t.Fatalf("introspection_endpoint %q", md.IntrospectionEndpoint)
	}
	if got := strings.Join(md.IntrospectionEndpointAuthMethodsSupported, " "); got != "client_secret_basic client_secret_post" {
		t.Fatalf("introspection auth methods %q", got)
	}
}

func TestIntrospect_ActiveTokensCarryTheirClaimsInRFC7662Form(t *testing.T) {
	for _, shape := range []grpcauthtest.Shape{grpcauthtest.ShapeOkta, grpcauthtest.ShapeRFC9068} {
		t.Run(shape.String(), func(t *testing.T) {
			iss, clk := newIntrospectIssuer(t, shape)
			now := clk.Now().Unix()
			for name, tok := range map[string]string{
				"opaque": mustToken(t)(iss.MintOpaque("svc", "items:read", "items:write")),
				"jwt":    mustToken(t)(iss.Token("svc", "items:read", "items:write")),
			} {
				t.Run(name, func(t *testing.T) {
					m := introspectToken(t, iss, tok)
					want := map[string]any{
						"active": true, "token_type": "Bearer", "iss": iss.URL(), "aud": iss.Audience(),
						"sub": "svc", "client_id": "svc", "scope": "items:read items:write",
						"iat": float64(now), "exp": float64(now + 3600),
					}
					for k, v := range want {
						if m[k] != v {
							t.Errorf("%s = %#v, want %#v", k, m[k], v)
						}
					}
					for _, k := range []string{"scp", "cid"} {
						if _, ok := m[k]; ok {
							t.Errorf("%s present; RFC 7662 form has scope and client_id only", k)
						}
					}
					if jti, _ := m["jti"].(string); jti == "" {
						t.Error("jti missing")
					}
				})
			}
		})
	}
}

func TestIntrospect_OpaqueTokensAreRandomAndNotJWTs(t *testing.T) {
	iss, _ := newIntrospectIssuer(t, grpcauthtest.ShapeOkta)
	a := mustToken(t)(iss.MintOpaque("svc"))
	b := mustToken(t)(iss.MintOpaque("svc"))
	if a == b || len(a) != 43 || strings.Contains(a, ".") {
		t.Fatalf("tokens %q, %q: want distinct 43-character base64url strings without dots", a, b)
	}
}

func TestIntrospect_InactiveTokensRevealNothing(t *testing.T) {
	iss, clk := newIntrospectIssuer(t, grpcauthtest.ShapeOkta)
	atk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	revokedOpaque := mustToken(t)(iss.MintOpaque("svc"))
	iss.Revoke(revokedOpaque)
	revokedJWT := mustToken(t)(iss.Token("svc"))
	iss.Revoke(revokedJWT)
	shortOpaque := mustToken(t)(iss.MintOpaqueClaims(map[string]any{"exp": clk.Now().Add(time.Minute)}))
	shortJWT := mustToken(t)(iss.Mint(map[string]any{"exp": clk.Now().Add(time.Minute)}))
	oldKid := iss.KeyID()
	oldKeyJWT := mustToken(t)(iss.Token("svc"))
	if _, err := iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	iss.RemoveKey(oldKid)
	clk.Advance(time.Minute) // shortOpaque and shortJWT expire now

	tests := []struct{ name, token string }{
		{"revoked opaque", revokedOpaque},
		{"revoked JWT", revokedJWT},
		{"expired opaque", shortOpaque},
		{"expired JWT", shortJWT},
		{"JWT whose key is no longer published", oldKeyJWT},
		{"JWT signed by another key under the issuer's kid", mustToken(t)(iss.Mint(nil, grpcauthtest.WithSigningKey(atk, "RS256")))},
		{"JWT naming another issuer", mustToken(t)(iss.Mint(map[string]any{"iss": "https://evil.example"}))},
		{"JWT not valid before an hour from now", mustToken(t)(iss.Mint(map[string]any{"nbf": clk.Now().Add(time.Hour)}))},
		{"JWT issued in the future", mustToken(t)(iss.Mint(map[string]any{"iat": clk.Now().Add(time.Hour)}))},
		{"JWT with a non-numeric exp", mustToken(t)(iss.Mint(map[string]any{"exp": "soon"}))},
		{"unsigned JWT", mustToken(t)(iss.Mint(nil, grpcauthtest.Unsigned()))},
		{"never issued", "bm90LWEtdG9rZW4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := introspectToken(t, iss, tc.token)
			if len(m) != 1 || m["active"] != false {
				t.Fatalf("got %v, want exactly {\"active\":false}", m)
			}
		})
	}
	// The control: a current token of each kind is still active.
	for _, tok := range []string{mustToken(t)(iss.MintOpaque("svc")), mustToken(t)(iss.Token("svc"))} {
		if m := introspectToken(t, iss, tok); m["active"] != true {
			t.Fatalf("current token: %v", m)
		}
	}
}

func TestIntrospect_ClientMustAuthenticate(t *testing.T) {
	iss, _ := newIntrospectIssuer(t, grpcauthtest.ShapeOkta)
	tok := mustToken(t)(iss.MintOpaque("svc"))
	post := url.Values{"token": {tok}, "client_id": {rsClient.ID}, "client_secret": {rsClient.Secret}}
	tests := []struct {
		name   string
		form   url.Values
		basic  bool
		status int
		errc   string // the error code, or "" for an active answer
	}{
		{"client_secret_basic", url.Values{"token": {tok}}, true, http.StatusOK, ""},
		{"client_secret_post", post, false, http.StatusOK, ""},
		{"no client authentication", url.Values{"token": {tok}}, false, http.StatusUnauthorized, "invalid_client"},
		{"wrong secret", url.Values{"token": {tok}, "client_id": {rsClient.ID}, "client_secret": {"nope"}}, false, http.StatusUnauthorized, "invalid_client"},
		{"unknown client", url.Values{"token": {tok}, "client_id": {"who"}, "client_secret": {rsClient.Secret}}, false, http.StatusUnauthorized, "invalid_client"},
		{"two methods at once", post, true, http.StatusBadRequest, "invalid_request"},
		{"no token", url.Values{}, true, http.StatusBadRequest, "invalid_request"},
		{"repeated token", url.Values{"token": {tok, tok}}, true, http.StatusBadRequest, "invalid_request"},
	}
	for n, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := iss.IntrospectionRequests()
			status, m := postIntrospect(t, iss, tc.form, tc.basic)
			if status != tc.status || m["error"] != nil != (tc.errc != "") || (tc.errc != "" && m["error"] != tc.errc) {
				t.Fatalf("test %d: status %d, body %v; want %d %q", n, status, m, tc.status, tc.errc)
			}
			if tc.errc == "" && m["active"] != true {
				t.Fatalf("body %v, want active", m)
			}
			if tc.errc != "" && m["active"] != nil {
				t.Fatalf("error body %v says something about the token", m)
			}
			if got := iss.IntrospectionRequests() - before; got != 1 {
				t.Fatalf("IntrospectionRequests grew by %d, want 1", got)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		before := iss.IntrospectionRequests()
		resp, _ := get(t, iss.IntrospectionURL())
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Fatalf("status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
		if iss.IntrospectionRequests() != before {
			t.Fatal("a GET counted as an introspection request")
		}
	})
}

func TestIntrospect_MintOpaqueFollowsTheClientsScopes(t *testing.T) {
	iss, _ := newIntrospectIssuer(t, grpcauthtest.ShapeOkta)
	if _, err := iss.MintOpaque(rsClient.ID, "admin"); !errors.Is(err, grpcauthtest.ErrScopeNotAllowed) {
		t.Fatalf("disallowed scope: %v", err)
	}
	if _, err := iss.MintOpaque(""); !errors.Is(err, grpcauthtest.ErrUnknownClient) {
		t.Fatalf("empty client: %v", err)
	}
	all := introspectToken(t, iss, mustToken(t)(iss.MintOpaque(rsClient.ID)))
	if all["scope"] != "items:read items:write" {
		t.Fatalf("no scopes requested: scope %v, want all of the client's", all["scope"])
	}
	none := introspectToken(t, iss, mustToken(t)(iss.MintOpaque("unconfigured")))
	if _, ok := none["scope"]; ok || none["client_id"] != "unconfigured" {
		t.Fatalf("unconfigured client without scopes: %v", none)
	}
	custom := introspectToken(t, iss, mustToken(t)(iss.MintOpaqueClaims(map[string]any{
		"aud": []string{"a", "b"}, "jti": nil, "username": "ada@example.com", "token_type": "DPoP",
	})))
	if fmt.Sprint(custom["aud"]) != "[a b]" || custom["jti"] != nil || custom["username"] != "ada@example.com" || custom["token_type"] != "DPoP" {
		t.Fatalf("MintOpaqueClaims overrides: %v", custom)
	}
	if _, err := iss.MintOpaqueClaims(map[string]any{"bad": func() {}}); err == nil {
		t.Fatal("a claim JSON cannot encode was accepted")
	}
}

func TestIntrospect_ConcurrentMintRevokeAndIntrospect(t *testing.T) {
	iss, _ := newIntrospectIssuer(t, grpcauthtest.ShapeOkta)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			tok, err := iss.MintOpaque("svc")
			if err != nil {
				t.Error(err)
				return
			}
			if m := introspectToken(t, iss, tok); m["active"] != true {
				t.Errorf("before Revoke: %v", m)
			}
			iss.Revoke(tok)
			if m := introspectToken(t, iss, tok); m["active"] != false {
				t.Errorf("after Revoke: %v", m)
			}
		})
	}
	wg.Wait()
	if got := iss.IntrospectionRequests(); got != 16 {
		t.Fatalf("IntrospectionRequests = %d, want 16", got)
	}
}

// An opaque token, as Okta's org authorization server issues, and what the
// introspection endpoint says about it before and after revocation.
func ExampleIssuer_MintOpaque() {
	iss, err := grpcauthtest.Start(grpcauthtest.Config{
		Clients: []grpcauthtest.Client{{ID: "api", Secret: "api-secret"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer iss.Close()
	tok, _ := iss.MintOpaque("svc", "items:read")

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	introspect := func() {
		req, _ := http.NewRequest(http.MethodPost, iss.IntrospectionURL(),
			strings.NewReader(url.Values{"token": {tok}, "token_type_hint": {"access_token"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("api", "api-secret")
		resp, err := client.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		var m struct {
			Active   bool   `json:"active"`
			Scope    string `json:"scope"`
			ClientID string `json:"client_id"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&m)
		fmt.Printf("%+v\n", m)
	}
	introspect()
	iss.Revoke(tok)
	introspect()
	fmt.Println(iss.IntrospectionRequests())
	// Output:
	// {Active:true Scope:items:read ClientID:svc}
	// {Active:false Scope: ClientID:}
	// 2
}

// RFC 9449 section 6.2: "If the token_type member is included in the
// introspection response, it MUST contain the value DPoP." The issuer's
// answer for a DPoP-bound token says so, as a real server's does, so that
// a resource server tested against it sees what it will see in production
// (introspect.Config.TokenTypes refuses DPoP unless listed).
func TestIntrospect_DPoPBoundTokensAreOfTypeDPoP(t *testing.T) {
	iss, _ := newIntrospectIssuer(t, grpcauthtest.ShapeOkta)
	key, err := grpcauthtest.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	boundJWT, err := iss.Mint(nil, grpcauthtest.WithDPoPKey(key.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	boundOpaque, err := iss.MintOpaqueClaims(map[string]any{"cnf": map[string]any{"jkt": key.Thumbprint()}})
	if err != nil {
		t.Fatal(err)
	}
	stated, err := iss.MintOpaqueClaims(map[string]any{"cnf": map[string]any{"jkt": key.Thumbprint()}, "token_type": "Bearer"})
	if err != nil {
		t.Fatal(err)
	}
	bearer, err := iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token, want string
	}{
		{"DPoP-bound JWT", boundJWT, "DPoP"},
		{"DPoP-bound opaque token", boundOpaque, "DPoP"},
		{"token_type set by MintOpaqueClaims", stated, "Bearer"},
		{"bearer JWT", bearer, "Bearer"},
	} {
		m := introspectToken(t, iss, tc.token)
		if m["active"] != true || m["token_type"] != tc.want {
			t.Errorf("%s: active %v, token_type %v; want true, %s", tc.name, m["active"], m["token_type"], tc.want)
		}
	}
}

// The introspection endpoint verifies its own JWTs under every key
// algorithm, RFC 9864's Ed25519 (which jwx's jws.Verify does not know)
// included.
func TestIntrospect_EveryKeyAlgorithmIsActive(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA", "Ed25519"} {
		t.Run(alg, func(t *testing.T) {
			clk := &introspectClock{}
			clk.sec.Store(1_900_000_000)
			iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Algorithm: alg, Now: clk.Now, Clients: []grpcauthtest.Client{rsClient}})
			if m := introspectToken(t, iss, mustToken(t)(iss.Token("svc"))); m["active"] != true {
				t.Fatalf("%s token: %v, want active", alg, m)
			}
		})
	}
}

// RFC 7519 section 2: a NumericDate may be fractional, and Mint takes a
// float64 for one (the verifier keeps it to the sub-second). The
// introspection endpoint must judge such an exp, nbf and iat by its
// value, not call the token inactive because it is not a whole number.
func TestIntrospect_FractionalNumericDatesAreJudgedByTheirValue(t *testing.T) {
	iss, clk := newIntrospectIssuer(t, grpcauthtest.ShapeOkta)
	now := float64(clk.Now().Unix())
	claims := map[string]any{"exp": now + 60.5, "iat": now - 0.5, "nbf": now - 0.5}
	toks := map[string]string{
		"jwt":    mustToken(t)(iss.Mint(claims)),
		"opaque": mustToken(t)(iss.MintOpaqueClaims(claims)),
	}
	notYet := mustToken(t)(iss.Mint(map[string]any{"nbf": now + 0.5}))
	if m := introspectToken(t, iss, notYet); m["active"] != false {
		t.Errorf("JWT with nbf half a second ahead: %v, want inactive", m)
	}
	toks["jwt that never expires"] = mustToken(t)(iss.Mint(map[string]any{"exp": int64(math.MaxInt64)}))
	clk.Advance(60 * time.Second) // half a second before exp
	for name, tok := range toks {
		if m := introspectToken(t, iss, tok); m["active"] != true {
			t.Errorf("%s half a second before its exp: %v, want active", name, m)
		}
	}
	clk.Advance(time.Second) // half a second after exp
	for name, tok := range toks {
		want := name == "jwt that never expires"
		if m := introspectToken(t, iss, tok); m["active"] != want {
			t.Errorf("%s after exp: %v, want active %v", name, m, want)
		}
	}
}
