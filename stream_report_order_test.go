package grpcauth

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// orderLog records, in order, what a test's OnDecision saw.
type orderLog struct {
	mu    sync.Mutex
	order []string
}

func (o *orderLog) add(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.order = append(o.order, s)
}

func (o *orderLog) check(t *testing.T, want ...string) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if !slices.Equal(o.order, want) {
		t.Errorf("reports in the order %q, want %q", o.order, want)
	}
}

// openWatchedBidi opens a BidiStream, in dry run, whose token v accepts,
// on fake's clock and timers, under a rule whose condition passes the
// stream's first message and would refuse every later one (firstOnly),
// with onDecision as Config.OnDecision and the first turn's wait
// (Config.reportWaits) closing waiting. It returns once the handler has
// answered the first message.
func openWatchedBidi(t *testing.T, v TokenVerifier, fake *fakeClock, onDecision func(context.Context, Decision), waiting chan struct{}) (*env, grpc.BidiStreamingClient[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse]) {
	t.Helper()
	var once sync.Once
	e := newEnv(t, func(c *Config, _ *verifier.Config) {
		c.Verifier, c.Now, c.afterFunc = v, fake.Now, fake.AfterFunc
		c.DryRun, c.OnDecision = true, onDecision
		c.reportWaits = func() { once.Do(func() { close(waiting) }) }
		c.Conditions = firstOnly{new(atomic.Int32)}
		c.Rules = map[string]*grpcauthv1.Rule{"/authtest.v1.TestService/BidiStream": {Scopes: []string{"test:stream"}, Condition: "first only"}}
	})
	e.svc.streamStarted = make(chan struct{}, 1)
	return e, startBidi(t, withAuth(bounded(t), bearer("opaque-token")), e)
}

// TestStream_MessageWouldDenyIsReportedAfterAnEarlierReverificationsWouldDeny:
// in dry run, a re-verification's would-deny (its claims lack a scope) is
// being reported, OnDecision still running on the timer's goroutine, when
// the handler receives a message its condition would refuse: the
// message's would-deny, on the handler's goroutine, reaches OnDecision
// only once the re-verification's OnDecision has returned, in the order
// the two were decided in. Before, a message's report took no turn among
// the stream's reports, and reached OnDecision at once, during the
// other. The re-verification's OnDecision waits for the message's report
// (it comes: wrong order) or for it to wait its turn (Config.reportWaits),
// so the test is deterministic both ways.
func TestStream_MessageWouldDenyIsReportedAfterAnEarlierReverificationsWouldDeny(t *testing.T) {
	var (
		log                    orderLog
		msgSeen, waiting, inHk = make(chan struct{}), make(chan struct{}), make(chan struct{})
	)
	fake := newFakeClock()
	v := newChanRevalidator(claimsOf(t, "test:read test:stream", nil))
	_, s := openWatchedBidi(t, v, fake, func(_ context.Context, d Decision) {
		switch {
		case d.Outcome() == OutcomeWouldDeny && d.Reason == ReasonScopeInsufficient:
			close(inHk)
			select {
			case <-msgSeen:
				log.add("message reported while the re-verification was")
			case <-waiting:
			}
			log.add("re-verification")
		case d.Outcome() == OutcomeWouldDeny && d.Reason == ReasonConditionFailed:
			log.add("message")
			close(msgSeen)
		}
	}, waiting)
	recheck := fake.next(t)

	rechecked := reverifyApart(fake, v, recheck, claimsOf(t, "test:read", nil))
	await(t, inHk, "the re-verification's would-deny was not reported")
	if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil { // dry run: the message is answered
		t.Fatalf("the second message's answer: %v", err)
	}
	await(t, rechecked, "the re-verification did not return")
	log.check(t, "re-verification", "message")
}

// TestStream_CutIsReportedAfterAnEarlierMessagesWouldDeny: in dry run, a
// received message's would-deny is being reported, OnDecision still
// running on the handler's goroutine, when the expiry timer cuts the
// stream: the cut reaches OnDecision only once the message's OnDecision
// has returned. Before, the cut took its turn among the timers' reports
// only, and reached OnDecision during the message's.
func TestStream_CutIsReportedAfterAnEarlierMessagesWouldDeny(t *testing.T) {
	var (
		log                      orderLog
		cutSeen, waiting, inHook = make(chan struct{}), make(chan struct{}), make(chan struct{})
	)
	fake := newFakeClock()
	v := newChanRevalidator(claimsOf(t, "test:read test:stream", map[string]any{"exp": t0.Add(time.Hour).Unix()}))
	_, s := openWatchedBidi(t, v, fake, func(_ context.Context, d Decision) {
		switch d.Outcome() {
		case OutcomeWouldDeny:
			close(inHook)
			select {
			case <-cutSeen:
				log.add("cut reported while the message was")
			case <-waiting:
			}
			log.add("message")
		case OutcomeDenied:
			log.add("cut")
			close(cutSeen)
		}
	}, waiting)
	expiry := fake.next(t)

	if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	await(t, inHook, "the message's would-deny was not reported")
	fake.expire(expiry) // returns once the cut is reported
	for {
		if _, err := s.Recv(); err != nil {
			checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
			break
		}
	}
	log.check(t, "message", "cut")
}

// TestStream_CutWhileADryRunConditionRunsIsNotFollowedByAWouldDeny: in
// dry run, a stream cut while its condition is judging a message (it
// would refuse it) reports the cut and nothing after it: the message's
// would-deny, decided once the stream had ended, is not reported, as a
// timer's would-deny is not for a stream that has ended, and the receive
// fails with the cut, as one whose message arrives after the cut does.
// Before, the would-deny was reported after the cut, and the message
// delivered to the handler of a stream already cut. Both the interceptor
// and ServeCall.
func TestStream_CutWhileADryRunConditionRunsIsNotFollowedByAWouldDeny(t *testing.T) {
	for _, viaServeCall := range []bool{false, true} {
		t.Run(map[bool]string{false: "interceptor", true: "ServeCall"}[viaServeCall], func(t *testing.T) {
			rec, cond := &recorder{}, &cutDuring{}
			e, clock, tok := expiryEnv(t, func(c *Config, _ *verifier.Config) {
				c.OnDecision, c.DryRun = rec.record, true
				c.Conditions = cond
				c.Rules = map[string]*grpcauthv1.Rule{"/authtest.v1.TestService/BidiStream": {Scopes: []string{"test:stream"}, Condition: "cut during the second"}}
			})
			cond.during = func() { // on the server's goroutine, through the interceptor: no t.Fatal
				if ft, ok := awaitOK(t, clock.added, "no expiry timer was set"); ok {
					clock.expire(ft)
				}
			}
			var received, result error
			if viaServeCall {
				result = e.auth.ServeCall(adapterContext(bearer(tok)), "/authtest.v1.TestService/BidiStream", true, nil, func(_ context.Context, g *Guard) error {
					if err := g.Received(&authtestv1.BidiStreamRequest{}); err != nil {
						t.Errorf("the first message was refused: %v", err)
					}
					received = g.Received(&authtestv1.BidiStreamRequest{})
					return nil
				})
			} else {
				e.svc.bidiHold, e.svc.bidiRefused = make(chan struct{}), make(chan error, 1)
				close(e.svc.bidiHold)
				s := openBidiStarted(t, e, tok)
				if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
					t.Fatal(err)
				}
				_, result = s.Recv() // once the handler has returned
				select {
				case received = <-e.svc.bidiRefused:
				default:
					received = errors.New("the handler's receive returned the message")
				}
			}
			checkStatus(t, received, codes.Unauthenticated, ReasonTokenExpired)
			checkStatus(t, result, codes.Unauthenticated, ReasonTokenExpired)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			var outcomes []string
			for _, d := range rec.ds {
				outcomes = append(outcomes, d.Outcome()+" "+d.Reason)
			}
			if want := []string{OutcomeAllowed + " ", OutcomeDenied + " " + ReasonTokenExpired}; !slices.Equal(outcomes, want) {
				t.Errorf("decisions %q, want %q", outcomes, want)
			}
		})
	}
}

// cancelOnSecond is a condition compiler whose conditions pass a stream's
// first message and, on the second, end the stream's context (cancel, the
// caller going) and fail with its error, as a condition that heeds its
// context does.
type cancelOnSecond struct {
	evals  atomic.Int32
	cancel context.CancelFunc
}

func (c *cancelOnSecond) CompileCondition(protoreflect.MethodDescriptor, string) (Condition, error) {
	return c, nil
}

func (c *cancelOnSecond) Eval(ctx context.Context, _ ConditionInput) (bool, error) {
	if c.evals.Add(1) == 1 {
		return true, nil
	}
	c.cancel()
	<-ctx.Done()
	return false, ctx.Err()
}

// TestServeCall_MessageRefusalIsReportedAfterAnEarlierReverificationsWouldDeny:
// in dry run, a re-verification's would-deny is being reported when a
// received message's condition ends with the caller gone (CANCELED, which
// dry run enforces: the stream ends, settled): the refusal reaches
// OnDecision only once the would-deny's OnDecision has returned. The
// stream is refused (Guard.Err) as the refusal is decided, not once it
// has been reported.
func TestServeCall_MessageRefusalIsReportedAfterAnEarlierReverificationsWouldDeny(t *testing.T) {
	var (
		log                       orderLog
		refusalSeen, waiting, inH = make(chan struct{}), make(chan struct{}), make(chan struct{})
		once                      sync.Once
		guard                     *Guard
	)
	ctx, cancel := context.WithCancel(adapterContext(bearer("opaque-token")))
	defer cancel()
	cond := &cancelOnSecond{cancel: cancel}
	fake := newFakeClock()
	v := newChanRevalidator(claimsOf(t, "test:read test:stream", nil))
	e := newEnv(t, func(c *Config, _ *verifier.Config) {
		c.Verifier, c.Now, c.afterFunc = v, fake.Now, fake.AfterFunc
		c.DryRun, c.Conditions = true, cond
		c.Rules = map[string]*grpcauthv1.Rule{"/authtest.v1.TestService/BidiStream": {Scopes: []string{"test:stream"}, Condition: "cancel on the second"}}
		c.reportWaits = func() { once.Do(func() { close(waiting) }) }
		c.OnDecision = func(_ context.Context, d Decision) {
			switch {
			case d.Outcome() == OutcomeWouldDeny:
				close(inH)
				select {
				case <-refusalSeen:
					log.add("refusal reported while the re-verification was")
				case <-waiting:
					if guard.Err() == nil {
						log.add("the stream not yet refused while its refusal waited its turn")
					}
				}
				log.add("re-verification")
			case d.Outcome() == OutcomeDenied:
				log.add("refusal")
				close(refusalSeen)
			}
		}
	})
	started, proceed, received := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		done <- e.auth.ServeCall(ctx, "/authtest.v1.TestService/BidiStream", true, nil, func(_ context.Context, g *Guard) error {
			if err := g.Received(&authtestv1.BidiStreamRequest{}); err != nil {
				t.Errorf("the first message was refused: %v", err)
			}
			guard = g
			close(started)
			<-proceed
			received <- g.Received(&authtestv1.BidiStreamRequest{})
			return nil
		})
	}()
	await(t, started, "serve did not start")
	recheck := fake.next(t)
	rechecked := reverifyApart(fake, v, recheck, claimsOf(t, "test:read", nil))
	await(t, inH, "the re-verification's would-deny was not reported")
	close(proceed)
	checkStatus(t, await(t, received, "the second message was not judged"), codes.Canceled, ReasonCanceled)
	await(t, done, "ServeCall did not return")
	await(t, rechecked, "the re-verification did not return")
	log.check(t, "re-verification", "refusal")
}

// TestServeCall_MessageWouldDenysLatencyLeavesOutItsWaitForItsTurn: a
// message's would-deny that waits for an earlier report of its stream (a
// re-verification's, whose OnDecision takes an hour of the bubble's
// clock) has the Latency of its decision alone, not that hour.
func TestServeCall_MessageWouldDenysLatencyLeavesOutItsWaitForItsTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		waiting, inHook, messages := make(chan struct{}), make(chan struct{}), make(chan Decision, 1)
		var once sync.Once
		fake := newFakeClock()
		v := newChanRevalidator(claimsOf(t, "test:read test:stream", nil))
		a := mustNew(t, Config{Verifier: v, Now: fake.Now, afterFunc: fake.AfterFunc, Logger: discardLogger(), DryRun: true,
			Conditions:  firstOnly{new(atomic.Int32)},
			Rules:       map[string]*grpcauthv1.Rule{"/authtest.v1.TestService/BidiStream": {Scopes: []string{"test:stream"}, Condition: "first only"}},
			reportWaits: func() { once.Do(func() { close(waiting) }) },
			OnDecision: func(_ context.Context, d Decision) {
				switch {
				case d.Outcome() == OutcomeWouldDeny && d.Reason == ReasonScopeInsufficient:
					close(inHook)
					<-waiting
					time.Sleep(time.Hour) // the bubble's clock: at once
				case d.Outcome() == OutcomeWouldDeny:
					messages <- d
				}
			}})
		started, proceed, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			done <- a.ServeCall(adapterContext(bearer("opaque-token")), "/authtest.v1.TestService/BidiStream", true, nil, func(_ context.Context, g *Guard) error {
				if err := g.Received(&authtestv1.BidiStreamRequest{}); err != nil {
					t.Errorf("the first message was refused: %v", err)
				}
				close(started)
				<-proceed
				return g.Received(&authtestv1.BidiStreamRequest{}) // dry run: nil
			})
		}()
		<-started
		recheck := fake.next(t)
		reverifyApart(fake, v, recheck, claimsOf(t, "test:read", nil))
		<-inHook
		close(proceed)
		if err := <-done; err != nil {
			t.Fatalf("ServeCall = %v, want nil: dry run", err)
		}
		if d := <-messages; d.Latency >= time.Hour {
			t.Errorf("the message's would-deny has Latency %v, want its decision's alone, not the hour it waited for its turn", d.Latency)
		}
	})
}
