package main

import (
	"context"
	"slices"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type mapClaimsKey struct{}

// middlewareJWTServer is the usual hand-built alternative to grpcauth:
// go-grpc-middleware's auth interceptor with an AuthFunc that verifies the
// token with golang-jwt v5 + keyfunc v3 and checks that "scp" holds
// items:read (the only method this server serves needs exactly that).
func middlewareJWTServer(ctx context.Context, f *fixture) ([]grpc.ServerOption, func(), error) {
	parse, cancel, err := newGolangJWT(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	authFn := func(ctx context.Context) (context.Context, error) {
		tok, err := auth.AuthFromMD(ctx, "bearer")
		if err != nil {
			return nil, err
		}
		claims, err := parse(tok)
		if err != nil {
			return nil, status.Error(codes.Unauthenticated, "invalid token")
		}
		scp, _ := claims["scp"].([]any)
		if !slices.Contains(scp, any("items:read")) {
			return nil, status.Error(codes.PermissionDenied, "insufficient scope")
		}
		return context.WithValue(ctx, mapClaimsKey{}, claims), nil
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor(authFn))}, cancel, nil
}
