package introspect_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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

// floodUntilRefused sends made-up tokens until one is refused for
// MaxRequestRate: the budget is spent.
func (e *env) floodUntilRefused(t *testing.T, round string) {
	t.Helper()
	for i := range 100 {
		_, err := e.verify(t, fmt.Sprintf("garbage-%s-%d", round, i))
		if errors.Is(err, introspect.ErrUnavailable) {
			return
		}
		if !errors.Is(err, introspect.ErrInactive) {
			t.Fatalf("made-up token: %v", err)
		}
	}
	t.Fatal("the flood was never refused")
}

// TestVerify_MaxRequestRateLetsAcceptedTokensBeAskedAboutAgain: while a
// flood of made-up tokens holds MaxRequestRate, a token the server called
// active is still introspected again once its cached answer ends (by the
// time RevalidateAt says, as a stream's re-verification asks): a good one
// keeps working, a revoked one is refused, as without a flood. Before, both
// failed with ErrUnavailable, so a revoked token's stream went on until exp.
// Made-up tokens stay capped, and an inactive answer makes a token unknown.
func TestVerify_MaxRequestRateLetsAcceptedTokensBeAskedAboutAgain(t *testing.T) {
	e := newEnv(t, func(c *introspect.Config) { c.MaxRequestRate = 1 })
	good := e.opaque(t, map[string]any{"exp": e.issClk.Now().Add(time.Hour)})
	revoked := e.opaque(t, map[string]any{"exp": e.issClk.Now().Add(time.Hour)})
	for _, tok := range []string{good, revoked} {
		e.advance(time.Second)
		if _, err := e.verify(t, tok); err != nil {
			t.Fatal(err)
		}
	}
	e.iss.Revoke(revoked)
	c, _ := e.verify(t, good)
	at := e.v.RevalidateAt(good, c)
	e.clk.Advance(at.Sub(e.clk.Now()))
	e.issClk.Advance(at.Sub(e.issClk.Now()))
	for round := range 3 {
		e.floodUntilRefused(t, fmt.Sprint(round))
		before := e.iss.IntrospectionRequests()
		if _, err := e.verify(t, good); err != nil || e.iss.IntrospectionRequests() != before+1 {
			t.Fatalf("round %d: the good token under the flood: %v after %d requests, want accepted after 1",
				round, err, e.iss.IntrospectionRequests()-before)
		}
		e.advance(introspect.DefaultCacheTTL)
	}
	if _, err := e.verify(t, revoked); !errors.Is(err, introspect.ErrInactive) {
		t.Fatalf("the revoked token under the flood: %v, want ErrInactive", err)
	}
	// Inactive, it is known no more: asked about again after NegativeTTL,
	// it waits for the budget as a made-up token does.
	e.advance(introspect.DefaultNegativeCacheTTL)
	e.floodUntilRefused(t, "last")
	if _, err := e.verify(t, revoked); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("the revoked token, NegativeTTL later: %v, want ErrUnavailable", err)
	}
	if got := introspect.KnownLen(e.v); got != 1 {
		t.Fatalf("%d known tokens, want 1 (the good one)", got)
	}
}

// TestVerify_KnownTokensAreBoundedByCacheMaxEntries: the tokens remembered
// as accepted, for MaxRequestRate, are at most Cache.MaxEntries, whatever
// the number of good tokens; a made-up token is never remembered.
func TestVerify_KnownTokensAreBoundedByCacheMaxEntries(t *testing.T) {
	e := newEnv(t, func(c *introspect.Config) {
		c.MaxRequestRate = 1000
		c.Cache.MaxEntries = 3
	})
	for i := range 10 {
		if _, err := e.verify(t, e.opaque(t, map[string]any{"exp": e.issClk.Now().Add(time.Hour)})); err != nil {
			t.Fatal(err)
		}
		if _, err := e.verify(t, fmt.Sprintf("garbage-%d", i)); !errors.Is(err, introspect.ErrInactive) {
			t.Fatal(err)
		}
	}
	if got := introspect.KnownLen(e.v); got != 3 {
		t.Fatalf("%d known tokens, want 3 (Cache.MaxEntries)", got)
	}
	e.v.Close()
	if got := introspect.KnownLen(e.v); got != 0 {
		t.Fatalf("%d known tokens after Close, want 0", got)
	}
}

// TestVerify_KnownTokenFailingPassesMaxRequestRateOncePerNegativeTTL: a
// token the server called active passes MaxRequestRate once its answer
// ends, but a request that gets no answer does not make it a way around
// the bound: its next one passes only Cache.NegativeTTL later.
func TestVerify_KnownTokenFailingPassesMaxRequestRateOncePerNegativeTTL(t *testing.T) {
	clk := newClock()
	var down atomic.Bool
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		switch {
		case r.PostFormValue("token") != "good":
			answer(http.StatusOK, `{"active":false}`)(w, r)
		case down.Load():
			answer(http.StatusServiceUnavailable, "")(w, r)
		default:
			answer(http.StatusOK, `{"active":true,"exp":99999999999,"aud":"api","iss":"https://idp.example"}`)(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	v := newVerifier(t, introspect.Config{Endpoint: srv.URL, Issuer: "https://idp.example", ClientID: rsClient.ID,
		ClientSecret: rsClient.Secret, Audiences: []string{"api"}, Now: clk.Now, MaxRequestRate: 1,
		Logger: slog.New(slog.DiscardHandler)})
	verify := func(token string) (sent int64, err error) {
		before := requests.Load()
		_, err = v.VerifyAccessToken(context.Background(), token)
		return requests.Load() - before, err
	}
	if _, err := verify("good"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(introspect.DefaultCacheTTL)
	down.Store(true)
	for i := range 2 {
		if sent, err := verify(fmt.Sprint("made-up-", i)); !errors.Is(err, introspect.ErrInactive) || sent != 1 {
			t.Fatalf("made-up token spending the budget: %v after %d requests", err, sent)
		}
		if sent, err := verify("good"); !errors.Is(err, introspect.ErrUnavailable) || sent != 1 {
			t.Fatalf("the known token, endpoint down: %v after %d requests, want ErrUnavailable after 1", err, sent)
		}
		if sent, err := verify("good"); !errors.Is(err, introspect.ErrUnavailable) || sent != 0 {
			t.Fatalf("the known token again at once: %v after %d requests, want ErrUnavailable without one", err, sent)
		}
		clk.Advance(introspect.DefaultNegativeCacheTTL)
	}
	down.Store(false)
	if _, err := verify("made-up-last"); !errors.Is(err, introspect.ErrInactive) {
		t.Fatal(err)
	}
	if sent, err := verify("good"); err != nil || sent != 1 {
		t.Fatalf("the known token, endpoint back: %v after %d requests", err, sent)
	}
}
