package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// panicOnParse replaces parseJWK, for the rest of t, with one that parses
// as ever and then calls after on the key (which may panic or wrap it).
func panicOnParse(t *testing.T, after func(jwk.Key) jwk.Key) {
	t.Helper()
	orig := parseJWK
	parseJWK = func(b []byte, opts ...jwk.ParseOption) (jwk.Key, error) {
		k, err := orig(b, opts...)
		if err != nil {
			return nil, err
		}
		return after(k), nil
	}
	t.Cleanup(func() { parseJWK = orig })
}

// thumbprintPanics is a key whose Thumbprint panics, as jwx's did on an EC
// key with coordinates longer than its curve's.
type thumbprintPanics struct{ jwk.Key }

func (thumbprintPanics) Thumbprint(crypto.Hash) ([]byte, error) {
	panic("math/big: buffer too small " + strings.Repeat("x", 5000))
}

// signedProof returns a valid ES256 proof for req, made at now, and a
// Verifier whose clock is now.
func signedProof(t *testing.T) (*Verifier, string, Request) {
	t.Helper()
	now := time.Unix(1_700_000_000, 0)
	sk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(sk, "ES256", WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	proof, err := s.Proof("POST", "https://api.example.com/pkg.Service/Method", "", "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return v, proof, Request{Method: "POST", Scheme: "https", Authority: "api.example.com", Path: "/pkg.Service/Method"}
}

// wantJWXPanicRefusal checks that err refuses the proof as invalid, naming
// jwx's panic, quoted and clipped.
func wantJWXPanicRefusal(t *testing.T, err error, panicText string) {
	t.Helper()
	if !errors.Is(err, ErrInvalidProof) || !errors.Is(err, errJWXPanicked) {
		t.Fatalf("Verify = %v; want ErrInvalidProof naming jwx's panic", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "dpop: invalid proof: ") || !strings.Contains(msg, `"`+panicText) || len(msg) > 300 {
		t.Fatalf("error = %.300q (%d bytes); want the panic's text quoted and clipped", msg, len(msg))
	}
}

func TestVerify_JWXPanicParsingTheJWKIsAnInvalidProof(t *testing.T) {
	v, proof, req := signedProof(t)
	if _, err := v.Verify(t.Context(), proof, req); err != nil {
		t.Fatalf("Verify of the proof before jwx panics = %v", err) // the proof reaches publicKey
	}
	v, proof, req = signedProof(t)
	panicOnParse(t, func(jwk.Key) jwk.Key { panic("jwx bug " + strings.Repeat("x", 5000)) })
	_, err := v.Verify(t.Context(), proof, req)
	wantJWXPanicRefusal(t, err, "jwx bug xxx")
}

func TestVerify_JWXPanicTakingTheThumbprintIsAnInvalidProof(t *testing.T) {
	v, proof, req := signedProof(t)
	panicOnParse(t, func(k jwk.Key) jwk.Key { return thumbprintPanics{k} })
	_, err := v.Verify(t.Context(), proof, req)
	wantJWXPanicRefusal(t, err, "math/big: buffer too small xxx")
}
