// Package greeter is a throw-away user module: scripts/usermodule-test.sh
// copies it to a temporary directory, generates its Go code from
// proto/greeter/v1/greeter.proto with buf and then with protoc, and runs
// these tests against github.com/grpcauth/grpcauth (replaced by the
// repository).
package greeter

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	greeterv1 "example.com/greeter/gen/greeter/v1"
	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

type server struct {
	greeterv1.UnimplementedGreeterServiceServer
}

func (server) SayHello(_ context.Context, req *greeterv1.SayHelloRequest) (*greeterv1.SayHelloResponse, error) {
	return &greeterv1.SayHelloResponse{Greeting: "hello " + req.GetName()}, nil
}

func (server) GetStatus(context.Context, *greeterv1.GetStatusRequest) (*greeterv1.GetStatusResponse, error) {
	return &greeterv1.GetStatusResponse{}, nil
}

func (server) Forgotten(context.Context, *greeterv1.ForgottenRequest) (*greeterv1.ForgottenResponse, error) {
	return &greeterv1.ForgottenResponse{}, nil
}

func TestGreeter_OptionsInTheUsersProtoDecideAccess(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	v, err := verifier.New(context.Background(), verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	auth, err := grpcauth.New(grpcauth.Config{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
	)
	greeterv1.RegisterGreeterServiceServer(srv, server{})

	// The options were read from the generated descriptors: only the
	// method without one lacks a rule.
	var ce *grpcauth.CheckError
	if err := auth.Check(srv); !errors.As(err, &ce) || !slices.Equal(ce.Methods(), []string{"/greeter.v1.GreeterService/Forgotten"}) {
		t.Fatalf("Check = %v; want only /greeter.v1.GreeterService/Forgotten without a rule", err)
	}
	req, err := auth.Requirement("/greeter.v1.GreeterService/SayHello")
	if err != nil || req.Source != grpcauth.SourceMethodOption || !slices.Equal(req.Scopes, []string{"greeter:hello"}) {
		t.Fatalf("Requirement(SayHello) = %+v, %v; want greeter:hello from the method option", req, err)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
	client := greeterv1.NewGreeterServiceClient(conn)

	mint := func(scopes ...string) string {
		tok, err := iss.Mint(map[string]any{"sub": "user-1"}, grpcauthtest.WithScopes(scopes...))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hello, other := mint("greeter:hello"), mint("greeter:other")
	sayHello := func(ctx context.Context) error {
		_, err := client.SayHello(ctx, &greeterv1.SayHelloRequest{Name: "you"})
		return err
	}
	getStatus := func(ctx context.Context) error {
		_, err := client.GetStatus(ctx, &greeterv1.GetStatusRequest{})
		return err
	}
	forgotten := func(ctx context.Context) error {
		_, err := client.Forgotten(ctx, &greeterv1.ForgottenRequest{})
		return err
	}
	tests := []struct {
		name  string
		token string // "": none sent
		call  func(context.Context) error
		want  codes.Code
	}{
		{"scoped method, token with the scope", hello, sayHello, codes.OK},
		{"scoped method, token without the scope", other, sayHello, codes.PermissionDenied},
		{"scoped method, no token", "", sayHello, codes.Unauthenticated},
		{"public method, no token", "", getStatus, codes.OK},
		{"method without a rule, token with every scope", hello, forgotten, codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.token != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tt.token)
			}
			if got := status.Code(tt.call(ctx)); got != tt.want {
				t.Errorf("code = %v, want %v", got, tt.want)
			}
		})
	}
}
