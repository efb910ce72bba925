package main

import (
	"context"

	"github.com/grpcauth/grpcauth/verifier"
)

// The names of grpcauth's two rows.
const (
	grpcauthOff = "grpcauth verifier (cache off)"
	grpcauthHit = "grpcauth verifier (cache hit)"
)

// grpcauthLibraries returns grpcauth's verifier twice: with the
// verified-token cache disabled (every call does the full check) and with it
// on (the hit path: a token seen before).
func grpcauthLibraries() []library {
	const rl = "refetches on an unknown kid at most once per MinRefreshInterval (10 s); within it a call waits, up to its deadline and at most 256 at once, for the next permitted fetch, and a kid the latest fetch already missed is refused at once; waiting calls share one fetch"
	return []library{
		{name: grpcauthOff, rateLimit: rl, open: grpcauthOpen(verifier.CacheConfig{Disabled: true})},
		{name: grpcauthHit, rateLimit: rl, open: grpcauthOpen(verifier.CacheConfig{})},
	}
}

func grpcauthOpen(cache verifier.CacheConfig) func(context.Context, *fixture) (verifyFunc, func(), error) {
	return func(ctx context.Context, f *fixture) (verifyFunc, func(), error) {
		v, err := newVerifier(ctx, f, cache)
		if err != nil {
			return nil, nil, err
		}
		verify := func(ctx context.Context, token string) error {
			_, err := v.VerifyAccessToken(ctx, token)
			return err
		}
		return verify, func() { v.Close() }, nil
	}
}

// newVerifier is the grpcauth verifier configured like every other library
// (issuer, audience, the algorithm allow-list; default 1 min clock skew),
// with its key set loaded.
func newVerifier(ctx context.Context, f *fixture, cache verifier.CacheConfig) (*verifier.Verifier, error) {
	v, err := verifier.New(ctx, verifier.Config{
		Issuer:     f.issuer,
		Audiences:  []string{f.audience},
		JWKSURL:    f.jwksURL,
		Algorithms: algs,
		Cache:      cache,
	})
	if err != nil {
		return nil, err
	}
	if err := v.Ready(ctx); err != nil {
		v.Close()
		return nil, err
	}
	return v, nil
}
