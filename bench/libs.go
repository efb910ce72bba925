package main

import (
	"context"
	"fmt"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v2/jwk"
	jwxjwt "github.com/lestrrat-go/jwx/v2/jwt"
)

// clockSkew is the leeway every library that has one is given (grpcauth's
// default).
const clockSkew = time.Minute

// verifyFunc returns nil for a token it accepts, and an error otherwise. On
// success the claims have been decoded into something the caller can read
// scopes from.
type verifyFunc func(ctx context.Context, token string) error

// library is one verifier under comparison. open builds a fresh instance
// configured for the fixture and returns once its key set is loaded.
type library struct {
	name string
	// rateLimit describes what the library does on an unknown kid.
	rateLimit string
	open      func(ctx context.Context, f *fixture) (verifyFunc, func(), error)
}

// libraries lists the verifiers in table order.
func libraries() []library {
	return append(grpcauthLibraries(), jwxLibrary, golangJWTLibrary, goOIDCLibrary)
}

// jwxLibrary is jwx v2 jwt.Parse over a jwk.Cache-backed key set. Keys must
// carry an "alg" equal to the token's (jwx's default for key sets), which is
// jwx's way of allow-listing algorithms. jwx checks exp only when present,
// so exp is required explicitly, as the other libraries do.
var jwxLibrary = library{
	name:      "jwx v2 jwt.Parse + jwk.Cache",
	rateLimit: "never refetches on an unknown kid (only on its schedule, ≥15 min, or an explicit Refresh)",
	open: func(ctx context.Context, f *fixture) (verifyFunc, func(), error) {
		ctx, cancel := context.WithCancel(ctx)
		c := jwk.NewCache(ctx)
		if err := c.Register(f.jwksURL, jwk.WithMinRefreshInterval(15*time.Minute)); err != nil {
			cancel()
			return nil, nil, err
		}
		if _, err := c.Refresh(ctx, f.jwksURL); err != nil {
			cancel()
			return nil, nil, err
		}
		set := jwk.NewCachedSet(c, f.jwksURL)
		verify := func(_ context.Context, token string) error {
			_, err := jwxjwt.ParseString(token,
				jwxjwt.WithKeySet(set),
				jwxjwt.WithValidate(true),
				jwxjwt.WithIssuer(f.issuer),
				jwxjwt.WithAudience(f.audience),
				jwxjwt.WithAcceptableSkew(clockSkew),
				jwxjwt.WithRequiredClaim(jwxjwt.ExpirationKey), // as every other library requires exp
			)
			return err
		}
		return verify, cancel, nil
	},
}

// golangJWTLibrary is golang-jwt v5 with a keyfunc v3 JWKS (its defaults:
// hourly refresh, unknown-kid refresh limited to one per 5 minutes).
var golangJWTLibrary = library{
	name:      "golang-jwt v5 + keyfunc v3",
	rateLimit: "refetches on an unknown kid at most once per 5 min; a caller that would wait ≤1 min for the limiter blocks, one that would wait longer fails at once",
	open: func(ctx context.Context, f *fixture) (verifyFunc, func(), error) {
		parse, cancel, err := newGolangJWT(ctx, f)
		if err != nil {
			return nil, nil, err
		}
		verify := func(_ context.Context, token string) error {
			_, err := parse(token)
			return err
		}
		return verify, cancel, nil
	},
}

// newGolangJWT returns golang-jwt v5 parsing into MapClaims with a keyfunc
// v3 default JWKS, configured like the other libraries, and a cancel that
// stops keyfunc's refresh goroutine.
func newGolangJWT(ctx context.Context, f *fixture) (func(token string) (jwt.MapClaims, error), func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	kf, err := keyfunc.NewDefaultCtx(ctx, []string{f.jwksURL})
	if err != nil {
		cancel()
		return nil, nil, err
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods(algs),
		jwt.WithIssuer(f.issuer),
		jwt.WithAudience(f.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockSkew),
	)
	parse := func(token string) (jwt.MapClaims, error) {
		claims := jwt.MapClaims{}
		_, err := parser.ParseWithClaims(token, claims, kf.Keyfunc)
		return claims, err
	}
	return parse, cancel, nil
}

// goOIDCLibrary is go-oidc v3's IDTokenVerifier over a RemoteKeySet, the
// way go-oidc verifies any JWT; the audience goes in ClientID. Scopes are
// then decoded with IDToken.Claims, as a caller must to authorize.
var goOIDCLibrary = library{
	name:      "go-oidc v3 RemoteKeySet + IDTokenVerifier",
	rateLimit: "refetches on every unknown kid and every bad signature, with no limit (concurrent misses share one fetch)",
	open: func(ctx context.Context, f *fixture) (verifyFunc, func(), error) {
		ctx, cancel := context.WithCancel(ctx)
		ks := oidc.NewRemoteKeySet(ctx, f.jwksURL)
		v := oidc.NewVerifier(f.issuer, ks, &oidc.Config{
			ClientID:             f.audience,
			SupportedSigningAlgs: algs,
		})
		verify := func(ctx context.Context, token string) error {
			t, err := v.Verify(ctx, token)
			if err != nil {
				return err
			}
			var c struct {
				Scp []string `json:"scp"`
			}
			if err := t.Claims(&c); err != nil {
				return err
			}
			if len(c.Scp) == 0 {
				return fmt.Errorf("no scp claim")
			}
			return nil
		}
		return verify, cancel, nil
	},
}
