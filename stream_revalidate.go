package grpcauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/jitter"
	"github.com/grpcauth/grpcauth/internal/panictext"
	"github.com/grpcauth/grpcauth/verifier"
)

// Revalidator is implemented by a TokenVerifier whose verdict on a token can
// change before the token expires: a token introspection verifier, whose
// authorization server may revoke a token at any time, and a verifier of
// signed JWTs, whose key may leave the issuer's key set (withdrawn after a
// compromise). *introspect.Verifier, *introspect.Combined,
// *verifier.Verifier and *verifier.MultiVerifier implement it. A
// TokenVerifier that wraps one of them (to count, trace or cache calls)
// hides it: the Authenticator sees only the wrapper's methods, so the
// wrapper must implement Revalidator itself (and ClockSkew, see
// TokenVerifier), passing them on, or its streams are never
// re-verified.
//
// For a stream opened with such a verifier's token, the Authenticator asks
// RevalidateAt when to verify the token again, and does so then, with
// VerifyAccessToken, on a timer beside the one for the token's expiry (no
// goroutine per stream, both stopped when the stream ends). The timer is
// set up to a tenth of the wait (at most 5 minutes) earlier, at random, so
// that streams opened together are not re-verified together for ever;
// never later: the time RevalidateAt gives still bounds how long a refused
// token's stream lives. Like the expiry, that time is read on Config.Now,
// the wall clock, at least once a minute, so that a suspend of the host or
// a forward step of its clock delays a re-verification by at most a
// minute; a clock set back does not delay it, the timer ending its wait
// once it has run its whole length. When the token is refused, the
// stream ends as at expiry (its context is cancelled, later sends and
// receives fail, the caller gets the status whatever the handler returns) with
// codes.Unauthenticated and ReasonTokenRevoked, or ReasonTokenExpired when
// the verifier reports expiry. When no verdict can be had (the verifier
// answers ErrKeysUnavailable: an introspection endpoint that is down), the
// stream goes on and is re-verified at the next time RevalidateAt gives: an
// outage of the authorization server does not cut every stream. A verifier
// that was closed answers verifier.ErrClosed, which counts the same: close
// it only once the server has stopped, or the streams still open go on
// until their exp, a revocation unseen. Any other error, and neither
// claims nor an error, is a refusal. The re-verification's
// VerifyAccessToken gets the stream's context, which ends with the stream
// (its cut, its handler's return, its client leaving), so a verifier that
// heeds it holds the timer's goroutine no longer than the stream; one that
// does not, and RevalidateAt, which has no context, must not block.
// Neither is called once the stream has ended (its handler returned, it
// was cut, its client left): a re-verification due as it ends verifies
// nothing, and one under way as it ends, whatever its verdict, asks
// RevalidateAt nothing and sets no timer (a call already running is not
// interrupted: its context is cancelled). The token re-verified is the one
// the stream was opened with (read once: a handler that rewrites
// connectauth's request header in place does not change it). Claims it
// is accepted with are judged again, as a new call with them would be:
// their binding first (a cnf x5t#S256 against the connection's client
// certificate; a cnf jkt against the key whose DPoP proof the stream
// opened with, as the proof is not checked again), then the method's
// rule (the plan the stream was admitted under, not looked up again:
// scopes, binding required, step-up, a condition that reads no
// request). Claims so refused (an introspection answer whose scope or
// consent was withdrawn, or that binds the token to another key or
// certificate, or to none) cut the stream with the refusal such a call
// gets, PermissionDenied and ACCESS_TOKEN_SCOPE_INSUFFICIENT for a scope,
// Unauthenticated and DPOP_BINDING_MISMATCH for a DPoP key no longer the
// token's, reported as a denied Decision that carries those claims; in
// dry run a refusal of the rule is reported once as a would-deny and the
// stream goes on (a refusal of the binding still cuts it: dry run does
// not relax the binding of a new call either). The
// claims serve that judgement only: the handler's context keeps the
// claims the stream opened with (ClaimsFromContext), and so does a
// condition checked on each message. A rule's max_age_seconds also has a
// cut of its own, at the auth_time the stream opened with (see
// Config.SkipStreamExpiry). A stream's cuts and would-denies, and the
// refusals and would-denies of the messages its condition judges, are
// reported in the order they were decided in, each after the one before
// it has been (see reportTurn). Streams are not re-verified when
// Config.SkipStreamExpiry is set.
//
// The timers run on goroutines of their own, where no recovery interceptor
// of the server's runs, so a panic there (in VerifyAccessToken or
// RevalidateAt, or in Config.OnDecision or Config.Logger as a cut is
// reported) is recovered rather than left to crash the process: it is
// logged with its stack at LogLevels.Problem, never sent, and the stream
// ends with codes.Internal, "grpcauth: internal error" and
// ReasonInternalError (a denied Decision whose Err holds the panic's
// value), unless it was cut already (OnDecision panicking as it reported
// the cut: the cut's status stands). Code there that ends the timer's
// goroutine instead of returning (runtime.Goexit, as a test's fake calling
// t.FailNow does, or panic(nil) under GODEBUG=panicnil=1, which recover
// cannot tell from no panic) ends the stream the same way, logged as a
// re-verification or cut that did not return, rather than leave it
// running unwatched. The same code panicking on the
// handler's goroutine, as the stream opens (the first verification and
// RevalidateAt, OnDecision for the start), is not recovered by grpcauth:
// like any handler panic, it goes to the server's recovery interceptor
// (docs/middleware.md). A panic of a condition is (see Condition.Eval).
type Revalidator interface {
	// RevalidateAt returns when to verify token again, given the claims
	// VerifyAccessToken has just returned for it: the time its verdict
	// may next change (an introspection verifier: when its cached
	// answer ends). The zero time means never. The Authenticator
	// re-verifies by then, up to a tenth of the wait earlier (see
	// Revalidator), and waits at least MinRevalidateInterval (see there)
	// whatever the time.
	RevalidateAt(token string, claims verifier.Claims) time.Time
}

// MinRevalidateInterval is the least time between two re-verifications of
// a stream's token, so that a Revalidator answering a time in the past
// cannot make a stream re-verify in a loop. One exception: when a
// re-verification the jitter brought forward is answered with the same
// time again (a cached verdict, valid until then), the next is at that
// time, however close. It never delays the cut at the exp the stream
// was opened with plus the clock skew, which has a timer of its own; a
// re-verification it holds back is up to MinRevalidateInterval late only
// for what re-verifying finds (a revocation, a withdrawn key, an earlier
// exp the verifier has learned since).
const MinRevalidateInterval = time.Second

// watchesStream reports whether a stream admitted under the plan p and
// opened with claims is watched: ended when they expire, or when the
// sign-in they describe becomes older than the rule's max_age_seconds
// (even when they have no exp), or re-verified (see Revalidator). None of
// these when Config.SkipStreamExpiry is set.
func (a *Authenticator) watchesStream(p *methodPlan, c verifier.Claims) bool {
	if a.expiresStream(c) {
		return true
	}
	if a.skipExpiry || c.IsZero() {
		return false
	}
	if p.signInMaxAge() != nil {
		return true
	}
	_, ok := a.verifier.(Revalidator)
	return ok
}

// signInMaxAge returns the step-up requirement of p's rule when it sets
// max_age_seconds, whose streams are cut once their sign-in is older than
// that (streamWatch.staleAt), or nil.
func (p *methodPlan) signInMaxAge() *stepUp {
	if p.rule == nil || p.rule.stepUp == nil || p.rule.stepUp.maxAge <= 0 {
		return nil
	}
	return p.rule.stepUp
}

// streamWatch ends one stream when its token expires, its sign-in becomes
// older than the rule's max_age_seconds, or its token is refused on
// re-verification.
type streamWatch struct {
	a      *Authenticator
	ctx    context.Context // the handler's, cancelled by end and when it returns
	cancel context.CancelCauseFunc
	method string      // the stream's full method, for the cut's Decision
	plan   *methodPlan // the plan the stream was admitted under, for the cut's Decision
	cutAt  time.Time   // exp plus the clock skew; zero without exp
	// staleAt is when the sign-in becomes older than the rule's
	// max_age_seconds (stepUp.staleAt); zero when the rule sets none, the
	// claims have no usable auth_time, or in dry run the stream's start
	// was a would-deny or it had passed as the watch started (firstCut).
	// Set before the timers, never changed after.
	staleAt time.Time
	cut     atomic.Pointer[rejection] // why the stream was ended; nil while it runs

	mu   sync.Mutex
	done bool // the handler returned, or the stream was cut: no more timers
	// wouldDenied is set once a would-deny of the stream's rule has been
	// reported in dry run: its start (startWouldDeny), its sign-in going
	// stale (goStale, firstCut), or a re-verification's claims failing
	// the rule (rejudge). No other follows (wouldDenyTurn): enforcement
	// would have ended the stream at the first, or not run it at all.
	// (Next to done: the two bools share a word.)
	wouldDenied bool
	expiry      wallTimer // the time-based cut (nextCut): unset without exp or staleAt
	recheck     wallTimer // the next re-verification; unset if none
	aim         time.Time // the time recheck was set for, RevalidateAt's answer
	rv          Revalidator
	claims      verifier.Claims // as the stream was opened with
	// reported is closed once the last report the watch has decided on
	// (a cut, a would-deny, a message's refusal or would-deny) has been
	// made; nil before the first. The next report waits for it
	// (takeTurn, reportTurn.await).
	reported chan struct{}
	// token is the access token the stream was opened with, the one
	// revalidate verifies: read once, as the stream starts, since the
	// metadata's values may be shared with what the handler can change
	// (connectauth's come from the request's http.Header).
	token string
	// proven is, for a stream opened with the DPoP scheme, the key
	// thumbprint its proof was checked against, which rejudge checks the
	// re-verified token's binding against (credential.proven); nil for
	// the Bearer scheme.
	proven *[sha256.Size]byte
}

// wallTimer is one of a watch's timers: it calls f once Config.Now has
// reached due, or once its timers have run the whole wait it was set for
// (armUntil). Its fields are guarded by the watch's mu.
type wallTimer struct {
	t    timer // nil until set
	due  time.Time
	rest time.Duration // what is left of the wait once t has fired
	f    func()
}

// cutErr returns the status error the stream was cut with, or nil while
// it runs.
func (w *streamWatch) cutErr() error {
	if r := w.cut.Load(); r != nil {
		return r.err
	}
	return nil
}

// end cuts the stream with r, unless it was cut already, and reports the
// cut as a denied Decision (with r's reason, ACCESS_TOKEN_EXPIRED,
// ACCESS_TOKEN_REVOKED or INSUFFICIENT_USER_AUTHENTICATION, and cause as
// Decision.Err) to OnDecision and the
// log: the stream's start was reported as allowed, so a cut stream counts
// once each way.
//
// The cut stops both timers at once (stopLocked), not when the handler
// returns, which may be much later (a handler blocked in Recv waits for
// the client): neither reads Config.Now, nor re-verifies the token, for a
// stream that has ended.
//
// A timer that fires as the handler returns can call end after stop: the
// stream then ended on its own (its caller got the handler's result), so
// end does nothing. w.mu orders the two.
func (w *streamWatch) end(r *rejection, cause error) { w.endJudged(r, cause, verifier.Claims{}) }

// endJudged is end, its Decision carrying c, the claims the rule refused
// (rejudge), or, when c is zero, the stream's (ClaimsFromContext). The
// report waits for its turn (reportInTurn): a would-deny decided before
// the cut is reported before it. The stream is cut at once all the same
// (its sends and receives fail); the context the watch gave the handler
// is cancelled once the cut is reported. The handler may return before
// that, its sends having failed, and grpc-go then ends the RPC's own
// context: OnDecision may see the call's context ended already.
func (w *streamWatch) endJudged(r *rejection, cause error, c verifier.Claims) {
	w.mu.Lock()
	cut := !w.done && w.cut.CompareAndSwap(nil, r)
	var t reportTurn
	if cut {
		w.stopLocked()
		t = w.takeTurn()
	}
	w.mu.Unlock()
	if !cut {
		return
	}
	defer w.cancel(r.err) // even when OnDecision panics: the stream is cut
	w.reportInTurn(t, r, cause, c, false)
}

// reportTurn is the place of one report of a watch (a cut, a dry run's
// would-deny, a received message's refusal or would-deny) among the
// watch's reports, in the order they were decided in under w.mu: the
// report waits for prev, the one before it, to close, and closes done
// once it has been made. The zero reportTurn, of a stream without a
// watch, waits for nothing and closes nothing.
//
// The reports are made on three goroutines (the expiry timer's, the
// re-verification's, and the handler's for a received message) outside
// w.mu, which the handler's goroutine needs (stop, settle, schedule):
// holding it through OnDecision and the Logger, user code, would hold the
// handler up, and deadlock a hook that waits for the stream. Without an
// order, a cut decided after a would-deny (a re-verification refusing the
// token while the sign-in's staleness is being reported, or the expiry
// while a re-verification's or a message's would-deny is) could reach
// OnDecision first, and a reader see the stream cut and then judged as if
// it ran. With it, a report waits for the earlier one's hooks to return,
// holding no lock: a hook that blocks holds up that stream's later
// reports, the cancellation of its context (its sends and receives fail
// at once all the same), and a receive whose message's report comes
// after it (the handler's goroutine waits in its RecvMsg, or
// Guard.Received), never another stream's. A hook must therefore not
// wait for its stream's handler to receive a message.
type reportTurn struct{ prev, done chan struct{} }

// takeTurn returns the turn of the report the watch has just decided on.
// w.mu is held.
func (w *streamWatch) takeTurn() reportTurn {
	t := reportTurn{prev: w.reported, done: make(chan struct{})}
	w.reported = t.done
	return t
}

// await waits until the reports decided before t's have been made, and
// returns start, when t's report's decision started (decisionStart), moved
// on by the wait, so that its Decision's Latency is the decision's alone.
// a.reportWaits, a test hook, runs when it has to wait.
func (t reportTurn) await(a *Authenticator, start decisionStart) decisionStart {
	if t.prev == nil {
		return start
	}
	select {
	case <-t.prev:
		return start
	default:
	}
	if a.reportWaits != nil {
		a.reportWaits()
	}
	if !start.set {
		<-t.prev
		return start
	}
	from := startNow()
	<-t.prev
	start.at += startNow().at - from.at
	return start
}

// finish marks t's report made: the next report goes on.
func (t reportTurn) finish() {
	if t.done != nil {
		close(t.done)
	}
}

// reportInTurn reports r, the stream's cut (or with dryRun the would-deny
// of one dry run does not make) once the reports decided before it have
// been made (t), with c as its Decision's claims (see endJudged). It
// closes t.done when done, even when OnDecision or the Logger panics or
// does not return (runtime.Goexit): the reports after it go on.
func (w *streamWatch) reportInTurn(t reportTurn, r *rejection, cause error, c verifier.Claims, dryRun bool) {
	defer t.finish()
	t.await(w.a, decisionStart{})
	w.a.reportCut(w.ctx, w.method, w.plan, c, r, cause, dryRun)
}

// wouldDenyTurn takes the turn (takeTurn) of the dry run's would-deny of
// the stream's rule, and reports true, unless the watch is done (a stream
// that has ended gets no would-deny, as end cuts none: checked under
// w.mu, as end's cut, so that a would-deny is decided while the stream
// ran) or the stream had one reported already (wouldDenied).
func (w *streamWatch) wouldDenyTurn() (reportTurn, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.wouldDenied {
		return reportTurn{}, false
	}
	w.wouldDenied = true
	return w.takeTurn(), true
}

// errStreamPanicked is Decision.Err of a stream cut because one of its
// timers panicked, wrapped with the panic's value.
var errStreamPanicked = errors.New("grpcauth: panic while re-verifying the stream")

// errStreamTimerNoReturn is Decision.Err of a stream cut because user
// code on one of its timers did not return and left recover nothing to
// see: it called runtime.Goexit (as a test's fake calling t.FailNow
// does), or panicked with nil under GODEBUG=panicnil=1.
var errStreamTimerNoReturn = errors.New("grpcauth: the stream's re-verification or cut did not return: it panicked with nil (GODEBUG=panicnil=1) or called runtime.Goexit")

// recoverPanic, deferred by a timer of the watch, recovers a panic, logs
// its value and stack at LogLevels.Problem (the stack at most once a
// minute per Authenticator, by now, Config.Now's reading as the timer
// fired, a.timerPanics: a verifier that panics on every re-verification
// does so once per stream; recoverPanic calls no Config.Now of its own,
// which may be what panicked, or called runtime.Goexit, and would lose
// the record), then ends the stream with
// codes.Internal (rejInternal) through end, unless it was cut already
// (OnDecision panicked as it reported the cut: the cut stands): the log
// reads cause, then effect (the cut's denied Decision). A second panic
// while the first is reported (the Logger, or OnDecision) is dropped, and
// the stream is cut all the same: end is deferred, and cuts the stream
// before it calls either. returned is set by the timer's function once
// it has returned: while it is false and recover sees no value, the
// function did not return all the same (runtime.Goexit, or panic(nil)
// under GODEBUG=panicnil=1), which ends the stream the same way, with
// errStreamTimerNoReturn as its cause; without that, the stream would
// never be cut, by that timer or any later one (no timer is set again).
func (w *streamWatch) recoverPanic(returned *bool, now *time.Time) {
	v := recover()
	if v == nil && *returned {
		return
	}
	stack := debug.Stack()
	msg, cause, detail := "grpcauth: a stream's re-verification or cut did not return; the stream is ended", errStreamTimerNoReturn, slog.String("error", errStreamTimerNoReturn.Error())
	if v != nil {
		text := panictext.Text(v, endpoint.MaxErrorText) // the code that panicked chose its size
		msg, cause, detail = "grpcauth: panic recovered in a stream's re-verification or cut; the stream is ended", fmt.Errorf("%w: %s", errStreamPanicked, text), slog.String("panic", text)
	}
	defer func() { _ = recover() }()
	defer w.end(rejInternal, cause)
	w.a.logger.LogAttrs(w.ctx, w.a.levels.Problem.Level(), msg,
		slog.String("method", clipLogged(w.method)), detail, slog.String("stack", w.a.stackAt(&w.a.timerPanics, stack, *now)))
}

// reportCut reports the cut of the stream of method, whose context is ctx,
// as a denied Decision with r's reason and cause as its Err, or with
// dryRun as the would-deny of a cut that dry run does not make, and no
// latency: the cut decides nothing that takes time. Its claims are c,
// or, when c is zero, the stream's (ClaimsFromContext). p is the plan the
// stream was admitted under (its Decision's source, whether the method is
// public or unknown): the plan is not looked up again, which would ask
// Config.Descriptors, on the timer's goroutine, about a method whose plan
// is not kept, and could find another rule than the stream's.
func (a *Authenticator) reportCut(ctx context.Context, method string, p *methodPlan, c verifier.Claims, r *rejection, cause error, dryRun bool) {
	if c.IsZero() {
		c, _ = ClaimsFromContext(ctx)
	}
	a.report(ctx, method, p, c, r, cause, dryRun, decisionStart{})
}

// maxTimerWait is the longest either timer of a stream's watch (its
// expiry, its re-verification) is set for. Go's timers run on the
// monotonic clock, which stands still while the host is suspended (a
// paused VM, a sleeping laptop) and ignores steps of the wall clock,
// whereas exp and the times RevalidateAt gives are wall-clock times,
// compared with Config.Now: each timer is set again and again, up to
// maxTimerWait at a time, until Config.Now has passed the time it is due
// at (armUntil), so that after a suspend or a forward step of the clock a
// stream outlives its token, or a refused token's stream runs on past its
// due re-verification, by at most maxTimerWait. The timers also end the
// wait once they have run its whole length, so that a clock set back does
// not stretch it.
const maxTimerWait = time.Minute

// armUntil sets wt, one of the watch's timers, to call f once Config.Now
// has reached due, d from now, or once the timers have run d, whichever
// comes first, unless the handler has returned: it waits d, but at most
// maxTimerWait, and when it fires with Config.Now still before due and
// part of d left, it is set again for the lesser of the two, the same way
// (fire). w.mu is held.
func (w *streamWatch) armUntil(wt *wallTimer, due time.Time, d time.Duration, f func()) {
	// due loses its monotonic reading (time.Now's readings have one, and
	// so may RevalidateAt's answer): Go compares two times that both have
	// one by that alone, and the monotonic clock stands still while the
	// host is suspended. Without it, due compares with Config.Now by the
	// wall clock.
	wt.due, wt.rest, wt.f = due.Round(0), d, f
	w.wait(wt, d)
}

// wait sets wt's timer for left, but at most maxTimerWait, and takes the
// wait off wt.rest, unless the handler has returned. wt.rest shrinks only
// by what the timers wait, never by what Config.Now reads, so a wall clock
// stepped forward short of due and then back does not end the wait early.
// w.mu is held.
func (w *streamWatch) wait(wt *wallTimer, left time.Duration) {
	if w.done {
		return
	}
	step := min(left, wt.rest, maxTimerWait)
	wt.rest -= step
	wt.t = w.a.afterFunc(step, func() { w.fire(wt) })
}

// fire runs on the goroutine of wt, one of the watch's timers, where no
// recovery interceptor of the server's runs, so a panic there (in user
// code: Config.Now, the TokenVerifier and its Revalidator, OnDecision, the
// Logger) is recovered, by recoverPanic, instead of crashing the process;
// so is user code there that does not return (runtime.Goexit), which
// returned tells recoverPanic of; now, once Config.Now has returned, is
// the time recoverPanic bounds the stacks it logs by.
// It calls wt's function once Config.Now has reached its due time or the
// timers have run the whole wait, and otherwise sets wt again for the time
// left; neither once the watch is done (the handler returned, the stream
// was cut, or a message failed the condition, as the timer fired):
// nothing is then cut, and no user code (Config.Now, the verifier) runs
// for the ended stream. The watch may be done by the time Config.Now
// returns (the handler returned meanwhile): wt's function checks again
// (end, goStale, revalidate), so that the verifier is not called then
// either.
func (w *streamWatch) fire(wt *wallTimer) {
	returned, now := false, time.Time{}
	defer w.recoverPanic(&returned, &now)
	w.mu.Lock()
	done, due, rest, f := w.done, wt.due, wt.rest, wt.f
	w.mu.Unlock()
	if done {
		returned = true
		return
	}
	now = w.a.now()
	if left := min(due.Sub(now), rest); left > 0 {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.wait(wt, left)
		returned = true
		return
	}
	f()
	returned = true
}

// nextCut returns the time of the watch's next time-based cut, and
// whether it is the sign-in's staleness (w.staleAt, when it comes before
// the token's expiry, or alone) rather than the expiry (w.cutAt); the zero
// time when there is neither. At a tie the expiry cuts, as before the
// sign-in's age was watched.
func (w *streamWatch) nextCut() (at time.Time, stale bool) {
	if !w.staleAt.IsZero() && (w.cutAt.IsZero() || w.staleAt.Before(w.cutAt)) {
		return w.staleAt, true
	}
	return w.cutAt, false
}

// cutRefusal returns the refusal of a time-based cut and its cause
// (Decision.Err): the rule's own step-up refusal, with the challenge a
// stale sign-in gets as the stream opens, when stale; otherwise the
// expiry's.
func (w *streamWatch) cutRefusal(stale bool) (*rejection, error) {
	if stale {
		return w.plan.signInMaxAge().rej, errSignInStale
	}
	return rejStreamExpired, errStreamExpired
}

// armCut sets the expiry timer for the time-based cut due (nextCut), d
// from now (armUntil).
func (w *streamWatch) armCut(due time.Time, d time.Duration, stale bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := w.expire
	if stale {
		f = w.goStale
	}
	w.armUntil(&w.expiry, due, d, f)
}

// expire, the expiry timer's function, cuts the stream: its token's exp
// plus the clock skew has passed.
func (w *streamWatch) expire() { w.end(w.cutRefusal(false)) }

// goStale, the expiry timer's function at w.staleAt, cuts the stream with
// the rule's step-up refusal: the sign-in is now older than the rule's
// max_age_seconds, as check would refuse it. In dry run the stream is not
// cut: the refusal is reported as a would-deny, once, and the timer is
// set again for the token's expiry, if it has one. Neither happens once
// the watch is done: the handler may have returned while fire read
// Config.Now, after fire saw the stream running, and a stream that has
// ended gets no would-deny, as end cuts none (wouldDenyTurn). Nor is the
// would-deny reported when a re-verification's claims had one reported
// already (rejudge): enforcement would have cut the stream there. Like
// end's, the check is made under w.mu and the report after it, in its
// turn (reportInTurn): the would-deny of a stream whose handler returns
// meanwhile was decided while it ran, and a cut decided after it is
// reported after it.
func (w *streamWatch) goStale() {
	r, cause := w.cutRefusal(true)
	if !w.plan.dryRun {
		w.end(r, cause)
		return
	}
	if t, ok := w.wouldDenyTurn(); ok {
		w.reportInTurn(t, r, cause, verifier.Claims{}, true)
	}
	if w.cutAt.IsZero() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.armUntil(&w.expiry, w.cutAt, w.cutAt.Sub(w.a.now()), w.expire)
}

// running reports whether the watch is not done: the handler has not
// returned, and the stream was neither cut nor refused otherwise (settle).
// w.mu orders it with those, as it orders end's cut: either running
// reports true, and what the caller then reports came while the stream
// ran, or the stream has ended, and the caller reports nothing.
func (w *streamWatch) running() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.done
}

// ended reports whether the stream has ended: the watch is done (see
// running), or the stream's context has ended (the caller went, its
// handler not yet returned).
func (w *streamWatch) ended() bool {
	return !w.running() || w.ctx.Err() != nil
}

// errStreamExpired is Decision.Err of a stream cut at its token's expiry.
var errStreamExpired = errors.New("grpcauth: the stream's token expired (plus the verifier's clock skew)")

// stop stops the timers, once the handler has returned, and reports why
// the stream was cut, if it was.
func (w *streamWatch) stop() *rejection {
	w.mu.Lock()
	w.stopLocked()
	w.mu.Unlock()
	return w.cut.Load()
}

// settle takes the turn (reportTurn) of the report of a message the
// stream received, its condition's refusal or, unless ends, a dry run's
// would-deny, and reports true, unless the stream was cut (while the
// condition judged the message): the message then belongs to the cut, as
// one that arrives after it does, and is not reported; the cut is the
// stream's refusal. Checked under w.mu, as end's cut. With ends (a
// refusal, which ends the stream) it also ends the watch, and stops its
// timers, so that no cut follows the refusal. A nil watch (the stream's
// token is not watched) gives the zero turn: the stream's reports after
// its start are then all its handler's, made in order.
func (w *streamWatch) settle(ends bool) (reportTurn, bool) {
	if w == nil {
		return reportTurn{}, true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cut.Load() != nil {
		return reportTurn{}, false
	}
	if ends {
		w.stopLocked()
	}
	return w.takeTurn(), true
}

// stopLocked marks the watch done and stops its timers; w.mu is held.
func (w *streamWatch) stopLocked() {
	w.done = true
	for _, t := range []timer{w.expiry.t, w.recheck.t} {
		if t != nil {
			t.Stop()
		}
	}
}

// startRevalidation schedules the first re-verification, when the
// verifier is a Revalidator and the stream has a token.
func (w *streamWatch) startRevalidation() {
	rv, ok := w.a.verifier.(Revalidator)
	if !ok {
		return
	}
	claims, _ := ClaimsFromContext(w.ctx)
	token, isDPoP, present, rej := accessToken(w.ctx)
	if claims.IsZero() || !present || rej != nil {
		return
	}
	w.rv, w.claims, w.token = rv, claims, token
	if isDPoP {
		// Admitted with the DPoP scheme: its proof was checked against
		// these claims' jkt (checkDPoP). They always have one; were it
		// missing, the zero thumbprint, no key's, would cut the stream
		// at its re-verification, never check a proof again.
		jkt, _ := dpopKey(claims)
		w.proven = &jkt
	}
	w.schedule(rv.RevalidateAt(token, claims))
}

// schedule sets the re-verification timer for at, unless at is zero or the
// stream has ended (see below). The wait, d until at, is shortened by a random
// part of min(d/10, jitter.Max), so that streams opened together
// (clients reconnecting after a restart or a drain) are re-verified apart,
// not together at every interval, and are never re-verified after at:
// their verdict's end, which bounds how long a revoked token's stream
// lives. Only MinRevalidateInterval can make it later, when at is closer.
// When a re-verification so brought forward gets at back (the verdict was
// a cached one, valid until at), the next is at at itself, not earlier
// again. The re-verification comes once Config.Now has reached the time so
// set, d from now (armUntil): after a suspend, at most maxTimerWait late.
// schedule reports whether the stream still runs: false, and no timer,
// once the handler has returned, the stream was cut (end marks the cut
// before it reports it and cancels the context) or its context has ended
// (the caller went).
func (w *streamWatch) schedule(at time.Time) (running bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.cut.Load() != nil || w.ctx.Err() != nil {
		return false
	}
	if at.IsZero() {
		return true
	}
	now := w.a.now()
	d := at.Sub(now)
	if !at.Equal(w.aim) || d <= 0 {
		d = max(jitter.Earlier(d, w.a.random()), MinRevalidateInterval)
	}
	w.aim = at
	w.armUntil(&w.recheck, now.Add(d), d, w.revalidate)
	return true
}

var errNoClaims = errors.New("grpcauth: the token verifier returned neither claims nor an error")

// revalidate verifies the stream's token again, in the timer's goroutine,
// and ends the stream if it is refused. Neither the verifier nor
// RevalidateAt is called for a stream that has ended (ended): not when it
// ended as the timer fired (fire saw it running, then the handler returned
// while fire read Config.Now), nor when it ended while the verifier ran
// (its handler returned, it was cut, its client went: the verdict, even
// one that accepts the token as the cut is reported, before the stream's
// context is cancelled, asks for no next time and sets no timer). A
// verification that gets no verdict is logged, at LogLevels.Problem, only
// when the stream goes on: not for one that ended meanwhile, which there
// is nothing to re-verify for. A call already running when the stream
// ends is not interrupted: the verifier's context is cancelled.
func (w *streamWatch) revalidate() {
	if w.ended() {
		return // the stream ended as the timer fired
	}
	token := w.token
	claims, err := w.a.verifier.VerifyAccessToken(w.ctx, token)
	if w.ended() {
		return // the stream ended meanwhile
	}
	if err == nil && claims.IsZero() {
		err = errNoClaims
	}
	if err == nil {
		if w.rejudge(claims) {
			w.schedule(w.rv.RevalidateAt(token, claims))
		}
		return
	}
	r := verifyRejection(w.ctx, err)
	switch r {
	case rejCanceled, rejDeadline:
		return // the stream's context ended meanwhile
	case rejUnavailable:
		if w.schedule(w.rv.RevalidateAt(token, w.claims)) {
			w.a.logger.LogAttrs(w.ctx, w.a.levels.Problem.Level(), "grpcauth: stream token could not be re-verified; the stream goes on",
				slog.String("method", clipLogged(w.method)), errorAttr(err))
		}
		return
	case rejExpired:
		r = rejStreamExpired
	default:
		r = rejStreamRevoked
	}
	w.end(r, err) // its Decision is the log record
}

// rejudge judges claims, the stream's token's as just re-verified, as a
// new call with them would be judged, and reports whether the stream goes
// on: their binding to the client (checkBinding: a cnf x5t#S256 against
// the connection's client certificate, and, since the stream's DPoP proof
// cannot be checked again, a cnf jkt against the key it was checked
// against as the stream opened, w.proven), then the method's rule
// (judge: scopes, binding required, step-up, and a condition that reads
// no request). A refusal cuts the stream with the refusal a new call gets
// (ACCESS_TOKEN_SCOPE_INSUFFICIENT's PermissionDenied and fixed message,
// the step-up's, the condition's, DPOP_BINDING_MISMATCH for a token now
// bound to another key or to none), its Decision carrying claims; in dry
// run a refusal of the rule is reported as a would-deny instead, once per
// stream (wouldDenyTurn), and the stream goes on, but a refusal of the
// binding cuts it, as dry run does not relax it for a new call either. A
// condition's evaluation that ended with the stream's context ends
// nothing more: the stream has ended. The claims are the judge's alone:
// the handler's context keeps the claims the stream opened with
// (ClaimsFromContext), and so do RevalidateAt after an outage and a
// message's condition.
func (w *streamWatch) rejudge(claims verifier.Claims) bool {
	cred := credential{token: w.token, dpop: w.proven != nil, proven: w.proven}
	bound, r, cause := w.a.checkBinding(w.ctx, w.method, cred, claims)
	unbound := r != nil
	if !unbound {
		r, cause = w.a.judge(w.ctx, w.plan, w.method, claims, bound, nil)
	}
	switch {
	case r == nil:
		return true
	case r == rejCanceled || r == rejDeadline:
		return false // the stream's context ended as the condition ran
	case unbound || !w.plan.dryRun || r.enforcedInDryRun():
		w.endJudged(r, cause, claims)
		return false
	}
	if t, ok := w.wouldDenyTurn(); ok {
		w.reportInTurn(t, r, cause, claims, true)
	}
	return true
}
