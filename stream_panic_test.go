package grpcauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// panicMarker is in every panic value of these tests: it must reach the
// server's log, never the caller.
const panicMarker = "user code bug 7f3a"

// buggyRevalidator is a user's TokenVerifier and Revalidator: it accepts
// any token with fixed claims, asks for re-verification a minute on, and,
// once armed, has a bug on the re-verification path: its
// VerifyAccessToken panics (panicVerify), its RevalidateAt panics
// (panicAt), or it refuses the token (refuse).
type buggyRevalidator struct {
	claims                       verifier.Claims
	panicVerify, panicAt, refuse atomic.Bool
	exitVerify                   atomic.Bool // VerifyAccessToken calls runtime.Goexit
	panicNilVerify               atomic.Bool // VerifyAccessToken panics with nil
	tail                         string      // after the marker in VerifyAccessToken's panic value
	value                        any         // when set, VerifyAccessToken's panic value instead
}

func (b *buggyRevalidator) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	if b.exitVerify.Load() {
		runtime.Goexit()
	}
	if b.panicNilVerify.Load() {
		panic(nil)
	}
	if b.panicVerify.Load() {
		if b.value != nil {
			panic(b.value)
		}
		panic(panicMarker + " in VerifyAccessToken" + b.tail)
	}
	if b.refuse.Load() {
		return verifier.Claims{}, errors.New("revoked")
	}
	return b.claims, nil
}

func (b *buggyRevalidator) RevalidateAt(string, verifier.Claims) time.Time {
	if b.panicAt.Load() {
		panic(panicMarker + " in RevalidateAt")
	}
	return t0.Add(time.Minute)
}

// panicEnv is a server whose Authenticator uses a buggyRevalidator, fake
// timers and a text log (every level: read once the timer's goroutine has
// returned), with a ServerStream open: it returns the stream's client and
// its expiry and re-verification timers.
func panicEnv(t *testing.T, opts ...envOption) (e *env, b *buggyRevalidator, logs *bytes.Buffer, s authtestv1.TestService_ServerStreamClient, clock *fakeClock, expiry, recheck *fakeTimer) {
	t.Helper()
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scope": "test:read test:stream", "exp": t0.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	b = &buggyRevalidator{claims: claims}
	logs = &bytes.Buffer{}
	clock = newFakeClock()
	e = newEnv(t, append([]envOption{func(c *Config, _ *verifier.Config) {
		c.Verifier = b
		c.Now = clock.Now
		c.afterFunc = clock.AfterFunc
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}}, opts...)...)
	e.svc.streamStarted = make(chan struct{}, 1)
	e.svc.streamEnded = make(chan error, 1)
	s, expiry, recheck = openPanicStream(t, e, clock)
	return e, b, logs, s, clock, expiry, recheck
}

// openPanicStream opens a ServerStream on e, a panicEnv's server whose
// clock is clock, and returns its client and its expiry and
// re-verification timers, once its handler has started.
func openPanicStream(t *testing.T, e *env, clock *fakeClock) (s authtestv1.TestService_ServerStreamClient, expiry, recheck *fakeTimer) {
	t.Helper()
	s, err := e.client.ServerStream(withAuth(bounded(t), bearer("opaque-token")), &authtestv1.ServerStreamRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("first response: %v", err)
	}
	await(t, e.svc.streamStarted, "the stream's handler did not start")
	expiry, recheck = clock.next(t), clock.next(t)
	if recheck.d != time.Minute {
		t.Fatalf("re-verification timer %v, want 1m", recheck.d)
	}
	return s, expiry, recheck
}

// fireInItsGoroutine fires ft, a timer of clock, on a goroutine of its
// own, as time.AfterFunc does (where no recovery interceptor of the
// server's runs), with clock's Now moved to when ft was due (unless past
// it already), and waits for it to return. A panic that escapes the
// timer's function, which would crash a server, fails the test (rather
// than the whole test binary).
func fireInItsGoroutine(t *testing.T, clock *fakeClock, ft *fakeTimer) {
	t.Helper()
	if due := ft.set.Add(ft.d); clock.Now().Before(due) {
		clock.setNow(due)
	}
	escaped := make(chan any, 1)
	go func() {
		defer func() { escaped <- recover() }()
		ft.fire()
	}()
	if v := await(t, escaped, "the timer's function did not return"); v != nil {
		t.Fatalf("a panic escaped the timer's goroutine, which would crash the server: %v", v)
	}
}

// checkPanicLogged fails the test unless logs hold the record of a
// recovered panic: its value and its stack, with the stream's method.
func checkPanicLogged(t *testing.T, logs *bytes.Buffer, in string) {
	t.Helper()
	l := logs.String()
	if !strings.Contains(l, "grpcauth: panic") || !strings.Contains(l, panicMarker+" in "+in) ||
		!strings.Contains(l, "stack=") || !strings.Contains(l, "stream_panic_test.go") ||
		!strings.Contains(l, "method=/authtest.v1.TestService/ServerStream") {
		t.Errorf("log %q: want the panic in %s, its stack and the stream's method", l, in)
	}
}

// A custom verifier that panics when a stream's token is re-verified (in
// VerifyAccessToken, or in RevalidateAt after it) does so on the timer's
// goroutine, where no recovery interceptor runs: the panic is recovered
// there, the server goes on, the stream ends with codes.Internal and a
// fixed message (the panic is logged with its stack, never sent), and the
// cut is a denied Decision.
func TestStream_PanicInRevalidationEndsTheStreamWithInternal(t *testing.T) {
	for _, in := range []string{"VerifyAccessToken", "RevalidateAt"} {
		t.Run(in, func(t *testing.T) {
			var rec recorder
			e, b, logs, s, clock, _, recheck := panicEnv(t, func(c *Config, _ *verifier.Config) { c.OnDecision = rec.record })
			map[string]*atomic.Bool{"VerifyAccessToken": &b.panicVerify, "RevalidateAt": &b.panicAt}[in].Store(true)
			fireInItsGoroutine(t, clock, recheck) // unrecovered, the panic would crash the server
			if err := await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled"); status.Code(err) != codes.Internal {
				t.Errorf("handler's Send after the panic = %v, want Internal", err)
			}
			_, err := s.Recv()
			checkStatus(t, err, codes.Internal, ReasonInternalError)
			if msg := status.Convert(err).Message(); msg != "grpcauth: internal error" {
				t.Errorf("status message %q, want the fixed %q", msg, "grpcauth: internal error")
			}
			checkPanicLogged(t, logs, in)
			if l := logs.String(); !strings.Contains(l, `level=WARN msg="grpcauth: call denied"`) {
				t.Errorf("log %q: want the cut's decision at LogLevels.Problem (WARN)", l)
			}
			if d := rec.last(t); d.Allowed || d.Code != codes.Internal || d.Reason != ReasonInternalError ||
				d.Err == nil || !strings.Contains(d.Err.Error(), panicMarker) {
				t.Errorf("last decision = %+v, want denied Internal %s with the panic as Err", d, ReasonInternalError)
			}
		})
	}
}

// cutByPanic fires recheck, the re-verification timer of s, a stream of
// e (a panicEnv) whose re-verification panics in want, waits for the
// stream to end with Internal, checks that logs hold n records of panics
// recovered on a stream's timer (one a stream cut so far), the last with
// the panic in want and the stream's method, and returns that record.
func cutByPanic(t *testing.T, e *env, clock *fakeClock, logs *bytes.Buffer, s authtestv1.TestService_ServerStreamClient, recheck *fakeTimer, n int, want string) string {
	t.Helper()
	fireInItsGoroutine(t, clock, recheck)
	await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
	_, err := s.Recv()
	checkStatus(t, err, codes.Internal, ReasonInternalError)
	var records []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "panic recovered in a stream's re-verification or cut") {
			records = append(records, line)
		}
	}
	if len(records) != n {
		t.Fatalf("log %q: want %d records of a recovered panic, one a stream", logs.String(), n)
	}
	r := records[n-1]
	if !strings.Contains(r, panicMarker+" in "+want) || !strings.Contains(r, "method=/authtest.v1.TestService/ServerStream") {
		t.Fatalf("record %s: want the panic in %s and the stream's method", r, want)
	}
	return r
}

// A verifier that panics on every stream's re-verification has a record
// logged for each stream, but the stack (a few KB) in at most one a
// minute per Authenticator, by Config.Now: the record of a second stream
// within the minute says the stack was omitted and still holds the panic
// and the method; a minute after the first stack, the next record holds
// its stack again.
func TestStream_TimerPanicStackIsLoggedAtMostOnceAMinutePerAuthenticator(t *testing.T) {
	e, b, logs, s1, clock, _, recheck1 := panicEnv(t)
	s2, _, recheck2 := openPanicStream(t, e, clock)
	s3, _, recheck3 := openPanicStream(t, e, clock)
	b.panicVerify.Store(true)
	const stackFrame = "stream_panic_test.go"
	if r := cutByPanic(t, e, clock, logs, s1, recheck1, 1, "VerifyAccessToken"); !strings.Contains(r, stackFrame) {
		t.Fatalf("first record = %s; want the stack", r)
	}
	if r := cutByPanic(t, e, clock, logs, s2, recheck2, 2, "VerifyAccessToken"); strings.Contains(r, stackFrame) || !strings.Contains(r, `stack="omitted: a site logs one stack a minute"`) {
		t.Fatalf("second record within the minute = %s; want the panic without its stack", r)
	}
	clock.setNow(t0.Add(2 * time.Minute)) // a minute after the first stack
	if r := cutByPanic(t, e, clock, logs, s3, recheck3, 3, "VerifyAccessToken"); !strings.Contains(r, stackFrame) {
		t.Fatalf("record a minute later = %s; want the stack again", r)
	}
}

// Config.Now panicking on streams' timers (it is read there before the
// re-verification) ends each stream with Internal, and has its stack
// logged at most once a minute per Authenticator, by the process's clock
// (Config.Now, which bounds the other stacks, is what panicked): the
// record of a second stream within the minute says the stack was omitted
// and still holds the panic and the method; a minute on, the stack is
// logged again. It does not count against the bound of the other panics'
// stacks, nor they against its: a verifier's panic on another stream
// within the minute of the last one's stack still has its stack omitted.
// Each such stack used to be logged, one per stream.
func TestStream_ConfigNowPanickingOnTimersLogsItsStackAtMostOnceAMinute(t *testing.T) {
	var nowPanics atomic.Bool
	wall := newFakeClock()
	e, b, logs, s1, clock, _, recheck1 := panicEnv(t, func(c *Config, _ *verifier.Config) {
		now := c.Now
		c.Now = func() time.Time {
			if nowPanics.Load() {
				panic(panicMarker + " in Config.Now")
			}
			return now()
		}
		c.wallNow = wall.Now
	})
	streams := []authtestv1.TestService_ServerStreamClient{s1}
	rechecks := []*fakeTimer{recheck1}
	for range 4 {
		s, _, recheck := openPanicStream(t, e, clock)
		streams, rechecks = append(streams, s), append(rechecks, recheck)
	}
	const stackFrame, omitted = "stream_panic_test.go", `stack="omitted: a site logs one stack a minute"`
	b.panicVerify.Store(true)
	cutByPanic(t, e, clock, logs, streams[0], rechecks[0], 1, "VerifyAccessToken") // the verifier's stack, this minute's
	nowPanics.Store(true)
	if r := cutByPanic(t, e, clock, logs, streams[1], rechecks[1], 2, "Config.Now"); !strings.Contains(r, stackFrame) {
		t.Fatalf("record of Config.Now's first panic = %s; want the panic with its stack", r)
	}
	if r := cutByPanic(t, e, clock, logs, streams[2], rechecks[2], 3, "Config.Now"); strings.Contains(r, stackFrame) || !strings.Contains(r, omitted) {
		t.Fatalf("record of Config.Now's second panic within the minute = %s; want the panic without its stack", r)
	}
	wall.setNow(wall.Now().Add(time.Minute))
	if r := cutByPanic(t, e, clock, logs, streams[3], rechecks[3], 4, "Config.Now"); !strings.Contains(r, stackFrame) {
		t.Fatalf("record of Config.Now's panic a minute on = %s; want the panic with its stack", r)
	}
	nowPanics.Store(false)
	if r := cutByPanic(t, e, clock, logs, streams[4], rechecks[4], 5, "VerifyAccessToken"); !strings.Contains(r, omitted) {
		t.Fatalf("record of the verifier's panic within the minute = %s; want the panic without its stack", r)
	}
}

// A panic value is whatever the code that panicked made it: its record
// and the cut's Decision.Err hold it clipped to 1 KiB and its length.
func TestStream_LongPanicValueIsClippedInTheRecordAndTheDecision(t *testing.T) {
	var rec recorder
	e, b, logs, s, clock, _, recheck := panicEnv(t, func(c *Config, _ *verifier.Config) { c.OnDecision = rec.record })
	b.tail = strings.Repeat("p", 100_000)
	b.panicVerify.Store(true)
	fireInItsGoroutine(t, clock, recheck)
	await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
	_, err := s.Recv()
	checkStatus(t, err, codes.Internal, ReasonInternalError)
	checkPanicLogged(t, logs, "VerifyAccessToken")
	if n := logs.Len(); n > 64<<10 || !strings.Contains(logs.String(), "pppp…(") {
		t.Errorf("the log is %d bytes, want the panic value clipped to 1 KiB and its length", n)
	}
	if d := rec.last(t); d.Err == nil || len(d.Err.Error()) > 1200 || !strings.Contains(d.Err.Error(), panicMarker) {
		t.Errorf("Decision.Err is %d bytes, want the panic clipped to 1 KiB", len(fmt.Sprint(d.Err)))
	}
}

// stringPanic is a panic value whose String method panics with another
// stringPanic: fmt, which recovers the first panic of a String method,
// lets the second one go.
type stringPanic struct{}

func (stringPanic) String() string { panic(stringPanic{}) }

// A panic value that cannot be made text (its String method panics, and
// so does that of the value it panics with) neither crashes the server nor
// leaves the stream running: the stream ends with Internal, and the record
// and Decision.Err name the value's type.
func TestStream_PanicValueWhoseTextPanicsStillEndsTheStream(t *testing.T) {
	var rec recorder
	e, b, logs, s, clock, _, recheck := panicEnv(t, func(c *Config, _ *verifier.Config) { c.OnDecision = rec.record })
	b.value = stringPanic{}
	b.panicVerify.Store(true)
	fireInItsGoroutine(t, clock, recheck) // the whole test binary died here
	await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
	_, err := s.Recv()
	checkStatus(t, err, codes.Internal, ReasonInternalError)
	if l := logs.String(); !strings.Contains(l, "grpcauth: panic recovered") || !strings.Contains(l, "grpcauth.stringPanic") {
		t.Errorf("log %q: want the panic's record naming its type", l)
	}
	if d := rec.last(t); d.Err == nil || !strings.Contains(d.Err.Error(), "grpcauth.stringPanic") {
		t.Errorf("Decision.Err = %v, want it to name the panic value's type", d.Err)
	}
}

// OnDecision panicking as it reports a stream's cut (from the timer's
// goroutine) does not crash the server: the stream is cut all the same,
// with the cut's status, and the panic is logged. When the verifier
// panicked first, the second panic (OnDecision reporting the Internal
// cut) is dropped, and the stream ends with Internal.
func TestStream_PanicInOnDecisionDuringACutKeepsTheCut(t *testing.T) {
	for _, c := range []struct {
		name   string
		expiry bool // fire the expiry timer, not the re-verification
		arm    func(*buggyRevalidator)
		code   codes.Code
		reason string
	}{
		{"refused on re-verification", false, func(b *buggyRevalidator) { b.refuse.Store(true) }, codes.Unauthenticated, ReasonTokenRevoked},
		{"expired", true, func(*buggyRevalidator) {}, codes.Unauthenticated, ReasonTokenExpired},
		{"after the verifier's panic", false, func(b *buggyRevalidator) { b.panicVerify.Store(true) }, codes.Internal, ReasonInternalError},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, b, logs, s, clock, expiry, recheck := panicEnv(t, func(c *Config, _ *verifier.Config) {
				c.OnDecision = func(_ context.Context, d Decision) {
					if !d.Allowed {
						panic(panicMarker + " in OnDecision")
					}
				}
			})
			c.arm(b)
			if c.expiry {
				clock.pastExpiry()
			}
			fireInItsGoroutine(t, clock, map[bool]*fakeTimer{false: recheck, true: expiry}[c.expiry])
			await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled") // the handler's context was cancelled
			_, err := s.Recv()
			checkStatus(t, err, c.code, c.reason)
			checkPanicLogged(t, logs, map[bool]string{false: "OnDecision", true: "VerifyAccessToken"}[c.code == codes.Internal])
		})
	}
}

// A panic on a stream's timer is logged before the cut it causes: the
// server's log reads cause, then effect (the panic with its stack, then
// the denied decision), and the stream is cut all the same when the
// Logger itself panics on the first record.
func TestStream_PanicIsLoggedBeforeTheCutItCauses(t *testing.T) {
	e, b, logs, s, clock, _, recheck := panicEnv(t)
	b.panicVerify.Store(true)
	fireInItsGoroutine(t, clock, recheck)
	await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
	_, err := s.Recv()
	checkStatus(t, err, codes.Internal, ReasonInternalError)
	l := logs.String()
	p, d := strings.Index(l, "grpcauth: panic recovered"), strings.Index(l, "grpcauth: call denied")
	if p < 0 || d < 0 || p > d {
		t.Errorf("log %q: want the panic's record, then the cut's denial", l)
	}
}

// panickyHandler is a slog.Handler that panics on its first record with
// a level of at least Warn.
type panickyHandler struct {
	slog.Handler
	armed atomic.Bool
}

func (h *panickyHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && h.armed.Swap(false) {
		panic(panicMarker + " in the Logger")
	}
	return h.Handler.Handle(ctx, r)
}

// The Logger panicking as it logs a timer's recovered panic does not save
// the stream: it is cut with Internal, and the server goes on.
func TestStream_LoggerPanickingOnTheRecoveredPanicStillCutsTheStream(t *testing.T) {
	var rec recorder
	h := &panickyHandler{Handler: slog.NewTextHandler(&bytes.Buffer{}, nil)}
	e, b, _, s, clock, _, recheck := panicEnv(t, func(c *Config, _ *verifier.Config) {
		c.Logger = slog.New(h)
		c.OnDecision = rec.record
	})
	b.panicVerify.Store(true)
	h.armed.Store(true)
	fireInItsGoroutine(t, clock, recheck)
	if d := rec.last(t); d.Allowed || d.Reason != ReasonInternalError {
		t.Fatalf("last decision %+v, want the cut (denied, %s)", d, ReasonInternalError)
	}
	await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
	_, err := s.Recv()
	checkStatus(t, err, codes.Internal, ReasonInternalError)
}

// RevalidateAt panicking as a stream opens (on the handler's goroutine,
// recovered outside grpcauth, as connect-go's WithRecover or a recovery
// interceptor does) leaves no timer behind: the expiry timer, armed just
// before, is stopped as the panic unwinds, and its late firing reports
// nothing (no cut of a stream that has already ended).
func TestStream_RevalidateAtPanickingAtTheStartStopsTheExpiryTimer(t *testing.T) {
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scope": "test:read test:stream", "exp": t0.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	b := &buggyRevalidator{claims: claims}
	b.panicAt.Store(true)
	var rec recorder
	clock := newFakeClock()
	e := newEnv(t, func(c *Config, _ *verifier.Config) {
		c.Verifier, c.Now, c.afterFunc, c.OnDecision = b, clock.Now, clock.AfterFunc, rec.record
	})
	checkPanicStopsTheExpiryTimer(t, e, clock, &rec, "opaque-token", func(context.Context, *Guard) error {
		t.Error("serve ran")
		return nil
	})
}

// User code on a stream's timer that ends the timer's goroutine instead of
// returning (runtime.Goexit, as a test's fake calling t.FailNow does;
// panic(nil) under GODEBUG=panicnil=1 looks the same to recover) ends the
// stream as a panic there does, with Internal, logged with its stack.
// Before, recover saw no value and nothing happened: the stream was never
// re-verified again, and when it was Config.Now on the expiry timer, never
// cut at all, outliving its token.
func TestStream_TimerCodeThatDoesNotReturnEndsTheStreamWithInternal(t *testing.T) {
	for _, in := range []string{"VerifyAccessToken", "Config.Now"} {
		t.Run(in, func(t *testing.T) {
			var rec recorder
			var exitNow atomic.Bool
			e, b, logs, s, clock, expiry, recheck := panicEnv(t, func(c *Config, _ *verifier.Config) {
				c.OnDecision = rec.record
				now := c.Now
				c.Now = func() time.Time {
					if exitNow.Load() {
						runtime.Goexit()
					}
					return now()
				}
			})
			ft := recheck
			if in == "Config.Now" {
				exitNow.Store(true)
				clock.pastExpiry()
				ft = expiry
			} else {
				b.exitVerify.Store(true)
			}
			fireInItsGoroutine(t, clock, ft)
			exitNow.Store(false)
			if err := await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled"); status.Code(err) != codes.Internal {
				t.Errorf("handler's Send after the timer's goroutine ended = %v, want Internal", err)
			}
			_, err := s.Recv()
			checkStatus(t, err, codes.Internal, ReasonInternalError)
			if l := logs.String(); !strings.Contains(l, "did not return") || !strings.Contains(l, "stack=") ||
				!strings.Contains(l, "method=/authtest.v1.TestService/ServerStream") {
				t.Errorf("log %q: want the record of the timer's code that did not return, with its stack and the stream's method", l)
			}
			if d := rec.last(t); d.Allowed || d.Code != codes.Internal || d.Reason != ReasonInternalError || !errors.Is(d.Err, errStreamTimerNoReturn) {
				t.Errorf("last decision = %+v, want denied Internal %s caused by errStreamTimerNoReturn", d, ReasonInternalError)
			}
		})
	}
}

// Under GODEBUG=panicnil=1, recover sees no value for panic(nil): a
// verifier that panics with nil on a stream's re-verification ends the
// stream with Internal all the same, rather than leave it running
// unwatched. The test runs in a child process, as GODEBUG is read at
// start.
func TestStream_TimerPanicNilUnderGODEBUGPanicnilEndsTheStreamWithInternal(t *testing.T) {
	if !UnderPanicnil(t) {
		return
	}
	var rec recorder
	e, b, logs, s, clock, _, recheck := panicEnv(t, func(c *Config, _ *verifier.Config) { c.OnDecision = rec.record })
	b.panicNilVerify.Store(true)
	fireInItsGoroutine(t, clock, recheck)
	await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
	_, err := s.Recv()
	checkStatus(t, err, codes.Internal, ReasonInternalError)
	if l := logs.String(); !strings.Contains(l, "did not return") {
		t.Errorf("log %q: want the record of the re-verification that did not return", l)
	}
	if d := rec.last(t); d.Code != codes.Internal || !errors.Is(d.Err, errStreamTimerNoReturn) {
		t.Errorf("last decision = %+v, want denied Internal caused by errStreamTimerNoReturn", d)
	}
}
