package grpcauth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/grpcauth/grpcauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// rejectAll stands in for a *verifier.Verifier in these examples, which
// never verify a token.
type rejectAll struct{}

func (rejectAll) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return verifier.Claims{}, verifier.ErrMalformed
}

// Install the interceptors, then let Check find the registered methods that
// no rule covers.
func ExampleAuthenticator_Check() {
	auth, err := grpcauth.New(grpcauth.Config{
		Verifier: rejectAll{}, // a *verifier.Verifier in real code
		Public:   grpcauth.StandardPublicServices,
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
	)
	authtestv1.RegisterTestServiceServer(srv, authtestv1.UnimplementedTestServiceServer{})
	authtestv1.RegisterUnannotatedServiceServer(srv, authtestv1.UnimplementedUnannotatedServiceServer{})

	var ce *grpcauth.CheckError
	if err := auth.Check(srv); errors.As(err, &ce) {
		fmt.Println("no rule:", ce.Methods())
	}
	// Output:
	// no rule: [/authtest.v1.UnannotatedService/Unannotated]
}

// Requirement shows what the interceptors will demand of each method, here
// read from the options in internal/testproto/authtest/v1/authtest.proto
// and one rule given in code.
func ExampleAuthenticator_Requirement() {
	auth, err := grpcauth.New(grpcauth.Config{
		Verifier: rejectAll{},
		Rules: map[string]*grpcauthv1.Rule{
			"authtest.v1.UnannotatedService": {Scopes: []string{"legacy:admin"}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range []string{
		"/authtest.v1.TestService/AllOf",
		"/authtest.v1.TestService/AnyOf",
		"/authtest.v1.TestService/Public",
		"/authtest.v1.TestService/Authenticated",
		"/authtest.v1.TestService/Inherited",
		"/authtest.v1.UnannotatedService/Unannotated",
	} {
		req, err := auth.Requirement(m)
		if err != nil {
			fmt.Println(m, err)
			continue
		}
		fmt.Printf("%s from %s: public=%t alternatives=%v\n", m, req.Source, req.Public, req.Alternatives())
	}
	// Output:
	// /authtest.v1.TestService/AllOf from method option: public=false alternatives=[[test:read test:write]]
	// /authtest.v1.TestService/AnyOf from method option: public=false alternatives=[[test:admin] [test:audit test:write]]
	// /authtest.v1.TestService/Public from method option: public=true alternatives=[]
	// /authtest.v1.TestService/Authenticated from method option: public=false alternatives=[[]]
	// /authtest.v1.TestService/Inherited from service option: public=false alternatives=[[test:read]]
	// /authtest.v1.UnannotatedService/Unannotated from config (service): public=false alternatives=[[legacy:admin]]
}

// A handler reads the caller's verified claims from its context. Tests can
// build that context with ContextWithClaims instead of running a server.
func ExampleClaimsFromContext() {
	handler := func(ctx context.Context) string {
		c, ok := grpcauth.ClaimsFromContext(ctx)
		if !ok {
			return "anonymous"
		}
		return fmt.Sprintf("%s via %s, may write: %t", c.Subject(), c.ClientID(), c.HasScope("items:write"))
	}

	claims, err := verifier.NewClaims(map[string]any{
		"sub": "user-42", "cid": "cli-app", "scp": []string{"items:read", "items:write"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(handler(context.Background()))
	fmt.Println(handler(grpcauth.ContextWithClaims(context.Background(), claims)))
	// Output:
	// anonymous
	// user-42 via cli-app, may write: true
}

// fixedClaims stands in for a verifier that accepts every token as these
// claims.
type fixedClaims struct{ c verifier.Claims }

func (f fixedClaims) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return f.c, nil
}

// In dry run a rule's refusals are reported, not enforced: here AllOf needs
// test:read and test:write, the token has only test:read, and the handler
// runs anyway while OnDecision sees what enforcement would have answered.
func ExampleConfig_dryRun() {
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-42", "scp": []string{"test:read"}})
	if err != nil {
		log.Fatal(err)
	}
	auth, err := grpcauth.New(grpcauth.Config{
		Verifier:      fixedClaims{claims},
		DryRunMethods: []string{"authtest.v1.TestService"},
		OnDecision: func(_ context.Context, d grpcauth.Decision) {
			fmt.Printf("%s allowed=%t dry-run=%t would get %s %s\n", d.Method, d.Allowed, d.DryRun, d.Code, d.Reason)
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	// The context gRPC gives a call from 127.0.0.1 over plaintext.
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}})
	ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer <token>"))

	_, err = auth.UnaryServerInterceptor()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/authtest.v1.TestService/AllOf"},
		func(ctx context.Context, _ any) (any, error) {
			c, _ := grpcauth.ClaimsFromContext(ctx)
			fmt.Println("handler runs for", c.Subject())
			return nil, nil
		})
	fmt.Println("error:", err)
	// Output:
	// /authtest.v1.TestService/AllOf allowed=true dry-run=true would get PermissionDenied ACCESS_TOKEN_SCOPE_INSUFFICIENT
	// handler runs for user-42
	// error: <nil>
}
