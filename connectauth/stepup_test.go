package connectauth_test

import (
	"errors"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// TestConnect_StepUpRefusalCarriesTheChallenge checks that a step-up
// refusal reaches Connect and gRPC-Web callers with RFC 9470's
// WWW-Authenticate challenge, in the scheme the call used: Bearer, or DPoP
// with the accepted algs. (In the gRPC protocol it would travel as an
// HTTP/2 trailer, which Go's net/http drops, so it is left out; see
// TestConnect_GRPCRefusalWritesNothingToTheServerLog.)
func TestConnect_StepUpRefusalCarriesTheChallenge(t *testing.T) {
	const procedure = "/authtest.v1.TestService/AllOf"
	f := configFixture(t, grpcauth.Config{Rules: map[string]*grpcauthv1.Rule{
		procedure: {Scopes: []string{"test:read"}, AcrValues: []string{"urn:example:mfa"}, MaxAgeSeconds: 300},
	}})
	srv := serveTLS(t, connectMux(f))
	key, err := grpcauthtest.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	bound, err := f.iss.Mint(map[string]any{"sub": "alice"}, grpcauthtest.WithScopes("test:read"), grpcauthtest.WithDPoPKey(key.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	const params = `error="insufficient_user_authentication", error_description="this method requires a stronger or more recent sign-in", acr_values="urn:example:mfa", max_age="300"`
	for _, pname := range []string{"connect", "grpcweb"} {
		for _, tc := range []struct {
			scheme string
			want   string
		}{
			{"Bearer", "Bearer " + params},
			{"DPoP", "DPoP " + params + `, algs="ES256 EdDSA Ed25519"`},
		} {
			t.Run(pname+"/"+tc.scheme, func(t *testing.T) {
				req := connect.NewRequest(&authtestv1.AllOfRequest{})
				if tc.scheme == "Bearer" {
					req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read"))
				} else {
					p, err := key.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: srv.URL + procedure, AccessToken: bound})
					if err != nil {
						t.Fatal(err)
					}
					req.Header().Set("Authorization", "DPoP "+bound)
					req.Header().Set("DPoP", p)
				}
				_, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+procedure, protocols[pname]...).CallUnary(t.Context(), req)
				if got := connectOutcome(err); got != (outcome{codes.Unauthenticated, grpcauth.ReasonInsufficientUserAuthentication}) {
					t.Fatalf("got %v %q (%v), want Unauthenticated %q", got.code, got.reason, err, grpcauth.ReasonInsufficientUserAuthentication)
				}
				var ce *connect.Error
				if !errors.As(err, &ce) {
					t.Fatalf("%v is not a connect error", err)
				}
				if got := ce.Meta().Values("WWW-Authenticate"); len(got) != 1 || got[0] != tc.want {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tc.want)
				}
			})
		}
	}
}
