package introspect_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// callerService answers AllOf with the claims its context carried.
type callerService struct {
	authtestv1.UnimplementedTestServiceServer
}

func (callerService) AllOf(ctx context.Context, _ *authtestv1.AllOfRequest) (*authtestv1.AllOfResponse, error) {
	c, ok := grpcauth.ClaimsFromContext(ctx)
	if !ok {
		return &authtestv1.AllOfResponse{Caller: &authtestv1.Caller{}}, nil
	}
	return &authtestv1.AllOfResponse{Caller: &authtestv1.Caller{Authenticated: true, Subject: c.Subject(),
		ClientId: c.ClientID(), Scopes: c.Scopes()}}, nil
}

// serveAuthtest serves the test service behind auth on a loopback port and
// returns a client; both are stopped by t.Cleanup.
func serveAuthtest(t *testing.T, auth *grpcauth.Authenticator) authtestv1.TestServiceClient {
	t.Helper()
	client, _ := serveAuthtestAt(t, auth)
	return client
}

// serveAuthtestAt is serveAuthtest, and also returns the server's address
// (the :authority its client sends).
func serveAuthtestAt(t *testing.T, auth *grpcauth.Authenticator) (authtestv1.TestServiceClient, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()))
	authtestv1.RegisterTestServiceServer(srv, callerService{})
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(lis) })
	t.Cleanup(func() {
		srv.Stop()
		wg.Wait()
	})
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authtestv1.NewTestServiceClient(conn), lis.Addr().String()
}

// TestEndToEnd_CombinedVerifierBehindTheInterceptor runs JWTs and opaque
// tokens through grpcauth's interceptor with a Combined verifier. The
// authorization server's clock runs two hours behind the service's, so
// that a token it still calls active can be past its exp for the service.
func TestEndToEnd_CombinedVerifierBehindTheInterceptor(t *testing.T) {
	clk := newClock()
	orgClk := newClock()
	orgClk.Advance(-2 * time.Hour)
	custom := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Now: clk.Now})
	org := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/", Audience: "https://org.example", Now: orgClk.Now,
		Clients: []grpcauthtest.Client{rsClient}})
	quiet := slog.New(slog.DiscardHandler)
	jwt, err := verifier.New(context.Background(), verifier.Config{Issuer: custom.URL(), Audiences: []string{custom.Audience()},
		Now: clk.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer jwt.Close()
	opaque := newVerifier(t, introspect.Config{Endpoint: org.IntrospectionURL(), Issuer: org.URL(),
		ClientID: rsClient.ID, ClientSecret: rsClient.Secret, Audiences: []string{org.Audience()}, Now: clk.Now, Logger: quiet})
	combined, err := introspect.Combine(jwt, opaque)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := grpcauth.New(grpcauth.Config{Verifier: combined, Now: clk.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	client := serveAuthtest(t, auth)

	validUntil := clk.Now().Add(time.Hour) // by the service's clock
	mustT := func(tok string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	atk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	revoked := mustT(org.MintOpaqueClaims(map[string]any{"exp": validUntil, "scope": "test:read test:write"}))
	org.Revoke(revoked)

	tests := []struct {
		name       string
		token      string
		code       codes.Code
		reason     string
		client     string // with codes.OK: the client id the handler saw
		introspect int64
	}{
		{name: "opaque token with the scopes", token: mustT(org.MintOpaqueClaims(map[string]any{"exp": validUntil,
			"client_id": "svc", "scope": "test:read test:write"})), code: codes.OK, client: "svc", introspect: 1},
		{name: "JWT with the scopes", token: mustT(custom.Token("jwt-svc", "test:read", "test:write")), code: codes.OK, client: "jwt-svc"},
		{name: "opaque token lacking a scope", token: mustT(org.MintOpaqueClaims(map[string]any{"exp": validUntil, "scope": "test:read"})),
			code: codes.PermissionDenied, reason: grpcauth.ReasonScopeInsufficient, introspect: 1},
		{name: "revoked opaque token", token: revoked, code: codes.Unauthenticated, reason: grpcauth.ReasonTokenInvalid, introspect: 1},
		{name: "opaque token past its exp", token: mustT(org.MintOpaque("svc", "test:read", "test:write")),
			code: codes.Unauthenticated, reason: grpcauth.ReasonTokenExpired, introspect: 1},
		{name: "forged JWT", token: mustT(custom.Mint(nil, grpcauthtest.WithSigningKey(atk, "RS256"))),
			code: codes.Unauthenticated, reason: grpcauth.ReasonTokenInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := org.IntrospectionRequests()
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tc.token)
			resp, err := client.AllOf(ctx, &authtestv1.AllOfRequest{})
			checkStatus(t, err, tc.code, tc.reason)
			if tc.code == codes.OK && (resp.GetCaller().GetClientId() != tc.client || !resp.GetCaller().GetAuthenticated()) {
				t.Fatalf("handler saw %v", resp.GetCaller())
			}
			if got := org.IntrospectionRequests() - before; got != tc.introspect {
				t.Fatalf("%d introspection requests, want %d", got, tc.introspect)
			}
		})
	}

	t.Run("introspection endpoint down", func(t *testing.T) {
		fresh := mustT(org.MintOpaqueClaims(map[string]any{"exp": validUntil, "scope": "test:read test:write"}))
		org.Close()
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+fresh)
		_, err := client.AllOf(ctx, &authtestv1.AllOfRequest{})
		checkStatus(t, err, codes.Unavailable, grpcauth.ReasonKeysUnavailable)
		// JWTs keep working.
		ctx = metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+mustT(custom.Token("svc", "test:read", "test:write")))
		_, err = client.AllOf(ctx, &authtestv1.AllOfRequest{})
		checkStatus(t, err, codes.OK, "")
	})
}

// TestEndToEnd_DPoPBoundOpaqueToken runs an opaque token that the
// authorization server introspects as DPoP-bound (token_type DPoP, cnf.jkt)
// through grpcauth's interceptor: with "DPoP" in Config.TokenTypes, the
// introspected cnf.jkt binds the token, and the interceptor requires the
// DPoP scheme and a proof signed by that key, as it does for a DPoP-bound
// JWT.
func TestEndToEnd_DPoPBoundOpaqueToken(t *testing.T) {
	clk := newClock()
	org := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/", Audience: "https://org.example", Now: clk.Now,
		Clients: []grpcauthtest.Client{rsClient}})
	quiet := slog.New(slog.DiscardHandler)
	opaque := newVerifier(t, introspect.Config{Endpoint: org.IntrospectionURL(), Issuer: org.URL(),
		ClientID: rsClient.ID, ClientSecret: rsClient.Secret, Audiences: []string{org.Audience()}, Now: clk.Now, Logger: quiet,
		TokenTypes: append(introspect.DefaultTokenTypes(), "DPoP")})
	auth, err := grpcauth.New(grpcauth.Config{Verifier: opaque, Now: clk.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	client, addr := serveAuthtestAt(t, auth)

	newKey := func() *grpcauthtest.DPoPKey {
		k, err := grpcauthtest.NewDPoPKey()
		if err != nil {
			t.Fatal(err)
		}
		k.Now = clk.Now
		return k
	}
	key, other := newKey(), newKey()
	mint := func(claims map[string]any) string {
		tok, err := org.MintOpaqueClaims(claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	exp := clk.Now().Add(time.Hour)
	bound := mint(map[string]any{"exp": exp, "scope": "test:read test:write", "token_type": "DPoP",
		"cnf": map[string]any{"jkt": key.Thumbprint()}})
	unstated := mint(map[string]any{"exp": exp, "scope": "test:read test:write", "token_type": "DPoP"})
	proof := func(k *grpcauthtest.DPoPKey, tok string) string {
		p, err := k.Proof("POST", "http://"+addr+"/authtest.v1.TestService/AllOf", tok)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	tests := []struct {
		name   string
		scheme string
		token  string
		proof  func() string // nil: no dpop metadata
		code   codes.Code
		reason string
	}{
		{name: "DPoP scheme, proof by the bound key", scheme: "DPoP", token: bound,
			proof: func() string { return proof(key, bound) }, code: codes.OK},
		{name: "Bearer scheme", scheme: "Bearer", token: bound, code: codes.Unauthenticated, reason: grpcauth.ReasonDPoPBindingMismatch},
		{name: "DPoP scheme, proof by another key", scheme: "DPoP", token: bound,
			proof: func() string { return proof(other, bound) }, code: codes.Unauthenticated, reason: grpcauth.ReasonDPoPBindingMismatch},
		{name: "DPoP scheme, no proof", scheme: "DPoP", token: bound, code: codes.Unauthenticated, reason: grpcauth.ReasonDPoPProofInvalid},
		{name: "token_type DPoP without cnf.jkt", scheme: "Bearer", token: unstated, code: codes.Unauthenticated, reason: grpcauth.ReasonTokenInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kv := []string{"authorization", tc.scheme + " " + tc.token}
			if tc.proof != nil {
				kv = append(kv, grpcauth.MetadataDPoP, tc.proof())
			}
			resp, err := client.AllOf(metadata.AppendToOutgoingContext(context.Background(), kv...), &authtestv1.AllOfRequest{})
			checkStatus(t, err, tc.code, tc.reason)
			if tc.code == codes.OK && !resp.GetCaller().GetAuthenticated() {
				t.Fatalf("handler saw %v", resp.GetCaller())
			}
		})
	}
}

// checkStatus asserts err's code and grpcauth ErrorInfo reason.
func checkStatus(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("code %v (%v), want %v", st.Code(), err, code)
	}
	if code == codes.OK {
		return
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == grpcauth.ErrorDomain {
			if info.GetReason() != reason {
				t.Fatalf("reason %q, want %q", info.GetReason(), reason)
			}
			return
		}
	}
	t.Fatalf("%v carries no grpcauth ErrorInfo", err)
}
