package grpcauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// A DPoP call whose proof carries a junk x5c header member, signed by the
// jwk's key (the key the token is bound to), is refused over a loopback
// server with the fixed invalid-proof answer: Unauthenticated,
// DPOP_PROOF_INVALID, the message "grpcauth: invalid DPoP proof" and the
// invalid_dpop_proof challenge, nothing of the proof in them; the logged
// cause names the key reference. The same proof without x5c is accepted.
// Before, x5c was ignored and the call accepted.
func TestDPoP_ProofWithAJunkX5CIsAnInvalidProof(t *testing.T) {
	var rec recorder
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.OnDecision = rec.record })
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	tok := d.token(t, map[string]any{"sub": "user-1"}, grpcauthtest.WithScopes("test:read"), grpcauthtest.WithDPoPKey(priv.Public()))
	const junk = "!!junk-x5c!!"
	for _, tc := range []struct {
		name string
		x5c  any // nil: no x5c member
		code codes.Code
	}{
		{"without x5c", nil, codes.OK},
		{"junk x5c", []string{junk}, codes.Unauthenticated},
		{"x5c not an array", junk, codes.Unauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]any{"typ": dpop.ProofType, "alg": "ES256", "jwk": pub}
			if tc.x5c != nil {
				hdr["x5c"] = tc.x5c
			}
			claims := map[string]any{"jti": rand.Text(), "htm": "POST", "htu": d.url(mInherited), "iat": t0.Unix(), "ath": dpop.AccessTokenHash(tok)}
			proof := signES256(t, priv, hdr, claims)
			err, _, trailer := d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+tok, proof), mInherited)
			checkStatus(t, err, tc.code, ReasonDPoPProofInvalid)
			if tc.code == codes.OK {
				return
			}
			if msg := status.Convert(err).Message(); msg != "grpcauth: invalid DPoP proof" {
				t.Errorf("message %q, want the fixed one", msg)
			}
			if ch := trailer.Get(MetadataWWWAuthenticate); len(ch) != 1 || ch[0] != `DPoP error="invalid_dpop_proof", algs="ES256 EdDSA Ed25519"` {
				t.Errorf("www-authenticate = %q, want the invalid_dpop_proof challenge", ch)
			}
			if strings.Contains(err.Error(), "junk") || strings.Contains(strings.Join(trailer.Get(MetadataWWWAuthenticate), " "), "junk") {
				t.Errorf("the answer quotes the proof's x5c: %v", err)
			}
			if dec := rec.last(t); dec.Err == nil || !strings.Contains(dec.Err.Error(), "a key reference (jku, x5u, x5c, x5t or x5t#S256)") {
				t.Errorf("logged cause %v, want one naming the key reference", dec.Err)
			}
		})
	}
}

// signES256 returns the compact JWS of claims under the header hdr
// (written as given, alg included), signed with priv.
func signES256(t *testing.T, priv *ecdsa.PrivateKey, hdr, claims map[string]any) string {
	t.Helper()
	var parts [2]string
	for i, v := range []any{hdr, claims} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		parts[i] = base64.RawURLEncoding.EncodeToString(b)
	}
	input := parts[0] + "." + parts[1]
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}
