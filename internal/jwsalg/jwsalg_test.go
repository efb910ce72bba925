package jwsalg

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Ed25519 signs and verifies with jwx's EdDSA primitives, and using it
// registers nothing in jwx: jwx still refuses the name everywhere else.
func TestEd25519_UsesJWXEdDSAAndRegistersNothing(t *testing.T) {
	if JWX(Ed25519) != jwa.EdDSA || JWX("RS256") != jwa.RS256 {
		t.Fatalf("JWX maps Ed25519 to %q and RS256 to %q", JWX(Ed25519), JWX("RS256"))
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.Sign([]byte("input"), priv)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify([]byte("input"), sig, pub); err != nil || !ed25519.Verify(pub, []byte("input"), sig) {
		t.Fatalf("signature does not verify: %v", err)
	}
	var alg jwa.SignatureAlgorithm
	if alg.Accept(Ed25519) == nil {
		t.Error("jwa accepts Ed25519: it was registered globally")
	}
	if _, err := jws.NewVerifier(jwa.SignatureAlgorithm(Ed25519)); err == nil {
		t.Error("jws has a verifier for Ed25519: it was registered globally")
	}
	if _, err := NewVerifier("Ed448"); err == nil {
		t.Error("NewVerifier(Ed448) succeeded; jwx implements no Ed448")
	}
}
