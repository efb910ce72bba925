package introspect_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// BenchmarkCacheHit compares, in one run, a cached answer for an opaque
// token (SHA-256 of the token, then a map lookup) with a verified-token
// cache hit of the JWT verifier (baseline), and both through Combined.
func BenchmarkCacheHit(b *testing.B) {
	iss := grpcauthtest.NewIssuer(b, grpcauthtest.Config{Clients: []grpcauthtest.Client{rsClient}})
	quiet := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	jwt, err := verifier.New(ctx, verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { jwt.Close() })
	opaque, err := introspect.New(introspect.Config{Endpoint: iss.IntrospectionURL(), Issuer: iss.URL(),
		ClientID: rsClient.ID, ClientSecret: rsClient.Secret, Audiences: []string{iss.Audience()}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { opaque.Close() })
	combined, err := introspect.Combine(jwt, opaque)
	if err != nil {
		b.Fatal(err)
	}
	jwtTok, err := iss.Token("svc", "items:read", "items:write")
	if err != nil {
		b.Fatal(err)
	}
	opaqueTok, err := iss.MintOpaque("svc", "items:read", "items:write")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		v     grpcauth.TokenVerifier
		token string
	}{
		{"jwt-baseline", jwt, jwtTok},
		{"opaque", opaque, opaqueTok},
		{"combined-jwt", combined, jwtTok},
		{"combined-opaque", combined, opaqueTok},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := bc.v.VerifyAccessToken(ctx, bc.token); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.v.VerifyAccessToken(ctx, bc.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
