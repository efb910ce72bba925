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
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/grpcauth/grpcauth/internal/jwxpanic"
	"github.com/grpcauth/grpcauth/internal/jwxpanic/jwxpanictest"
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

// thumbprintPanics is a key whose Thumbprint makes jwx panic, as jwx's
// own does on an EC key with coordinates longer than its curve's.
type thumbprintPanics struct{ jwk.Key }

func (thumbprintPanics) Thumbprint(crypto.Hash) ([]byte, error) {
	jwxpanictest.Panic()
	return nil, nil
}

// verifierPanics is a jws.Verifier in which jwx panics.
type verifierPanics struct{}

func (verifierPanics) Verify([]byte, []byte, any) error {
	jwxpanictest.Panic()
	return nil
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

// wantPanicRefusal checks that err refuses the proof as invalid, its
// cause the recovered panic, raised in jwx or not as inJWX says, at step,
// its value quoted and clipped.
func wantPanicRefusal(t *testing.T, err error, step string, inJWX bool, panicText string) {
	t.Helper()
	e, ok := jwxpanic.Find(err)
	if !errors.Is(err, ErrInvalidProof) || !ok || e.InJWX != inJWX {
		t.Fatalf("Verify = %v; want ErrInvalidProof naming the panic (in jwx: %v)", err, inJWX)
	}
	where := "in jwx"
	if !inJWX {
		where = "outside jwx"
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "dpop: invalid proof: "+step+" panicked "+where) || !strings.Contains(msg, `"`+panicText) || len(msg) > 300 {
		t.Fatalf("error = %.300q (%d bytes); want %s panicked %s, the panic's text quoted and clipped", msg, len(msg), step, where)
	}
	if !strings.Contains(string(e.Stack), "panic(") {
		t.Fatalf("the panic's stack is not kept:\n%s", e.Stack)
	}
}

func TestVerify_JWXPanicParsingTheJWKIsAnInvalidProof(t *testing.T) {
	v, proof, req := signedProof(t)
	if _, err := v.Verify(t.Context(), proof, req); err != nil {
		t.Fatalf("Verify of the proof before jwx panics = %v", err) // the proof reaches publicKey
	}
	v, proof, req = signedProof(t)
	panicOnParse(t, func(jwk.Key) jwk.Key { jwxpanictest.Panic(); return nil })
	_, err := v.Verify(t.Context(), proof, req)
	wantPanicRefusal(t, err, "checking the jwk", true, jwxpanictest.Text)
}

// A panic of this package's own code while the jwk is checked is
// recovered alike, but not blamed on jwx.
func TestVerify_OwnPanicCheckingTheJWKIsAnInvalidProofNotBlamedOnJWX(t *testing.T) {
	v, proof, req := signedProof(t)
	panicOnParse(t, func(jwk.Key) jwk.Key { panic("our bug " + strings.Repeat("x", 5000)) })
	_, err := v.Verify(t.Context(), proof, req)
	wantPanicRefusal(t, err, "checking the jwk", false, "our bug xxx")
}

func TestVerify_JWXPanicTakingTheThumbprintIsAnInvalidProof(t *testing.T) {
	v, proof, req := signedProof(t)
	panicOnParse(t, func(k jwk.Key) jwk.Key { return thumbprintPanics{k} })
	_, err := v.Verify(t.Context(), proof, req)
	wantPanicRefusal(t, err, "taking the jwk's thumbprint", true, jwxpanictest.Text)
}

func TestVerify_JWXPanicCheckingTheSignatureIsAnInvalidProof(t *testing.T) {
	v, proof, req := signedProof(t)
	v.verifiers["ES256"] = verifierPanics{}
	_, err := v.Verify(t.Context(), proof, req)
	wantPanicRefusal(t, err, "checking the signature", true, jwxpanictest.Text)
}

var _ jws.Verifier = verifierPanics{}

// A proof whose check panicked is refused before the replay cache sees
// it: taking the thumbprint is the last step before the proof is
// recorded, and the same proof, once jwx no longer panics on it, is
// accepted, not refused as a replay.
func TestVerify_ProofWhoseThumbprintPanickedIsNotRecordedAsSeen(t *testing.T) {
	v, proof, req := signedProof(t)
	t.Run("panics", func(t *testing.T) {
		panicOnParse(t, func(k jwk.Key) jwk.Key { return thumbprintPanics{k} })
		_, err := v.Verify(t.Context(), proof, req)
		wantPanicRefusal(t, err, "taking the jwk's thumbprint", true, jwxpanictest.Text)
	})
	if _, err := v.Verify(t.Context(), proof, req); err != nil {
		t.Fatalf("Verify of the proof once jwx no longer panics = %v; want it accepted", err)
	}
	if _, err := v.Verify(t.Context(), proof, req); !errors.Is(err, ErrReplayed) {
		t.Fatalf("Verify of the proof a second time = %v; want ErrReplayed", err)
	}
}
