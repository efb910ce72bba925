package connectauth_test

import (
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// TestConnect_DPoPRefusalCarriesTheChallenge checks that a DPoP refusal
// reaches a connect-go caller, in every protocol, with its reason, and in
// the Connect and gRPC-Web protocols with the WWW-Authenticate challenge
// that the grpc-go interceptors send as a trailer: the DPoP scheme without
// a proof. In the gRPC protocol connect-go sends an error's metadata as
// HTTP/2 trailers, and Go's net/http drops WWW-Authenticate there (RFC 9110
// forbids authentication fields in trailers); the reason still arrives.
func TestConnect_DPoPRefusalCarriesTheChallenge(t *testing.T) {
	f := newFixture(t)
	srv := serveTLS(t, connectMux(f))
	tok := f.token(t, "test:read", "test:write")
	for pname, opts := range protocols {
		t.Run(pname, func(t *testing.T) {
			req := connect.NewRequest(&authtestv1.AllOfRequest{})
			req.Header().Set("Authorization", "DPoP "+tok)
			_, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/AllOf", opts...).CallUnary(t.Context(), req)
			if got := connectOutcome(err); got != (outcome{codes.Unauthenticated, grpcauth.ReasonDPoPProofInvalid}) {
				t.Fatalf("got %v %q, want Unauthenticated %q", got.code, got.reason, grpcauth.ReasonDPoPProofInvalid)
			}
			if pname == "grpc" {
				return
			}
			var ce *connect.Error
			if !errors.As(err, &ce) {
				t.Fatalf("%v is not a connect error", err)
			}
			challenge := ce.Meta().Get("WWW-Authenticate")
			if !strings.HasPrefix(challenge, "DPoP ") || !strings.Contains(challenge, `error="invalid_dpop_proof"`) {
				t.Fatalf("WWW-Authenticate = %q, want a DPoP invalid_dpop_proof challenge", challenge)
			}
		})
	}
}
