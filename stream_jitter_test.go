package grpcauth

import (
	"context"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth/internal/jitter"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// maxRandom is the largest number rand.Float64 returns.
var maxRandom = math.Nextafter(1, 0)

// fakeRandom is a settable Config.random.
type fakeRandom struct{ bits atomic.Uint64 }

func (r *fakeRandom) Float64() float64 { return math.Float64frombits(r.bits.Load()) }
func (r *fakeRandom) set(f float64)    { r.bits.Store(math.Float64bits(f)) }

// withRandom makes r the Authenticator's random source.
func withRandom(r *fakeRandom) envOption {
	return func(c *Config, _ *verifier.Config) { c.random = r.Float64 }
}

// jitterBounds returns the earliest and the latest wait a re-verification
// due in d may be set for: d less a tenth of it (at most jitter.Max), and
// d.
func jitterBounds(d time.Duration) (lo, hi time.Duration) {
	return d - min(d/10, jitter.Max), d
}

// TestStream_OpenedTogetherAreReverifiedApart: two streams opened at the
// same instant, whose tokens were introspected together (their cached
// answers end together, one Cache.TTL on), are re-verified at different
// times, both within the last tenth of the TTL: not later than the cached
// answers end.
func TestStream_OpenedTogetherAreReverifiedApart(t *testing.T) {
	rnd := &fakeRandom{}
	r := newRevalidationEnv(t, map[string]any{"exp": t0.Add(time.Hour)}, nil, withRandom(rnd))
	r.svc.streamEnded = make(chan error, 2)
	second, err := r.iss.MintOpaqueClaims(map[string]any{"sub": "user-2", "scope": "test:read test:stream", "exp": t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var rechecks [2]time.Duration
	for i, f := range []float64{0.25, 0.75} {
		rnd.set(f)
		if i == 1 {
			r.token = second // open uses r.token
		}
		r.open(t)
		_, recheck := r.fake.next(t), r.fake.next(t)
		rechecks[i] = recheck.d
	}
	lo, hi := jitterBounds(introspect.DefaultCacheTTL)
	if rechecks[0] == rechecks[1] {
		t.Errorf("both streams re-verified in %v: want different times", rechecks[0])
	}
	for i, d := range rechecks {
		if d < lo || d > hi {
			t.Errorf("stream %d re-verified in %v, want within [%v, %v]", i+1, d, lo, hi)
		}
	}
	if rechecks[0] != 58500*time.Millisecond || rechecks[1] != 55500*time.Millisecond {
		t.Errorf("re-verifications in %v, want 58.5s and 55.5s (a quarter and three quarters of 6s early)", rechecks)
	}
}

// steppedRevalidator is a TokenVerifier and Revalidator that accepts any
// token, without exp, and asks for its re-verification next after now.
type steppedRevalidator struct {
	claims verifier.Claims
	now    func() time.Time
	next   atomic.Int64 // a time.Duration
	calls  atomic.Int64 // of VerifyAccessToken
}

func (s *steppedRevalidator) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	s.calls.Add(1)
	return s.claims, nil
}

func (s *steppedRevalidator) RevalidateAt(string, verifier.Claims) time.Time {
	return s.now().Add(time.Duration(s.next.Load()))
}

// openSteppedStream opens a server stream, with rnd as the random source,
// whose token a steppedRevalidator accepts, without exp, asking for its
// re-verification next after now; it returns once the handler has
// started, with the Revalidator, the fake clock and the re-verification
// timer (without exp, the only one).
func openSteppedStream(t *testing.T, rnd *fakeRandom, next time.Duration) (*steppedRevalidator, *fakeClock, *fakeTimer) {
	t.Helper()
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scope": "test:read test:stream"})
	if err != nil {
		t.Fatal(err)
	}
	fake := newFakeClock()
	rv := &steppedRevalidator{claims: claims, now: fake.Now}
	rv.next.Store(int64(next))
	openWatchedStream(t, rv, fake, withRandom(rnd))
	return rv, fake, fake.next(t)
}

// TestStream_JitterNeverDelaysAReverification: whatever the random source
// gives, its extremes included, and whatever the interval, a
// re-verification comes, by the wall clock, no later than the time the
// Revalidator asked for, and at most a tenth of the wait (at most
// jitter.Max) earlier; with 0, exactly then.
func TestStream_JitterNeverDelaysAReverification(t *testing.T) {
	rnd := &fakeRandom{}
	rv, fake, recheck := openSteppedStream(t, rnd, time.Minute) // set with random 0 for a minute on

	// reverify walks recheck, set with random f for d, to its
	// re-verification (which sets the next with the random source's and
	// rv's values then) and checks when that came by the wall clock.
	reverify := func(f float64, d time.Duration) {
		t.Helper()
		lo, hi := jitterBounds(d)
		lo = max(lo, MinRevalidateInterval)
		calls := rv.calls.Load()
		// Skipped to a nanosecond before the earliest time allowed,
		// less a wait: the timers walk on from there to the time set.
		skip := max(lo-maxTimerWait-time.Nanosecond, 0)
		at, _, next := fake.reverify(t, recheck, fake.advance, skip, func() bool { return rv.calls.Load() > calls })
		if next == nil {
			t.Fatal("the stream was cut")
		}
		recheck = next
		if at > hi || at < lo {
			t.Fatalf("random %v, re-verification due in %v: came in %v, want within [%v, %v]", f, d, at, lo, hi)
		}
		if f == 0 && at != d {
			t.Fatalf("random 0, re-verification due in %v: came in %v, want exactly then", d, at)
		}
		if f == maxRandom && d >= time.Hour && at > d-jitter.Max+time.Microsecond {
			t.Fatalf("random %v, re-verification due in %v: came in %v, want about %v earlier", f, d, at, jitter.Max)
		}
	}

	intervals := []time.Duration{MinRevalidateInterval, 1500 * time.Millisecond, 10 * time.Second, time.Minute,
		time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}
	draws := []float64{0, maxRandom, 0.5}
	seeded := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		draws = append(draws, seeded.Float64())
	}
	prevF, prevD := 0.0, time.Minute
	for _, f := range draws {
		for _, d := range intervals {
			rnd.set(f)
			rv.next.Store(int64(d))
			reverify(prevF, prevD) // sets the next with f and d
			prevF, prevD = f, d
		}
	}
	reverify(prevF, prevD)
}

// TestStream_RetryAfterAnOutageIsJittered: when a re-verification gets no
// answer (the introspection endpoint is down), the retry, Cache.NegativeTTL
// later, is brought forward by the jitter too, so that the streams an
// outage hit together do not retry together; never later than
// NegativeTTL.
func TestStream_RetryAfterAnOutageIsJittered(t *testing.T) {
	rnd := &fakeRandom{}
	r := newRevalidationEnv(t, map[string]any{"exp": t0.Add(time.Hour)}, nil, withRandom(rnd))
	r.open(t)
	_, recheck := r.fake.next(t), r.fake.next(t)
	if recheck.d != introspect.DefaultCacheTTL {
		t.Fatalf("re-verification timer %v with random 0, want the cache TTL %v", recheck.d, introspect.DefaultCacheTTL)
	}
	r.iss.Close()
	lo, hi := jitterBounds(introspect.DefaultNegativeCacheTTL)
	var retries []time.Duration
	for _, f := range []float64{0.5, maxRandom, 0} {
		rnd.set(f)
		r.clk.Advance(recheck.d)
		recheck.fire() // no answer: retried NegativeTTL later, jittered
		recheck = r.fake.next(t)
		if recheck.d < lo || recheck.d > hi {
			t.Fatalf("retry with random %v in %v, want within [%v, %v]", f, recheck.d, lo, hi)
		}
		retries = append(retries, recheck.d)
	}
	if retries[0] != 9500*time.Millisecond || retries[1] >= retries[0] || retries[2] != hi {
		t.Errorf("retries in %v, want 9.5s, about 9s, then 10s", retries)
	}
	r.stillRunning(t)
}

// TestStream_EarlyReverificationOfACachedVerdictIsFollowedByOneAtItsEnd: a
// re-verification the jitter brought forward is answered from the
// introspection cache (the authorization server is not asked, and the
// answer's end has not moved), so the next is set for that end itself,
// not earlier again: a token revoked meanwhile still ends its stream
// within Cache.TTL of its introspection, as documented.
func TestStream_EarlyReverificationOfACachedVerdictIsFollowedByOneAtItsEnd(t *testing.T) {
	rnd := &fakeRandom{}
	rnd.set(maxRandom)
	r := newRevalidationEnv(t, map[string]any{"exp": t0.Add(time.Hour)}, nil, withRandom(rnd))
	s := r.open(t)
	_, recheck := r.fake.next(t), r.fake.next(t)
	early := recheck.d
	if lo, _ := jitterBounds(introspect.DefaultCacheTTL); early > lo+time.Microsecond {
		t.Fatalf("re-verification timer %v with the largest random, want about %v", early, lo)
	}
	r.iss.Revoke(r.token)
	r.clk.Advance(early)
	recheck.fire() // the cached answer: still active
	if got := r.iss.IntrospectionRequests(); got != 1 {
		t.Fatalf("%d introspection requests, want 1: the early re-verification is a cache hit", got)
	}
	recheck = r.fake.next(t)
	if recheck.d != introspect.DefaultCacheTTL-early {
		t.Fatalf("next re-verification in %v, want %v: when the cached answer ends", recheck.d, introspect.DefaultCacheTTL-early)
	}
	r.stillRunning(t)
	r.clk.Advance(recheck.d)
	recheck.fire() // Cache.TTL after the introspection: revoked
	await(t, r.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenRevoked)
}

// A wall clock set back while a stream waits for its re-verification does
// not delay it: the timers end the wait once they have run its whole
// length, whatever Config.Now says then, and the re-verification comes,
// by their own clock, when it was due.
func TestStream_ClockSetBackDoesNotDelayAReverification(t *testing.T) {
	rv, fake, recheck := openSteppedStream(t, &fakeRandom{}, time.Hour) // set with random 0 for an hour on
	fake.setNow(t0.Add(-24 * time.Hour))                                // set back a day
	calls := rv.calls.Load()
	_, waited, next := fake.reverify(t, recheck, fake.advance, 0, func() bool { return rv.calls.Load() > calls })
	if next == nil {
		t.Fatal("the stream was cut")
	}
	if waited != time.Hour {
		t.Errorf("re-verified after the timers waited %v, want %v", waited, time.Hour)
	}
	if next.d != maxTimerWait {
		t.Errorf("next re-verification timer set for %v, want %v (an hour on, from the clock set back)", next.d, maxTimerWait)
	}
}
