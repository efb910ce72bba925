package verifier_test

import (
	"context"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/verifier"
)

func TestClockSkew_IsTheConfiguredTolerance(t *testing.T) {
	cfg := func(iss string, skew time.Duration) verifier.Config {
		return verifier.Config{Issuer: iss, Audiences: []string{"api"}, ClockSkew: skew}
	}
	for skew, want := range map[time.Duration]time.Duration{0: verifier.DefaultClockSkew, -1: 0, 5 * time.Second: 5 * time.Second} {
		v, err := verifier.New(context.Background(), cfg("https://a.example", skew))
		if err != nil {
			t.Fatal(err)
		}
		if got := v.ClockSkew(); got != want {
			t.Errorf("Config.ClockSkew %v: ClockSkew() = %v, want %v", skew, got, want)
		}
		v.Close()
	}
	m, err := verifier.NewMulti(context.Background(), cfg("https://a.example", -1), cfg("https://b.example", 3*time.Minute), cfg("https://c.example", time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.ClockSkew(); got != 3*time.Minute {
		t.Errorf("MultiVerifier.ClockSkew() = %v, want the largest, 3m", got)
	}
}

// TestClockSkewFor_IsTheAcceptingIssuersSkew: a MultiVerifier reports, for
// a token's claims, the skew of the issuer that issued them (grpcauth cuts
// the token's streams by it), and its largest for claims of no issuer of
// its.
func TestClockSkewFor_IsTheAcceptingIssuersSkew(t *testing.T) {
	cfg := func(iss string, skew time.Duration) verifier.Config {
		return verifier.Config{Issuer: iss, Audiences: []string{"api"}, ClockSkew: skew}
	}
	m, err := verifier.NewMulti(context.Background(), cfg("https://a.example", -1), cfg("https://b.example", 3*time.Minute), cfg("https://c.example", time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for iss, want := range map[string]time.Duration{"https://a.example": 0, "https://b.example": 3 * time.Minute,
		"https://c.example": time.Second, "https://other.example": 3 * time.Minute} {
		c, err := verifier.NewClaims(map[string]any{"iss": iss, "sub": "user-1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.ClockSkewFor(c); got != want {
			t.Errorf("ClockSkewFor(iss %s) = %v, want %v", iss, got, want)
		}
	}
}
