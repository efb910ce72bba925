package grpcauth

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/internal/jwxpanic/jwxpanictest"
	"github.com/grpcauth/grpcauth/verifier"
)

// fuzzJKT is the thumbprint of the key that signed the valid proof among
// the seeds of FuzzDPoPCall (testdata/fuzz/FuzzDPoPCall/valid: token "tok",
// htu http://grpcauth.test/authtest.v1.TestService/Inherited, iat t0).
const fuzzJKT = "d5Gzy_-lB4x8stk-FxNlUgvmlFsJDq5OPy264idvx4E"

// FuzzDPoPCall sends any authorization and dpop values through the unary
// interceptor, with a verifier that accepts every token as bound to the
// seed key. It checks that nothing panics, not even where a panic is
// recovered into a refusal (of jwx's, checking a proof: the Decision's
// cause then wraps it, and jwxpanictest.FailOnRecovered fails the target
// with its stack, as in dpop's FuzzVerify), that every refusal is
// Unauthenticated with a known reason and, when the call used the DPoP
// scheme (also without a token), one challenge, in that scheme, and that a
// call is only allowed with the DPoP scheme and only once per proof.
//
//	go test -run '^$' -fuzz FuzzDPoPCall .
func FuzzDPoPCall(f *testing.F) {
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scp": []string{"test:read"}, "cnf": map[string]any{"jkt": fuzzJKT}})
	if err != nil {
		f.Fatal(err)
	}
	reasons := []string{ReasonCredentialsMissing, ReasonTokenInvalid, ReasonTokenTypeUnsupported, ReasonDPoPProofInvalid, ReasonDPoPReplayed, ReasonDPoPBindingMismatch}
	f.Add("DPoP", "x")
	f.Add("dpop   ", "x")
	f.Fuzz(func(t *testing.T, authorization, proof string) {
		var cause error // the last Decision's; OnDecision runs on the call's goroutine, this one
		a := mustNew(t, Config{Verifier: staticVerifier{claims: claims}, Now: func() time.Time { return t0 },
			OnDecision: func(_ context.Context, d Decision) { cause = d.Err }})
		ts := &trailerStream{}
		ctx := metadata.NewIncomingContext(grpc.NewContextWithServerTransportStream(loopbackPeer(context.Background()), ts),
			metadata.Pairs("authorization", authorization, MetadataDPoP, proof, ":authority", "grpcauth.test"))
		_, err := callUnary(a, ctx, mInherited)
		jwxpanictest.FailOnRecovered(t, cause)
		if err != nil {
			if _, isDPoP, _, _ := accessToken(ctx); isDPoP {
				if ch := ts.challenges(); len(ch) != 1 || !strings.HasPrefix(ch[0], "DPoP ") {
					t.Fatalf("%q refused (%v) with the challenges %q, want one in the DPoP scheme", authorization, err, ch)
				}
			}
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("%v: code %v", err, status.Code(err))
			}
			if r := errorInfo(err).GetReason(); !slices.Contains(reasons, r) {
				t.Fatalf("%v: reason %q", err, r)
			}
			return
		}
		if tok, isDPoP, _, _ := accessToken(ctx); !isDPoP || tok == "" {
			t.Fatalf("allowed %q without the DPoP scheme", authorization)
		}
		_, err = callUnary(a, ctx, mInherited)
		checkStatus(t, err, codes.Unauthenticated, ReasonDPoPReplayed)
	})
}
