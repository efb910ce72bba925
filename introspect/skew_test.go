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

// TestCombinedClockSkewFor_IsTheAcceptingVerifiersSkew: a Combined reports,
// for a token's claims, the skew of the verifier that accepted them: the
// introspection Verifier's for claims with "active", the JWT verifier's
// otherwise (its own ClockSkewFor when it has one).
func TestCombinedClockSkewFor_IsTheAcceptingVerifiersSkew(t *testing.T) {
	opaque, err := introspect.New(introspect.Config{Endpoint: "https://idp.example/introspect", Issuer: "https://idp.example",
		ClientID: "api", ClientSecret: "secret", Audiences: []string{"api"}, ClockSkew: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer opaque.Close()
	multi, err := verifier.NewMulti(context.Background(),
		verifier.Config{Issuer: "https://a.example", Audiences: []string{"api"}, ClockSkew: 3 * time.Minute},
		verifier.Config{Issuer: "https://b.example", Audiences: []string{"api"}, ClockSkew: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer multi.Close()
	claims := func(m map[string]any) verifier.Claims {
		c, err := verifier.NewClaims(m)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tt := range []struct {
		name   string
		jwt    introspect.JWTVerifier
		claims verifier.Claims
		want   time.Duration
	}{
		{"introspected", multi, claims(map[string]any{"active": true, "iss": "https://b.example"}), 0},
		{"JWT of the issuer with the smaller skew", multi, claims(map[string]any{"iss": "https://b.example"}), time.Second},
		{"JWT of the issuer with the larger skew", multi, claims(map[string]any{"iss": "https://a.example"}), 3 * time.Minute},
		{"JWT verifier reports none: its default", fixedJWT{}, claims(map[string]any{"iss": "https://a.example"}), verifier.DefaultClockSkew},
	} {
		c, err := introspect.Combine(tt.jwt, opaque)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ClockSkewFor(tt.claims); got != tt.want {
			t.Errorf("%s: ClockSkewFor = %v, want %v", tt.name, got, tt.want)
		}
	}
}
