package introspect_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/introspect"
)

// lifetimeEnv is the test issuer's introspection endpoint, an introspect
// Verifier with the default cache, and a gRPC server behind grpcauth, all
// on one injected clock.
type lifetimeEnv struct {
	clk    *clock
	iss    *grpcauthtest.Issuer
	v      *introspect.Verifier
	client authtestv1.TestServiceClient
}

func newLifetimeEnv(t *testing.T) *lifetimeEnv {
	t.Helper()
	e := &lifetimeEnv{clk: newClock()}
	quiet := slog.New(slog.DiscardHandler)
	e.iss = grpcauthtest.NewIssuer(t, grpcauthtest.Config{Now: e.clk.Now, Clients: []grpcauthtest.Client{rsClient}})
	e.v = newVerifier(t, introspect.Config{Endpoint: e.iss.IntrospectionURL(), Issuer: e.iss.URL(),
		ClientID: rsClient.ID, ClientSecret: rsClient.Secret, Audiences: []string{e.iss.Audience()}, Now: e.clk.Now, Logger: quiet})
	auth, err := grpcauth.New(grpcauth.Config{Verifier: e.v, Now: e.clk.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	e.client = serveAuthtest(t, auth)
	return e
}

// call makes one unary call with token and returns its status.
func (e *lifetimeEnv) call(token string) error {
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
	_, err := e.client.AllOf(ctx, &authtestv1.AllOfRequest{})
	return err
}

func (e *lifetimeEnv) mint(t *testing.T, claims map[string]any) string {
	t.Helper()
	claims["scope"] = "test:read test:write"
	tok, err := e.iss.MintOpaqueClaims(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestEndToEnd_RevokedTokenWorksForOneCacheTTL measures how long a token
// revoked at the authorization server keeps working under the default
// cache: it is revoked right after it was introspected (the worst case),
// then used once a second of the injected clock until refused. The figure
// is DefaultCacheTTL, 60 s, as docs/introspection.md states.
func TestEndToEnd_RevokedTokenWorksForOneCacheTTL(t *testing.T) {
	e := newLifetimeEnv(t)
	tok := e.mint(t, map[string]any{"exp": e.clk.Now().Add(time.Hour)})
	if err := e.call(tok); err != nil {
		t.Fatal(err)
	}
	e.iss.Revoke(tok)
	start := e.clk.Now()
	var err error
	for err == nil && e.clk.Now().Sub(start) < time.Hour {
		e.clk.Advance(time.Second)
		err = e.call(tok)
	}
	window := e.clk.Now().Sub(start)
	t.Logf("a revoked token kept working for %v under the default cache", window)
	checkStatus(t, err, codes.Unauthenticated, grpcauth.ReasonTokenInvalid)
	if window != introspect.DefaultCacheTTL {
		t.Fatalf("revocation showed after %v, want DefaultCacheTTL (%v)", window, introspect.DefaultCacheTTL)
	}
	if got := e.iss.IntrospectionRequests(); got != 2 {
		t.Fatalf("%d introspection requests, want 2 (one per TTL)", got)
	}
}

// TestEndToEnd_ExpiredOpaqueTokenIsAccessTokenExpired: a token known to
// have expired gets ACCESS_TOKEN_EXPIRED, as an expired JWT does, so that a
// client that refreshes on that reason refreshes it. Here it is
// introspected at 0 and at 60s (the TTL), used from the cache until 120s,
// past its exp (90s) but within ClockSkew, and at 120s the server calls it
// inactive, after the exp it gave. A replica that never saw the token has
// only the server's bare "active": false: ACCESS_TOKEN_INVALID.
func TestEndToEnd_ExpiredOpaqueTokenIsAccessTokenExpired(t *testing.T) {
	e := newLifetimeEnv(t)
	tok := e.mint(t, map[string]any{"exp": e.clk.Now().Add(90 * time.Second)})
	for i, d := range []time.Duration{60 * time.Second, 59 * time.Second, time.Second} {
		if err := e.call(tok); err != nil {
			t.Fatalf("before step %d: %v", i, err)
		}
		e.clk.Advance(d)
	}
	for range 2 {
		checkStatus(t, e.call(tok), codes.Unauthenticated, grpcauth.ReasonTokenExpired)
	}
	if got := e.iss.IntrospectionRequests(); got != 3 {
		t.Fatalf("%d introspection requests, want 3", got)
	}

	other := newLifetimeEnv(t)
	tok = other.mint(t, map[string]any{"exp": other.clk.Now().Add(time.Minute)})
	other.clk.Advance(time.Minute)
	checkStatus(t, other.call(tok), codes.Unauthenticated, grpcauth.ReasonTokenInvalid)
}
