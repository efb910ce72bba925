package introspect_test

import (
	"context"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// fixedJWT is a JWT verifier that reports no clock skew method.
type fixedJWT struct{}

func (fixedJWT) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return verifier.Claims{}, verifier.ErrMalformed
}

func TestClockSkew_IsTheConfiguredTolerance(t *testing.T) {
	opaque := func(skew time.Duration) *introspect.Verifier {
		v, err := introspect.New(introspect.Config{Endpoint: "https://idp.example/introspect", Issuer: "https://idp.example",
			ClientID: "api", ClientSecret: "secret", Audiences: []string{"api"}, ClockSkew: skew})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		return v
	}
	for skew, want := range map[time.Duration]time.Duration{0: verifier.DefaultClockSkew, -1: 0, 5 * time.Second: 5 * time.Second} {
		if got := opaque(skew).ClockSkew(); got != want {
			t.Errorf("Config.ClockSkew %v: ClockSkew() = %v, want %v", skew, got, want)
		}
	}

	jwt, err := verifier.New(context.Background(), verifier.Config{Issuer: "https://idp.example", Audiences: []string{"api"}, ClockSkew: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer jwt.Close()
	for _, tt := range []struct {
		name string
		jwt  introspect.JWTVerifier
		want time.Duration
	}{
		{"JWT verifier's skew is larger", jwt, 3 * time.Minute},
		{"JWT verifier reports none: its default", fixedJWT{}, verifier.DefaultClockSkew},
	} {
		c, err := introspect.Combine(tt.jwt, opaque(-1))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ClockSkew(); got != tt.want {
			t.Errorf("%s: Combined.ClockSkew() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
