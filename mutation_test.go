package grpcauth

// Tests written from a hand-run mutation test of the root package's
// authorization decisions: each holds a check that no other test held
// (deleting or loosening it left every test passing).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

const mBidi = "/authtest.v1.TestService/BidiStream"

// bidiInfo is the StreamServerInfo of BidiStream.
var bidiInfo = &grpc.StreamServerInfo{FullMethod: mBidi, IsClientStream: true, IsServerStream: true}

// checkStatuses is checkStatus for each of errs.
func checkStatuses(t *testing.T, code codes.Code, reason string, errs ...error) {
	t.Helper()
	for _, err := range errs {
		checkStatus(t, err, code, reason)
	}
}

// expiringClaims returns claims with the scopes of BidiStream and exp at
// exp.
func expiringClaims(t *testing.T, exp time.Time) verifier.Claims {
	t.Helper()
	c, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scope": "test:stream", "exp": exp.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// openStream runs a's stream interceptor for BidiStream on a call with a
// bearer token, and reports whether the handler ran.
func openStream(a *Authenticator) (ran bool, err error) {
	err = a.StreamServerInterceptor()(nil, &ctxStream{ctx: bearerCtx("tok")}, bidiInfo,
		func(any, grpc.ServerStream) error {
			ran = true
			return nil
		})
	return ran, err
}

// A stream opened with a token past its exp but within the verifier's
// clock skew, which the verifier accepted, is admitted: it is cut at exp
// plus the skew, not at exp (the skew is not dropped at the stream's
// start).
func TestStream_TokenWithinTheClockSkewPastItsExpiryOpensTheStream(t *testing.T) {
	clock := newFakeClock()
	var rec recorder
	a := mustNew(t, Config{
		Verifier: staticVerifier{claims: expiringClaims(t, t0.Add(-verifier.DefaultClockSkew/2))},
		Now:      clock.Now, afterFunc: clock.AfterFunc, OnDecision: rec.record,
	})
	ran, err := openStream(a)
	checkStatus(t, err, codes.OK, "")
	if !ran {
		t.Fatal("the handler did not run")
	}
	if got := rec.denied(); len(got) != 0 {
		t.Errorf("denied decisions %q, want none", got)
	}
}

// A stream whose token reaches exp plus the clock skew exactly as it opens
// is refused at the start, with one denied decision (ACCESS_TOKEN_EXPIRED),
// not admitted and cut at once (an allowed decision, then a cut).
func TestStream_TokenExpiringAsTheStreamOpensIsRefusedOnce(t *testing.T) {
	clock := newFakeClock()
	var rec recorder
	a := mustNew(t, Config{
		Verifier: staticVerifier{claims: expiringClaims(t, t0.Add(-verifier.DefaultClockSkew))},
		Now:      clock.Now, afterFunc: clock.AfterFunc, OnDecision: rec.record,
	})
	ran, err := openStream(a)
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
	if ran {
		t.Error("the handler ran")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ds) != 1 || rec.ds[0].Allowed || rec.ds[0].Reason != ReasonTokenExpired {
		t.Errorf("decisions %+v, want one, denied with %s", rec.ds, ReasonTokenExpired)
	}
}

// mutCompiler compiles every condition to cond.
type mutCompiler struct{ cond Condition }

func (c mutCompiler) CompileCondition(protoreflect.MethodDescriptor, string) (Condition, error) {
	return c.cond, nil
}

// mutCond is a Condition that is a function.
type mutCond func(context.Context, ConditionInput) (bool, error)

func (f mutCond) Eval(ctx context.Context, in ConditionInput) (bool, error) { return f(ctx, in) }

// A caller giving up (cancelled, or its deadline passed) while the
// condition ran is refused with codes.Canceled or codes.DeadlineExceeded,
// not CONDITION_ERROR, and dry run, which relaxes a condition's refusal,
// does not relax that one: the handler never runs. (The verifier ignores
// the call's context, so the condition is the first to see it ended.)
func TestCondition_CallEndingDuringItsConditionIsRefusedEvenInDryRun(t *testing.T) {
	cancelled, cancel := context.WithCancel(bearerCtx("tok"))
	cancel()
	expired, cancelExpired := context.WithDeadline(bearerCtx("tok"), time.Now())
	defer cancelExpired()
	for _, tt := range []struct {
		name   string
		ctx    context.Context
		code   codes.Code
		reason string
	}{
		{"cancelled", cancelled, codes.Canceled, ReasonCanceled},
		{"deadline passed", expired, codes.DeadlineExceeded, ReasonDeadlineExceeded},
	} {
		for _, dryRun := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, dry run %v", tt.name, dryRun), func(t *testing.T) {
				a := mustNew(t, Config{
					DryRun: dryRun,
					Conditions: mutCompiler{mutCond(func(ctx context.Context, _ ConditionInput) (bool, error) {
						return false, ctx.Err()
					})},
					Rules: map[string]*grpcauthv1.Rule{mInherited: {Condition: "ends"}},
				})
				served := false
				err := a.ServeCall(tt.ctx, mInherited, false, &authtestv1.InheritedRequest{}, func(context.Context, *Guard) error {
					served = true
					return nil
				})
				checkStatus(t, err, tt.code, tt.reason)
				if served {
					t.Error("serve ran for a call that ended")
				}
			})
		}
	}
}

// ServeCall given no request for a unary call of a method with a condition
// refuses it (CONDITION_ERROR) rather than skip the condition, even one
// that would pass: the adapter's omission must not let a call through
// unchecked.
func TestServeCall_UnaryCallWithoutARequestFailsTheCondition(t *testing.T) {
	evaluated := false
	var rec recorder
	a := mustNew(t, Config{
		Conditions: mutCompiler{mutCond(func(context.Context, ConditionInput) (bool, error) {
			evaluated = true
			return true, nil
		})},
		Rules:      map[string]*grpcauthv1.Rule{mInherited: {Condition: "passes"}},
		OnDecision: rec.record,
	})
	served := false
	err := a.ServeCall(bearerCtx("tok"), mInherited, false, nil, func(context.Context, *Guard) error {
		served = true
		return nil
	})
	checkStatus(t, err, codes.PermissionDenied, ReasonConditionError)
	if served || evaluated {
		t.Errorf("served = %v, condition evaluated = %v; want neither", served, evaluated)
	}
	if d := rec.last(t); !errors.Is(d.Err, errNoRequest) {
		t.Errorf("Decision.Err = %v, want %v", d.Err, errNoRequest)
	}
}

// A pseudo-header an adapter put in the metadata twice names nothing: a
// DPoP proof is checked against the call's own method and path (the
// defaults), never against the first of the values, so a proof made for
// another path does not pass.
func TestServeCall_RepeatedPseudoHeaderIsIgnoredForTheDPoPProof(t *testing.T) {
	d := newDPoPEnv(t)
	call := func(proofPath string) error {
		md := metadata.Pairs("authorization", "DPoP "+d.bound, MetadataDPoP, d.proof(t, d.key, proofPath, d.bound, grpcauthtest.ProofOptions{}),
			":authority", d.addr, ":path", "/other.v1.Other/Method", ":path", "/other.v1.Other/Method")
		ctx := metadata.NewIncomingContext(loopbackPeer(t.Context()), md)
		return d.auth.ServeCall(ctx, mAuth, false, &authtestv1.AuthenticatedRequest{}, func(context.Context, *Guard) error { return nil })
	}
	checkStatus(t, call(mAuth), codes.OK, "")
	checkStatus(t, call("/other.v1.Other/Method"), codes.Unauthenticated, ReasonDPoPProofInvalid)
}

// mutAtStart is a Condition that does not read the request
// (RequestReader), so a stream checks it as it opens.
type mutAtStart struct{ mutCond }

func (mutAtStart) ReadsRequest() bool { return false }

// A stream whose method's condition does not read the request is checked
// as it opens: a condition that is false refuses the stream
// (CONDITION_FAILED) before its handler runs, with or without an expiry
// to watch.
func TestStream_ConditionNotReadingTheRequestIsCheckedAsTheStreamOpens(t *testing.T) {
	for _, exp := range []bool{false, true} {
		claims := mustClaims(t, "test:stream")
		if exp {
			claims = expiringClaims(t, t0.Add(time.Hour))
		}
		clock := newFakeClock()
		evaluated := 0
		a := mustNew(t, Config{
			Verifier: staticVerifier{claims: claims},
			Now:      clock.Now, afterFunc: clock.AfterFunc,
			Conditions: mutCompiler{mutAtStart{func(context.Context, ConditionInput) (bool, error) {
				evaluated++
				return false, nil
			}}},
			Rules: map[string]*grpcauthv1.Rule{mBidi: {Condition: "false"}},
		})
		ran, err := openStream(a)
		checkStatus(t, err, codes.PermissionDenied, ReasonConditionFailed)
		if ran || evaluated != 1 {
			t.Errorf("exp %v: handler ran = %v, condition evaluated %d times; want not run, once", exp, ran, evaluated)
		}
	}
}

// firstRefused returns a per-message condition (not a RequestReader)
// that refuses the first message it sees and passes every later one, and
// the number of its evaluations.
func firstRefused() (Condition, *int) {
	n := new(int)
	return mutCond(func(context.Context, ConditionInput) (bool, error) {
		*n++
		return *n > 1, nil
	}), n
}

// Once a stream's message failed the condition, every later message
// handed to Guard.Received is refused with that refusal, unevaluated,
// even one the condition would pass: the stream has ended.
func TestServeCall_MessageAfterARefusedOneIsRefusedUnevaluated(t *testing.T) {
	cond, evaluated := firstRefused()
	var rec recorder
	a := mustNew(t, Config{
		Verifier:   staticVerifier{claims: mustClaims(t, "test:stream")},
		Conditions: mutCompiler{cond},
		Rules:      map[string]*grpcauthv1.Rule{mBidi: {Condition: "first refused"}},
		OnDecision: rec.record,
	})
	var first, second error
	err := a.ServeCall(bearerCtx("tok"), mBidi, true, nil, func(_ context.Context, g *Guard) error {
		first = g.Received(&authtestv1.BidiStreamRequest{})
		second = g.Received(&authtestv1.BidiStreamRequest{})
		return nil
	})
	checkStatuses(t, codes.PermissionDenied, ReasonConditionFailed, first, second, err)
	if *evaluated != 1 {
		t.Errorf("condition evaluated %d times, want once", *evaluated)
	}
	if got := rec.denied(); len(got) != 1 {
		t.Errorf("denied decisions %q, want one", got)
	}
}

// A nil message handed to Guard.Received (an adapter's bug) is refused
// with CONDITION_ERROR, never evaluated as a message-less call: the
// method's condition reads each message.
func TestServeCall_NilMessageFailsAPerMessageCondition(t *testing.T) {
	evaluated := false
	a := mustNew(t, Config{
		Verifier: staticVerifier{claims: mustClaims(t, "test:stream")},
		Conditions: mutCompiler{mutCond(func(context.Context, ConditionInput) (bool, error) {
			evaluated = true
			return true, nil
		})},
		Rules: map[string]*grpcauthv1.Rule{mBidi: {Condition: "passes"}},
	})
	var got error
	err := a.ServeCall(bearerCtx("tok"), mBidi, true, nil, func(_ context.Context, g *Guard) error {
		got = g.Received(nil)
		return nil
	})
	checkStatuses(t, codes.PermissionDenied, ReasonConditionError, got, err)
	if evaluated {
		t.Error("the condition was evaluated without a message")
	}
}

// recvStream is a server stream with a context whose RecvMsg delivers an
// empty message each time and counts its calls.
type recvStream struct {
	ctxStream
	received int
}

func (s *recvStream) RecvMsg(any) error {
	s.received++
	return nil
}

// Once a received message failed the condition, the stream's later
// receives fail with that refusal at once: they take no further message
// from the client (which might never come, blocking the handler).
func TestStream_ReceiveAfterARefusedMessageTakesNoMessage(t *testing.T) {
	cond, _ := firstRefused()
	a := mustNew(t, Config{
		Verifier:   staticVerifier{claims: mustClaims(t, "test:stream")},
		Conditions: mutCompiler{cond},
		Rules:      map[string]*grpcauthv1.Rule{mBidi: {Condition: "first refused"}},
	})
	ss := &recvStream{ctxStream: ctxStream{ctx: bearerCtx("tok")}}
	var first, second error
	err := a.StreamServerInterceptor()(nil, ss, bidiInfo,
		func(_ any, s grpc.ServerStream) error {
			first = s.RecvMsg(&authtestv1.BidiStreamRequest{})
			second = s.RecvMsg(&authtestv1.BidiStreamRequest{})
			return nil
		})
	checkStatuses(t, codes.PermissionDenied, ReasonConditionFailed, first, second, err)
	if ss.received != 1 {
		t.Errorf("%d messages taken from the client, want 1", ss.received)
	}
}

// A receive after the stream's token was cut fails with the cut at once:
// it takes no message from the client (which might never come, blocking
// the handler).
func TestStream_ReceiveAfterTheCutTakesNoMessage(t *testing.T) {
	clock := newFakeClock()
	a := mustNew(t, Config{
		Verifier: staticVerifier{claims: expiringClaims(t, t0.Add(time.Hour))},
		Now:      clock.Now, afterFunc: clock.AfterFunc,
	})
	ss := &recvStream{ctxStream: ctxStream{ctx: bearerCtx("tok")}}
	var recv error
	err := a.StreamServerInterceptor()(nil, ss, bidiInfo,
		func(_ any, s grpc.ServerStream) error {
			clock.expire(clock.next(t))
			recv = s.RecvMsg(&authtestv1.BidiStreamRequest{})
			return nil
		})
	checkStatuses(t, codes.Unauthenticated, ReasonTokenExpired, recv, err)
	if ss.received != 0 {
		t.Errorf("%d messages taken from the client after the cut, want none", ss.received)
	}
}

// A stream whose token reaches exp plus the clock skew between its
// decision and the start of its watch (the clock moved on) is refused
// before its handler runs: a cut due now is a cut.
func TestStream_TokenReachingItsCutAsTheWatchStartsIsRefused(t *testing.T) {
	cutAt := t0
	reads := 0
	now := func() time.Time {
		reads++
		if reads == 1 { // the decision's
			return cutAt.Add(-time.Nanosecond)
		}
		return cutAt
	}
	clock := newFakeClock()
	a := mustNew(t, Config{
		Verifier: staticVerifier{claims: expiringClaims(t, cutAt.Add(-verifier.DefaultClockSkew))},
		Now:      now, afterFunc: clock.AfterFunc,
	})
	ran, err := openStream(a)
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
	if ran {
		t.Error("the handler ran")
	}
}

// leavingRevalidator accepts the first verification of a token with
// claims, and on the re-verification runs leave (the client going away
// meanwhile) and then refuses the token.
type leavingRevalidator struct {
	claims verifier.Claims
	calls  *int
	leave  func()
}

func (v leavingRevalidator) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	if *v.calls++; *v.calls == 1 {
		return v.claims, nil
	}
	v.leave()
	return verifier.Claims{}, errors.New("token revoked")
}

func (v leavingRevalidator) RevalidateAt(string, verifier.Claims) time.Time {
	return t0.Add(time.Minute)
}

// A stream that ended (its client went away) while its token was being
// re-verified is not cut for what the re-verification found: there is no
// stream left to cut, and no denied Decision is reported for it.
func TestStream_ReverificationFindingAfterTheClientLeftIsNotACut(t *testing.T) {
	clock := newFakeClock()
	var rec recorder
	ctx, leave := context.WithCancel(bearerCtx("tok"))
	defer leave()
	a := mustNew(t, Config{
		Verifier: leavingRevalidator{claims: mustClaims(t, "test:stream"), calls: new(int), leave: leave},
		Now:      clock.Now, afterFunc: clock.AfterFunc, OnDecision: rec.record,
	})
	left, release := make(chan struct{}), make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- a.StreamServerInterceptor()(nil, &ctxStream{ctx: ctx}, bidiInfo,
			func(_ any, s grpc.ServerStream) error {
				<-s.Context().Done()
				close(left)
				<-release // the handler has not returned yet
				return s.Context().Err()
			})
	}()
	clock.expire(clock.next(t)) // the re-verification
	await(t, left, "the handler's context did not end")
	got := rec.denied()
	close(release)
	if err := await(t, result, "the stream did not end"); status.Code(err) == codes.Unauthenticated {
		t.Errorf("stream ended with %v, want no refusal", err)
	}
	if len(got) != 0 {
		t.Errorf("denied decisions %q, want none", got)
	}
}

// An auth_time past the latest a time.Duration since 1970 holds (the year
// 2262) is refused as out of range, and Decision.Err says so, rather than
// being converted to a time with an overflow.
func TestStepUp_AuthTimeBeyondTheYear2262IsOutOfRange(t *testing.T) {
	c, err := verifier.NewClaims(map[string]any{"sub": "user-1", "acr": "phr", "auth_time": 1e19})
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	a := mustNew(t, Config{
		Verifier: staticVerifier{claims: c}, Now: func() time.Time { return t0 }, OnDecision: rec.record,
		Rules: map[string]*grpcauthv1.Rule{mInherited: {AcrValues: []string{"phr"}, MaxAgeSeconds: 300}},
	})
	_, err = callUnary(a, bearerCtx("tok"), mInherited)
	checkStatus(t, err, codes.Unauthenticated, ReasonInsufficientUserAuthentication)
	if d := rec.last(t); d.Err == nil || !strings.Contains(d.Err.Error(), "is out of range") {
		t.Errorf("Decision.Err = %v, want auth_time out of range", d.Err)
	}
}

// ClaimsFromContext reports no claims for a context that holds zero
// Claims: a caller without a token has no claims, whoever put the value
// there.
func TestClaimsFromContext_ZeroClaimsAreNoClaims(t *testing.T) {
	if c, ok := ClaimsFromContext(ContextWithClaims(t.Context(), verifier.Claims{})); ok || !c.IsZero() {
		t.Errorf("ClaimsFromContext = %v, %v; want zero claims and false", c, ok)
	}
}

// Dry run relaxes a stream message's condition refusal, but not the
// caller giving up while the condition ran: Guard.Received returns
// codes.Canceled, which ends the stream.
func TestDryRun_StreamMessageWhoseCallEndedIsStillRefused(t *testing.T) {
	ctx, cancel := context.WithCancel(bearerCtx("tok"))
	cancel()
	a := mustNew(t, Config{
		DryRun:   true,
		Verifier: staticVerifier{claims: mustClaims(t, "test:stream")},
		Conditions: mutCompiler{mutCond(func(ctx context.Context, _ ConditionInput) (bool, error) {
			return false, ctx.Err()
		})},
		Rules: map[string]*grpcauthv1.Rule{mBidi: {Condition: "ends"}},
	})
	var got error
	err := a.ServeCall(ctx, mBidi, true, nil, func(_ context.Context, g *Guard) error {
		got = g.Received(&authtestv1.BidiStreamRequest{})
		return nil
	})
	checkStatuses(t, codes.Canceled, ReasonCanceled, got, err)
}

// A stream's expiry timer that fires as its handler returns sets no timer
// again once the stream has ended: nothing of the stream outlives it.
// The timer reads Config.Now between its two looks at the watch; the test
// ends the stream right there.
func TestStream_TimerFiringAsTheStreamEndsSetsNoTimer(t *testing.T) {
	clock := newFakeClock()
	var block atomic.Bool
	inNow, resume := make(chan struct{}), make(chan struct{})
	now := func() time.Time {
		if block.CompareAndSwap(true, false) {
			close(inNow)
			<-resume
		}
		return clock.Now()
	}
	a := mustNew(t, Config{
		Verifier: staticVerifier{claims: expiringClaims(t, t0.Add(time.Hour))},
		Now:      now, afterFunc: clock.AfterFunc,
	})
	started, finish := make(chan struct{}), make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- a.StreamServerInterceptor()(nil, &ctxStream{ctx: bearerCtx("tok")}, bidiInfo,
			func(any, grpc.ServerStream) error {
				close(started)
				<-finish
				return nil
			})
	}()
	await(t, started, "the handler did not start")
	expiry := clock.next(t)
	block.Store(true)
	fired := make(chan struct{})
	go func() {
		expiry.fire() // long before the cut: it would set itself again
		close(fired)
	}()
	await(t, inNow, "the timer did not read the clock")
	close(finish)
	checkStatus(t, await(t, result, "the stream did not end"), codes.OK, "")
	close(resume)
	await(t, fired, "the timer did not return")
	if n := len(clock.added); n != 0 {
		t.Errorf("%d timers set after the stream ended, want none", n)
	}
}

// mutReads is a Condition that says it reads the request (RequestReader).
type mutReads struct{ mutCond }

func (mutReads) ReadsRequest() bool { return true }

// A stream whose method's condition says it reads the request checks it
// on every received message, never as the stream opens without one: a
// condition that refuses every message refuses the first received.
func TestStream_ConditionReadingTheRequestIsCheckedOnEachMessage(t *testing.T) {
	withoutRequest := 0
	a := mustNew(t, Config{
		Verifier: staticVerifier{claims: mustClaims(t, "test:stream")},
		Conditions: mutCompiler{mutReads{func(_ context.Context, in ConditionInput) (bool, error) {
			if in.Request == nil {
				withoutRequest++
				return true, nil
			}
			return false, nil
		}}},
		Rules: map[string]*grpcauthv1.Rule{mBidi: {Condition: "refuses every message"}},
	})
	ss := &recvStream{ctxStream: ctxStream{ctx: bearerCtx("tok")}}
	var recv error
	err := a.StreamServerInterceptor()(nil, ss, bidiInfo,
		func(_ any, s grpc.ServerStream) error {
			recv = s.RecvMsg(&authtestv1.BidiStreamRequest{})
			return nil
		})
	checkStatuses(t, codes.PermissionDenied, ReasonConditionFailed, recv, err)
	if withoutRequest != 0 {
		t.Errorf("condition evaluated %d times without a request, want never", withoutRequest)
	}
}

// switchingResolver resolves names in the files it currently holds: a
// resolver that builds a service's descriptors afresh (reloaded
// descriptors).
type switchingResolver struct {
	files atomic.Pointer[protoregistry.Files]
}

func (r *switchingResolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	return r.files.Load().FindDescriptorByName(name)
}

// A service option is read again from a service descriptor the resolver
// built afresh: a method first called after the descriptors changed gets
// the new option's rule, not the one read from the old descriptor for
// another method of the service.
func TestRule_ServiceOptionIsReadAgainFromANewDescriptor(t *testing.T) {
	const pkg = "reloaded.v1"
	before, _ := serviceWithOption(t, pkg, &grpcauthv1.Rule{Scopes: []string{"items:read"}}, 2)
	after, _ := serviceWithOption(t, pkg, &grpcauthv1.Rule{Scopes: []string{"items:admin"}}, 2)
	r := &switchingResolver{}
	r.files.Store(before)
	a := mustNew(t, Config{Descriptors: r, Verifier: staticVerifier{claims: mustClaims(t, "items:read")}})
	_, err := callUnary(a, bearerCtx("tok"), "/"+pkg+".Many/M0")
	checkStatus(t, err, codes.OK, "")
	r.files.Store(after)
	_, err = callUnary(a, bearerCtx("tok"), "/"+pkg+".Many/M1")
	checkStatus(t, err, codes.PermissionDenied, ReasonScopeInsufficient)
}

// A public method called without a token has no claims in its handler,
// even when server code before the interceptor put some in the context
// (ContextWithClaims): they were not verified for this call.
func TestPublicMethod_CallWithoutATokenHasNoClaimsFromAnOuterContext(t *testing.T) {
	a := mustNew(t, Config{Verifier: staticVerifier{claims: mustClaims(t, "test:read")}})
	outer := ContextWithClaims(loopbackPeer(t.Context()), mustClaims(t, "test:admin"))
	got, err := callUnary(a, outer, mPublic)
	checkStatus(t, err, codes.OK, "")
	if !got.IsZero() {
		t.Errorf("handler saw claims %v, want none", got.Scopes())
	}
}

// Two Authenticators in one chain each decide the call: on a method the
// inner one has public, a call with a token is verified by the inner one
// too, and its handler sees the inner one's claims, not the outer's; a
// token the inner one refuses is refused, though the outer one admitted
// it. Without a token the outer one, which needs one, refuses the call.
func TestTwoAuthenticators_InnerPublicMethodSeesTheInnerVerification(t *testing.T) {
	outer := mustNew(t, Config{
		Verifier: staticVerifier{claims: mustClaims(t, "outer:read")},
		Rules:    map[string]*grpcauthv1.Rule{mPublic: {Scopes: []string{"outer:read"}}},
	})
	chain := func(inner *Authenticator, ctx context.Context) (verifier.Claims, error) {
		info := &grpc.UnaryServerInfo{FullMethod: mPublic}
		resp, err := outer.UnaryServerInterceptor()(ctx, nil, info, func(ctx context.Context, req any) (any, error) {
			return inner.UnaryServerInterceptor()(ctx, req, info, func(ctx context.Context, _ any) (any, error) {
				c, _ := ClaimsFromContext(ctx)
				return c, nil
			})
		})
		c, _ := resp.(verifier.Claims)
		return c, err
	}
	inner := mustNew(t, Config{Verifier: staticVerifier{claims: mustClaims(t, "inner:read")}})
	got, err := chain(inner, bearerCtx("tok"))
	checkStatus(t, err, codes.OK, "")
	if s := got.Scopes(); len(s) != 1 || s[0] != "inner:read" {
		t.Errorf("handler saw scopes %v, want the inner verification's [inner:read]", s)
	}
	refusing := mustNew(t, Config{Verifier: staticVerifier{err: verifier.ErrBadSignature}})
	_, err = chain(refusing, bearerCtx("tok"))
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("token the inner Authenticator refuses: %v, want Unauthenticated", err)
	}
	_, err = chain(inner, loopbackPeer(t.Context()))
	checkStatus(t, err, codes.Unauthenticated, ReasonCredentialsMissing)
}
