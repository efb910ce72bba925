package dpop_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/internal/jwxpanic/jwxpanictest"
)

// FuzzVerify checks that no proof makes Verify panic, not even where
// Verify recovers a panic (of jwx's, or of its own checks) into an invalid
// proof: such a refusal fails the target, reported with the panic's stack
// (jwxpanictest.FailOnRecovered), and that no proof makes Verify return an error outside
// its sentinels, and that an accepted proof has a thumbprint and is
// refused as a replay the second time. The seeds under
// testdata/fuzz/FuzzVerify include valid ES256, EdDSA and Ed25519 proofs for
// testReq (bound to their keys: reqFor) at t0, one whose jwk carries an x5c
// of its key (and one an x5t#S256 of its certificate too), and one broken
// proof per check (an x5c of another key, an x5t#S256 of another
// certificate too, and a header x5t#S256 of the jwk's x5c's certificate
// and of another's).
//
//	go test -run '^$' -fuzz FuzzVerify ./dpop
func FuzzVerify(f *testing.F) {
	f.Fuzz(func(t *testing.T, proof string) {
		v := newVerifier(t, dpop.Config{})
		p, err := v.Verify(t.Context(), proof, reqFor(t, proof))
		if err != nil {
			jwxpanictest.FailOnRecovered(t, err)
			if !errors.Is(err, dpop.ErrInvalidProof) && !errors.Is(err, dpop.ErrUseNonce) {
				t.Fatalf("error %v wraps no expected sentinel", err)
			}
			return
		}
		if len(p.Thumbprint) != 43 || p.ID == "" {
			t.Fatalf("accepted proof with %+v", p)
		}
		if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); !errors.Is(err, dpop.ErrReplayed) {
			t.Fatalf("second Verify = %v, want ErrReplayed", err)
		}
	})
}

// The committed valid seeds are accepted, so the fuzzer starts from proofs
// that reach every check, and the header x5t#S256 ones are refused as key
// references, not for something else.
func TestFuzzVerifySeeds_ValidOnesAreAccepted(t *testing.T) {
	for _, name := range []string{"ES256-valid", "EdDSA-valid", "Ed25519-valid", "ES256-x5c-valid", "ES256-x5t-valid"} {
		proof := readSeed(t, name)
		if _, err := newVerifier(t, dpop.Config{}).Verify(t.Context(), proof, reqFor(t, proof)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"ES256-header-x5t-own-cert", "ES256-header-x5t-other-cert"} {
		proof := readSeed(t, name)
		if _, err := newVerifier(t, dpop.Config{}).Verify(t.Context(), proof, reqFor(t, proof)); !errors.Is(err, dpop.ErrKeyRef) {
			t.Errorf("%s: %v, want ErrKeyRef", name, err)
		}
	}
}

// readSeed returns the proof of the seed name of FuzzVerify.
func readSeed(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzVerify", name))
	if err != nil {
		t.Fatal(err)
	}
	_, quoted, _ := strings.Cut(strings.TrimSpace(string(b)), "string(")
	proof, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return proof
}
