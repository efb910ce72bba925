package connectauth_test

import (
	"context"
	"log"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// connect-go serves the gRPC protocol over HTTP/1.1 too (its trailers
// after the last chunk), and a gRPC caller gets the same trailers there as
// over HTTP/2: the refusal's code and ErrorInfo reason without the
// WWW-Authenticate challenge, and of what a handler sets with
// grpc.SetTrailer, the trailers RFC 9110 section 6.5.1 forbids
// (WWW-Authenticate, Cache-Control) left out and its own keys delivered.
// Over HTTP/1.1 net/http would write them (it checks only the names a
// Trailer header declares, and connect-go declares none, writing through
// http.TrailerPrefix); the interceptor leaves them out by protocol, not by
// HTTP version, and nothing is logged over either.
func TestConnect_GRPCOverHTTP1CarriesTheSameTrailersAsOverHTTP2(t *testing.T) {
	f := newFixture(t)
	const procedure = "/authtest.v1.TestService/ServerStream"
	h := connectauth.WrapHandler(connect.NewServerStreamHandler(procedure,
		func(ctx context.Context, _ *connect.Request[authtestv1.ServerStreamRequest], ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
			if err := grpc.SetTrailer(ctx, metadata.Pairs("www-authenticate", "Bearer", "cache-control", "no-store", "x-handler-trailer", "t")); err != nil {
				return err
			}
			return ss.Send(&authtestv1.ServerStreamResponse{})
		},
		connect.WithSchema(method("TestService", "ServerStream")),
		connect.WithInterceptors(connectauth.NewInterceptor(f.auth))))
	var errorLog syncBuffer
	h1, h2 := httptest.NewUnstartedServer(h), httptest.NewUnstartedServer(h)
	h2.EnableHTTP2 = true
	for _, srv := range []*httptest.Server{h1, h2} {
		srv.Config.ErrorLog = log.New(&errorLog, "", 0)
		t.Cleanup(srv.Close)
	}
	h1.Start()
	h2.StartTLS()
	for _, srv := range []*httptest.Server{h1, h2} {
		name := map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[srv.TLS != nil]
		client := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+procedure, protocols["grpc"]...)
		for _, tok := range []string{"", "Bearer " + f.token(t, "test:read", "test:stream")} {
			req := connect.NewRequest(&authtestv1.ServerStreamRequest{})
			setAuth(req.Header(), tok)
			stream, err := client.CallServerStream(t.Context(), req)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for stream.Receive() {
			}
			want := outcome{code: codes.OK}
			if tok == "" {
				want = outcome{codes.Unauthenticated, grpcauth.ReasonCredentialsMissing}
			}
			if got := connectOutcome(stream.Err()); got != want {
				t.Errorf("%s: got %v %q, want %v %q", name, got.code, got.reason, want.code, want.reason)
			}
			if saw := sawKeys(stream.Err(), stream.ResponseHeader(), stream.ResponseTrailer(), "Www-Authenticate", "Cache-Control"); len(saw) > 0 {
				t.Errorf("%s (token %v): the caller got %q, which RFC 9110 forbids in trailers", name, tok != "", saw)
			}
			if tok != "" && stream.ResponseTrailer().Get("X-Handler-Trailer") != "t" {
				t.Errorf("%s: trailers %v, want the handler's X-Handler-Trailer", name, stream.ResponseTrailer())
			}
			stream.Close()
		}
	}
	if s := errorLog.String(); s != "" {
		t.Errorf("the server logged %q", s)
	}
}
