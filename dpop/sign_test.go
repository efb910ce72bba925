package dpop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/dpop"
)

// parts decodes a compact JWS's header and claims.
func parts(t *testing.T, proof string) (hdr, claims map[string]any) {
	t.Helper()
	p := strings.Split(proof, ".")
	if len(p) != 3 {
		t.Fatalf("proof %q has %d parts", proof, len(p))
	}
	for i, dst := range []*map[string]any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(p[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return hdr, claims
}

func TestSigner_ProofsVerifyAndCarryOnlyThePublicKey(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	t0 := time.Unix(1_800_000_000, 0)
	for _, tt := range []struct {
		alg string
		key crypto.Signer
	}{{"ES256", ec}, {"EdDSA", ed}, {"Ed25519", ed}, {"PS256", rs}, {"RS256", rs}} {
		t.Run(tt.alg, func(t *testing.T) {
			s, err := dpop.NewSigner(tt.key, tt.alg, dpop.WithClock(func() time.Time { return t0 }))
			if err != nil {
				t.Fatal(err)
			}
			v := newVerifier(t, dpop.Config{Algorithms: []string{tt.alg}, Now: func() time.Time { return t0 }})
			p1, err := s.Proof("POST", "https://api.example/pkg.S/M", "the-token", "n-1")
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(t.Context(), p1, dpop.Request{Method: "POST", Scheme: "https", Authority: "api.example:443",
				Path: "/pkg.S/M", AccessToken: "the-token", KeyThumbprint: s.Thumbprint()})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Nonce != "n-1" || !got.IssuedAt.Equal(t0) || got.Algorithm != tt.alg || got.Thumbprint != s.Thumbprint() {
				t.Errorf("Verify = %+v", got)
			}
			hdr, claims := parts(t, p1)
			if hdr["typ"] != dpop.ProofType || hdr["alg"] != tt.alg {
				t.Errorf("header %v", hdr)
			}
			for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "kid"} {
				if _, ok := hdr["jwk"].(map[string]any)[m]; ok {
					t.Errorf("jwk header has %q", m)
				}
			}
			if claims["ath"] != dpop.AccessTokenHash("the-token") {
				t.Errorf("ath = %v", claims["ath"])
			}
			p2, err := s.Proof("POST", "https://api.example/pkg.S/M", "", "")
			if err != nil {
				t.Fatal(err)
			}
			_, c2 := parts(t, p2)
			if c2["jti"] == claims["jti"] || len(c2["jti"].(string)) < 16 {
				t.Errorf("jti %v then %v: want new random ones", claims["jti"], c2["jti"])
			}
			if _, ok := c2["ath"]; ok {
				t.Error("proof without an access token has ath")
			}
			if _, ok := c2["nonce"]; ok {
				t.Error("proof without a nonce has one")
			}
		})
	}
}

func TestAccessTokenHash_IsRFC9449Example(t *testing.T) {
	// RFC 9449, section 7.1: the access token and the ath of its proof.
	const at = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	if got := dpop.AccessTokenHash(at); got != "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo" {
		t.Errorf("AccessTokenHash = %q", got)
	}
}

func TestNewSigner_RefusesKeysThatDoNotFitTheAlgorithm(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	for _, tt := range []struct {
		name string
		key  crypto.Signer
		alg  string
	}{
		{"none", p256, "none"},
		{"HMAC", p256, "HS256"},
		{"curve of another ES alg", p256, "ES384"},
		{"EC key for RSA", p256, "RS256"},
		{"Ed25519 key for ES256", ed, "ES256"},
		{"RSA under 2048 bits", small, "RS256"},
		{"no key", nil, "ES256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := dpop.NewSigner(tt.key, tt.alg); err == nil || !strings.HasPrefix(err.Error(), "dpop: ") {
				t.Errorf("NewSigner = %v, want a dpop: error", err)
			}
		})
	}
}

// opaqueSigner hides its key's type, as a KMS or HSM key does.
type opaqueSigner struct{ crypto.Signer }

func TestSigner_SignsWithAnOpaqueCryptoSigner(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	for alg, key := range map[string]crypto.Signer{"ES384": opaqueSigner{ec}, "PS256": opaqueSigner{rs}} {
		s, err := dpop.NewSigner(key, alg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Proof("POST", "https://api.example/pkg.S/M", "", "")
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		v := newVerifier(t, dpop.Config{Algorithms: []string{alg}, Now: time.Now})
		if _, err := v.Verify(t.Context(), p, dpop.Request{Method: "POST", Scheme: "https", Authority: "api.example", Path: "/pkg.S/M"}); err != nil {
			t.Errorf("%s: Verify: %v", alg, err)
		}
	}
}

// A nil Signer, or a zero one (NewSigner did not make it), returns an
// error from Proof and ProofContext rather than panic.
func TestSigner_NilSignerReturnsAnError(t *testing.T) {
	for name, s := range map[string]*dpop.Signer{"nil": nil, "zero": new(dpop.Signer)} {
		if p, err := s.Proof("POST", "https://api.example/pkg.S/M", "", ""); err == nil || p != "" {
			t.Errorf("%s: Proof = %q, %v; want an error", name, p, err)
		}
		if p, err := s.ProofContext(t.Context(), "POST", "https://api.example/pkg.S/M", "", ""); err == nil || p != "" {
			t.Errorf("%s: ProofContext = %q, %v; want an error", name, p, err)
		}
	}
}

// A nil SignerOption (a variable left unset) makes NewSigner fail with an
// error naming it, instead of panicking.
func TestNewSigner_NilOptionIsAnError(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var unset dpop.SignerOption
	s, err := dpop.NewSigner(key, "ES256", dpop.WithClock(time.Now), unset)
	if err == nil || !strings.Contains(err.Error(), "option 1 is nil") {
		t.Fatalf("NewSigner with a nil option = %v, %v; want an error naming option 1", s, err)
	}
}

// A copy of a Signer (a Signer value held in a struct field, say) makes
// proofs concurrently with the original, under -race: both sign with the
// same key, carry the same public key and thumbprint, and every proof of
// either is new (its own jti) and verifies. With an in-memory key and
// with a key the Signer takes for a KMS's (signed on goroutines of their
// own, within the bound of signatures in flight the copies share).
func TestSigner_CopyMakesProofsConcurrentlyWithTheOriginal(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]crypto.Signer{"in memory": ec, "remote": RemoteKey{ec}} {
		t.Run(name, func(t *testing.T) {
			t0 := time.Unix(1_800_000_000, 0)
			clock := func() time.Time { return t0 }
			orig, err := dpop.NewSigner(key, "ES256", dpop.WithClock(clock))
			if err != nil {
				t.Fatal(err)
			}
			cp := *orig
			if cp.Thumbprint() != orig.Thumbprint() || cp.Algorithm() != orig.Algorithm() {
				t.Fatalf("copy: %s %s, original: %s %s", cp.Algorithm(), cp.Thumbprint(), orig.Algorithm(), orig.Thumbprint())
			}
			v := newVerifier(t, dpop.Config{Now: clock})
			req := dpop.Request{Method: "POST", Scheme: "https", Authority: "api.example.com",
				Path: "/pkg.Service/Method", AccessToken: "at", KeyThumbprint: orig.Thumbprint()}
			const perSigner, proofs = 4, 8
			var wg sync.WaitGroup
			errs := make(chan error, 2*perSigner*proofs)
			for i := range 2 * perSigner {
				s := orig
				if i%2 == 1 {
					s = &cp
				}
				wg.Go(func() {
					for range proofs {
						p, err := s.ProofContext(t.Context(), "POST", testHTU, "at", "")
						if err == nil {
							_, err = v.Verify(t.Context(), p, req) // a jti seen before is ErrReplayed
						}
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
}
