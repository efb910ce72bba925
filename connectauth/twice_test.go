package connectauth_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// An Authenticator's Interceptor installed twice on a handler (say once
// directly and once in a shared bundle of options) decides each call once:
// one Decision, and a DPoP proof is not refused as replayed by the second.
func TestConnect_InterceptorInstalledTwiceDecidesEachCallOnce(t *testing.T) {
	var decisions atomic.Int32
	f := configFixture(t, grpcauth.Config{OnDecision: func(context.Context, grpcauth.Decision) { decisions.Add(1) }})
	key, err := grpcauthtest.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.iss.Mint(map[string]any{"sub": "alice"}, grpcauthtest.WithScopes("test:read", "test:write", "test:stream"), grpcauthtest.WithDPoPKey(key.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	const allOf, stream = "/authtest.v1.TestService/AllOf", "/authtest.v1.TestService/ServerStream"
	opts := func(name string) []connect.HandlerOption {
		return []connect.HandlerOption{connect.WithSchema(method("TestService", name)),
			connect.WithInterceptors(connectauth.NewInterceptor(f.auth)),
			connect.WithHandlerOptions(connect.WithInterceptors(connectauth.NewInterceptor(f.auth)))}
	}
	mux := http.NewServeMux()
	mux.Handle(allOf, connect.NewUnaryHandler(allOf,
		func(ctx context.Context, _ *connect.Request[authtestv1.AllOfRequest]) (*connect.Response[authtestv1.AllOfResponse], error) {
			return connect.NewResponse(&authtestv1.AllOfResponse{Caller: caller(ctx)}), nil
		}, opts("AllOf")...))
	mux.Handle(stream, connect.NewServerStreamHandler(stream,
		func(ctx context.Context, _ *connect.Request[authtestv1.ServerStreamRequest], ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
			return ss.Send(&authtestv1.ServerStreamResponse{Caller: caller(ctx)})
		}, opts("ServerStream")...))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	authorize := func(h http.Header, procedure string) {
		p, err := key.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: srv.URL + procedure, AccessToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		h.Set("Authorization", "DPoP "+tok)
		h.Set("DPoP", p)
	}

	req := connect.NewRequest(&authtestv1.AllOfRequest{})
	authorize(req.Header(), allOf)
	res, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+allOf).CallUnary(t.Context(), req)
	if err != nil || res.Msg.GetCaller().GetSubject() != "alice" {
		t.Fatalf("unary DPoP call: %v, %v; want alice's claims", res, err)
	}

	sreq := connect.NewRequest(&authtestv1.ServerStreamRequest{})
	authorize(sreq.Header(), stream)
	s, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+stream).CallServerStream(t.Context(), sreq)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Receive() || s.Msg().GetCaller().GetSubject() != "alice" {
		t.Fatalf("stream: %v; want a message with alice's claims", s.Err())
	}
	for s.Receive() {
	}
	if err := s.Err(); err != nil {
		t.Fatalf("DPoP stream: %v", err)
	}
	s.Close()

	_, err = connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+allOf).CallUnary(t.Context(), connect.NewRequest(&authtestv1.AllOfRequest{}))
	if got := connectOutcome(err); got != (outcome{codes.Unauthenticated, grpcauth.ReasonCredentialsMissing}) {
		t.Fatalf("call without a token: %v %q, want Unauthenticated %q", got.code, got.reason, grpcauth.ReasonCredentialsMissing)
	}
	if n := decisions.Load(); n != 3 {
		t.Errorf("%d decisions for 3 calls, want 3", n)
	}
}
