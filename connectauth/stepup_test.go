package connectauth_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
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

// A stream on a method whose rule sets max_age_seconds is cut once its
// sign-in is older than that, in every protocol, as behind grpc-go: the
// caller gets the rule's own refusal (Unauthenticated,
// INSUFFICIENT_USER_AUTHENTICATION) with its challenge, after the stream
// was admitted, and the handler's Send, if the handler got to run, fails.
// The sign-in is exactly max_age_seconds old as the stream opens, on a
// clock that stands still (Config.Now), so the cut is due a nanosecond
// later, on a real timer that ends its wait at once.
func TestConnect_StreamIsCutOnceTheSignInIsOlderThanMaxAge(t *testing.T) {
	const procedure = "/authtest.v1.TestService/ServerStream"
	now := time.Now().Truncate(time.Second)
	decisions := make(chan grpcauth.Decision, 8)
	f := configFixture(t, grpcauth.Config{
		Now:        func() time.Time { return now },
		Rules:      map[string]*grpcauthv1.Rule{procedure: {Scopes: []string{"test:stream"}, MaxAgeSeconds: 300}},
		OnDecision: func(_ context.Context, d grpcauth.Decision) { decisions <- d },
	})
	sendAfterCut := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle(procedure, connect.NewServerStreamHandler(procedure,
		func(ctx context.Context, _ *connect.Request[authtestv1.ServerStreamRequest], ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
			<-ctx.Done()
			sendAfterCut <- ss.Send(&authtestv1.ServerStreamResponse{})
			return nil // a handler that takes the cut for a normal end
		}, connect.WithSchema(method("TestService", "ServerStream")), connect.WithInterceptors(connectauth.NewInterceptor(f.auth))))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	const challenge = `Bearer error="insufficient_user_authentication", error_description="this method requires a stronger or more recent sign-in", max_age="300"`
	for pname, opts := range protocols {
		t.Run(pname, func(t *testing.T) {
			tok, err := f.iss.Mint(map[string]any{"sub": "alice"}, grpcauthtest.WithScopes("test:stream"), grpcauthtest.WithAuthTime(now.Add(-300*time.Second)))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a stream never cut fails rather than hangs
			defer cancel()
			req := connect.NewRequest(&authtestv1.ServerStreamRequest{})
			req.Header().Set("Authorization", "Bearer "+tok)
			stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+procedure, opts...).CallServerStream(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			if stream.Receive() {
				t.Fatal("a message after the cut")
			}
			if got := connectOutcome(stream.Err()); got != (outcome{codes.Unauthenticated, grpcauth.ReasonInsufficientUserAuthentication}) {
				t.Fatalf("caller got %v %q (%v), want Unauthenticated %s", got.code, got.reason, stream.Err(), grpcauth.ReasonInsufficientUserAuthentication)
			}
			// The handler has returned by now, if it ran: connect-go reads
			// a server stream's request before it calls the handler, and
			// when the cut comes first that read fails with it.
			select {
			case err := <-sendAfterCut:
				if connect.CodeOf(err) != connect.CodeUnauthenticated {
					t.Errorf("the handler's Send after the cut: %v, want the cut (unauthenticated)", err)
				}
			default:
			}
			if start, cut := <-decisions, <-decisions; !start.Allowed || cut.Allowed || cut.Reason != grpcauth.ReasonInsufficientUserAuthentication {
				t.Errorf("decisions %+v, %+v; want the allowed start, then the cut", start, cut)
			}
			var want []string
			if pname != "grpc" { // net/http drops WWW-Authenticate from HTTP/2 trailers
				want = []string{challenge}
			}
			if got := stream.ResponseTrailer().Values("WWW-Authenticate"); !slices.Equal(got, want) {
				t.Errorf("trailer WWW-Authenticate = %q, want %q (header %q)", got, want, stream.ResponseHeader().Values("WWW-Authenticate"))
			}
		})
	}
}
