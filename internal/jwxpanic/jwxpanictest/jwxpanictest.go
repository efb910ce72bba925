package jwxpanictest

import (
	"crypto"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/grpcauth/grpcauth/internal/jwxpanic"
)

// oversizedEC is an EC public key whose x is one byte longer than its
// curve's coordinates: jwx parses it without validating it, and its
// Thumbprint panics (math/big: buffer too small to fit value).
const oversizedEC = `{"kty":"EC","crv":"P-256","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAA"}`

// Panic makes jwx panic, with "math/big: buffer too small to fit value":
// it takes the thumbprint of a key whose coordinate does not fit its
// curve, a jwx bug (v2.1.7). It never returns.
func Panic() {
	k, err := jwk.ParseKey([]byte(oversizedEC))
	if err != nil {
		panic("jwxpanictest: jwx refused the key it panics on: " + err.Error())
	}
	_, _ = k.Thumbprint(crypto.SHA256)
	panic("jwxpanictest: jwx no longer panics on a key whose coordinate does not fit its curve: find another of its panics")
}

// Text is the text of the panic Panic raises in jwx.
const Text = "math/big: buffer too small to fit value"

// FailOnRecovered fails t when err wraps a recovered panic
// (jwxpanic.Find), with the panic's stack: the fuzz targets call it on
// each refusal, so that the panics recovered in production, which refuse
// the input quietly, are still found.
func FailOnRecovered(t testing.TB, err error) {
	t.Helper()
	if e, ok := jwxpanic.Find(err); ok {
		t.Fatalf("a panic was recovered: %v\n%s", err, e.Stack)
	}
}
