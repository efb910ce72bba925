package jwks

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
)

// A private scalar is published whatever kty stands beside its crv: an
// entry of "crv": "P-256" and the scalar of a P-256 key, written with
// "kty": "OKP", with no kty, or with a kty of another case, publishes that
// key's private key all the same (anyone reading the document tries the
// curve it names), and so does an Ed25519 seed written with "kty": "EC".
// The key the scalar makes under its crv is exposed, spending one of the
// document's derivations; past them, every key of that curve is.
func TestParseJWKS_ScalarUnderAKtyThatDoesNotFitItsCurveStillExposesItsKey(t *testing.T) {
	testKeys(t)
	edPub2, edPriv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	ecD := base64.RawURLEncoding.EncodeToString(ecKey.D.FillBytes(make([]byte, 32)))
	edD := base64.RawURLEncoding.EncodeToString(edPriv.Seed())
	for _, tc := range []struct{ name, entry string }{
		{"P-256 scalar under OKP", `{"kty":"OKP","crv":"P-256","d":"` + ecD + `"}`},
		{"P-256 scalar without kty", `{"crv":"P-256","d":"` + ecD + `"}`},
		{"P-256 scalar under oct", `{"kty":"oct","crv":"P-256","d":"` + ecD + `"}`},
		{"P-256 scalar under a numeric kty", `{"kty":1,"crv":"P-256","d":"` + ecD + `"}`},
		{"P-256 scalar under RSA", `{"kty":"RSA","crv":"P-256","d":"` + ecD + `"}`},
		{"Ed25519 seed under EC", `{"kty":"EC","crv":"Ed25519","d":"` + edD + `"}`},
		{"Ed25519 seed without kty", `{"crv":"Ed25519","d":"` + edD + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := jwksDoc(t, ecJWK(t, "ec"), jwkJSON(t, edPub2, "ed", "EdDSA", nil), rsaJWK(t, 0, "rsa"), json.RawMessage(tc.entry))
			keys, skipped, err := parseJWKS(doc)
			if err != nil {
				t.Fatal(err)
			}
			served := map[string]bool{}
			for _, k := range keys {
				served[k.ID] = true
			}
			if len(keys) != 2 || !served["rsa"] {
				t.Fatalf("kept %v, want rsa and the key whose scalar is not published; skipped: %+v", served, skipped)
			}
		})
	}
}
