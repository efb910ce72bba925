package grpcauth

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// heldAcceptor is a TokenVerifier and Revalidator that accepts its token
// every time, asking for re-verification a minute on. When inFlight is
// set, a re-verification (any verification after the first) signals it,
// waits for proceed, and only then accepts the token, whatever its
// context: a verifier that does not heed it. It counts the calls of both
// methods, and keeps the context of the last re-verification.
type heldAcceptor struct {
	claims            verifier.Claims
	verifies, asks    atomic.Int32
	inFlight, proceed chan struct{}
	ctx               atomic.Pointer[context.Context]
}

func newHeldAcceptor(t *testing.T, hold bool) *heldAcceptor {
	t.Helper()
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scope": "test:read test:stream", "exp": t0.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	h := &heldAcceptor{claims: claims}
	if hold {
		h.inFlight, h.proceed = make(chan struct{}), make(chan struct{})
	}
	return h
}

func (h *heldAcceptor) VerifyAccessToken(ctx context.Context, _ string) (verifier.Claims, error) {
	if h.verifies.Add(1) > 1 {
		h.ctx.Store(&ctx)
		if h.inFlight != nil {
			close(h.inFlight)
			<-h.proceed
		}
	}
	return h.claims, nil
}

func (h *heldAcceptor) RevalidateAt(string, verifier.Claims) time.Time {
	h.asks.Add(1)
	return t0.Add(time.Minute)
}

// checkAskedNothingMore fails the test unless h verified the token
// verifies times in all, and was asked RevalidateAt once, as the stream
// opened, and no timer of clock was set since.
func (h *heldAcceptor) checkAskedNothingMore(t *testing.T, clock *fakeClock, verifies int32) {
	t.Helper()
	if n := h.verifies.Load(); n != verifies {
		t.Errorf("the token was verified %d times, want %d", n, verifies)
	}
	if n := h.asks.Load(); n != 1 {
		t.Errorf("RevalidateAt was asked %d times, want once (as the stream opened)", n)
	}
	if n := len(clock.added); n != 0 {
		t.Errorf("%d timers set after the stream ended, want none", n)
	}
}

// heldEnv starts a server whose verifier is h, on clock's fake timers
// (opts apply to its Config last), and opens a BidiStream on it: it
// returns the stream and its expiry and re-verification timers, the
// re-verification due (clock's Now moved to it).
func heldEnv(t *testing.T, h *heldAcceptor, opts ...envOption) (s grpc.BidiStreamingClient[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse], clock *fakeClock, expiry, recheck *fakeTimer) {
	t.Helper()
	clock = newFakeClock()
	e := newEnv(t, append([]envOption{func(c *Config, _ *verifier.Config) {
		c.Verifier, c.Now, c.afterFunc = h, clock.Now, clock.AfterFunc
	}}, opts...)...)
	e.svc.streamStarted = make(chan struct{}, 1)
	s = startBidi(t, withAuth(bounded(t), bearer("opaque-token")), e)
	expiry, recheck = clock.next(t), clock.next(t)
	clock.setNow(t0.Add(time.Minute))
	return s, clock, expiry, recheck
}

// endNormally ends s, a BidiStream, from its client: its handler returns,
// and Recv sees the stream end normally, once the interceptor has
// returned.
func endNormally(t *testing.T, s grpc.BidiStreamingClient[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse]) {
	t.Helper()
	if err := s.CloseSend(); err != nil {
		t.Error(err)
	}
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv = %v, want io.EOF: the stream ended normally", err)
	}
}

// onNextDenial is an envOption whose OnDecision runs the function during
// holds as the next denial is reported, once: the stream is cut, its
// context not yet cancelled.
func onNextDenial(during *atomic.Pointer[func()]) envOption {
	return func(c *Config, _ *verifier.Config) {
		c.OnDecision = func(_ context.Context, d Decision) {
			if d.Allowed {
				return
			}
			if f := during.Swap(nil); f != nil {
				(*f)()
			}
		}
	}
}

// cutReporting cuts s, a BidiStream of a server with onNextDenial(during),
// at its expiry timer, running f as the cut is reported (on the test's
// goroutine: clock.expire runs there), and checks that its client gets
// ACCESS_TOKEN_EXPIRED once its handler, blocked in its receive, gets the
// cut.
func cutReporting(t *testing.T, s grpc.BidiStreamingClient[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse], clock *fakeClock, expiry *fakeTimer, during *atomic.Pointer[func()], f func()) {
	t.Helper()
	during.Store(&f)
	clock.expire(expiry)
	if during.Load() != nil {
		t.Fatal("the cut was not reported")
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
}

// TestStream_ReverificationDueAsTheHandlerReturnsVerifiesNothing: a
// re-verification timer that fires as the stream's handler returns (the
// timer saw the stream running, then the handler returned while it read
// Config.Now) verifies nothing: the verifier, user code that may be slow,
// is not called for the ended stream (with its context already
// cancelled), nor is RevalidateAt, and no timer is set. Before, the
// verifier was called.
func TestStream_ReverificationDueAsTheHandlerReturnsVerifiesNothing(t *testing.T) {
	h := newHeldAcceptor(t, false)
	var hold atomic.Pointer[func()] // run by the next Config.Now, once
	s, clock, _, recheck := heldEnv(t, h, func(c *Config, _ *verifier.Config) {
		now := c.Now
		c.Now = func() time.Time {
			if f := hold.Swap(nil); f != nil {
				(*f)()
			}
			return now()
		}
	})
	returned := func() { endNormally(t, s) } // on the test's goroutine: recheck.fire runs there
	hold.Store(&returned)
	recheck.fire()
	if hold.Load() != nil {
		t.Fatal("the timer did not read Config.Now")
	}
	h.checkAskedNothingMore(t, clock, 1)
}

// TestStream_ReverificationInFlightAsTheHandlerReturnsEndsWithTheStream:
// a re-verification whose verifier is still running when the stream's
// handler returns ends with the stream: the verifier's context is
// cancelled, and its verdict, one that accepts the token (a verifier that
// does not heed its context) coming after the watch stopped but before
// the stream's context was released, asks RevalidateAt nothing and sets
// no timer. Before, RevalidateAt was asked for the ended stream.
func TestStream_ReverificationInFlightAsTheHandlerReturnsEndsWithTheStream(t *testing.T) {
	h := newHeldAcceptor(t, true)
	reverified := make(chan struct{})
	var stopped atomic.Pointer[func()] // run once the watch has stopped, once
	s, clock, _, recheck := heldEnv(t, h, func(c *Config, _ *verifier.Config) {
		c.streamStopped = func() {
			if f := stopped.Swap(nil); f != nil {
				(*f)()
			}
		}
	})
	go func() {
		defer close(reverified)
		recheck.fire()
	}()
	await(t, h.inFlight, "the re-verification did not run")
	accept := func() { // on the handler's goroutine: no t.FailNow here
		close(h.proceed)
		<-reverified // the verifier returns; nothing there blocks
	}
	stopped.Store(&accept)
	endNormally(t, s)
	if stopped.Load() != nil {
		t.Fatal("the watch's stop was not seen")
	}
	if ctx := h.ctx.Load(); ctx == nil || (*ctx).Err() == nil {
		t.Error("the re-verification's context was not cancelled when the stream ended")
	}
	h.checkAskedNothingMore(t, clock, 2)
}

// TestStream_ReverificationAcceptingAsTheCutIsReportedAsksNothingMore: a
// re-verification that was running when the stream was cut at its
// expiry, and accepts the token as the cut is reported (the stream cut,
// its context not yet cancelled), asks RevalidateAt nothing and sets no
// timer: the stream has ended, with its cut. Before, RevalidateAt was
// asked for the cut stream.
func TestStream_ReverificationAcceptingAsTheCutIsReportedAsksNothingMore(t *testing.T) {
	h := newHeldAcceptor(t, true)
	var during atomic.Pointer[func()]
	s, clock, expiry, recheck := heldEnv(t, h, onNextDenial(&during))
	reverified := make(chan struct{})
	go func() {
		defer close(reverified)
		recheck.fire()
	}()
	await(t, h.inFlight, "the re-verification did not run")
	cutReporting(t, s, clock, expiry, &during, func() {
		close(h.proceed)
		await(t, reverified, "the re-verification did not end")
	})
	h.checkAskedNothingMore(t, clock, 2)
}
