package grpcauth

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth/verifier"
)

// TestStream_CutStopsBothTimersWhileTheHandlerStillRuns: a stream cut at
// its token's expiry, or on re-verification, has both its timers stopped
// at the cut, not when its handler returns, which may be long after (a
// handler blocked in Recv waits for the client): the other timer would
// otherwise go on firing, reading Config.Now every minute, and re-verify
// the token of a stream that has ended, in user code.
func TestStream_CutStopsBothTimersWhileTheHandlerStillRuns(t *testing.T) {
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scp": []string{"test:stream"}, "exp": t0.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		reason string
	}{{"at the expiry", ReasonTokenExpired}, {"on re-verification", ReasonTokenRevoked}} {
		t.Run(tt.name, func(t *testing.T) {
			b := &buggyRevalidator{claims: claims}
			clock := newFakeClock()
			a := mustNew(t, Config{Verifier: b, Now: clock.Now, afterFunc: clock.AfterFunc, Logger: discardLogger()})
			cut, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
			go func() {
				done <- a.ServeCall(adapterContext(bearer("tok")), "/authtest.v1.TestService/BidiStream", true, nil,
					func(ctx context.Context, _ *Guard) error {
						<-ctx.Done()
						close(cut)
						<-release // still running, as a handler blocked in Recv is
						return nil
					})
			}()
			expiry, recheck := clock.next(t), clock.next(t)
			other := recheck
			if tt.reason == ReasonTokenExpired {
				clock.expire(expiry)
			} else {
				b.refuse.Store(true)
				clock.setNow(t0.Add(time.Minute))
				recheck.fire()
				other = expiry
			}
			await(t, cut, "the stream's context was not cancelled")
			select {
			case <-other.stopCalled:
			default:
				t.Errorf("the stream was cut %s, and its other timer (%v) was not stopped while the handler runs", tt.name, other.d)
			}
			close(release)
			checkStatus(t, await(t, done, "ServeCall did not return"), codes.Unauthenticated, tt.reason)
		})
	}
}

// heldRevalidator accepts its token as the stream opens; the next
// verification, a re-verification, signals inFlight, waits for proceed,
// then refuses the token.
type heldRevalidator struct {
	claims            verifier.Claims
	calls             atomic.Int32
	inFlight, proceed chan struct{}
}

func (h *heldRevalidator) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	if h.calls.Add(1) == 1 {
		return h.claims, nil
	}
	close(h.inFlight)
	<-h.proceed
	return verifier.Claims{}, errors.New("revoked")
}

func (h *heldRevalidator) RevalidateAt(string, verifier.Claims) time.Time { return t0.Add(time.Minute) }

// TestStream_RefusalInFlightAcrossTheCutIsNotReportedAgain: a
// re-verification that was running when the stream was cut at its expiry,
// and then refuses the token (as the cut is reported, or once the
// stream's context is cancelled, the handler still running), neither cuts
// the stream again nor reports a second denial, nor sets a timer: the
// stream's one refusal is its expiry.
func TestStream_RefusalInFlightAcrossTheCutIsNotReportedAgain(t *testing.T) {
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scp": []string{"test:stream"}, "exp": t0.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	for _, duringTheReport := range []bool{true, false} {
		t.Run(map[bool]string{true: "as the cut is reported", false: "after the cut"}[duringTheReport], func(t *testing.T) {
			h := &heldRevalidator{claims: claims, inFlight: make(chan struct{}), proceed: make(chan struct{})}
			clock, rec := newFakeClock(), &recorder{}
			var during atomic.Pointer[func()]
			a := mustNew(t, Config{Verifier: h, Now: clock.Now, afterFunc: clock.AfterFunc, Logger: discardLogger(),
				OnDecision: func(ctx context.Context, d Decision) {
					rec.record(ctx, d)
					if f := during.Swap(nil); f != nil && !d.Allowed {
						(*f)()
					}
				}})
			release, done := make(chan struct{}), make(chan error, 1)
			go func() {
				done <- a.ServeCall(adapterContext(bearer("tok")), "/authtest.v1.TestService/BidiStream", true, nil,
					func(ctx context.Context, _ *Guard) error {
						<-ctx.Done()
						<-release // still running, as a handler blocked in Recv is
						return nil
					})
			}()
			expiry, recheck := clock.next(t), clock.next(t)
			clock.setNow(t0.Add(time.Minute))
			reverified := make(chan struct{})
			go func() {
				defer close(reverified)
				recheck.fire()
			}()
			await(t, h.inFlight, "the re-verification did not run")
			refuse := func() {
				close(h.proceed)
				await(t, reverified, "the re-verification did not end")
			}
			if duringTheReport {
				during.Store(&refuse)
			}
			clock.expire(expiry)
			if !duringTheReport {
				refuse()
			}
			close(release)
			checkStatus(t, await(t, done, "ServeCall did not return"), codes.Unauthenticated, ReasonTokenExpired)
			if denied := rec.denied(); !slices.Equal(denied, []string{ReasonTokenExpired}) {
				t.Errorf("denials %v, want only %s", denied, ReasonTokenExpired)
			}
			if n := len(clock.added); n != 0 {
				t.Errorf("%d timers set after the cut, want none", n)
			}
		})
	}
}

// TestStream_TimerFiringAsTheHandlerReturnsReportsNothing: a stream's
// expiry timer that fires as its handler returns, Config.Now still being
// read on the timer's goroutine (after the timer saw the stream running)
// when the handler returns, neither cuts the stream nor reports anything
// for it: not the stale sign-in's cut, not its would-deny in dry run
// (a Decision for a stream that had ended, after its own end), not the
// expiry's cut in dry run, which dry run enforces. The stream's one
// Decision is its allowed start, and no timer is set again.
func TestStream_TimerFiringAsTheHandlerReturnsReportsNothing(t *testing.T) {
	for _, tt := range []struct {
		name     string
		dryRun   bool
		authTime time.Time // the sign-in, under signInRules' max_age_seconds of 300
		exp      time.Time
		at       time.Time // Config.Now as the timer fires: its cut is due
	}{
		{"stale sign-in, dry run", true, t0.Add(-200 * time.Second), t0.Add(time.Hour), t0.Add(staleIn)},
		{"stale sign-in, enforced", false, t0.Add(-200 * time.Second), t0.Add(time.Hour), t0.Add(staleIn)},
		// Signed in at t0: stale only after the exp plus the clock skew,
		// the cut the timer is set for.
		{"expiry, dry run", true, t0, t0.Add(time.Minute), t0.Add(24 * time.Hour)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock, rec := newFakeClock(), &recorder{}
			var hold atomic.Pointer[func()] // run by the next Config.Now, once
			now := func() time.Time {
				if f := hold.Swap(nil); f != nil {
					(*f)()
				}
				return clock.Now()
			}
			claims := staleClaims(t, map[string]any{"exp": tt.exp.Unix(), "auth_time": tt.authTime.Unix()})
			a := mustNew(t, Config{Verifier: staticVerifier{claims: claims}, Rules: signInRules, DryRun: tt.dryRun,
				Now: now, afterFunc: clock.AfterFunc, OnDecision: rec.record, Logger: discardLogger()})
			returning, result := make(chan struct{}), make(chan error, 1)
			go func() {
				result <- a.ServeCall(grpc.NewContextWithServerTransportStream(adapterContext(bearer("tok")), &trailerStream{}), mBidi, true, nil,
					func(context.Context, *Guard) error {
						<-returning
						return nil
					})
			}()
			ft := clock.next(t)
			clock.setNow(tt.at)
			reading, proceed, fired := make(chan struct{}), make(chan struct{}), make(chan struct{})
			held := func() {
				close(reading)
				<-proceed
			}
			hold.Store(&held)
			go func() {
				defer close(fired)
				ft.fire()
			}()
			await(t, reading, "the timer did not read Config.Now")
			close(returning) // the handler returns while the timer reads the clock
			if err := await(t, result, "ServeCall did not return"); err != nil {
				t.Errorf("ServeCall = %v, want the handler's nil: the stream ended before its cut", err)
			}
			close(proceed)
			await(t, fired, "the timer did not return")
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.ds) != 1 || !rec.ds[0].Allowed || rec.ds[0].DryRun {
				t.Errorf("decisions %+v, want the allowed start only", rec.ds)
			}
			if n := len(clock.added); n != 0 {
				t.Errorf("%d timers set after the stream ended, want none", n)
			}
		})
	}
}
