package grpcauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/isnil"
	"github.com/grpcauth/grpcauth/internal/jwxpanic"
	"github.com/grpcauth/grpcauth/internal/panictext"
	"github.com/grpcauth/grpcauth/verifier"
)

// ConditionCompiler compiles the condition of a rule (the `condition`
// field of grpcauth.v1.Rule) for one method. Set Config.Conditions to one
// to enforce conditions; the package github.com/grpcauth/grpcauth/celcond
// provides one for CEL expressions. The core package does not depend on
// any expression language, so a server that declares no condition pays
// nothing for them. See docs/conditions.md.
type ConditionCompiler interface {
	// CompileCondition compiles expr for method, whose Input() is the type
	// of the request messages the condition will see. It is called when
	// the method's rule is first compiled: by Check, or else on the
	// method's first call, and then on each of its first calls that
	// arrive together, before one has published the result (one result
	// is kept); later calls reuse it. It must be safe for concurrent use:
	// the first calls of one method, or of several, compile at the same
	// time. The error should say what is wrong with expr (the
	// Authenticator adds the method name); it makes the rule invalid, so
	// the method is denied. So does a nil Condition without an error,
	// including a nil pointer of a Condition type, and a panic here or in
	// the Condition's ReadsRequest (logged with the rule's error, never
	// crashing the server).
	CompileCondition(method protoreflect.MethodDescriptor, expr string) (Condition, error)
}

// Condition is a compiled condition. It must be safe for concurrent use.
type Condition interface {
	// Eval reports whether the call may proceed. An error refuses the call,
	// whatever the bool returned with it, with reason CONDITION_ERROR and
	// is logged, never sent to the caller;
	// an error wrapping ctx's own context.Canceled or
	// context.DeadlineExceeded, once ctx is done, refuses it with
	// CANCELED or DEADLINE_EXCEEDED instead. ctx is the call's context.
	// Eval runs on the call's goroutine. A panic of Eval is recovered, and
	// the server goes on serving: it refuses the call (or the stream
	// message) as an error does, with CONDITION_ERROR (in dry run, a
	// would-deny that lets it through, as an error's is); its value,
	// clipped to 160 bytes, is in Decision.Err, and its stack is logged
	// at LogLevels.Problem, at most once a minute. So is panic(nil) under
	// GODEBUG=panicnil=1, where recover sees no value. Eval must not end
	// its goroutine (runtime.Goexit, as t.FailNow in a test's fake does):
	// that ends the call's goroutine, which grpcauth cannot stop; the call
	// is not let through, but gets no answer until the client cancels it
	// or its deadline passes, and no Decision is reported; grpcauth logs
	// it at LogLevels.Problem, with the stack under the same bound.
	Eval(ctx context.Context, in ConditionInput) (bool, error)
}

// RequestReader is an optional interface of a Condition. ReadsRequest
// reports whether the condition reads ConditionInput.Request. On a
// streaming call, a condition that does not is evaluated when the
// stream opens (with a nil Request), as a unary call's is: a stream that
// sends no message, or whose handler sends first, cannot pass by it
// unchecked; and again, on the claims the token is accepted with, each
// time the stream's token is re-verified (see Revalidator). A condition
// that reads the request, or does not implement RequestReader, is
// evaluated on every message the stream receives instead. celcond's conditions implement it.
type RequestReader interface {
	ReadsRequest() bool
}

// ConditionInput is what a condition is evaluated against.
type ConditionInput struct {
	// Method is the full method name, "/pkg.Service/Method".
	Method string
	// Claims are the verified claims of the call's token (never zero:
	// conditions are not allowed on public rules).
	Claims verifier.Claims
	// Request is the request message: the only one of a unary or
	// server-streaming call, or the message just received on a client- or
	// bidi-streaming call. It is nil when a condition that does not read
	// it (see RequestReader) is evaluated as a stream opens, or as its
	// token is re-verified.
	Request proto.Message
}

// errNoConditionCompiler is the cause of a rule with a condition on an
// Authenticator without Config.Conditions.
var errNoConditionCompiler = errors.New("the rule has a condition but Config.Conditions is nil: set it to a ConditionCompiler, e.g. celcond.New(celcond.Config{}) from github.com/grpcauth/grpcauth/celcond")

// errNoMethodDescriptor is the cause of a condition that cannot be compiled
// because no descriptor declares the method.
var errNoMethodDescriptor = errors.New("the method's request type is unknown: no descriptor for the method in Config.Descriptors")

// compileCondition compiles the condition of p's rule, if any, for method
// and stores it in p. A condition that cannot be compiled makes p a denied
// plan (p.rule nil, p.err wrapping ErrInvalidRule), as an invalid rule does.
// p.err names the method clipped: a rule for a service, or the DefaultRule,
// covers names a caller makes up (through grpc.UnknownServiceHandler), for
// which no condition compiles, and p.err is every such call's
// Decision.Err, logged even when the call came without a token.
func (a *Authenticator) compileCondition(ctx context.Context, p *methodPlan, method string) {
	if p.rule == nil || p.rule.condition == "" {
		return
	}
	expr := p.rule.condition
	err := errNoConditionCompiler
	if a.conditions != nil {
		md, rerr := a.resolveMethod(ctx, method)
		if rerr != nil {
			// No answer about the descriptor: denied for this call, and,
			// like findRule's, the plan is not kept (buildPlan), so that
			// a resolver's passing failure does not deny the method for
			// the life of the process.
			p.rule, p.cond, p.condAtStart = nil, nil, false
			p.err = fmt.Errorf("%s (%s): %w", clipLogged(method), p.source, rerr)
			p.ended = errors.Is(rerr, errWaitEnded)
			return
		}
		err = errNoMethodDescriptor
		if md != nil {
			p.cond, p.condAtStart, err = compileWith(a.conditions, md, expr)
		}
	}
	if err != nil {
		p.rule, p.cond, p.condAtStart = nil, nil, false
		p.err = fmt.Errorf("%s (%s): %w: condition %q: %w", clipLogged(method), p.source, ErrInvalidRule, expr, err)
	}
}

// compileWith compiles expr for md with c, and asks the condition whether
// it reads the request (atStart: it does not, so it is checked when a
// stream opens). A panic in either call, a custom compiler's bug, is an
// error: the rule is invalid and its method denied, rather than the
// server crashing on the method's first call or in Check.
func compileWith(c ConditionCompiler, md protoreflect.MethodDescriptor, expr string) (cond Condition, atStart bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			cond, atStart = nil, false
			err = fmt.Errorf("the ConditionCompiler panicked: %s", panictext.Text(v, endpoint.MaxErrorText))
		}
	}()
	cond, err = c.CompileCondition(md, expr)
	switch {
	case err != nil:
		return nil, false, err
	case cond == nil:
		return nil, false, errors.New("the ConditionCompiler returned neither a condition nor an error")
	case isnil.Reference(cond):
		// Its Eval would dereference, or call, nil on every call.
		return nil, false, fmt.Errorf("the ConditionCompiler returned a nil %T and no error", cond)
	}
	rr, ok := cond.(RequestReader)
	return cond, ok && !rr.ReadsRequest(), nil
}

// resolveMethod resolves a full method name to its descriptor, or returns
// the resolver's failure (resolveService's error, wrapping
// errResolverFailed): nil and nil when the resolver answered and no such
// method is described.
func (a *Authenticator) resolveMethod(ctx context.Context, method string) (protoreflect.MethodDescriptor, error) {
	_, md, err := a.resolveMethodIn(ctx, method)
	return md, err
}

// resolveMethodIn is resolveMethod that also returns the descriptor of the
// method's service as Config.Descriptors resolved it (findRule's), or nil.
func (a *Authenticator) resolveMethodIn(ctx context.Context, method string) (protoreflect.ServiceDescriptor, protoreflect.MethodDescriptor, error) {
	svc, name, ok := splitMethod(method)
	if !ok {
		return nil, nil, nil
	}
	sd, err := a.resolveService(svc)
	if sd == nil {
		return nil, nil, err
	}
	ms, err := methods(ctx, sd)
	if err != nil {
		if errors.Is(err, errWaitEnded) {
			return sd, nil, err // no answer: ctx ended as another build was under way
		}
		return sd, nil, nil
	}
	return sd, ms.ByName(protoreflect.Name(name)), nil
}

// policy checks a call that passed its rule's scopes against the rule's
// step-up requirement and its condition: a unary call's against req, a
// stream's (req nil) only when the condition does not read the request.
// Other streams check their condition per message: see conditionStream.
func (a *Authenticator) policy(ctx context.Context, p *methodPlan, method string, c verifier.Claims, req any) (*rejection, error) {
	if p.rule == nil || p.rule.public {
		return nil, nil
	}
	// stepUp reads the clock only for max_age_seconds: a call pays for no
	// clock read it does not need.
	if rej, cause := p.rule.stepUp.check(c, a.now, a.skewFor); rej != nil {
		return rej, cause
	}
	if p.cond == nil || (req == nil && !p.condAtStart) {
		return nil, nil
	}
	return a.evalCondition(ctx, p, method, c, req)
}

// noRequest stands for the request of a unary call that ServeCall was
// given no request for: a method with a condition is then refused with
// CONDITION_ERROR (fail closed), never let through unchecked.
type noRequest struct{}

// errNoRequest is the cause of that refusal.
var errNoRequest = errors.New("grpcauth: condition: the method has a condition, but ServeCall was given no request message to check")

// evalCondition evaluates p's condition on one request message, or on none
// (req nil) when the condition does not read it.
func (a *Authenticator) evalCondition(ctx context.Context, p *methodPlan, method string, c verifier.Claims, req any) (*rejection, error) {
	if _, ok := req.(noRequest); ok {
		return rejConditionError, errNoRequest
	}
	m, ok := req.(proto.Message)
	if !ok && (req != nil || !p.condAtStart) {
		return rejConditionError, fmt.Errorf("grpcauth: condition: the request is a %T, not a proto.Message", req)
	}
	ok, err := a.eval(ctx, p.cond, ConditionInput{Method: method, Claims: c, Request: m})
	switch {
	case err != nil:
		err = fmt.Errorf("grpcauth: condition %q: %w", p.rule.condition, err)
		if r := callEnded(ctx, err); r != nil { // stopped because the caller gave up
			return r, err
		}
		return rejConditionError, err
	case !ok:
		return rejConditionFailed, fmt.Errorf("grpcauth: condition %q is false", p.rule.condition)
	}
	return nil, nil
}

// errConditionPanicked is what the error of a condition whose Eval
// panicked wraps, with the panic's value.
var errConditionPanicked = errors.New("Eval panicked")

// errConditionNoReturn is the error of a condition whose Eval neither
// returned nor panicked with a value recover sees: it panicked with nil
// under GODEBUG=panicnil=1 (or called runtime.Goexit, whose goroutine
// ends, so that this error is never returned).
var errConditionNoReturn = errors.New("Eval did not return: it panicked with nil (GODEBUG=panicnil=1) or called runtime.Goexit")

// eval calls cond's Eval, recovering a panic of it (a bug of the
// condition's, which the request may reach): the panic becomes an error
// (errConditionPanicked, with its value clipped to jwxpanic.MaxValue, as
// the value may quote the request or claims), which evalCondition turns
// into the refusal of an Eval error, and it is logged at
// LogLevels.Problem, its stack at most once a minute (a.condPanics): a
// caller may send the request again and again (logRecovered: a
// Config.Now or a Logger that panics as the record is written loses the
// record's time or the record, not the refusal). The panic does not end
// the process, as grpc-go recovers no handler's panic. An Eval that does
// not return and leaves recover nothing to see (runtime.Goexit, or
// panic(nil) under GODEBUG=panicnil=1) is logged the same way, as the
// call's goroutine may be ending with no other trace; after panic(nil)
// eval returns errConditionNoReturn, a condition error, not a false
// condition.
func (a *Authenticator) eval(ctx context.Context, cond Condition, in ConditionInput) (ok bool, err error) {
	returned := false
	defer func() {
		if returned {
			return
		}
		ok, err = false, errConditionNoReturn
		msg, detail := "grpcauth: a condition's Eval did not return; after runtime.Goexit the call gets no answer, after panic(nil) it counts as a condition error", slog.String("error", err.Error())
		if v := recover(); v != nil {
			value := panictext.Text(v, jwxpanic.MaxValue)
			err = fmt.Errorf("%w: %s", errConditionPanicked, strconv.Quote(value))
			msg, detail = "grpcauth: panic recovered in a condition's Eval; it counts as a condition error", slog.String("panic", value)
		}
		a.logRecovered(ctx, msg, &a.condPanics, debug.Stack(), slog.String("method", clipLogged(in.Method)), detail)
	}()
	ok, err = cond.Eval(ctx, in)
	returned = true
	return ok, err
}

// withCondition returns the stream and handler to run for a streaming call
// whose method has a condition: the stream checks every message the
// handler receives, a message that fails cancels the handler's context,
// and the handler's result is replaced by its refusal. p is the plan the
// stream was admitted under, and w its watch, nil when its token is not
// watched. Without a condition it returns ss and handler.
func (a *Authenticator) withCondition(ss grpc.ServerStream, p *methodPlan, method string, c verifier.Claims, w *streamWatch, handler grpc.StreamHandler) (grpc.ServerStream, grpc.StreamHandler) {
	g := a.messageGate(p, method, c)
	if g == nil {
		return ss, handler
	}
	ctx, release := g.bind(ss.Context(), w)
	if w == nil {
		ss = withContext(ss, ctx)
	}
	cs := &conditionStream{endingStream: endingStream{ServerStream: ss, ended: g.err}, gate: g}
	return cs, func(srv any, s grpc.ServerStream) error {
		defer release()
		err := handler(srv, s)
		if ferr := g.err(); ferr != nil {
			return ferr
		}
		return err
	}
}

// messageGate evaluates a streaming method's condition on every message
// the stream receives. The first refused message fails, and so does every
// later receive and send, ending the stream: the handler's context is
// cancelled, its cause the refusal, as a cut cancels it.
type messageGate struct {
	a      *Authenticator
	p      *methodPlan
	method string
	claims verifier.Claims
	failed atomic.Pointer[rejection] // the refusal, once a message failed
	// watch is the stream's watch, nil when its token is not watched. The
	// first refusal ends the stream: a failing message settles the watch,
	// so that no cut follows, unless the stream was cut first, and then
	// the cut is the stream's only refusal.
	watch *streamWatch
	// cancel cancels the handler's context (bind).
	cancel context.CancelCauseFunc
}

// bind ties g to the stream whose handler runs with ctx and whose token w
// watches (nil when it is not watched), so that a refusal cancels the
// handler's context. With a watch, that is the watch's context, which
// ctx is, and its cancel; without one, bind derives a context to cancel,
// which the handler must be given. It returns the handler's context, and
// release, to call once the handler has returned.
func (g *messageGate) bind(ctx context.Context, w *streamWatch) (_ context.Context, release func()) {
	if w != nil {
		g.watch, g.cancel = w, w.cancel // released by runUntilExpiry
		return ctx, func() {}
	}
	ctx, g.cancel = context.WithCancelCause(ctx)
	return ctx, func() { g.cancel(nil) }
}

// messageGate returns the gate for a stream of method admitted under the
// plan p and opened with c, or nil when the method has no condition or one
// checked as the stream opened. The plan is the admission's, not looked up
// again: that would ask Config.Descriptors a second time for a method
// whose plan is not kept for good, and could find another rule.
func (a *Authenticator) messageGate(p *methodPlan, method string, c verifier.Claims) *messageGate {
	if p.cond == nil || p.condAtStart {
		return nil
	}
	return &messageGate{a: a, p: p, method: method, claims: c}
}

// err returns the refusal of the message that failed, or nil. A nil gate
// never fails.
func (g *messageGate) err() error {
	if g == nil {
		return nil
	}
	if rej := g.failed.Load(); rej != nil {
		return rej.err
	}
	return nil
}

// check evaluates the condition on m, a message just received, and
// records a refusal. It returns the error the receive must return instead:
// the refusal, or nil in dry run or when m passes.
func (g *messageGate) check(ctx context.Context, m any) error {
	if g == nil {
		return nil
	}
	if err := g.err(); err != nil {
		return err
	}
	start := g.a.startDecision(ctx)
	rej, cause := g.a.evalCondition(ctx, g.p, g.method, g.claims, m)
	if rej == nil {
		return nil
	}
	// Reported in its turn among the stream's reports (reportTurn): after
	// those decided before it, a timer's would-deny that is still being
	// reported, and before any decided after it. Not at all when the
	// stream was cut while the condition ran: the cut is its refusal.
	wouldDeny := g.p.dryRun && !rej.enforcedInDryRun()
	t, ok := g.watch.settle(!wouldDeny)
	if !ok {
		return g.watch.cutErr()
	}
	defer t.finish()
	if wouldDeny {
		g.a.report(ctx, g.method, g.p, g.claims, rej, cause, true, t.await(g.a, start))
		return nil
	}
	// The stream is refused at once (its sends fail), and its context
	// cancelled once the refusal is reported, with the handler's live
	// context.
	g.failed.CompareAndSwap(nil, rej)
	defer g.cancel(rej.err)
	return g.a.deny(ctx, g.method, g.p, g.claims, rej, cause, false, t.await(g.a, start)) // a condition refusal has no challenge
}

// conditionStream is a server stream whose received messages pass its
// method's condition (see messageGate); once one fails, its sends,
// receives and response metadata fail too.
type conditionStream struct {
	endingStream // ended: the gate's err
	gate         *messageGate
}

func (s *conditionStream) RecvMsg(m any) error {
	if err := s.gate.err(); err != nil {
		return err
	}
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	err := s.gate.check(s.ServerStream.Context(), m)
	if err != nil {
		dropMessage(m)
	}
	return err
}
