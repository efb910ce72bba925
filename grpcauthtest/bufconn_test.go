package grpcauthtest_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// readService is a handler under test: it answers Inherited (which needs
// test:read) with the caller's subject.
type readService struct {
	authtestv1.UnimplementedTestServiceServer
}

func (readService) Inherited(ctx context.Context, _ *authtestv1.InheritedRequest) (*authtestv1.InheritedResponse, error) {
	c, _ := grpcauth.ClaimsFromContext(ctx)
	return &authtestv1.InheritedResponse{Caller: &authtestv1.Caller{Authenticated: true, Subject: c.Subject()}}, nil
}

// TestBufconn_HandlerBehindDefaultInterceptors is the test docs/testing.md
// shows: a handler behind the real interceptors, on bufconn, with
// grpcauth's default Config (no TransportSecurity option) and tokens from
// an in-process issuer.
func TestBufconn_HandlerBehindDefaultInterceptors(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	auth, err := grpcauth.New(grpcauth.Config{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}

	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.UnaryInterceptor(auth.UnaryServerInterceptor()), grpc.StreamInterceptor(auth.StreamServerInterceptor()))
	authtestv1.RegisterTestServiceServer(srv, readService{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := authtestv1.NewTestServiceClient(conn)

	call := func(scopes ...string) (*authtestv1.InheritedResponse, error) {
		tok, err := iss.Token("svc", scopes...)
		if err != nil {
			t.Fatal(err)
		}
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
		return client.Inherited(ctx, &authtestv1.InheritedRequest{})
	}
	got, err := call("test:read")
	if err != nil {
		t.Fatalf("call with test:read over bufconn: %v", err)
	}
	if got.GetCaller().GetSubject() != "svc" {
		t.Errorf("handler saw subject %q, want svc", got.GetCaller().GetSubject())
	}
	if _, err := call("other"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("call without test:read: %v, want PermissionDenied", err)
	}
}
