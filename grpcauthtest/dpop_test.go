package grpcauthtest_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

func newDPoPKey(t *testing.T) *grpcauthtest.DPoPKey {
	t.Helper()
	k, err := grpcauthtest.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// cnfJKT returns the cnf jkt of a token, or "".
func cnfJKT(t *testing.T, tok string) string {
	t.Helper()
	_, payload := segments(t, tok)
	cnf, _ := payload["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// postDPoP sends svc's client-credentials request with proofs in DPoP
// headers, fails t unless the answer has wantStatus and, when wantError is
// set, that error code, and returns the answer.
func postDPoP(t *testing.T, iss *grpcauthtest.Issuer, proofs []string, wantStatus int, wantError string) (*http.Response, []byte) {
	t.Helper()
	req := basic(tokenRequest(t, iss, form("grant_type", "client_credentials")), "svc", "s3cret")
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, body := do(t, req)
	if resp.StatusCode != wantStatus {
		t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, wantStatus)
	}
	if wantError != "" {
		var e grpcauthtest.TokenError
		if err := json.Unmarshal(body, &e); err != nil || e.Code != wantError {
			t.Fatalf("error body %s, want %s", body, wantError)
		}
	}
	return resp, body
}

func TestTokenEndpoint_DPoPProofBindsTheToken(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: testClients})
	key := newDPoPKey(t)
	proof := func(t *testing.T, o grpcauthtest.ProofOptions) string {
		if o.Method == "" {
			o.Method, o.URL = http.MethodPost, iss.TokenURL()
		}
		p, err := key.ProofWith(o)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name       string
		proofs     []string
		wantStatus int
		wantType   string // token_type of a success
		wantError  string
	}{
		{"no proof: bearer token", nil, 200, "Bearer", ""},
		{"valid proof: DPoP-bound token", []string{proof(t, grpcauthtest.ProofOptions{})}, 200, "DPoP", ""},
		{"proof for another URL", []string{proof(t, grpcauthtest.ProofOptions{Method: http.MethodPost, URL: iss.URL() + "/v1/keys"})}, 400, "", "invalid_dpop_proof"},
		{"proof with GET", []string{proof(t, grpcauthtest.ProofOptions{Method: http.MethodGet, URL: iss.TokenURL()})}, 400, "", "invalid_dpop_proof"},
		{"stale proof", []string{proof(t, grpcauthtest.ProofOptions{IssuedAt: time.Now().Add(-time.Hour)})}, 400, "", "invalid_dpop_proof"},
		{"two proofs", []string{proof(t, grpcauthtest.ProofOptions{}), proof(t, grpcauthtest.ProofOptions{})}, 400, "", "invalid_dpop_proof"},
		{"proof with a nonce: ignored without DPoPNonces", []string{proof(t, grpcauthtest.ProofOptions{Method: http.MethodPost, URL: iss.TokenURL(), Nonce: "anything"})}, 200, "DPoP", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := postDPoP(t, iss, tt.proofs, tt.wantStatus, tt.wantError)
			if n := resp.Header.Get("DPoP-Nonce"); n != "" {
				t.Errorf("DPoP-Nonce %q without Config.DPoPNonces", n)
			}
			if tt.wantError != "" {
				return
			}
			var tr grpcauthtest.TokenResponse
			if err := json.Unmarshal(body, &tr); err != nil {
				t.Fatal(err)
			}
			if tr.TokenType != tt.wantType {
				t.Errorf("token_type %q, want %q", tr.TokenType, tt.wantType)
			}
			want := ""
			if tt.wantType == "DPoP" {
				want = key.Thumbprint()
			}
			if got := cnfJKT(t, tr.AccessToken); got != want {
				t.Errorf("cnf jkt %q, want %q", got, want)
			}
		})
	}
}

// RFC 6749 §5.2 (and RFC 9449 §5, which uses it) allows an
// error_description of printable ASCII without '"' and '\\' only. The
// reason a DPoP proof is refused names what the proof said, which the
// client chose: it must reach the body within that set.
func TestTokenEndpoint_DPoPRefusalDescriptionStaysInTheRFC6749Charset(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: testClients})
	key := newDPoPKey(t)
	for _, o := range []grpcauthtest.ProofOptions{
		{Type: "a\"b\\c\u00e9\n"},
		{URL: iss.TokenURL() + "/\"\u00e9\\"},
	} {
		o.Method = http.MethodPost
		if o.URL == "" {
			o.URL = iss.TokenURL()
		}
		p, err := key.ProofWith(o)
		if err != nil {
			t.Fatal(err)
		}
		_, body := postDPoP(t, iss, []string{p}, http.StatusBadRequest, "invalid_dpop_proof")
		var e grpcauthtest.TokenError
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		if e.Description == "" {
			t.Fatalf("no error_description in %s", body)
		}
		checkErrorDescription(t, e.Description)
	}
}

func TestTokenEndpoint_DPoPNoncesAskForANonceThenBindTheToken(t *testing.T) {
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: testClients, DPoPNonces: nonces})
	key := newDPoPKey(t)
	other, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	withNonce := func(nonce string) []string {
		p, err := key.ProofWith(grpcauthtest.ProofOptions{Method: http.MethodPost, URL: iss.TokenURL(), Nonce: nonce})
		if err != nil {
			t.Fatal(err)
		}
		return []string{p}
	}
	current := nonces.Nonce(time.Now())
	tests := []struct {
		name       string
		proofs     []string
		wantStatus int
		wantError  string
		wantNonce  bool // a DPoP-Nonce header with the current nonce
	}{
		{"no proof: bearer token, no nonce needed", nil, 200, "", false},
		{"proof without a nonce", withNonce(""), 400, "use_dpop_nonce", true},
		{"proof with another server's nonce", withNonce(other.Nonce(time.Now())), 400, "use_dpop_nonce", true},
		{"proof with an expired nonce", withNonce(nonces.Nonce(time.Now().Add(-time.Hour))), 400, "use_dpop_nonce", true},
		{"proof with the current nonce", withNonce(current), 200, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := postDPoP(t, iss, tt.proofs, tt.wantStatus, tt.wantError)
			n := resp.Header.Get("DPoP-Nonce")
			if tt.wantNonce != (n != "") || n != "" && !nonces.Valid(n, time.Now()) {
				t.Errorf("DPoP-Nonce %q, want a current nonce: %v", n, tt.wantNonce)
			}
			if tt.wantError != "" {
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control %q, want no-store", cc)
				}
				return
			}
			var tr grpcauthtest.TokenResponse
			if err := json.Unmarshal(body, &tr); err != nil {
				t.Fatal(err)
			}
			want, wantType := "", "Bearer"
			if tt.proofs != nil {
				want, wantType = key.Thumbprint(), "DPoP"
			}
			if tr.TokenType != wantType || cnfJKT(t, tr.AccessToken) != want {
				t.Errorf("token_type %q, cnf jkt %q; want %q, %q", tr.TokenType, cnfJKT(t, tr.AccessToken), wantType, want)
			}
		})
	}
}

func TestTokenEndpoint_CodeRefusedForItsDPoPNonceIsRedeemedOnRetry(t *testing.T) {
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{
		PublicClients: []grpcauthtest.PublicClient{webClient},
		Users:         testUsers,
		DPoPNonces:    nonces,
	})
	key := newDPoPKey(t)
	code := codeFor(t, iss, "reader")
	redeem := func(nonce string) (*http.Response, []byte) {
		p, err := key.ProofWith(grpcauthtest.ProofOptions{Method: http.MethodPost, URL: iss.TokenURL(), Nonce: nonce})
		if err != nil {
			t.Fatal(err)
		}
		req := tokenRequest(t, iss, form("grant_type", "authorization_code", "client_id", "web",
			"code", code, "redirect_uri", pageURI, "code_verifier", codeVerifier))
		req.Header.Set("Origin", pageOrigin) // a page's fetch, which must be able to read DPoP-Nonce
		req.Header.Set("DPoP", p)
		return do(t, req)
	}
	resp, body := redeem("")
	var e grpcauthtest.TokenError
	if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Code != "use_dpop_nonce" {
		t.Fatalf("without a nonce: status %d (%s), want 400 use_dpop_nonce", resp.StatusCode, body)
	}
	nonce := resp.Header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("the use_dpop_nonce answer has no DPoP-Nonce")
	}
	if exp := resp.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(exp, "DPoP-Nonce") {
		t.Errorf("Access-Control-Expose-Headers %q: the page cannot read DPoP-Nonce", exp)
	}
	resp, body = redeem(nonce)
	var tr grpcauthtest.TokenResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tr) != nil {
		t.Fatalf("with the nonce: status %d (%s), want 200 (the refusal must not use up the code)", resp.StatusCode, body)
	}
	if tr.TokenType != "DPoP" || cnfJKT(t, tr.AccessToken) != key.Thumbprint() {
		t.Errorf("token_type %q, cnf jkt %q; want DPoP bound to the proof key", tr.TokenType, cnfJKT(t, tr.AccessToken))
	}
}

func TestStart_RefusesANilHMACNoncesAsDPoPNonces(t *testing.T) {
	var nonces *dpop.HMACNonces
	iss, err := grpcauthtest.Start(grpcauthtest.Config{DPoPNonces: nonces})
	if err == nil {
		iss.Close()
		t.Fatal("Start accepted a nil *dpop.HMACNonces")
	}
	if !strings.HasPrefix(err.Error(), "grpcauthtest: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}

func TestMint_WithDPoPKeyBindsTheToken(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	key := newDPoPKey(t)
	tok, err := iss.Mint(nil, grpcauthtest.WithDPoPKey(key.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	if got := cnfJKT(t, tok); got != key.Thumbprint() || len(got) != 43 {
		t.Errorf("cnf jkt %q, want %q", got, key.Thumbprint())
	}
	if _, err := iss.Mint(nil, grpcauthtest.WithDPoPKey("not a key")); err == nil {
		t.Error("WithDPoPKey accepted a string")
	}
}

// Changing the key DPoPKey.PublicKey returned changes only that copy: the
// key keeps signing proofs that verify under it, and its thumbprint.
func TestDPoPKey_ChangingTheReturnedPublicKeyLeavesTheKey(t *testing.T) {
	for _, alg := range []string{"PS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			key, err := grpcauthtest.NewDPoPKeyWithAlgorithm(alg)
			if err != nil {
				t.Fatal(err)
			}
			spoil(t, key.PublicKey())
			proof, err := key.Proof("POST", "https://api.example/pkg.Svc/Method", "")
			if err != nil {
				t.Fatalf("Proof after the returned key was changed: %v", err)
			}
			if _, err := jws.Verify([]byte(proof), jws.WithKey(jwa.KeyAlgorithmFrom(alg), key.PublicKey())); err != nil {
				t.Fatalf("proof does not verify under PublicKey after the returned key was changed: %v", err)
			}
			pub, err := jwk.FromRaw(key.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			if tp, err := pub.Thumbprint(crypto.SHA256); err != nil || base64.RawURLEncoding.EncodeToString(tp) != key.Thumbprint() {
				t.Fatalf("thumbprint of PublicKey %x (%v), want %s", tp, err, key.Thumbprint())
			}
		})
	}
}

// A proof from DPoPKey passes dpop.Verifier, and its thumbprint is the one
// the key reports.
func TestDPoPKey_ProofVerifies(t *testing.T) {
	key := newDPoPKey(t)
	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := key.Proof("POST", "https://api.example.com/pkg.S/M", "tok")
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(t.Context(), p, dpop.Request{Method: "POST", Scheme: "https", Authority: "api.example.com", Path: "/pkg.S/M", AccessToken: "tok", KeyThumbprint: key.Thumbprint()})
	if err != nil || got.Thumbprint != key.Thumbprint() {
		t.Errorf("Verify = %+v, %v", got, err)
	}
}

// RFC 9449 §5.1: an authorization server that issues DPoP-bound tokens
// advertises the proof algorithms it accepts, and accepts them.
func TestMetadata_AdvertisesTheDPoPProofAlgorithmsTheTokenEndpointAccepts(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: testClients})
	_, body := get(t, iss.DiscoveryURL())
	var md struct {
		Algs []string `json:"dpop_signing_alg_values_supported"`
	}
	if err := json.Unmarshal(body, &md); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(md.Algs, "ES256") {
		t.Fatalf("dpop_signing_alg_values_supported = %q, want a list with ES256", md.Algs)
	}
	rsaTried := false
	for _, alg := range md.Algs {
		if alg == "none" || strings.HasPrefix(alg, "HS") {
			t.Errorf("advertises %q for DPoP proofs", alg)
			continue
		}
		if rsa := strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS"); rsa && rsaTried {
			continue // one RSA key is enough: generating six is slow
		} else if rsa {
			rsaTried = true
		}
		key, err := grpcauthtest.NewDPoPKeyWithAlgorithm(alg)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		p, err := key.Proof(http.MethodPost, iss.TokenURL(), "")
		if err != nil {
			t.Fatal(err)
		}
		req := basic(tokenRequest(t, iss, form("grant_type", "client_credentials")), "svc", "s3cret")
		req.Header.Set("DPoP", p)
		if resp, body := do(t, req); resp.StatusCode != http.StatusOK {
			t.Errorf("advertised %s: proof refused: %d %s", alg, resp.StatusCode, body)
		}
	}
	if want := iss.Metadata().DPoPSigningAlgValuesSupported; !slices.Equal(want, md.Algs) {
		t.Errorf("Metadata() has %q, the served document %q", want, md.Algs)
	}
}

// TestAuthorize_DPoPJKTBindsTheCodeToTheProofKey checks RFC 9449 §10: a code
// asked for with dpop_jkt is redeemed only with a DPoP proof of that key.
func TestAuthorize_DPoPJKTBindsTheCodeToTheProofKey(t *testing.T) {
	iss := codeIssuer(t, nil)
	key, other := newDPoPKey(t), newDPoPKey(t)
	redeem := func(code string, k *grpcauthtest.DPoPKey) (int, grpcauthtest.TokenResponse, grpcauthtest.TokenError) {
		t.Helper()
		req := tokenRequest(t, iss, form("grant_type", "authorization_code", "client_id", "web",
			"code", code, "redirect_uri", pageURI, "code_verifier", codeVerifier))
		if k != nil {
			p, err := k.Proof(http.MethodPost, iss.TokenURL(), "")
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("DPoP", p)
		}
		resp, body := do(t, req)
		var tr grpcauthtest.TokenResponse
		var e grpcauthtest.TokenError
		_ = json.Unmarshal(body, &tr)
		_ = json.Unmarshal(body, &e)
		return resp.StatusCode, tr, e
	}
	codeBoundTo := func(jkt string) string {
		t.Helper()
		st, loc := signIn(t, iss, authzParams("dpop_jkt", jkt), "reader")
		if st != http.StatusSeeOther || loc.Query().Get("code") == "" {
			t.Fatalf("sign-in with dpop_jkt: status %d, Location %v; want 303 with a code", st, loc)
		}
		return loc.Query().Get("code")
	}

	for _, tc := range []struct {
		name string
		key  *grpcauthtest.DPoPKey
	}{{"another key's proof", other}, {"no proof", nil}} {
		code := codeBoundTo(key.Thumbprint())
		st, _, e := redeem(code, tc.key)
		if st != http.StatusBadRequest || e.Code != "invalid_dpop_proof" {
			t.Errorf("%s: status %d %q, want 400 invalid_dpop_proof", tc.name, st, e.Code)
		}
		// The refused exchange used the code up (RFC 6749 §4.1.2).
		if st, _, e := redeem(code, key); st != http.StatusBadRequest || e.Code != "invalid_grant" {
			t.Errorf("%s, then the dpop_jkt key's proof: status %d %q, want 400 invalid_grant", tc.name, st, e.Code)
		}
	}
	st, tr, e := redeem(codeBoundTo(key.Thumbprint()), key)
	if st != http.StatusOK || tr.TokenType != "DPoP" || cnfJKT(t, tr.AccessToken) != key.Thumbprint() {
		t.Fatalf("the dpop_jkt key's proof: status %d %q, token_type %q; want 200 DPoP bound to the key", st, e.Code, tr.TokenType)
	}

	// A malformed dpop_jkt is refused at the authorization endpoint.
	st2, loc := signIn(t, iss, authzParams("dpop_jkt", "not-a-thumbprint"), "reader")
	if st2 != http.StatusSeeOther || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" {
		t.Errorf("malformed dpop_jkt: status %d, Location %v; want a redirect with invalid_request", st2, loc)
	}
	// An empty dpop_jkt is as if omitted (RFC 6749 §3.1).
	resp, _ := noRedirect().Get(iss.AuthorizeURL() + "?" + authzParams().Encode() + "&dpop_jkt=")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("empty dpop_jkt: status %d, want the login page", resp.StatusCode)
	}
	// The login page keeps dpop_jkt for its POST.
	_, body := get(t, iss.AuthorizeURL()+"?"+authzParams("dpop_jkt", key.Thumbprint()).Encode())
	if !strings.Contains(string(body), `name="dpop_jkt" value="`+key.Thumbprint()+`"`) {
		t.Error("the login page does not carry dpop_jkt")
	}
}

// TestDPoPKey_ProofWithANilHeaderKeyFails: a typed nil HeaderKey (a key
// variable left nil) is an error, not a panic in jwx.
func TestDPoPKey_ProofWithANilHeaderKeyFails(t *testing.T) {
	k, err := grpcauthtest.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, hk := range []crypto.PublicKey{(*ecdsa.PublicKey)(nil), (*rsa.PublicKey)(nil), ed25519.PublicKey(nil)} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("HeaderKey %T(nil): ProofWith panicked: %v", hk, r)
				}
			}()
			if p, err := k.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: "http://x/y", HeaderKey: hk}); err == nil {
				t.Errorf("HeaderKey %T(nil): ProofWith = %q, nil; want an error", hk, p)
			}
		}()
	}
}

// badNonces is a NonceSource whose nonce no client could send back.
type badNonces struct{}

func (badNonces) Nonce(time.Time) string       { return "not a nonce" }
func (badNonces) Valid(string, time.Time) bool { return false }

// A DPoPNonces that gives out a nonce no client could send back (not
// 1*NQCHAR) makes the token endpoint answer 500 server_error without
// sending it, instead of asking for a nonce no proof can carry.
func TestTokenEndpoint_MalformedNonceOfDPoPNoncesIsNeverSent(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: testClients, DPoPNonces: badNonces{}})
	p, err := newDPoPKey(t).ProofWith(grpcauthtest.ProofOptions{Method: http.MethodPost, URL: iss.TokenURL()})
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := postDPoP(t, iss, []string{p}, http.StatusInternalServerError, "server_error")
	if n := resp.Header.Values("DPoP-Nonce"); len(n) != 0 {
		t.Errorf("DPoP-Nonce %q sent", n)
	}
}
