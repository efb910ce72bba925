package dpop_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/internal/benchcpu"
)

// BenchmarkVerify compares Verify on a fresh proof ("verify") with the one
// signature verification it cannot avoid ("signature": jwx's verifier on
// the proof's signing input and the raw public key), per algorithm, in one
// run: the ratio is what parsing the jwk, the claims checks, the thumbprint
// and the replay cache add to the floor.
//
//	go test -run '^$' -bench 'BenchmarkVerify$' -benchmem ./dpop
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
			defer benchcpu.Report(b)()
			for i := range b.N {
				if _, err := v.Verify(b.Context(), proofs[i], req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify_ProofSize times Verify on fresh ES256 proofs of 1, 4, 8
// and 16 KiB (DefaultMaxProofSize), in one run, so that what a proof's
// size costs is read as ratios against the 1 KiB proof. The key (a P-256
// one) and the checks are the same at every size; what grows is the
// jwk's x5c, a private PKI's chain as Nimbus's DefaultDPoPProofFactory
// sends it (realisticCert: the leaf of the proof's key, issued by an
// RSA-4096 intermediate, and that intermediate's RSA-4096 root), and a
// header member filling the proof to its exact size: 1 KiB has no x5c,
// 4 KiB the leaf, 8 KiB leaf and intermediate, 16 KiB all three. Only the
// leaf is decoded and parsed (checkX5C); the rest is base64url decoding,
// encoding/json, jwx's parse of the jwk and the signing input's hash.
// Besides wall time it reports cpu-ns/op (benchcpu), the steadier figure
// on a shared machine.
//
//	go test -run '^$' -bench 'BenchmarkVerify_ProofSize' -benchmem ./dpop
func BenchmarkVerify_ProofSize(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	caKey, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		b.Fatal(err)
	}
	rootDER, root := realisticCert(b, caKey.Public(), nil, caKey, true)
	caDER, ca := realisticCert(b, caKey.Public(), root, caKey, true)
	leafDER, _ := realisticCert(b, key.Public(), ca, caKey, false)
	req := testReq
	req.KeyThumbprint = thumbprintOf(b, key.Public())
	for _, tc := range []struct {
		name  string
		size  int
		chain [][]byte
	}{
		{"1KiB", 1 << 10, nil},
		{"4KiB", 4 << 10, [][]byte{leafDER}},
		{"8KiB", 8 << 10, [][]byte{leafDER, caDER}},
		{"16KiB", dpop.DefaultMaxProofSize, [][]byte{leafDER, caDER, rootDER}},
	} {
		jwkMap := publicJWK(b, key)
		if tc.chain != nil {
			jwkMap["x5c"] = b64Certs(tc.chain...)
		}
		b.Run(tc.name, func(b *testing.B) {
			v := newVerifier(b, dpop.Config{ReplayCache: dpop.NewMemoryReplayCache(10_000_000, func() time.Time { return t0 })})
			proofs := make([]string, b.N)
			for i := range proofs {
				proofs[i] = paddedProof(b, "ES256", key, jwkMap, fmt.Sprint("size-", i, "-"), tc.size)
			}
			b.ReportAllocs()
			b.ResetTimer()
			defer benchcpu.Report(b)()
			for i := range b.N {
				if _, err := v.Verify(b.Context(), proofs[i], req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
