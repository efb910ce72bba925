package grpcauthtest_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// verifyEd25519 checks tok's signature with the standard library alone,
// independently of jwx.
func verifyEd25519(t *testing.T, tok string, pub ed25519.PublicKey) {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(pub, []byte(tok[:i]), sig) {
		t.Fatal("signature does not verify under the Ed25519 key")
	}
}

// An issuer configured for RFC 9864's "Ed25519" publishes its key with that
// alg and mints tokens whose header says so, signed by the key.
func TestEd25519_IssuerMintsEd25519Tokens(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Algorithm: "Ed25519"})
	k, ok := fetchKeySet(t, iss).LookupKeyID(iss.KeyID())
	if !ok || k.Algorithm().String() != "Ed25519" || k.KeyType() != "OKP" {
		t.Fatalf("JWKS key %v", k)
	}
	tok, err := iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := segments(t, tok)
	if hdr["alg"] != "Ed25519" || hdr["kid"] != iss.KeyID() {
		t.Fatalf("header %v, want alg Ed25519 and the issuer's kid", hdr)
	}
	verifyEd25519(t, tok, iss.PublicKey(iss.KeyID()).(ed25519.PublicKey))
}

// WithSigningKey signs under "Ed25519" with an Ed25519 key, and refuses
// any other key.
func TestEd25519_WithSigningKey(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Mint(nil, grpcauthtest.WithSigningKey(priv, "Ed25519"), grpcauthtest.WithHeader("typ", "at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	if hdr, _ := segments(t, tok); hdr["alg"] != "Ed25519" || hdr["typ"] != "at+jwt" || hdr["kid"] != iss.KeyID() {
		t.Fatalf("header %v", hdr)
	}
	verifyEd25519(t, tok, pub)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Mint(nil, grpcauthtest.WithSigningKey(rk, "Ed25519")); err == nil {
		t.Fatal("an RSA key signed under Ed25519")
	}
}

// A DPoP key for "Ed25519" makes proofs whose header says so, which
// dpop.Verifier accepts by default.
func TestEd25519_DPoPProofs(t *testing.T) {
	key, err := grpcauthtest.NewDPoPKeyWithAlgorithm("Ed25519")
	if err != nil {
		t.Fatal(err)
	}
	if key.Algorithm() != "Ed25519" {
		t.Fatalf("Algorithm() = %q", key.Algorithm())
	}
	proof, err := key.Proof("POST", "https://api.example.com/pkg.S/M", "tok")
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := segments(t, proof)
	if jwk, _ := hdr["jwk"].(map[string]any); hdr["alg"] != "Ed25519" || hdr["typ"] != dpop.ProofType || jwk["crv"] != "Ed25519" || jwk["alg"] != nil {
		t.Fatalf("header %v", hdr)
	}
	verifyEd25519(t, proof, key.PublicKey().(ed25519.PublicKey))
	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(t.Context(), proof, dpop.Request{Method: "POST", Scheme: "https", Authority: "api.example.com", Path: "/pkg.S/M", AccessToken: "tok", KeyThumbprint: key.Thumbprint()})
	if err != nil || p.Algorithm != "Ed25519" {
		t.Fatalf("Verify = %+v, %v", p, err)
	}
}
