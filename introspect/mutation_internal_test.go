package introspect

// Tests for checks a mutation run found no test holding that need the
// Verifier's test hooks (see mutation_test.go for the others).

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/verifier"
)

// A caller that stops waiting leaves the request to the callers still
// waiting for it: only the last one to leave abandons it.
func TestFlight_ACallerLeavingDoesNotAbandonTheOthersRequest(t *testing.T) {
	g := newGate(1)
	joined := make(chan struct{}, 2)
	iss, v := newGated(t, g, nil)
	v.joined = func() { joined <- struct{}{} }
	tok, err := iss.MintOpaque("svc")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	leaving := verifyAsync(ctx, v, tok)
	<-joined
	staying := verifyAsync(context.Background(), v, tok)
	<-joined
	<-g.entered
	cancel()
	if err := <-leaving; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that left: %v, want context.Canceled", err)
	}
	close(g.release)
	if err := <-staying; err != nil {
		t.Fatalf("the caller still waiting: %v, want the token accepted", err)
	}
	if n := iss.IntrospectionRequests(); n != 1 {
		t.Fatalf("%d introspection requests, want the 1 both callers shared", n)
	}
}

// A known token's request that passed MaxRequestRate and that its callers
// abandoned after the server had called the token inactive makes it
// unknown: the server's refusal stands, though nobody waited for it, so
// its next request waits for the budget as a made-up token's does.
func TestFlight_AbandonedBypassAnsweredInactiveForgetsTheToken(t *testing.T) {
	r, release, tok := abandonHeldBypass(t, func(r *rateLimited, tok string) { r.iss.Revoke(tok) })
	release()
	<-r.ran // the abandoned flight lands, with the server's "inactive"
	r.advance(DefaultNegativeCacheTTL)
	r.checkForgotten(t, tok)
}

// abandonHeldBypass makes a Verifier's token known (MaxRequestRate 1),
// lets its answer end, runs before, then starts a request for the token,
// which passes the rate limit as known, and has its only caller leave once
// the server has answered it, holding the answer on its way back until
// release (which t's cleanup calls, before the Verifier's Close).
// configure, if any, changes the Verifier's Config.
func abandonHeldBypass(t *testing.T, before func(r *rateLimited, tok string), configure ...func(*Config)) (r *rateLimited, release func(), tok string) {
	t.Helper()
	rt := &answerThenHold{base: &http.Transport{DisableKeepAlives: true}, answered: make(chan struct{}), release: make(chan struct{})}
	rt.n.Store(-1) // the first request (making the token known) is not held
	r = newRateLimited(t, &http.Client{Transport: rt}, 1, configure...)
	release = sync.OnceFunc(func() { close(rt.release) })
	t.Cleanup(release)
	tok = r.toks[0]
	if err := r.verify(tok); err != nil {
		t.Fatal(err)
	}
	r.advance(DefaultCacheTTL) // the answer ends; the budget is back
	if before != nil {
		before(r, tok)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := verifyAsync(ctx, r.Verifier, tok) // passes MaxRequestRate: known
	<-rt.answered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("caller: %v, want context.Canceled", err)
	}
	return r, release, tok
}

// holdNth is an http.RoundTripper that passes requests to base but the
// hold-th, which it reports on entered and holds until its context ends.
type holdNth struct {
	base    http.RoundTripper
	n       atomic.Int64
	hold    int64
	entered chan struct{}
}

func (h *holdNth) RoundTrip(r *http.Request) (*http.Response, error) {
	if h.n.Add(1) == h.hold {
		h.entered <- struct{}{}
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	return h.base.RoundTrip(r)
}

// A known token's request that passed MaxRequestRate and that its callers
// abandoned before any answer leaves the token known: no verdict came, so
// its next request (no sooner than NegativeTTL later) passes the rate limit
// again, even with the budget spent.
func TestFlight_AbandonedBypassWithoutAnswerKeepsTheTokenKnown(t *testing.T) {
	h := &holdNth{base: &http.Transport{DisableKeepAlives: true}, hold: 2, entered: make(chan struct{}, 1)}
	r := newRateLimited(t, &http.Client{Transport: h}, 1)
	tok := r.toks[0]
	if err := r.verify(tok); err != nil {
		t.Fatal(err)
	}
	r.advance(DefaultCacheTTL) // the answer ends; the budget is back
	ctx, cancel := context.WithCancel(context.Background())
	done := verifyAsync(ctx, r.Verifier, tok) // passes MaxRequestRate: known
	<-h.entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("caller: %v, want context.Canceled", err)
	}
	<-r.ran
	r.advance(DefaultNegativeCacheTTL)
	if err := r.verify("made-up"); !errors.Is(err, ErrInactive) {
		t.Fatalf("made-up token spending the budget: %v", err)
	}
	if err := r.verify(tok); err != nil {
		t.Fatalf("the known token, budget spent: %v, want accepted (still known)", err)
	}
}

// A token with an exp stays known (passing MaxRequestRate) only until its
// exp plus ClockSkew, not one more Cache.TTL after its cached answer ends
// (that is for answers without exp).
func TestFlight_KnownTokenWithExpIsKnownUntilExpPlusSkew(t *testing.T) {
	r := newRateLimited(t, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, 0)
	t0 := r.Now()
	tok, err := r.iss.MintOpaqueClaims(map[string]any{"exp": t0.Add(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.verify(tok); err != nil { // cached until t0+TTL (1m); known until exp+skew (t0+90s)
		t.Fatal(err)
	}
	r.advance(100 * time.Second)
	var expired *verifier.TokenExpiredError
	if _, err := r.VerifyAccessToken(context.Background(), tok); !errors.As(err, &expired) {
		t.Fatalf("past exp plus skew: %v, want a *verifier.TokenExpiredError from the cache", err)
	}
	r.advance(DefaultNegativeCacheTTL) // t0+110s: the refusal ends, before t0+TTL+TTL
	r.checkForgotten(t, tok)
}

// A known token passes MaxRequestRate only once its cached answer has
// ended: while the answer would still be live, a request for the token
// (its entry evicted by Cache.MaxBytes) waits for the budget as any.
func TestFlight_KnownTokenPassesTheRateLimitOnlyOnceItsAnswerEnded(t *testing.T) {
	r := newRateLimited(t, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, 2)
	a, b := r.toks[0], r.toks[1]
	if err := r.verify(a); err != nil {
		t.Fatal(err)
	}
	_, size := r.pos.stats()
	r.pos.mu.Lock()
	r.pos.maxBytes = size * 3 / 2 // room for one such answer, not two
	r.pos.mu.Unlock()
	r.advance(time.Second) // the budget is back
	if err := r.verify(b); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.pos.stats(); n != 1 {
		t.Fatalf("%d cached answers, want 1 (a's evicted)", n)
	}
	if err := r.verify(a); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a, evicted before its answer ended, budget spent: %v, want ErrUnavailable (MaxRequestRate)", err)
	}
}

// put keeps nothing of a result that has ended already (an answer that
// took longer than Cache.TTL to come): above all, it evicts no live entry
// of a full cache to make room for it.
func TestResultCache_AnEndedResultEvictsNothing(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	c := newResultCache(1, math.MaxInt64)
	c.put(tokenKey{1}, result{err: ErrInactive, until: now.Add(time.Minute)}, now)
	c.put(tokenKey{2}, result{err: ErrInactive, from: now.Add(-2 * time.Minute), until: now.Add(-time.Minute)}, now)
	if _, ok := c.get(tokenKey{1}, now); !ok {
		t.Fatal("a live entry was evicted for a result that had ended")
	}
	if n := c.len(); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
}

// put reclaims ended entries before it evicts live ones: a full cache
// holding an ended entry and a live one keeps the live one.
func TestResultCache_ReclaimsEndedEntriesBeforeEvictingLiveOnes(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	for range 32 { // map order is random: each round evicts by chance otherwise
		c := newResultCache(2, math.MaxInt64)
		c.put(tokenKey{1}, result{err: ErrInactive, until: now.Add(time.Second)}, now)
		c.put(tokenKey{2}, result{err: ErrInactive, until: now.Add(time.Hour)}, now)
		later := now.Add(time.Minute)
		c.put(tokenKey{3}, result{err: ErrInactive, until: later.Add(time.Hour)}, later)
		if _, ok := c.get(tokenKey{2}, later); !ok {
			t.Fatal("a live entry was evicted while an ended one could be reclaimed")
		}
	}
}

// A known token passes MaxRequestRate once per answer: while a request
// that passed so is still on its way (its callers left, its flight gone),
// another request for the token waits for the budget as any.
func TestFlight_KnownTokenPassesTheRateLimitOnceAtATime(t *testing.T) {
	r, release, tok := abandonHeldBypass(t, nil)
	if err := r.verify("made-up"); !errors.Is(err, ErrInactive) {
		t.Fatalf("made-up token spending the budget: %v", err)
	}
	if err := r.verify(tok); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("the token again, its pass still on its way, budget spent: %v, want ErrUnavailable (MaxRequestRate)", err)
	}
	release()
	<-r.ran
}

// A token whose cached answer lasts until its exp plus ClockSkew is not
// remembered as known (for MaxRequestRate): past that instant it is
// expired, and no request for it is to pass the limit, so the entry would
// only take room.
func TestFlight_AnAnswerEndingAtExpMakesNoKnownEntry(t *testing.T) {
	iss, v := newGated(t, nil, func(c *Config) {
		c.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		c.MaxRequestRate = 1
		c.Cache.TTL = time.Hour
	})
	tok, err := iss.MintOpaqueClaims(map[string]any{"exp": time.Now().Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyAccessToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if n := v.known.len(); n != 0 {
		t.Fatalf("%d known tokens, want none (the answer ends at exp plus skew)", n)
	}
}

// Budget given back by requests abandoned while they waited for a
// MaxConcurrent slot fills the bucket no further than its burst: two such
// requests, let through a second apart, give back one request's worth at
// a rate of one a second, not two.
func TestFlight_GivenBackBudgetStaysWithinTheBurst(t *testing.T) {
	g := newGate(4)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	_, v := newGated(t, g, func(c *Config) {
		c.MaxConcurrent = 1
		c.MaxRequestRate = 1
		c.Now = func() time.Time { return time.Unix(0, now.Load()) }
	})
	waiting := make(chan struct{}, 2)
	v.waitSlot = func() { waiting <- struct{}{} }
	ran := make(chan struct{}, 8)
	v.ran = func() { ran <- struct{}{} }
	held := verifyAsync(context.Background(), v, "held") // takes the budget and the slot
	<-g.entered
	ctx, cancel := context.WithCancel(context.Background())
	var queued []<-chan error
	for _, tok := range []string{"queued-a", "queued-b"} {
		now.Add(int64(time.Second)) // the budget is back
		queued = append(queued, verifyAsync(ctx, v, tok))
		<-waiting // it took the budget, and waits for the slot
	}
	cancel()
	for _, q := range queued {
		if err := <-q; !errors.Is(err, context.Canceled) {
			t.Fatalf("queued caller: %v, want context.Canceled", err)
		}
		<-ran // its flight gave its budget back
	}
	close(g.release)
	if err := <-held; !errors.Is(err, ErrInactive) {
		t.Fatalf("held request: %v, want ErrInactive", err)
	}
	<-ran
	if _, err := v.VerifyAccessToken(context.Background(), "made-up-1"); !errors.Is(err, ErrInactive) {
		t.Fatalf("first request after the budget came back: %v, want ErrInactive (sent)", err)
	}
	if _, err := v.VerifyAccessToken(context.Background(), "made-up-2"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second request at the same instant: %v, want ErrUnavailable (a burst of one)", err)
	}
}
