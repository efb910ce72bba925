package main

import (
	"context"

	"google.golang.org/grpc"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/verifier"
)

// grpcauthVariants are the server with grpcauth's interceptors, reading
// ListItems' scope requirement (items:read) from its proto option, with the
// verified-token cache on (the default) and off.
func grpcauthVariants() []serverVariant {
	return []serverVariant{
		{name: "grpcauth interceptor, token cache on (default)", options: grpcauthServer(verifier.CacheConfig{})},
		{name: "grpcauth interceptor, token cache off", options: grpcauthServer(verifier.CacheConfig{Disabled: true})},
	}
}

func grpcauthServer(cache verifier.CacheConfig) func(context.Context, *fixture) ([]grpc.ServerOption, func(), error) {
	return func(ctx context.Context, f *fixture) ([]grpc.ServerOption, func(), error) {
		v, err := newVerifier(ctx, f, cache)
		if err != nil {
			return nil, nil, err
		}
		auth, err := grpcauth.New(grpcauth.Config{Verifier: v})
		if err != nil {
			v.Close()
			return nil, nil, err
		}
		opts := []grpc.ServerOption{
			grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
			grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
		}
		return opts, func() { v.Close() }, nil
	}
}
