package dpop_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/grpcauth/grpcauth/dpop"
)

// BenchmarkVerify compares Verify on a fresh proof ("verify") with the one
// signature verification it cannot avoid ("signature": jwx's verifier on
// the proof's signing input and the raw public key), per algorithm, in one
// run: the ratio is what parsing the jwk, the claims checks, the thumbprint
// and the replay cache add to the floor.
//
//	go test -run '^$' -bench BenchmarkVerify -benchmem ./dpop
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		k := newKey(b, alg)
		v := newVerifier(b, dpop.Config{Algorithms: []string{alg}, ReplayCache: dpop.NewMemoryReplayCache(10_000_000, func() time.Time { return t0 })})
		b.Run(alg+"/signature", func(b *testing.B) {
			proof, err := k.Proof("POST", testURL, testToken)
			if err != nil {
				b.Fatal(err)
			}
			i := strings.LastIndexByte(proof, '.')
			sig, err := base64.RawURLEncoding.DecodeString(proof[i+1:])
			if err != nil {
				b.Fatal(err)
			}
			jv, err := jws.NewVerifier(jwa.SignatureAlgorithm(alg))
			if err != nil {
				b.Fatal(err)
			}
			pub := k.PublicKey()
			input := []byte(proof[:i])
			b.ReportAllocs()
			for b.Loop() {
				if err := jv.Verify(input, sig, pub); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/verify", func(b *testing.B) {
			proofs := make([]string, b.N)
			for i := range proofs {
				p, err := k.Proof("POST", testURL, testToken)
				if err != nil {
					b.Fatal(err)
				}
				proofs[i] = p
			}
			req := testReq
			req.KeyThumbprint = k.Thumbprint()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := v.Verify(b.Context(), proofs[i], req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
