package grpcauth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// expiryEnv is a server whose Authenticator uses a fake clock, and a token
// valid for ten more minutes at t0.
func expiryEnv(t *testing.T, opts ...envOption) (*env, *fakeClock, string) {
	t.Helper()
	clock := newFakeClock()
	opts = append([]envOption{func(c *Config, _ *verifier.Config) {
		c.Now = clock.Now
		c.afterFunc = clock.AfterFunc
	}}, opts...)
	e := newEnv(t, opts...)
	e.svc.streamStarted = make(chan struct{}, 1)
	e.svc.streamEnded = make(chan error, 1)
	e.svc.bidiReceived = make(chan struct{}, 8)
	tok := e.token(t, map[string]any{"sub": "user-1", "exp": t0.Add(10 * time.Minute), "scp": []string{"test:read", "test:stream"}})
	return e, clock, tok
}

func TestStream_ExpiredTokenEndsServerStreamWithUnauthenticated(t *testing.T) {
	e, clock, tok := expiryEnv(t)
	ctx := withAuth(bounded(t), bearer(tok))
	s, err := e.client.ServerStream(ctx, &authtestv1.ServerStreamRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("first response: %v", err)
	}
	await(t, e.svc.streamStarted, "the stream's handler did not start")
	clock.checkCutIn(t, clock.next(t), 10*time.Minute+verifier.DefaultClockSkew) // token lifetime plus skew

	// The handler's context ended, its later sends fail, and although it
	// returned nil the caller sees the expiry.
	if err := await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Send after expiry = %v, want Unauthenticated", err)
	}
	_, err = s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
}

// openStarted opens a ServerStream of one message with tok, and returns
// once the client has it and the handler has signalled its start.
func openStarted(t *testing.T, e *env, tok string) {
	t.Helper()
	s, err := e.client.ServerStream(withAuth(bounded(t), bearer(tok)), &authtestv1.ServerStreamRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	await(t, e.svc.streamStarted, "the stream's handler did not start")
}

// openBidiStarted opens a BidiStream with tok, sends one message and
// receives its answer, and returns once the handler signalled its start.
func openBidiStarted(t *testing.T, e *env, tok string) grpc.BidiStreamingClient[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse] {
	t.Helper()
	return openBidiStartedCtx(t, bounded(t), e, tok)
}

// openBidiStartedCtx is openBidiStarted with the stream's context.
func openBidiStartedCtx(t *testing.T, ctx context.Context, e *env, tok string) grpc.BidiStreamingClient[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse] {
	t.Helper()
	return startBidi(t, withAuth(ctx, bearer(tok)), e)
}

// startBidi is openBidiStarted with the credentials in ctx's metadata.
func startBidi(t *testing.T, ctx context.Context, e *env) grpc.BidiStreamingClient[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse] {
	t.Helper()
	s, err := e.client.BidiStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	await(t, e.svc.streamStarted, "the stream's handler did not start")
	return s
}

// expireThenSend fires the stream's expiry timer, sends one more message,
// and checks that the stream ends with ACCESS_TOKEN_EXPIRED.
func expireThenSend(t *testing.T, s grpc.BidiStreamingClient[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse], clock *fakeClock) {
	t.Helper()
	clock.expire(clock.next(t))
	if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
}

// The cut at expiry is reported as a denied Decision with
// ACCESS_TOKEN_EXPIRED, after the stream's allowed start.
func TestStream_ExpiryCutIsADeniedDecision(t *testing.T) {
	var rec recorder
	e, clock, tok := expiryEnv(t, func(c *Config, _ *verifier.Config) { c.OnDecision = rec.record })
	openStarted(t, e, tok)
	if d := rec.last(t); !d.Allowed {
		t.Fatalf("start = %+v, want allowed", d)
	}
	clock.expire(clock.next(t))
	await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
	d := rec.last(t)
	if d.Allowed || d.Reason != ReasonTokenExpired || d.Method != "/authtest.v1.TestService/ServerStream" || d.Claims.IsZero() || d.Err == nil {
		t.Errorf("cut = %+v, want denied %s for the stream's method, with its claims and a cause", d, ReasonTokenExpired)
	}
}

func TestStream_ExpiredTokenFailsBidiRecv(t *testing.T) {
	e, clock, tok := expiryEnv(t)
	s := openBidiStarted(t, e, tok)
	// The handler is blocked in Recv, which the expiry cannot interrupt;
	// the next message wakes it, and that Recv fails with the expiry
	// status: the message, sent after the cut, never reaches the handler.
	// The caller gets that status.
	expireThenSend(t, s, clock)
	if got := len(e.svc.bidiReceived); got != 1 {
		t.Fatalf("the handler received %d messages, want 1 (the one sent before the expiry)", got)
	}
}

func TestStream_TimerStoppedWhenStreamEnds(t *testing.T) {
	e, clock, tok := expiryEnv(t)
	ctx := withAuth(bounded(t), bearer(tok))
	got, err := callBidiStream(ctx, e)
	checkStatus(t, err, codes.OK, "")
	if !got.GetAuthenticated() {
		t.Fatal("handler saw no claims")
	}
	timer := clock.next(t)
	await(t, timer.stopCalled, "the timer was never stopped")
	timer.fire() // a stopped timer does nothing
	if timer.fired.Load() {
		t.Error("timer fired after the stream ended")
	}
	// Had its goroutine been on its way, before the cut: it sets no other.
	timer.f()
	clock.mu.Lock()
	defer clock.mu.Unlock()
	if n := len(clock.timers); n != 2 {
		t.Errorf("%d timers after a late firing, want 2 (the expiry and the re-verification): set again after the stream ended", n)
	}
}

// A stream its client cancels stops both of its timers, the expiry and
// the re-verification of its JWT, once the handler returns: nothing
// outlives it.
func TestStream_ClientCancelStopsEveryTimer(t *testing.T) {
	e, clock, tok := expiryEnv(t)
	ctx, cancel := context.WithCancel(bounded(t))
	defer cancel()
	openBidiStartedCtx(t, ctx, e, tok)
	timers := []*fakeTimer{clock.next(t), clock.next(t)}
	cancel()
	for i, ft := range timers {
		await(t, ft.stopCalled, fmt.Sprintf("timer %d (of %v) was never stopped", i, ft.d))
	}
}

func TestStream_SkipStreamExpirySetsNoTimer(t *testing.T) {
	e, clock, tok := expiryEnv(t, func(c *Config, _ *verifier.Config) { c.SkipStreamExpiry = true })
	got, err := callBidiStream(withAuth(bounded(t), bearer(tok)), e)
	checkStatus(t, err, codes.OK, "")
	if !got.GetAuthenticated() {
		t.Fatal("handler saw no claims")
	}
	select {
	case <-clock.added:
		t.Fatal("a timer was set despite SkipStreamExpiry")
	default:
	}
}

func TestStream_PublicStreamWithoutTokenSetsNoTimer(t *testing.T) {
	e, clock, _ := expiryEnv(t, func(c *Config, _ *verifier.Config) { c.Public = []string{"/authtest.v1.TestService/BidiStream"} })
	got, err := callBidiStream(bounded(t), e)
	checkStatus(t, err, codes.OK, "")
	if got.GetAuthenticated() {
		t.Fatal("handler saw claims without a token")
	}
	select {
	case <-clock.added:
		t.Fatal("a timer was set for a call without a token")
	default:
	}
}

// A stream opened on a public method with a token is cut when the token
// expires, as one on any other method: a new call with that token would be
// refused (a token sent to a public method must be valid), and the
// handler's claims must not outlive it.
func TestStream_PublicMethodStreamWithTokenIsCutAtExpiry(t *testing.T) {
	e, clock, tok := expiryEnv(t, func(c *Config, _ *verifier.Config) { c.Public = []string{"/authtest.v1.TestService/BidiStream"} })
	s := openBidiStarted(t, e, tok)
	expireThenSend(t, s, clock)
}

// skewReporter is a TokenVerifier that reports a clock skew of its own,
// whatever the verifier it wraps (set after newEnv) accepts.
type skewReporter struct {
	TokenVerifier
	skew time.Duration
}

func (s *skewReporter) ClockSkew() time.Duration { return s.skew }

// reportSkew installs r as the Authenticator's verifier; the test sets
// r.TokenVerifier to the env's verifier once newEnv has built it.
func reportSkew(r *skewReporter) envOption {
	return func(c *Config, _ *verifier.Config) { c.Verifier = r }
}

func TestStream_VerifierClockSkewExtendsStream(t *testing.T) {
	e, clock, tok := expiryEnv(t, func(_ *Config, v *verifier.Config) { v.ClockSkew = 5 * time.Minute })
	openStarted(t, e, tok)
	clock.checkCutIn(t, clock.next(t), 15*time.Minute) // lifetime 10m plus the verifier's skew 5m
}

func TestStream_VerifierWithoutClockSkewEndsStreamAtExpiry(t *testing.T) {
	e, clock, tok := expiryEnv(t, func(_ *Config, v *verifier.Config) { v.ClockSkew = -1 })
	s, err := e.client.BidiStream(withAuth(bounded(t), bearer(tok)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.CloseSend()
	if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	await(t, e.svc.streamStarted, "the stream's handler did not start")
	clock.checkCutIn(t, clock.next(t), 10*time.Minute) // exactly the remaining lifetime
}

func TestStream_TokenPastExpiryPlusSkewIsRejectedAtOnce(t *testing.T) {
	// The verifier tolerates a minute of skew but reports none. A token
	// expired 30s ago passes the verifier, but a stream would end at once,
	// so it is not started.
	var rec recorder
	r := &skewReporter{}
	e, clock, _ := expiryEnv(t, reportSkew(r), func(c *Config, _ *verifier.Config) { c.OnDecision = rec.record })
	r.TokenVerifier = e.v
	tok := e.token(t, map[string]any{"sub": "user-1", "exp": t0.Add(-30 * time.Second), "scp": []string{"test:stream"}})
	_, err := callBidiStream(withAuth(bounded(t), bearer(tok)), e)
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
	if d := rec.last(t); d.Allowed || d.Reason != ReasonTokenExpired || d.Claims.IsZero() {
		t.Errorf("decision = %+v, want a denial with the claims", d)
	}
	select {
	case <-clock.added:
		t.Fatal("a timer was set for a stream that never started")
	default:
	}
}

func TestClockSkew_FromVerifier(t *testing.T) {
	tests := []struct {
		name string
		v    TokenVerifier
		want time.Duration
	}{
		{"reports 5m", &skewReporter{skew: 5 * time.Minute}, 5 * time.Minute},
		{"reports none", &skewReporter{}, 0},
		{"reports a negative skew", &skewReporter{skew: -time.Second}, 0},
		{"reports nothing", staticVerifier{}, verifier.DefaultClockSkew},
	}
	for _, tt := range tests {
		if got := clockSkew(tt.v); got != tt.want {
			t.Errorf("%s: clockSkew = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// openHourStream opens a server stream with a token that expires an hour
// after t0 and returns once the handler has started.
func openHourStream(t *testing.T) (*env, *fakeClock, authtestv1.TestService_ServerStreamClient) {
	t.Helper()
	e, clock, _ := expiryEnv(t)
	tok := e.token(t, map[string]any{"sub": "user-1", "exp": t0.Add(time.Hour), "scp": []string{"test:read", "test:stream"}})
	s, err := e.client.ServerStream(withAuth(bounded(t), bearer(tok)), &authtestv1.ServerStreamRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("first response: %v", err)
	}
	await(t, e.svc.streamStarted, "the stream's handler did not start")
	return e, clock, s
}

// checkExpiryCut checks that the stream s of openHourStream was cut at its
// token's expiry: the handler's Send failed, and the client got
// ACCESS_TOKEN_EXPIRED.
func checkExpiryCut(t *testing.T, e *env, s authtestv1.TestService_ServerStreamClient) {
	t.Helper()
	if err := await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Send after the cut = %v, want Unauthenticated", err)
	}
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
}

// A stream's expiry cut follows the wall clock (Config.Now), as unary
// calls with its token do, not the monotonic clock its timer runs on, which
// stands still while the host is suspended and ignores steps of the wall
// clock: the timer waits at most maxTimerWait at a time, and when it
// fires with the wall clock past exp plus skew, however early by its own
// count, the stream is cut. A firing before that only sets it again.
func TestStream_CutAfterTheWallClockPassedExpWhileTimersStood(t *testing.T) {
	e, clock, s := openHourStream(t)
	timer := clock.next(t)
	if timer.d != maxTimerWait {
		t.Fatalf("expiry timer set for %v, want at most %v (the cut is in 1h plus skew)", timer.d, maxTimerWait)
	}

	// Fired before the cut: set again for what is left, capped.
	clock.setNow(t0.Add(time.Minute))
	if timer = clock.fireNext(timer); timer == nil || timer.d != maxTimerWait {
		t.Fatalf("expiry timer fired 1m in: set again %v, want for %v", timer, maxTimerWait)
	}
	clock.setNow(t0.Add(time.Hour + verifier.DefaultClockSkew - 10*time.Second))
	if timer = clock.fireNext(timer); timer == nil || timer.d != 10*time.Second {
		t.Fatalf("expiry timer fired 10s before the cut: set again %v, want for 10s", timer)
	}
	select {
	case err := <-e.svc.streamEnded:
		t.Fatalf("the stream ended (%v) before its token expired", err)
	default:
	}

	// The host sleeps through the cut: the wall clock moves on, the
	// monotonic one, and so the timer, does not; the timer's next firing,
	// 10s by its count, cuts the stream.
	clock.setNow(t0.Add(3 * time.Hour))
	if next := clock.fireNext(timer); next != nil {
		t.Fatalf("expiry timer fired past the cut: set again for %v, want the cut", next.d)
	}
	checkExpiryCut(t, e, s)
}

// A wall clock set back while the stream runs does not keep it open past
// its token's exp plus the skew by the monotonic clock: the timers, each
// set for at most maxTimerWait, end the wait once they have run its whole
// length, whatever Config.Now says then.
func TestStream_ClockSetBackDoesNotDelayTheCut(t *testing.T) {
	e, clock, s := openHourStream(t)
	clock.setNow(t0.Add(-24 * time.Hour)) // set back a day
	want := time.Hour + verifier.DefaultClockSkew
	if waited := clock.runOut(clock.next(t), nil); waited != want { // the expiry timer, set first
		t.Errorf("cut after the timers waited %v, want %v", waited, want)
	}
	checkExpiryCut(t, e, s)
}

// A wall clock stepped forward, short of the token's exp plus the skew,
// then set right again (a bad time source corrected) does not cut the
// stream early: the wait by the timers' own clock is the whole time the
// expiry timer was first set for, whatever Config.Now read on the way.
func TestStream_ClockSteppedForwardThenBackDoesNotCutEarly(t *testing.T) {
	e, clock, s := openHourStream(t)
	want := time.Hour + verifier.DefaultClockSkew
	stepped := false
	waited := clock.runOut(clock.next(t), func() {
		if !stepped { // as the first firing reads Config.Now
			stepped = true
			clock.advance(50 * time.Minute)
			return
		}
		if clock.Now().After(t0.Add(50 * time.Minute)) {
			clock.advance(-50 * time.Minute) // and set right before the next
		}
	})
	if waited != want {
		t.Errorf("cut after the timers waited %v, want %v", waited, want)
	}
	checkExpiryCut(t, e, s)
}
