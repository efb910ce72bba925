package grpcauth

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/verifier"
)

// Decision describes how the interceptors decided one call; see
// Config.OnDecision. It is for server-side auditing and metrics: never send
// Err to the caller. OnDecision gets decisions from many goroutines at
// once (each call's own, and a stream's timer as it cuts the stream), so it
// must be safe for concurrent use; and what it reports waits for it: the
// call (its handler, or its refusal), or for a stream's cut the
// cancellation of the stream's context. Hand slow work to a goroutine or
// a queue of the hook's own.
type Decision struct {
	// Method is the full method name, "/pkg.Service/Method", as the
	// server got it. Under grpc.Server.ServeHTTP it shares memory with the
	// whole :path the caller sent, query included: a hook that keeps it
	// beyond the call (a map key, a metric label) should keep
	// strings.Clone(Method).
	Method string
	// UnknownMethod reports a method that neither the descriptors nor the
	// configuration know: a name only grpc.UnknownServiceHandler lets
	// through, chosen by the caller. Such a Method must not become a metric
	// label (its values are unbounded); the otelmetrics package reports it
	// as "unknown". Nor should it be logged whole (gRPC admits a name of up
	// to 16 MiB): the decision record and Err hold it clipped to 256 bytes.
	// It is set too for a method that a custom Config.Descriptors (not a
	// *protoregistry.Files) describes past the bound of what grpcauth
	// keeps of such methods (a name over 256 bytes, or past 16,384 of
	// them: such a resolver may describe any name a caller sends).
	UnknownMethod bool
	// Allowed reports whether the handler runs.
	Allowed bool
	// DryRun reports a call that the method's rule refuses but that ran
	// because the method is in dry run (Config.DryRun,
	// Config.DryRunMethods): a "would deny". Allowed is then true, and
	// Code, Reason and Err describe the refusal enforcement would give.
	DryRun bool
	// Code is the status code returned to the caller: codes.OK if allowed,
	// or with DryRun the code the caller would have got.
	Code codes.Code
	// Reason is the ErrorInfo reason returned (Reason… constants): "" if
	// allowed, or with DryRun the reason the caller would have got.
	Reason string
	// Source is where the method's rule came from (SourceNone: no rule).
	Source Source
	// Public reports whether the method's rule is public.
	Public bool
	// Claims are the verified claims, or the zero Claims (IsZero) when no valid token came.
	// Claims.Issuer() names the token's issuer. They are whole, as the
	// token has them, so that a hook can match exact ids: a sub or client
	// ID may be as long as the token (MaxTokenSize, 64 KiB by default).
	// The record Config.Logger receives clips the subject, client_id and
	// issuer it shows to 256 bytes; a hook that logs them should bound
	// them too.
	Claims verifier.Claims
	// Err is the detailed cause of a denial (or, with DryRun, of a would-be
	// denial) when there is one: the verifier's error, why the method has
	// no usable rule, why a certificate binding failed. For logs. The
	// token's values it quotes (an acr, cnf members, a celcond
	// condition's evaluation) are clipped to 256 bytes, but it repeats as
	// they wrote them the errors of code the server plugs in: a
	// Config.Verifier of its own, a ConditionCompiler other than celcond,
	// a shared DPoP replay store (dpop.ReplayCache). The record
	// Config.Logger receives clips its text to 1,024 bytes.
	Err error
	// Latency is how long the interceptor took to decide: from the call
	// reaching it to the decision, including token verification and any
	// key-set fetch the verification waited for, but not the handler. It is
	// measured with the monotonic clock, not Config.Now. It is zero when
	// nothing could read it: when, as the call started, OnDecision was nil
	// and the logger was enabled at none of the LogLevels (checked at the
	// highest of them). The interceptor then spares the call two clock
	// reads. It is also zero in the Decision of a stream's cut, which
	// decides nothing that takes time. In the Decision of a stream's
	// message that the rule's condition refuses (or in dry run would
	// refuse), it is the time the condition took on that message.
	Latency time.Duration
}

// Outcome names a decision's kind, as logged ("outcome") and used as a
// metric attribute: OutcomeAllowed, OutcomeDenied or OutcomeWouldDeny.
func (d *Decision) Outcome() string {
	switch {
	case d.DryRun:
		return OutcomeWouldDeny
	case d.Allowed:
		return OutcomeAllowed
	default:
		return OutcomeDenied
	}
}

// The values of Decision.Outcome.
const (
	// OutcomeAllowed: the handler runs and the rule admitted the call.
	OutcomeAllowed = "allowed"
	// OutcomeDenied: the call was refused.
	OutcomeDenied = "denied"
	// OutcomeWouldDeny: the rule refused the call, but the method is in
	// dry run, so the handler runs.
	OutcomeWouldDeny = "would_deny"
)

// LogLevels sets the slog level of each kind of decision record that
// Config.Logger receives. A nil field takes its default. A *slog.LevelVar
// may be given to change a level at run time. A record is built only when
// the Logger is enabled at its level, so a level the handler discards costs
// two Enabled calls a decision (one as the decision starts, for the highest
// of the levels, to learn whether to time it; one for the record's), or one
// with Config.OnDecision set, whose decisions are always timed.
type LogLevels struct {
	// Allowed is the level of calls that proceed, public calls without a
	// token included. Default slog.LevelDebug: one record per call is too
	// much for most production logs, but useful when debugging.
	Allowed slog.Leveler
	// Denied is the level of calls refused (or, in dry run, that would be
	// refused) because of what the caller sent: missing, invalid or expired
	// tokens, insufficient scopes, insecure transport, binding failures,
	// a DPoP key over its share of the replay cache, cancelled calls.
	// Default slog.LevelInfo: normal traffic on an exposed server, but
	// worth seeing.
	Denied slog.Leveler
	// Problem is the level of calls refused because of the server: the
	// key set, the DPoP replay check or the method's rule is unavailable
	// (codes.Unavailable; RULES_UNAVAILABLE: Config.Descriptors failed,
	// even for a method not known yet, as none is while it fails) or a
	// known method has no usable rule (METHOD_NOT_CONFIGURED), or a
	// stream was ended with codes.Internal after a panic on its timer, or
	// a DPoP call was refused with codes.Internal because the NonceSource
	// (Config.DPoP.Nonces) returned a malformed nonce (dpop.ErrBadNonce)
	// that the call would have carried (both ReasonInternalError: every
	// codes.Internal refusal is a Problem); also of the record of a stream whose token
	// could not be re-verified, and of the record of that panic, with its
	// stack (see Revalidator). Default slog.LevelWarn: an operator must
	// act. A METHOD_NOT_CONFIGURED refusal of a method nothing knows
	// (Decision.UnknownMethod: a name the caller made up, through
	// grpc.UnknownServiceHandler) is logged at Denied instead: any caller
	// with a valid token could repeat it at will, and there is nothing for
	// an operator to configure. Call Authenticator.Check at start-up, so
	// that every registered method is known.
	Problem slog.Leveler
}

func (l LogLevels) withDefaults() LogLevels {
	if l.Allowed == nil {
		l.Allowed = slog.LevelDebug
	}
	if l.Denied == nil {
		l.Denied = slog.LevelInfo
	}
	if l.Problem == nil {
		l.Problem = slog.LevelWarn
	}
	return l
}

// highest returns the highest of the levels: a logger enabled at any of
// them is enabled at this one, as slog's handlers enable every level from
// their minimum up.
func (l *LogLevels) highest() slog.Level {
	return max(l.Allowed.Level(), l.Denied.Level(), l.Problem.Level())
}

// constant returns highest() and true when every level is a slog.Level
// value, which, unlike a *slog.LevelVar or another Leveler, cannot change.
func (l *LogLevels) constant() (slog.Level, bool) {
	allowed, ok1 := l.Allowed.(slog.Level)
	denied, ok2 := l.Denied.(slog.Level)
	problem, ok3 := l.Problem.(slog.Level)
	return max(allowed, denied, problem), ok1 && ok2 && ok3
}

// level returns the level of d's record.
func (l *LogLevels) level(d *Decision) slog.Level {
	switch {
	case d.Code == codes.OK:
		return l.Allowed.Level()
	case d.Code == codes.Unavailable || d.Code == codes.Internal ||
		d.Reason == ReasonMethodNotConfigured && !d.UnknownMethod:
		return l.Problem.Level()
	default:
		return l.Denied.Level()
	}
}

func (a *Authenticator) allow(ctx context.Context, method string, p *methodPlan, c verifier.Claims, start decisionStart) {
	a.decide(ctx, Decision{Method: method, UnknownMethod: a.unknownMethod(method, p), Allowed: true, Code: codes.OK,
		Source: p.source, Public: p.rule.public, Claims: c}, start)
}

// deny reports a denial to OnDecision and the log, sets the refusal's
// challenge (in the DPoP scheme when dpopScheme: the call used it) and
// returns the error for the caller.
func (a *Authenticator) deny(ctx context.Context, method string, p *methodPlan, c verifier.Claims, rej *rejection, cause error, dpopScheme bool, start decisionStart) error {
	a.report(ctx, method, p, c, rej, cause, false, start)
	a.setChallenge(ctx, rej, dpopScheme)
	return rej.err
}

// report records a refusal, or with dryRun a refusal that was not
// enforced, in OnDecision and the log.
func (a *Authenticator) report(ctx context.Context, method string, p *methodPlan, c verifier.Claims, rej *rejection, cause error, dryRun bool, start decisionStart) {
	a.decide(ctx, Decision{Method: method, UnknownMethod: a.unknownMethod(method, p), Allowed: dryRun, DryRun: dryRun,
		Code: rej.code, Reason: rej.reason, Source: p.source, Public: p.rule != nil && p.rule.public, Claims: c, Err: cause}, start)
}

// unknownMethod reports whether a decision about method, under the plan
// p, is about a method nothing knows (Decision.UnknownMethod): neither the
// descriptors nor the configuration (p.unknown), nor Check, which found
// the methods a server registers (register).
func (a *Authenticator) unknownMethod(method string, p *methodPlan) bool {
	if !p.unknown {
		return false
	}
	if r := a.registered.Load(); r != nil {
		_, ok := (*r)[method]
		return !ok
	}
	return true
}

// register adds methods, those Check found registered on a server, to
// the methods unknownMethod knows. The set is copied whole
// (copy-on-write): it holds the names the servers register, no name a
// caller sent.
func (a *Authenticator) register(methods map[string]struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if old := a.registered.Load(); old != nil {
		maps.Copy(methods, *old)
	}
	a.registered.Store(&methods)
}

// decisionStart is when a call's decision started, as time since
// processStart (one clock read: time.Now reads two), or the zero value when
// nothing reads Decision.Latency. The time since processStart is not always
// positive: in a testing/synctest bubble time.Now is the bubble's clock,
// which starts in 2000, so set marks a start rather than a non-zero at.
type decisionStart struct {
	at  time.Duration
	set bool
}

// processStart is the origin of decisionStart.
var processStart = time.Now()

// startNow returns the current decisionStart.
func startNow() decisionStart { return decisionStart{at: time.Since(processStart), set: true} }

// latency returns the time since s.
func (s decisionStart) latency() time.Duration { return time.Since(processStart) - s.at }

// startDecision returns the start of a call's decision, for
// Decision.Latency, or the zero value when nothing can read the latency: no
// OnDecision, and a logger enabled at none of the levels. On a VM a clock
// read can cost more than the verifier's whole cache hit.
func (a *Authenticator) startDecision(ctx context.Context) decisionStart {
	if a.onDecision != nil {
		return startNow()
	}
	highest := a.constHighest
	if !a.hasConst {
		highest = a.levels.highest() // a level that may change: read on every call
	}
	if !a.logger.Enabled(ctx, highest) { // the handler's answer may change at any time: asked on every call
		return decisionStart{}
	}
	return startNow()
}

// decide completes d with its latency (when start is set and something
// reads it), logs it at its level and hands it to OnDecision: in that
// order, so that an OnDecision that panics (left to the server's recovery
// interceptor) does not cost the decision its record; and OnDecision is
// deferred before the Logger is asked anything, so that a Logger that
// panics, as it writes the record or as its handler is asked whether it
// is enabled, does not cost the decision its OnDecision call either
// (metrics and audits count it there).
func (a *Authenticator) decide(ctx context.Context, d Decision, start decisionStart) {
	if a.onDecision != nil {
		if start.set {
			d.Latency = start.latency()
		}
		// In a closure: a recover in the hook must not stop the Logger's
		// panic, which is the server's recovery interceptor's to handle.
		defer func() { a.onDecision(ctx, d) }()
	}
	level := a.levels.level(&d)
	if !a.logger.Enabled(ctx, level) {
		return
	}
	if start.set && a.onDecision == nil {
		d.Latency = start.latency()
	}
	a.logDecision(ctx, level, &d)
}

// logDecision writes d's record: never the token, which d does not hold.
// Each string the caller or the token chose is bounded: the subject,
// client ID and issuer, and an unknown method, to maxLoggedString bytes
// (clipLogged); the error, which may quote them or repeat as it is the
// error of code the server plugs in (a Verifier, a ConditionCompiler, a
// DPoP replay store), to endpoint.MaxErrorText bytes. d itself, which OnDecision gets, keeps them whole.
func (a *Authenticator) logDecision(ctx context.Context, level slog.Level, d *Decision) {
	msg := "grpcauth: call allowed"
	switch d.Outcome() {
	case OutcomeDenied:
		msg = "grpcauth: call denied"
	case OutcomeWouldDeny:
		msg = "grpcauth: call would be denied (dry run)"
	}
	var buf [maxDecisionAttrs]slog.Attr // on the stack: the record allocates nothing for its attributes
	a.logger.LogAttrs(ctx, level, msg, d.appendAttrs(buf[:0])...)
}

// LogValue makes a Decision logged as a value (slog.Any("decision", d))
// the attributes of the decision record Config.Logger receives, bounded
// as that record is: method (clipped to 256 bytes when UnknownMethod),
// outcome, code, reason, the claims' subject, client_id and issuer (each
// clipped to 256 bytes), latency and the error (clipped to 1,024 bytes),
// never the whole claims. A hook that logs its Decisions this way logs
// nothing a caller can make unbounded. slog calls LogValue only for an
// attribute's value: a Decision in a field of a logged struct, or in a
// slice or map, is printed whole (fmt's %+v, or encoding/json), so log it
// as its own attribute; a struct that embeds a Decision gets this method,
// and logs as the decision's attributes alone, without its own fields.
func (d Decision) LogValue() slog.Value {
	return slog.GroupValue(d.appendAttrs(make([]slog.Attr, 0, maxDecisionAttrs))...)
}

// maxDecisionAttrs is the number of attributes of the fullest decision
// record (appendAttrs).
const maxDecisionAttrs = 9

// appendAttrs appends d's record attributes (see logDecision) to attrs and
// returns the result: given room for maxDecisionAttrs, it allocates
// nothing, so that logDecision's buffer stays on its stack.
func (d *Decision) appendAttrs(attrs []slog.Attr) []slog.Attr {
	method := d.Method
	if d.UnknownMethod {
		method = clipLogged(method)
	}
	attrs = append(attrs,
		slog.String("method", method),
		slog.String("outcome", d.Outcome()),
		slog.String("code", d.Code.String()),
		slog.String("reason", d.Reason),
	)
	if c := d.Claims; !c.IsZero() {
		attrs = append(attrs, slog.String("subject", clipLogged(c.Subject())),
			slog.String("client_id", clipLogged(c.ClientID())),
			slog.String("issuer", clipLogged(c.Issuer())))
	}
	attrs = append(attrs, slog.Duration("latency", d.Latency))
	if d.Err != nil {
		attrs = append(attrs, errorAttr(d.Err))
	}
	return attrs
}

// errorAttr is the "error" attribute of a record: err's text, clipped to
// endpoint.MaxErrorText bytes and its length (endpoint.ClipSized).
func errorAttr(err error) slog.Attr {
	return slog.String("error", endpoint.ClipSized(err.Error(), endpoint.MaxErrorText))
}

// maxLoggedString bounds, in log records and errors, a string that the
// caller or the token chose: a method name the server does not know (gRPC
// admits a :path of up to 16 MiB by default), a token's sub, client ID,
// iss or acr (a token may be as large as the verifier's MaxTokenSize, 64
// KiB by default). Each refused call is a record.
const maxLoggedString = 256

// clipLogged shortens s, a string the caller or the token chose, when
// longer than maxLoggedString bytes, to its first maxLoggedString bytes at
// a rune boundary, "…" and its full length: "…(70000 bytes)".
func clipLogged(s string) string { return endpoint.ClipSized(s, maxLoggedString) }
