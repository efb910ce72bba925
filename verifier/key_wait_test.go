package verifier

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// The race a real run against oidc-provider showed: a forged kid uses the
// key-set fetch allowance, then the issuer publishes a new key and signs
// with it at once. The genuine token waits for the next fetch the rate
// limit allows (a real timer of MinRefreshInterval, 100ms here) and is
// accepted, at the cost of exactly one more fetch.
func TestVerifier_RotationRaceNewKeyWaitsAndIsAccepted(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, func(c *Config) {
		c.MinRefreshInterval = 100 * time.Millisecond
	})
	ready(t, f.v) // no lookup before the first set: the forged kid gets the allowance
	if _, err := f.verify(t, f.mint(t, nil, grpcauthtest.WithKidHeader("forged"))); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("forged kid = %v, want ErrUnknownKey", err)
	}
	before := f.iss.JWKSRequests()
	if _, err := f.iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.verify(t, f.mint(t, nil)); err != nil {
		t.Fatalf("token signed with the freshly published key: %v, want accepted", err)
	}
	if got := f.iss.JWKSRequests() - before; got != 1 {
		t.Fatalf("%d key-set requests for the waiting token, want exactly 1", got)
	}
}

// A call whose deadline comes before the next permitted fetch returns with
// its deadline (grpcauth answers DEADLINE_EXCEEDED), not an unknown key.
func TestVerifier_WaitingCallStopsAtItsDeadline(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, func(c *Config) {
		c.MinRefreshInterval = time.Hour
	})
	if _, err := f.verify(t, f.mint(t, nil, grpcauthtest.WithKidHeader("forged"))); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("forged kid = %v, want ErrUnknownKey", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := f.v.VerifyAccessToken(ctx, f.mint(t, nil, grpcauthtest.WithKidHeader("another")))
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnknownKey) {
		t.Fatalf("waiting call past its deadline = %v, want context.DeadlineExceeded", err)
	}
}

func ready(t *testing.T, v *Verifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := v.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

// With MaxKeyWaiters negative no call waits: a rate-limited unknown kid is
// refused at once.
func TestVerifier_NegativeMaxKeyWaitersRefusesAtOnce(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, func(c *Config) {
		c.MinRefreshInterval = time.Hour
		c.MaxKeyWaiters = -1
	})
	for _, kid := range []string{"forged-1", "forged-2"} {
		if _, err := f.verify(t, f.mint(t, nil, grpcauthtest.WithKidHeader(kid))); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("%s = %v, want ErrUnknownKey", kid, err)
		}
	}
}

// MaxKeyWaiters: zero takes DefaultMaxKeyWaiters, other values pass as they
// are (negative: never wait).
func TestConfig_MaxKeyWaitersDefault(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{0, DefaultMaxKeyWaiters}, {8, 8}, {-1, -1}} {
		s, err := validate(Config{Issuer: "https://issuer.example", Audiences: []string{"api"}, MaxKeyWaiters: tc.in})
		if err != nil || s.MaxKeyWaiters != tc.want {
			t.Errorf("MaxKeyWaiters %d: got %d, %v; want %d", tc.in, s.MaxKeyWaiters, err, tc.want)
		}
	}
}
