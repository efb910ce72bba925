package introspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A call whose context has already ended sends no request, so it spends
// no MaxRequestRate budget: the next call's request is sent. A flight
// started for it would race its caller's leaving: the joined hook lets
// such a flight's request reach the transport first, so that the test
// does not depend on that race.
func TestFlight_EndedContextSpendsNoRequestRate(t *testing.T) {
	g := newGate(2)
	close(g.release) // requests pass; entered tells they were sent
	// A budget of one request.
	r := newRateLimited(t, &http.Client{Transport: g}, 1)
	r.joined = func() { <-g.entered }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.VerifyAccessToken(ctx, "made-up"); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: %v, want context.Canceled", err)
	}
	r.wg.Wait() // any flight it started has ended
	r.joined = nil
	if err := r.verify(r.toks[0]); err != nil {
		t.Fatalf("the next call: %v, want its token verified (the budget untouched)", err)
	}
	if st := r.Stats(); st.RateLimited != 0 || st.Requests != 1 {
		t.Fatalf("RateLimited %d, Requests %d, want 0 and 1", st.RateLimited, st.Requests)
	}
}

// A flight that passed MaxRequestRate and then waited for a concurrency
// slot, abandoned by its callers before it got one, sent no request: it
// gives its share of the budget back, and the next call's request is sent.
func TestFlight_AbandonedWhileWaitingForASlotGivesItsRequestRateBack(t *testing.T) {
	g := newGate(4)
	t0 := time.Now()
	iss, v := newGated(t, g, func(c *Config) {
		c.MaxConcurrent = 1
		c.MaxRequestRate = 2 // two requests at once, never refilled:
		c.Now = func() time.Time { return t0 }
	})
	waiting, ran := make(chan struct{}, 1), make(chan struct{}, 4)
	v.waitSlot = func() { waiting <- struct{}{} }
	v.ran = func() { ran <- struct{}{} }
	tok, err := iss.MintOpaque("svc")
	if err != nil {
		t.Fatal(err)
	}
	held := verifyAsync(context.Background(), v, tok) // takes the only slot
	<-g.entered
	ctx, cancel := context.WithCancel(context.Background())
	abandoned := verifyAsync(ctx, v, "made-up-1")
	<-waiting // it passed the rate limit and waits for the slot
	cancel()
	if err := <-abandoned; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned call: %v, want context.Canceled", err)
	}
	<-ran // its flight has ended without a request
	close(g.release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	<-ran
	if _, err := v.VerifyAccessToken(context.Background(), "made-up-2"); !errors.Is(err, ErrInactive) {
		t.Fatalf("the next call: %v, want ErrInactive (its request sent: the abandoned flight gave its budget back)", err)
	}
	if st := v.Stats(); st.RateLimited != 0 || st.Requests != 2 {
		t.Fatalf("RateLimited %d, Requests %d, want 0 and 2", st.RateLimited, st.Requests)
	}
}

// A shorter Retry-After, from a request that was in flight when a longer
// one came, does not end the longer pause; once the pause has ended, a
// shorter one starts anew.
func TestPause_AShorterRetryAfterDoesNotEndALongerPause(t *testing.T) {
	now := time.Now()
	clock := now
	_, v := newGated(t, nil, func(c *Config) { c.Now = func() time.Time { return clock } })
	v.pause(30 * time.Second)
	clock = now.Add(time.Second)
	v.pause(5 * time.Second)
	if left := v.retryLeft(clock); left != 29*time.Second {
		t.Fatalf("after a longer then a shorter Retry-After: %v left, want 29s", left)
	}
	clock = now.Add(time.Minute)
	v.pause(5 * time.Second)
	if left := v.retryLeft(clock); left != 5*time.Second {
		t.Fatalf("a Retry-After after the pause ended: %v left, want 5s", left)
	}
}

// stepper is an http.RoundTripper that holds each request until a value
// is sent on next (or the request's context ends), reporting its arrival
// on entered.
type stepper struct {
	base          http.RoundTripper
	entered, next chan struct{}
}

func (s stepper) RoundTrip(r *http.Request) (*http.Response, error) {
	s.entered <- struct{}{}
	select {
	case <-s.next:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return s.base.RoundTrip(r)
}

// A flight abandoned by its callers while it waited for a concurrency
// slot sends nothing even when the slot frees as they leave: with both
// ready at once, Go's select may take the slot, and the flight must then
// give it back rather than send a request nobody waits for (spending
// MaxRequestRate, counted in Requests). select chooses at random, so the
// race is run many times: without the check, a run sends in about half of
// them.
func TestFlight_AbandonedFlightSendsNothingWhenItsSlotFreesAsItsCallersLeave(t *testing.T) {
	const runs = 24
	st := stepper{base: &http.Transport{DisableKeepAlives: true}, entered: make(chan struct{}, 2), next: make(chan struct{})}
	iss, v := newGated(t, nil, func(c *Config) {
		c.MaxConcurrent = 1
		c.HTTPClient = &http.Client{Transport: st}
	})
	waiting, proceed, ran := make(chan struct{}), make(chan struct{}), make(chan struct{}, 2)
	v.waitSlot = func() { waiting <- struct{}{}; <-proceed }
	v.ran = func() { ran <- struct{}{} }
	for i := range runs {
		tok, err := iss.MintOpaque("svc")
		if err != nil {
			t.Fatal(err)
		}
		held := verifyAsync(context.Background(), v, tok) // takes the only slot
		<-st.entered
		ctx, cancel := context.WithCancel(context.Background())
		abandoned := verifyAsync(ctx, v, fmt.Sprintf("made-up-%d", i))
		<-waiting // its flight is about to wait for the slot
		cancel()
		if err := <-abandoned; !errors.Is(err, context.Canceled) {
			t.Fatalf("run %d: abandoned call: %v, want context.Canceled", i, err)
		}
		st.next <- struct{}{} // the held request goes on, and frees the slot
		if err := <-held; err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		<-ran
		proceed <- struct{}{} // both the slot and the flight's end are ready
		<-ran
		if got := v.Stats().Requests; got != int64(i+1) {
			t.Fatalf("run %d: Requests %d, want %d: the abandoned flight sent a request", i, got, i+1)
		}
	}
}

// A request that passed the Retry-After check and then queued for a
// concurrency slot is not sent once a 429's Retry-After has begun
// meanwhile: the server said it would refuse it. Without this, every
// request queued when an overloaded server starts answering 429 would
// still go out, MaxConcurrent at a time, through the whole pause. Its
// token fails with ErrUnavailable, counted in Stats.RateLimited, and its
// MaxRequestRate share is given back.
func TestFlight_AQueuedRequestIsNotSentOnceARetryAfterBegins(t *testing.T) {
	var requests atomic.Int64
	entered, release := make(chan struct{}, 2), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if requests.Add(1) == 1 { // the first: held, then refused
			entered <- struct{}{}
			<-release
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"active":false}`)
	}))
	t.Cleanup(srv.Close)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	v, err := New(Config{
		Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "rs-secret",
		Audiences: []string{"api://x"}, Logger: slog.New(slog.DiscardHandler), Now: clock,
		MaxConcurrent:  1,
		MaxRequestRate: 2, // two requests at once; the clock never moves forward
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	waiting := make(chan struct{}, 1)
	v.waitSlot = func() { waiting <- struct{}{} }
	first := verifyAsync(context.Background(), v, "Zmlyc3Q")
	<-entered
	queued := verifyAsync(context.Background(), v, "cXVldWVk")
	<-waiting // it passed the Retry-After check and MaxRequestRate, and queues
	close(release)
	if err := <-first; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("the refused request: %v, want ErrUnavailable", err)
	}
	if err := <-queued; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("the queued request: %v, want ErrUnavailable (not sent: the Retry-After began while it queued)", err)
	}
	if n, st := requests.Load(), v.Stats(); n != 1 || st.Requests != 1 || st.RateLimited != 1 {
		t.Fatalf("the server saw %d requests; Requests %d, RateLimited %d; want 1, 1 and 1", n, st.Requests, st.RateLimited)
	}
	// A clock set back ends the pause and refills no budget: the queued
	// request's share, given back, lets one more request out.
	mu.Lock()
	now = now.Add(-time.Hour)
	mu.Unlock()
	if _, err := v.VerifyAccessToken(context.Background(), "dGhpcmQ"); !errors.Is(err, ErrInactive) {
		t.Fatalf("after the pause: %v, want ErrInactive (sent, on the share the queued request gave back)", err)
	}
}

// A flight whose callers all left before it reached its request (their
// contexts ended after it started) takes no MaxRequestRate budget, not
// even for a moment: a live call meanwhile is not refused for the budget
// it held, nor is the abandoned flight counted in Stats.RateLimited. The
// clock holds the flight back until its caller has left; the only
// concurrency slot is taken, so a flight that passes the rate limit waits
// for it, and the waitSlot hook makes the live call while it holds the
// budget.
func TestFlight_FlightAbandonedBeforeItsRequestHoldsNoRequestRate(t *testing.T) {
	t0 := time.Now()
	var hold atomic.Bool
	inNow, resume := make(chan struct{}), make(chan struct{})
	_, v := newGated(t, nil, func(c *Config) {
		c.HTTPClient = nil
		c.MaxConcurrent = 1
		c.MaxRequestRate = 1    // one request, never refilled
		c.Cache.Disabled = true // so only the flights read the clock
		c.Now = func() time.Time {
			if hold.CompareAndSwap(true, false) {
				inNow <- struct{}{}
				<-resume
			}
			return t0
		}
	})
	live := make(chan error, 1)
	v.waitSlot = func() {
		_, err := v.VerifyAccessToken(context.Background(), "bGl2ZQ")
		live <- err
	}
	v.sem <- struct{}{} // the only slot, taken
	hold.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	abandoned := verifyAsync(ctx, v, "YWJhbmRvbmVk")
	<-inNow // its flight has started, and waits for the clock
	cancel()
	if err := <-abandoned; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned call: %v, want context.Canceled", err)
	}
	close(resume)
	v.wg.Wait() // the abandoned flight has ended, and any live call it made
	select {
	case err := <-live: // made while the abandoned flight waited for a slot
		if errors.Is(err, ErrUnavailable) {
			t.Fatalf("a live call, while an abandoned flight waited: %v, want it not refused for the budget that flight held", err)
		}
	default:
	}
	if st := v.Stats(); st.RateLimited != 0 {
		t.Fatalf("RateLimited %d, want 0", st.RateLimited)
	}
	<-v.sem
	v.waitSlot = nil
	if _, err := v.VerifyAccessToken(context.Background(), "bGl2ZQ"); !errors.Is(err, ErrInactive) {
		t.Fatalf("the next call: %v, want ErrInactive (sent: the budget untouched)", err)
	}
}
