package introspect_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// TestVerify_MaxRequestRateBoundsAFloodOfDistinctTokens: every distinct
// made-up token costs a request (the caches only help with repeated ones),
// so a flood of them drives the authorization server at the rate
// MaxConcurrent and its latency allow. With MaxRequestRate set, requests
// beyond it are not sent: their tokens fail at once with ErrUnavailable
// (a retry may succeed), are not cached, and are counted; cached tokens
// keep working; the budget refills with time.
func TestVerify_MaxRequestRateBoundsAFloodOfDistinctTokens(t *testing.T) {
	e := newEnv(t, func(c *introspect.Config) { c.MaxRequestRate = 2 })
	good := e.opaque(t, map[string]any{"exp": e.issClk.Now().Add(time.Hour)})
	if _, err := e.verify(t, good); err != nil {
		t.Fatal(err)
	}
	flood := func(round int) (sent, limited int) {
		for i := range 10 {
			before := e.iss.IntrospectionRequests()
			_, err := e.verify(t, fmt.Sprintf("garbage-%d-%d", round, i))
			switch {
			case errors.Is(err, introspect.ErrInactive) && e.iss.IntrospectionRequests() == before+1:
				sent++
			case errors.Is(err, introspect.ErrUnavailable) && errors.Is(err, verifier.ErrKeysUnavailable) && e.iss.IntrospectionRequests() == before:
				limited++
			default:
				t.Fatalf("token %d: %v after %d requests", i, err, e.iss.IntrospectionRequests()-before)
			}
			if _, err := e.verify(t, good); err != nil {
				t.Fatalf("the cached token during the flood: %v", err)
			}
		}
		return sent, limited
	}
	// The good token took one of the 2 the bucket starts with.
	if sent, limited := flood(0); sent != 1 || limited != 9 {
		t.Fatalf("first second: %d sent, %d refused; want 1 and 9", sent, limited)
	}
	e.advance(time.Second)
	if sent, limited := flood(1); sent != 2 || limited != 8 {
		t.Fatalf("a second later: %d sent, %d refused; want 2 and 8", sent, limited)
	}
	if st := e.v.Stats(); st.RateLimited != 17 || st.Requests != 4 || st.NegativeEntries != 3 {
		t.Fatalf("Stats = %+v, want 17 rate-limited, 4 requests, 3 negative entries (refusals are not cached)", st)
	}
	// A refused token is not cached: asked again once there is budget, it
	// is introspected.
	e.advance(time.Second)
	before := e.iss.IntrospectionRequests()
	if _, err := e.verify(t, "garbage-1-9"); !errors.Is(err, introspect.ErrInactive) || e.iss.IntrospectionRequests() != before+1 {
		t.Fatalf("a refused token asked again: %v after %d requests", err, e.iss.IntrospectionRequests()-before)
	}
}

// Without MaxRequestRate every distinct token is introspected.
func TestVerify_NoMaxRequestRateByDefault(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 20 {
		if _, err := e.verify(t, fmt.Sprintf("garbage-%d", i)); !errors.Is(err, introspect.ErrInactive) {
			t.Fatal(err)
		}
	}
	if st := e.v.Stats(); st.Requests != 20 || st.RateLimited != 0 {
		t.Fatalf("Stats = %+v, want 20 requests", st)
	}
}

func TestNew_RefusesAnInvalidMaxRequestRate(t *testing.T) {
	for _, r := range []float64{-1, math.NaN(), math.Inf(1)} {
		cfg := introspect.Config{Endpoint: "https://idp.example/introspect", Issuer: "https://idp.example",
			ClientID: "api", ClientSecret: "secret", Audiences: []string{"api"}, MaxRequestRate: r}
		if _, err := introspect.New(cfg); err == nil || !strings.Contains(err.Error(), "MaxRequestRate") {
			t.Errorf("MaxRequestRate %v: %v, want an error naming it", r, err)
		}
	}
}

// An injected clock that goes back does not stop the budget refilling
// until it has caught up again.
func TestVerify_MaxRequestRateRefillsAfterTheClockGoesBack(t *testing.T) {
	e := newEnv(t, func(c *introspect.Config) { c.MaxRequestRate = 1 })
	if _, err := e.verify(t, "garbage-a"); !errors.Is(err, introspect.ErrInactive) {
		t.Fatal(err)
	}
	e.clk.Advance(-time.Hour)
	if _, err := e.verify(t, "garbage-b"); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("the budget spent: %v, want ErrUnavailable", err)
	}
	e.clk.Advance(time.Second)
	if _, err := e.verify(t, "garbage-c"); !errors.Is(err, introspect.ErrInactive) {
		t.Fatalf("a second after the clock went back: %v, want a request (ErrInactive)", err)
	}
}
