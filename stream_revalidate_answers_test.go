package grpcauth

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// answeringRevalidator is a TokenVerifier and Revalidator whose answers a
// test sets: VerifyAccessToken accepts any token with claims, without exp,
// until noClaims is set, and from then on returns neither claims nor an
// error; RevalidateAt answers at, the zero time (never) when unset.
type answeringRevalidator struct {
	claims   verifier.Claims
	noClaims atomic.Bool
	at       atomic.Pointer[time.Time]
	calls    atomic.Int64 // of VerifyAccessToken
}

func newAnsweringRevalidator(t *testing.T, at time.Time) *answeringRevalidator {
	t.Helper()
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scope": "test:read test:stream"})
	if err != nil {
		t.Fatal(err)
	}
	a := &answeringRevalidator{claims: claims}
	a.at.Store(&at)
	return a
}

func (a *answeringRevalidator) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	a.calls.Add(1)
	if a.noClaims.Load() {
		return verifier.Claims{}, nil
	}
	return a.claims, nil
}

func (a *answeringRevalidator) RevalidateAt(string, verifier.Claims) time.Time { return *a.at.Load() }

// openWatchedStream opens a server stream whose token v accepts, on fake's
// clock and timers (opts apply to the Config after that), and returns
// once its handler has started, with the env (whose streamEnded receives
// what the handler's Send returns once its context has ended) and the
// stream.
func openWatchedStream(t *testing.T, v TokenVerifier, fake *fakeClock, opts ...envOption) (*env, authtestv1.TestService_ServerStreamClient) {
	t.Helper()
	e := newEnv(t, append([]envOption{func(c *Config, _ *verifier.Config) {
		c.Verifier, c.Now, c.afterFunc = v, fake.Now, fake.AfterFunc
	}}, opts...)...)
	e.svc.streamStarted, e.svc.streamEnded = make(chan struct{}, 1), make(chan error, 1)
	return e, openStreamVia(t, e, e.client, withAuth(bounded(t), bearer("opaque-token")))
}

// TestStream_RevalidatorRepeatingATimeInThePastReverifiesAtTheFloor: a
// Revalidator that answers, again and again, the same time long past (a
// cached verdict it keeps handing out after its end) has the stream
// re-verified MinRevalidateInterval after each re-verification, not at
// once. An answer equal to the last one is otherwise waited for as it is
// (a cached verdict's end, after a re-verification the jitter brought
// forward); taken so here, a wait of less than nothing, the stream would
// re-verify its token in a loop, without a pause, for as long as it
// lived.
func TestStream_RevalidatorRepeatingATimeInThePastReverifiesAtTheFloor(t *testing.T) {
	fake := newFakeClock()
	rv := newAnsweringRevalidator(t, t0.Add(-time.Hour))
	e, _ := openWatchedStream(t, rv, fake)
	recheck := fake.next(t)
	for i := range 3 {
		if recheck.d != MinRevalidateInterval {
			t.Fatalf("re-verification %d set for %v after a RevalidateAt an hour past, want the floor %v", i+1, recheck.d, MinRevalidateInterval)
		}
		calls := rv.calls.Load()
		fake.advance(recheck.d)
		if recheck = fake.fireNext(recheck); recheck == nil {
			t.Fatalf("re-verification %d set no next one: the stream was cut", i+1)
		}
		if got := rv.calls.Load(); got != calls+1 {
			t.Fatalf("re-verification %d verified the token %d times, want once", i+1, got-calls)
		}
	}
	e.stillRunning(t)
}

// TestStream_RevalidatorAnsweringTheZeroTimeIsNotAskedAgain: the zero
// time from RevalidateAt means never, as Revalidator documents, not a time
// long past: after a re-verification so answered, no timer is set (the
// stream has no exp), so the token is not re-verified again. Read as a
// time long past, it would have the token re-verified at the floor, every
// second, for as long as the stream lived.
func TestStream_RevalidatorAnsweringTheZeroTimeIsNotAskedAgain(t *testing.T) {
	fake := newFakeClock()
	rv := newAnsweringRevalidator(t, t0.Add(time.Minute))
	e, _ := openWatchedStream(t, rv, fake)
	recheck := fake.next(t)
	rv.at.Store(&time.Time{})
	fake.advance(recheck.d)
	if next := fake.fireNext(recheck); next != nil {
		t.Fatalf("after RevalidateAt answered the zero time, a re-verification was set for %v, want none", next.d)
	}
	if got := rv.calls.Load(); got != 2 {
		t.Fatalf("the token was verified %d times, want 2 (the stream's start and one re-verification)", got)
	}
	e.stillRunning(t)
}

// TestStream_ReverificationReturningNoClaimsEndsTheStream: a verifier
// that, on re-verification, returns neither claims nor an error has given
// no verdict that admits the token, so the stream is cut as for a refusal
// (ACCESS_TOKEN_REVOKED, its Decision's Err errNoClaims), as the same
// answer at the stream's start refuses it: it fails closed, not open.
func TestStream_ReverificationReturningNoClaimsEndsTheStream(t *testing.T) {
	fake := newFakeClock()
	rv := newAnsweringRevalidator(t, t0.Add(time.Minute))
	var rec recorder
	e, s := openWatchedStream(t, rv, fake, func(c *Config, _ *verifier.Config) { c.OnDecision = rec.record })
	recheck := fake.next(t)
	rv.noClaims.Store(true)
	fake.advance(recheck.d)
	recheck.fire()
	await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenRevoked)
	if d := rec.last(t); d.Allowed || d.Reason != ReasonTokenRevoked || !errors.Is(d.Err, errNoClaims) {
		t.Errorf("last decision = %+v, want denied %s with errNoClaims", d, ReasonTokenRevoked)
	}
}

// TestStream_RevalidatorAnsweringBeyondTheLongestDurationWaitsInSteps: a
// RevalidateAt further off than a time.Duration reaches (billions of years)
// neither overflows into a time in the past, which would re-verify at
// once, nor sets a timer longer than maxTimerWait: the timer waits a
// minute at a time, reading Config.Now, and the token is not re-verified.
func TestStream_RevalidatorAnsweringBeyondTheLongestDurationWaitsInSteps(t *testing.T) {
	fake := newFakeClock()
	rv := newAnsweringRevalidator(t, time.Unix(1<<62, 0))
	e, _ := openWatchedStream(t, rv, fake)
	recheck := fake.next(t)
	for i := range 3 {
		if recheck.d != maxTimerWait {
			t.Fatalf("re-verification timer %d set for %v, want %v", i+1, recheck.d, maxTimerWait)
		}
		fake.advance(recheck.d)
		if recheck = fake.fireNext(recheck); recheck == nil {
			t.Fatalf("timer %d set no next one: the stream was cut", i+1)
		}
	}
	if got := rv.calls.Load(); got != 1 {
		t.Errorf("the token was verified %d times, want once (the stream's start)", got)
	}
	e.stillRunning(t)
}
