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
		opts, err := grpcauthOptions(v)
		if err != nil {
			v.Close()
			return nil, nil, err
		}
		return opts, func() { v.Close() }, nil
	}
}

// grpcauthOptions are the server options of a server with grpcauth's unary
// and stream interceptors over v, in its default configuration.
func grpcauthOptions(v grpcauth.TokenVerifier) ([]grpc.ServerOption, error) {
	auth, err := grpcauth.New(grpcauth.Config{Verifier: v})
	if err != nil {
		return nil, err
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
	}, nil
}

// controlVariants are the -controls servers: one whose only interceptor
// calls the handler (what any unary interceptor costs grpc-go), and
// grpcauth with a verifier that returns the same fixed claims for every
// token (grpcauth's own work per call, without the verifier's).
func controlVariants() []serverVariant {
	return []serverVariant{
		{name: "control: no-op interceptor", options: noopInterceptorServer},
		{name: "control: grpcauth, fixed claims (no verifier)", options: fixedClaimsServer},
	}
}

func noopInterceptorServer(context.Context, *fixture) ([]grpc.ServerOption, func(), error) {
	noop := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return handler(ctx, req)
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(noop)}, func() {}, nil
}

// fixedClaims is a grpcauth.TokenVerifier that accepts every token with
// the same claims.
type fixedClaims struct{ c verifier.Claims }

func (f fixedClaims) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return f.c, nil
}

// fixedClaimsServer is grpcauth, configured as in grpcauthServer, over a
// fixedClaims whose claims are those grpcauth's verifier gives for a token
// of the run's shape (same issuer, audience and scopes), so that grpcauth's
// checks after the verifier do the same work. What differs from the real
// path besides the verifier: every call gets one and the same Claims value,
// hot in the CPU's cache, where the verifier returns one of 50.
func fixedClaimsServer(ctx context.Context, f *fixture) ([]grpc.ServerOption, func(), error) {
	tok, err := f.listToken()
	if err != nil {
		return nil, nil, err
	}
	v, err := newVerifier(ctx, f, verifier.CacheConfig{Disabled: true})
	if err != nil {
		return nil, nil, err
	}
	c, err := v.VerifyAccessToken(ctx, tok)
	v.Close()
	if err != nil {
		return nil, nil, err
	}
	opts, err := grpcauthOptions(fixedClaims{c})
	if err != nil {
		return nil, nil, err
	}
	return opts, func() {}, nil
}
