package grpcauth

import (
	"context"
	"time"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"

	"github.com/grpcauth/grpcauth/verifier"
)

// clockSkew returns the clock skew v accepts tokens with: its ClockSkew
// method's (see TokenVerifier), or verifier.DefaultClockSkew. A negative
// value counts as none.
func clockSkew(v TokenVerifier) time.Duration {
	s, ok := v.(interface{ ClockSkew() time.Duration })
	if !ok {
		return verifier.DefaultClockSkew
	}
	return max(s.ClockSkew(), 0)
}

// skewFor returns the clock skew the Authenticator's verifier accepted a
// token with claims c with: its ClockSkewFor method's, when it has one
// (verifier.MultiVerifier and introspect.Combined do: the skew of the
// verifier, among theirs, that accepted c), or else clockSkew's. A stream
// is cut at its token's exp plus that skew, when its unary calls start
// being refused, and step-up trusts an auth_time up to that skew in the
// future. A negative value counts as none.
func (a *Authenticator) skewFor(c verifier.Claims) time.Duration {
	if s, ok := a.verifier.(interface {
		ClockSkewFor(verifier.Claims) time.Duration
	}); ok {
		return max(s.ClockSkewFor(c), 0)
	}
	return a.skew
}

// withContext returns ss with its context replaced by ctx: a new stream,
// even when ss is a WrappedServerStream already (middleware.WrapServerStream
// would return that one), whose context an interceptor before grpcauth set
// and may still read once the handler has returned.
func withContext(ss grpc.ServerStream, ctx context.Context) grpc.ServerStream {
	return &middleware.WrappedServerStream{ServerStream: ss, WrappedContext: ctx}
}

// runUntilExpiry runs serve, the handler of a stream of method admitted
// under the plan p (reported with a cut, see reportCut), with a context that is
// cancelled, its cause the ACCESS_TOKEN_EXPIRED status error, once the exp
// of claims, the stream's, plus the clock skew they were accepted with
// (skewFor) has passed, or its cause the rule's step-up refusal
// (INSUFFICIENT_USER_AUTHENTICATION, with its max_age challenge) once the
// sign-in they describe is older than the rule's max_age_seconds
// (stepUp.staleAt), whichever comes first, and with the stream's watch,
// whose cutErr returns that error from then on, and nil before. In dry run
// the sign-in's age does not cut the stream: it is reported once, as a
// would-deny, when it passes (streamWatch.goStale), or as the watch starts
// when it passed since the decision (firstCut), and not at all when the
// stream's start was reported as a would-deny (stale already, or short of
// anything else the rule requires: enforcement would not have run the
// stream). The stream's sends and
// receives (and, through expiringStream, its response metadata) fail
// with cutErr (expiringStream, Guard). Whatever serve then
// returns, even nil, runUntilExpiry returns that status error, with the
// cut's www-authenticate challenge set (setCutChallenge), so that the
// caller cannot mistake the cut for a normal end of stream; otherwise it
// returns serve's result. The time to the cut is read on Config.Now, again
// each time the expiry timer fires, which it does at least every
// maxTimerWait (armUntil): a suspend or a forward step of the wall clock
// delays the cut by at most that, and a step back not at all. The timers
// are stopped at the cut, or when serve returns if that is first, and the
// context is released when serve returns, so nothing outlives the stream.
// Claims without exp, on a method without max_age_seconds (or without a
// usable auth_time), set no expiry timer.
//
// A receive already blocked when the token expires stays blocked until the
// client sends, closes or cancels, or the connection ends, since grpc-go
// gives an interceptor no way to end a stream but returning from its
// handler, and then fails with that status (the message is dropped);
// until then the client hears nothing. Handlers that receive on a
// goroutine of their own and return when their context's Done closes, as
// gRPC advises, end at once (docs/interceptors.md, Long-lived streams).
//
// When the Authenticator's TokenVerifier is a Revalidator, the stream is
// also re-verified at the times it gives, and cut the same way, with
// ACCESS_TOKEN_REVOKED (or ACCESS_TOKEN_EXPIRED), once its token is
// refused, or with a new call's refusal once the claims it is accepted
// with fail the method's rule (in dry run reported once as a would-deny)
// or bind the token to another key or certificate, or to none: see
// Revalidator. A message that fails the method's condition
// first ends the watch instead (streamWatch.settle).
func (a *Authenticator) runUntilExpiry(ctx context.Context, method string, p *methodPlan, claims verifier.Claims, serve func(ctx context.Context, w *streamWatch) error) error {
	w := &streamWatch{a: a, method: method, plan: p, wouldDenied: p.dryRun && a.startWouldDeny(ctx)}
	if exp := claims.Expiry(); !exp.IsZero() {
		w.cutAt = exp.Add(a.skewFor(claims))
	}
	if s := p.signInMaxAge(); s != nil && !w.wouldDenied {
		w.staleAt, _ = s.staleAt(claims)
	}
	due, stale := w.nextCut()
	var d time.Duration
	if !due.IsZero() {
		if due, d, stale = w.firstCut(ctx, a.now()); !due.IsZero() && d <= 0 {
			// Expired, or stale, between the decision and now (the clock
			// moved on): a cut before the start, reported like any other.
			r, cause := w.cutRefusal(stale)
			a.reportCut(ctx, method, p, verifier.Claims{}, r, cause, false)
			a.setCutChallenge(ctx, r)
			return r.err
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w.ctx, w.cancel = ctx, cancel
	served := false
	defer func() {
		if !served {
			// serve, or RevalidateAt as the watch starts, panicked: stop
			// the timers as the panic unwinds.
			w.stop()
		}
	}()
	if !due.IsZero() {
		w.armCut(due, d, stale)
	}
	w.startRevalidation()
	err := serve(ctx, w)
	served = true
	r := w.stop()
	if a.streamStopped != nil {
		a.streamStopped()
	}
	if r != nil {
		a.setCutChallenge(ctx, r)
		return r.err
	}
	return err
}

// firstCut returns the watch's first time-based cut (nextCut), the time
// to it from now, and whether it is the sign-in's staleness. In dry run a
// sign-in stale already (it went stale in the instant between the
// decision, which allowed the stream, and now) is reported at once, as
// the would-deny the start did not report, on ctx, the stream's, and
// dropped: the first cut is then the expiry, if any. (A stream whose
// start was a would-deny, stale or not, has no staleAt: see
// runUntilExpiry.)
func (w *streamWatch) firstCut(ctx context.Context, now time.Time) (due time.Time, d time.Duration, stale bool) {
	due, stale = w.nextCut()
	if stale && w.plan.dryRun && !now.Before(due) {
		r, cause := w.cutRefusal(true)
		w.a.reportCut(ctx, w.method, w.plan, verifier.Claims{}, r, cause, true)
		w.staleAt, w.wouldDenied = time.Time{}, true
		due, stale = w.nextCut()
	}
	return due, due.Sub(now), stale
}

// setCutChallenge sets the challenge of r, the refusal that cut the stream
// whose context is ctx, in the scheme the stream was opened with (DPoP or
// Bearer: it was admitted, so the scheme was one the method takes), as the
// same refusal at the stream's start sets it (Authenticator.deny). It runs
// on the handler's goroutine once the handler has returned, before the
// interceptor (or ServeCall) returns the status, so the challenge goes out
// in the trailer that carries it. A cut by a panic (codes.Internal) has no
// challenge: setChallenge sets nothing.
func (a *Authenticator) setCutChallenge(ctx context.Context, r *rejection) {
	_, dpopScheme, _, _ := accessToken(ctx)
	a.setChallenge(ctx, r, dpopScheme)
}

// endingStream is a server stream that a refusal ends: once ended returns
// an error (the stream's token was cut, or a received message failed the
// method's condition), its sends fail with that error, and so does its
// response metadata, so that a handler that goes on cannot keep talking to
// a caller whose token ended: SetHeader and SendHeader return the error,
// and SetTrailer, which returns none, drops its metadata (the caller gets
// the refusal's trailer). What was set before goes out. The types that
// embed it fail the receives too. grpc.SetHeader, grpc.SendHeader and
// grpc.SetTrailer on the handler's context go to grpc-go's transport
// stream, which an interceptor cannot wrap without breaking
// grpc.SetSendCompressor, and are not refused (the context is cancelled:
// a handler stops on it).
type endingStream struct {
	grpc.ServerStream
	ended func() error
}

func (s *endingStream) SendMsg(m any) error {
	if err := s.ended(); err != nil {
		return err
	}
	return s.ServerStream.SendMsg(m)
}

func (s *endingStream) SetHeader(md metadata.MD) error {
	if err := s.ended(); err != nil {
		return err
	}
	return s.ServerStream.SetHeader(md)
}

func (s *endingStream) SendHeader(md metadata.MD) error {
	if err := s.ended(); err != nil {
		return err
	}
	return s.ServerStream.SendHeader(md)
}

func (s *endingStream) SetTrailer(md metadata.MD) {
	if s.ended() != nil {
		return
	}
	s.ServerStream.SetTrailer(md)
}

// expiringStream is a server stream whose context ends when its token
// expires (or is refused on re-verification), and whose sends, receives
// and response metadata fail from then on with that status.
type expiringStream struct {
	endingStream // ended: the watch's cutErr
	ctx          context.Context
}

func (s *expiringStream) Context() context.Context { return s.ctx }

// RecvMsg checks the cut again once the message has arrived: a receive
// already blocked when the token was cut returns the client's next message,
// which must not reach the handler either, so it is cleared from m.
func (s *expiringStream) RecvMsg(m any) error {
	if err := s.ended(); err != nil {
		return err
	}
	err := s.ServerStream.RecvMsg(m)
	if cut := s.ended(); cut != nil {
		if err == nil {
			dropMessage(m)
		}
		return cut
	}
	return err
}

// dropMessage clears m, a message a receive has filled but must not
// deliver (it arrived after the cut, or its method's condition refused
// it): a handler receiving with RecvMsg into a message of its own could
// still read it there, as Guard.Received asks adapters to prevent.
// A message of code generated before APIv2 (protoc-gen-go before 1.4),
// which grpc-go's codec still accepts, is cleared through its adapter.
func dropMessage(m any) {
	switch pm := m.(type) {
	case proto.Message:
		proto.Reset(pm)
	case protoadapt.MessageV1:
		proto.Reset(protoadapt.MessageV2Of(pm))
	}
}
