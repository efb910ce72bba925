package grpcauth_test

import (
	"context"
	"log"
	"log/slog"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/grpcauth/grpcauth"
)

// Every decision is one slog record; LogLevels says at which level each
// kind is logged. Here allowed calls are raised from Debug to Info, so the
// Info handler shows them next to the denials. The token is never logged.
func ExampleLogLevels() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "latency" { // vary from run to run
				return slog.Attr{}
			}
			return a
		},
	}))
	auth, err := grpcauth.New(grpcauth.Config{
		Verifier:  rejectAll{}, // a *verifier.Verifier in real code
		Public:    []string{"/authtest.v1.TestService/Public"},
		Logger:    logger,
		LogLevels: grpcauth.LogLevels{Allowed: slog.LevelInfo},
	})
	if err != nil {
		log.Fatal(err)
	}
	unary := auth.UnaryServerInterceptor()
	handler := func(context.Context, any) (any, error) { return nil, nil }
	local := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv6loopback, Port: 1}})

	unary(local, nil, &grpc.UnaryServerInfo{FullMethod: "/authtest.v1.TestService/Public"}, handler)
	withToken := metadata.NewIncomingContext(local, metadata.Pairs("authorization", "Bearer not-a-jwt"))
	unary(withToken, nil, &grpc.UnaryServerInfo{FullMethod: "/authtest.v1.TestService/AllOf"}, handler)
	// Output:
	// level=INFO msg="grpcauth: call allowed" method=/authtest.v1.TestService/Public outcome=allowed code=OK reason=""
	// level=INFO msg="grpcauth: call denied" method=/authtest.v1.TestService/AllOf outcome=denied code=Unauthenticated reason=ACCESS_TOKEN_INVALID error="verifier: malformed token"
}
