package grpcauthtest_test

import (
	"crypto"
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := basic(tokenRequest(t, iss, form("grant_type", "client_credentials")), "svc", "s3cret")
			for _, p := range tt.proofs {
				req.Header.Add("DPoP", p)
			}
			resp, body := do(t, req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantError != "" {
				var e grpcauthtest.TokenError
				if err := json.Unmarshal(body, &e); err != nil || e.Code != tt.wantError {
					t.Fatalf("error body %s, want %s", body, tt.wantError)
				}
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
