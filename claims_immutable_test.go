package grpcauth

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// enrichingService is the test service whose Inherited handler (rule
// "test:read") tries to give its caller more rights: it replaces its claims
// with an admin token's, in a variable and in the context, and writes into
// the scopes it was handed.
type enrichingService struct {
	*testService
	admin verifier.Claims
	ran   chan []string // the scopes each Inherited call saw
}

func (s *enrichingService) Inherited(ctx context.Context, _ *authtestv1.InheritedRequest) (*authtestv1.InheritedResponse, error) {
	c, _ := ClaimsFromContext(ctx)
	seen := c.Scopes()
	if len(seen) > 0 {
		seen[0] = "test:admin"
	}
	c = s.admin
	ctx = ContextWithClaims(ctx, c)
	got, _ := ClaimsFromContext(ctx)
	s.ran <- got.Scopes()
	return &authtestv1.InheritedResponse{Caller: caller(ctx)}, nil
}

// TestClaims_HandlerAndHookCannotChangeTheCachedVerification is the
// regression test of issue #10, defect 2: over a real gRPC server, a
// handler and an OnDecision hook that "enrich" a read-only caller's claims
// with an admin token's do not change what the verifier (and its cache)
// decides for that caller's next call: an admin method is still
// PermissionDenied.
func TestClaims_HandlerAndHookCannotChangeTheCachedVerification(t *testing.T) {
	var admin verifier.Claims
	var hookMu sync.Mutex
	hook := func(_ context.Context, d Decision) {
		hookMu.Lock()
		defer hookMu.Unlock()
		if s := d.Claims.Scopes(); len(s) > 0 {
			s[0] = "test:admin"
		}
		d.Claims = admin
	}
	e := newEnv(t, func(c *Config, _ *verifier.Config) { c.OnDecision = hook })
	ctx := context.Background()
	var err error
	hookMu.Lock()
	admin, err = e.v.VerifyAccessToken(ctx, e.scoped(t, "test:read", "test:admin"))
	hookMu.Unlock()
	if err != nil || !admin.HasScope("test:admin") {
		t.Fatalf("admin token: %v", err)
	}

	svc := &enrichingService{testService: e.svc, admin: admin, ran: make(chan []string, 1)}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(e.auth.UnaryServerInterceptor()))
	authtestv1.RegisterTestServiceServer(srv, svc)
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(lis) })
	t.Cleanup(func() { srv.Stop(); wg.Wait() })
	client := authtestv1.NewTestServiceClient(dial(t, lis.Addr().String(), insecure.NewCredentials()))

	reader := e.scoped(t, "test:read")
	rctx := withAuth(ctx, bearer(reader))
	_, err = client.AnyOf(rctx, &authtestv1.AnyOfRequest{})
	checkStatus(t, err, codes.PermissionDenied, "ACCESS_TOKEN_SCOPE_INSUFFICIENT")
	if _, err := client.Inherited(rctx, &authtestv1.InheritedRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := await(t, svc.ran, "the Inherited handler's run"); !slices.Contains(got, "test:admin") {
		t.Fatalf("the handler's enrichment did not take inside the handler (scopes %q): the test proves nothing", got)
	}
	for range 3 { // the token is now cached: every call is a cache hit
		_, err := client.AnyOf(rctx, &authtestv1.AnyOfRequest{})
		checkStatus(t, err, codes.PermissionDenied, "ACCESS_TOKEN_SCOPE_INSUFFICIENT")
	}
	c, err := e.v.VerifyAccessToken(ctx, reader)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Scopes(), []string{"test:read"}) || c.HasScope("test:admin") {
		t.Fatalf("the verifier now returns scopes %q for the read-only token", c.Scopes())
	}
}
