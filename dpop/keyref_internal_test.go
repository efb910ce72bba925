package dpop

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// failingVerifier is a jws.Verifier that fails the test if it is asked to
// check a signature.
type failingVerifier struct{ t *testing.T }

func (f failingVerifier) Verify([]byte, []byte, any) error {
	f.t.Error("the signature was checked")
	return errors.New("checked")
}

// A proof with a junk x5c header member is refused (errKeyRef) before any
// work on it: jwx never parses its jwk, nor checks its signature, and
// x5c is read by nothing (its value is never decoded).
func TestVerify_JunkX5CIsRefusedBeforeTheJWKAndSignatureAreChecked(t *testing.T) {
	v, proof, req := signedProof(t)
	orig := parseJWK
	parseJWK = func(b []byte, opts ...jwk.ParseOption) (jwk.Key, error) {
		t.Error("the jwk was parsed")
		return orig(b, opts...)
	}
	t.Cleanup(func() { parseJWK = orig })
	v.verifiers["ES256"] = failingVerifier{t}
	hdr, rest, _ := strings.Cut(proof, ".")
	hdrJSON, err := b64.DecodeString(hdr)
	if err != nil {
		t.Fatal(err)
	}
	for _, x5c := range []string{`["!!junk"]`, `"junk"`, `[{"a":1}]`, `null`, `[` + strings.Repeat(`"MIIB",`, 200) + `"MIIB"]`} {
		withX5C := strings.TrimSuffix(string(hdrJSON), "}") + `,"x5c":` + x5c + `}`
		junk := base64.RawURLEncoding.EncodeToString([]byte(withX5C)) + "." + rest
		if _, err := v.Verify(t.Context(), junk, req); err != errKeyRef {
			t.Errorf("x5c %.40s: Verify = %v, want errKeyRef", x5c, err)
		}
	}
}
