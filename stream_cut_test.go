package grpcauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// The expiry timer fires (its goroutine is on its way) just as the handler
// returns on its own: the caller gets the handler's OK, and the timer's
// late run reports nothing, since the stream was never cut.
func TestStream_TimerFiringAfterTheHandlerReturnedReportsNothing(t *testing.T) {
	var rec recorder
	e, clock, tok := expiryEnv(t, func(c *Config, _ *verifier.Config) { c.OnDecision = rec.record })
	s := openBidiStarted(t, e, tok)
	timer := clock.next(t)
	timer.fired.Store(true) // fired: Stop will report it too late to stop
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv = %v, want io.EOF: the stream ended on its own", err)
	}
	rec.mu.Lock()
	n := len(rec.ds)
	rec.mu.Unlock()
	clock.pastExpiry()
	timer.f() // the timer's goroutine runs now, past the expiry
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ds) != n {
		t.Fatalf("after the stream ended OK, %d more decision(s): %+v", len(rec.ds)-n, rec.ds[n:])
	}
}

// The expiry timer's goroutine reads the clock, finds the token expired,
// and the handler returns on its own just then, before the cut: the
// caller got the handler's OK, and the cut that follows, too late, reports
// nothing.
func TestStream_HandlerReturningAsTheTimerFiresIsNotCut(t *testing.T) {
	var rec recorder
	var during atomic.Pointer[func()]
	var clock *fakeClock
	e, clock, tok := expiryEnv(t, func(c *Config, _ *verifier.Config) {
		c.OnDecision = rec.record
		c.Now = func() time.Time {
			if f := during.Swap(nil); f != nil {
				(*f)()
			}
			return clock.Now()
		}
	})
	s := openBidiStarted(t, e, tok)
	timer := clock.next(t)
	clock.pastExpiry()
	end := func() { // the client finishes, and the handler returns
		if err := s.CloseSend(); err != nil {
			t.Error(err)
		}
		if _, err := s.Recv(); !errors.Is(err, io.EOF) {
			t.Errorf("Recv = %v, want io.EOF: the stream ended on its own", err)
		}
	}
	during.Store(&end)
	timer.fire()
	if during.Load() != nil {
		t.Fatal("the timer did not read the clock")
	}
	if denied := rec.denied(); len(denied) != 0 {
		t.Fatalf("a stream that ended on its own was cut after: denials %v", denied)
	}
}

// firstOnly is a condition compiler whose conditions pass a stream's
// first message and refuse every later one, counting evaluations.
type firstOnly struct{ evals *atomic.Int32 }

func (c firstOnly) CompileCondition(protoreflect.MethodDescriptor, string) (Condition, error) {
	return c, nil
}

func (c firstOnly) Eval(context.Context, ConditionInput) (bool, error) {
	return c.evals.Add(1) == 1, nil
}

// A message that arrives after the cut is refused before the method's
// condition sees it: the condition is not evaluated on it, and the stream
// yields one denial (the cut), as ServeCall's Guard.Received orders it.
func TestStream_MessageAfterTheCutIsNotEvaluatedByTheCondition(t *testing.T) {
	e, clock, tok, rec, evals := firstOnlyEnv(t)
	s := openBidiStarted(t, e, tok)
	expireThenSend(t, s, clock)
	if denied := rec.denied(); !slices.Equal(denied, []string{ReasonTokenExpired}) || evals.Load() != 1 {
		t.Fatalf("denials %v, condition evaluated %d times; want only the cut (%s) and one evaluation", denied, evals.Load(), ReasonTokenExpired)
	}
}

// firstOnlyEnv is expiryEnv with a BidiStream rule whose condition passes
// the first message only, and decisions recorded. evals counts the
// condition's evaluations.
func firstOnlyEnv(t *testing.T) (e *env, clock *fakeClock, tok string, rec *recorder, evals *atomic.Int32) {
	t.Helper()
	rec, evals = &recorder{}, &atomic.Int32{}
	e, clock, tok = expiryEnv(t, func(c *Config, _ *verifier.Config) {
		c.OnDecision = rec.record
		c.Conditions = firstOnly{evals}
		c.Rules = map[string]*grpcauthv1.Rule{"/authtest.v1.TestService/BidiStream": {Scopes: []string{"test:stream"}, Condition: "first only"}}
	})
	return e, clock, tok, rec, evals
}

// A token that expires between the stream's decision and the start of its
// watch (each reads the clock) is refused before the handler runs, and the
// refusal is a denied Decision after the allowed one, as a cut is. Both
// the interceptor and ServeCall.
func TestStream_ExpiredBetweenTheDecisionAndTheStartIsADeniedDecision(t *testing.T) {
	for _, viaServeCall := range []bool{false, true} {
		var rec recorder
		var reads atomic.Int32
		e, _, tok := expiryEnv(t, func(c *Config, _ *verifier.Config) {
			c.OnDecision = rec.record
			c.Now = func() time.Time { // the decision reads t0, the watch an hour later
				if reads.Add(1) == 1 {
					return t0
				}
				return t0.Add(time.Hour)
			}
		})
		var err error
		if viaServeCall {
			err = e.auth.ServeCall(adapterContext(bearer(tok)), "/authtest.v1.TestService/ServerStream", true, nil,
				func(context.Context, *Guard) error { t.Error("serve ran"); return nil })
		} else {
			var s grpc.ServerStreamingClient[authtestv1.ServerStreamResponse]
			if s, err = e.client.ServerStream(withAuth(bounded(t), bearer(tok)), &authtestv1.ServerStreamRequest{Count: 1}); err != nil {
				t.Fatal(err)
			}
			_, err = s.Recv()
		}
		checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
		rec.mu.Lock()
		ds := slices.Clone(rec.ds)
		rec.mu.Unlock()
		if len(ds) != 2 || !ds[0].Allowed || ds[1].Allowed || ds[1].Reason != ReasonTokenExpired || ds[1].Method != "/authtest.v1.TestService/ServerStream" {
			t.Errorf("ServeCall %v: decisions %+v, want allowed then denied %s", viaServeCall, ds, ReasonTokenExpired)
		}
	}
}

// A stream handler that panics (recovered outside grpcauth, as connect-go's
// WithRecover or a recovery interceptor does) leaves no timer behind: the
// expiry timer is stopped as the panic unwinds, and its late firing
// reports nothing.
func TestStream_PanickingHandlerStopsTheTimers(t *testing.T) {
	var rec recorder
	e, clock, tok := expiryEnv(t, func(c *Config, _ *verifier.Config) { c.OnDecision = rec.record })
	checkPanicStopsTheExpiryTimer(t, e, clock, &rec, tok, func(context.Context, *Guard) error { panic("handler bug") })
}

// checkPanicStopsTheExpiryTimer runs ServeCall for a ServerStream with tok
// and serve, which must panic (in serve or before it), and recovers the
// panic, as connect-go's WithRecover or a recovery interceptor does; then
// it checks that the stream's expiry timer was stopped, and that its
// firing anyway reports nothing to rec beyond the allowed start.
func checkPanicStopsTheExpiryTimer(t *testing.T, e *env, clock *fakeClock, rec *recorder, tok string, serve func(context.Context, *Guard) error) {
	t.Helper()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach the caller")
			}
		}()
		_ = e.auth.ServeCall(adapterContext(bearer(tok)), "/authtest.v1.TestService/ServerStream", true, nil, serve)
	}()
	timer := clock.next(t)
	select {
	case <-timer.stopCalled:
	default:
		t.Fatal("the expiry timer was not stopped")
	}
	clock.pastExpiry()
	timer.f() // had it fired anyway, past the expiry
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ds) != 1 || !rec.ds[0].Allowed {
		t.Errorf("decisions %+v, want only the allowed start", rec.ds)
	}
}

// A stream whose message failed the condition is refused with that
// condition, and only that, even when its token expires before the handler
// returns: the first refusal ends the stream, the expiry after it is no
// second cut, and the interceptor and ServeCall agree.
func TestStream_ConditionRefusalBeforeTheExpiryIsTheOnlyRefusal(t *testing.T) {
	for _, viaServeCall := range []bool{false, true} {
		t.Run(map[bool]string{false: "interceptor", true: "ServeCall"}[viaServeCall], func(t *testing.T) {
			e, clock, tok, rec, _ := firstOnlyEnv(t)
			var result error
			if viaServeCall {
				done := make(chan error, 1)
				refused, hold := make(chan error, 1), make(chan struct{})
				go func() {
					done <- e.auth.ServeCall(adapterContext(bearer(tok)), "/authtest.v1.TestService/BidiStream", true, nil, func(ctx context.Context, g *Guard) error {
						if err := g.Received(&authtestv1.BidiStreamRequest{}); err != nil {
							t.Errorf("the first message was refused: %v", err)
						}
						refused <- g.Received(&authtestv1.BidiStreamRequest{})
						<-hold
						return nil
					})
				}()
				checkStatus(t, await(t, refused, "the second message was not refused"), codes.PermissionDenied, ReasonConditionFailed)
				clock.expire(clock.next(t))
				close(hold)
				result = await(t, done, "ServeCall did not return")
			} else {
				e.svc.bidiHold, e.svc.bidiRefused = make(chan struct{}), make(chan error, 1)
				s := openBidiStarted(t, e, tok)
				if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
					t.Fatal(err)
				}
				checkStatus(t, await(t, e.svc.bidiRefused, "the handler's receive did not fail"), codes.PermissionDenied, ReasonConditionFailed)
				clock.expire(clock.next(t))
				close(e.svc.bidiHold)
				_, result = s.Recv()
			}
			checkStatus(t, result, codes.PermissionDenied, ReasonConditionFailed)
			if denied := rec.denied(); !slices.Equal(denied, []string{ReasonConditionFailed}) {
				t.Fatalf("denials %v, want only %s", denied, ReasonConditionFailed)
			}
		})
	}
}

// cutDuring is a condition compiler whose conditions pass a stream's first
// message and refuse every later one, having run during first: the stream
// is cut while the condition is being evaluated.
type cutDuring struct {
	evals  atomic.Int32
	during func()
}

func (c *cutDuring) CompileCondition(protoreflect.MethodDescriptor, string) (Condition, error) {
	return c, nil
}

func (c *cutDuring) Eval(context.Context, ConditionInput) (bool, error) {
	if c.evals.Add(1) == 1 {
		return true, nil
	}
	c.during()
	return false, nil
}

// A stream whose token expires while the condition is refusing a message
// is refused with the cut, and only that: the condition's refusal, which
// came second, is neither reported nor returned. Both the interceptor and
// ServeCall.
func TestStream_CutWhileTheConditionRunsIsTheOnlyRefusal(t *testing.T) {
	for _, viaServeCall := range []bool{false, true} {
		t.Run(map[bool]string{false: "interceptor", true: "ServeCall"}[viaServeCall], func(t *testing.T) {
			rec, cond := &recorder{}, &cutDuring{}
			e, clock, tok := expiryEnv(t, func(c *Config, _ *verifier.Config) {
				c.OnDecision = rec.record
				c.Conditions = cond
				c.Rules = map[string]*grpcauthv1.Rule{"/authtest.v1.TestService/BidiStream": {Scopes: []string{"test:stream"}, Condition: "cut during the second"}}
			})
			cond.during = func() { // on the server's goroutine, through the interceptor: no t.Fatal
				if ft, ok := awaitOK(t, clock.added, "no expiry timer was set"); ok {
					clock.expire(ft)
				}
			}
			var result error
			if viaServeCall {
				result = e.auth.ServeCall(adapterContext(bearer(tok)), "/authtest.v1.TestService/BidiStream", true, nil, func(_ context.Context, g *Guard) error {
					if err := g.Received(&authtestv1.BidiStreamRequest{}); err != nil {
						t.Errorf("the first message was refused: %v", err)
					}
					return g.Received(&authtestv1.BidiStreamRequest{})
				})
			} else {
				s := openBidiStarted(t, e, tok)
				if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
					t.Fatal(err)
				}
				_, result = s.Recv()
			}
			checkStatus(t, result, codes.Unauthenticated, ReasonTokenExpired)
			if denied := rec.denied(); !slices.Equal(denied, []string{ReasonTokenExpired}) {
				t.Fatalf("denials %v, want only %s", denied, ReasonTokenExpired)
			}
		})
	}
}

// A stream message the condition refuses is reported with the stream's
// context, which carries the claims (ClaimsFromContext, and so LogFields
// for a logger reading it), whether or not the stream's token is watched:
// the interceptor and ServeCall agree.
func TestStream_ConditionRefusalIsReportedWithTheClaimsInItsContext(t *testing.T) {
	for _, skip := range []bool{false, true} {
		t.Run(map[bool]string{false: "watched", true: "SkipStreamExpiry"}[skip], func(t *testing.T) {
			withClaims := make(chan bool, 1)
			e, _, tok := expiryEnv(t, func(c *Config, _ *verifier.Config) {
				c.SkipStreamExpiry = skip
				c.Conditions = firstOnly{&atomic.Int32{}}
				c.Rules = map[string]*grpcauthv1.Rule{"/authtest.v1.TestService/BidiStream": {Scopes: []string{"test:stream"}, Condition: "first only"}}
				c.OnDecision = func(ctx context.Context, d Decision) {
					if d.Reason == ReasonConditionFailed {
						_, ok := ClaimsFromContext(ctx)
						withClaims <- ok
					}
				}
			})
			s := openBidiStarted(t, e, tok)
			if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
				t.Fatal(err)
			}
			_, err := s.Recv()
			checkStatus(t, err, codes.PermissionDenied, ReasonConditionFailed)
			if !await(t, withClaims, "no refusal was reported") {
				t.Error("the refusal's context has no claims")
			}
		})
	}
}

// A client that closes its side of a stream after the cut does not give
// the handler a clean end of stream: its Recv ends with the cut, not
// io.EOF, so the handler cannot take the cut stream for a complete one
// (connectauth's TestConnect_CloseAfterTheCutIsTheCutInTheHandler is the
// same for connect-go).
func TestStream_CloseAfterTheCutIsTheCutInTheHandler(t *testing.T) {
	e, clock, tok := expiryEnv(t)
	e.svc.bidiHold, e.svc.bidiRefused = make(chan struct{}), make(chan error, 1)
	close(e.svc.bidiHold)
	s := openBidiStarted(t, e, tok)
	clock.expire(clock.next(t))
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	checkStatus(t, await(t, e.svc.bidiRefused, "the handler's receive did not fail"), codes.Unauthenticated, ReasonTokenExpired)
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
}

// A stream message the condition refuses ends the stream as a cut does:
// the handler's context is cancelled, its cause the refusal, by the time
// the refused receive returns, so that the handler's other goroutines
// (a sender selecting on the context's Done, as gRPC advises) stop too.
// Watched or not, through the interceptor or ServeCall.
func TestStream_ConditionRefusalCancelsTheHandlersContext(t *testing.T) {
	for _, skip := range []bool{false, true} {
		for _, viaServeCall := range []bool{false, true} {
			name := map[bool]string{false: "watched", true: "SkipStreamExpiry"}[skip] + "/" + map[bool]string{false: "interceptor", true: "ServeCall"}[viaServeCall]
			t.Run(name, func(t *testing.T) {
				e, _, tok := expiryEnv(t, func(c *Config, _ *verifier.Config) {
					c.SkipStreamExpiry = skip
					c.Conditions = firstOnly{&atomic.Int32{}}
					c.Rules = map[string]*grpcauthv1.Rule{"/authtest.v1.TestService/BidiStream": {Scopes: []string{"test:stream"}, Condition: "first only"}}
				})
				var cause error
				if viaServeCall {
					err := e.auth.ServeCall(adapterContext(bearer(tok)), "/authtest.v1.TestService/BidiStream", true, nil, func(ctx context.Context, g *Guard) error {
						if err := g.Received(&authtestv1.BidiStreamRequest{}); err != nil {
							t.Errorf("the first message was refused: %v", err)
						}
						err := g.Received(&authtestv1.BidiStreamRequest{})
						cause = context.Cause(ctx)
						return err
					})
					checkStatus(t, err, codes.PermissionDenied, ReasonConditionFailed)
				} else {
					e.svc.bidiCause = make(chan error, 1)
					s := openBidiStarted(t, e, tok)
					if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
						t.Fatal(err)
					}
					_, err := s.Recv()
					checkStatus(t, err, codes.PermissionDenied, ReasonConditionFailed)
					cause = await(t, e.svc.bidiCause, "the handler's receive did not fail")
				}
				if cause == nil {
					t.Fatal("the handler's context is still live after the refusal")
				}
				checkStatus(t, cause, codes.PermissionDenied, ReasonConditionFailed)
			})
		}
	}
}

// A handler that receives on a goroutine of its own and returns when its
// context ends, as gRPC advises (and docs/interceptors.md), ends at the
// cut without the client sending anything: the client gets the cut's
// status at once, and grpc-go's end of the stream wakes the receiving
// goroutine, whose Recv fails too (goleak checks that it returned).
func TestStream_HandlerReceivingApartEndsAtTheCutWithoutTheClient(t *testing.T) {
	e, clock, tok := expiryEnv(t)
	e.svc.bidiApart = make(chan error, 1)
	s := openBidiStarted(t, e, tok)
	clock.expire(clock.next(t))
	_, err := s.Recv() // the client sends nothing more
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
	if err := await(t, e.svc.bidiApart, "the handler's receiving goroutine did not end"); err == nil {
		t.Fatal("the receiving goroutine got a message after the cut")
	}
}

// outerKey marks the context of an interceptor installed before grpcauth.
type outerKey struct{}

// An interceptor installed before grpcauth that hands the stream on in a
// go-grpc-middleware WrappedServerStream of its own keeps its context:
// grpcauth hands the handler a stream of its own instead of setting its
// context on that one, and what grpcauth releases when the handler
// returns (the context a refused message would cancel) is not the outer
// interceptor's, which it may still use (a log, an audit record).
func TestStream_OuterWrappedStreamKeepsItsContext(t *testing.T) {
	base, _, tok := expiryEnv(t, func(c *Config, _ *verifier.Config) {
		c.SkipStreamExpiry = true
		c.Conditions = firstOnly{&atomic.Int32{}}
		c.Rules = map[string]*grpcauthv1.Rule{"/authtest.v1.TestService/BidiStream": {Scopes: []string{"test:stream"}, Condition: "first only"}}
	})
	after := make(chan error, 1)
	outer := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		w := middleware.WrapServerStream(ss)
		own := context.WithValue(ss.Context(), outerKey{}, true)
		w.WrappedContext = own
		err := handler(srv, w)
		if w.Context() != own {
			after <- errors.New("the outer interceptor's stream has grpcauth's context")
		} else {
			after <- own.Err()
		}
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, lis, base.svc, grpc.ChainStreamInterceptor(outer, base.auth.StreamServerInterceptor()))
	e := base.via(t, lis.Addr().String())
	s := openBidiStarted(t, e, tok)
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv = %v, want io.EOF", err)
	}
	if err := await(t, after, "the outer interceptor's handler did not return"); err != nil {
		t.Fatalf("after the handler returned: %v", err)
	}
}

// fillingStream is a server stream whose RecvMsg fills m with a message
// of the client's (unknown fields standing for its content), calling
// during first: the stream is cut, or refused, while the message arrives.
type fillingStream struct {
	grpc.ServerStream
	ctx    context.Context
	during func()
}

func (s *fillingStream) Context() context.Context { return s.ctx }

func (s *fillingStream) RecvMsg(m any) error {
	if s.during != nil {
		s.during()
	}
	return proto.UnmarshalOptions{Merge: true}.Unmarshal([]byte{0x08, 0x2a}, messageV2(m)) // field 1 = 42
}

// messageV2 is m as grpc-go's codec sees it: itself, or the adapter of a
// message generated before APIv2.
func messageV2(m any) proto.Message {
	if v1, ok := m.(protoadapt.MessageV1); ok {
		return protoadapt.MessageV2Of(v1)
	}
	return m.(proto.Message)
}

// legacyMessage is a message as protoc-gen-go generated them before 1.4
// (APIv1), which grpc-go's codec still accepts.
type legacyMessage struct {
	Value int32 `protobuf:"varint,1,opt,name=value,proto3" json:"value,omitempty"`
}

func (m *legacyMessage) Reset()         { *m = legacyMessage{} }
func (m *legacyMessage) String() string { return fmt.Sprint(m.Value) }
func (*legacyMessage) ProtoMessage()    {}

// bidiEndingAuth returns an Authenticator, on clock's fake timers, that
// admits any token to BidiStream for an hour from t0, to be called
// directly with a fake stream: with condition, BidiStream's condition
// passes the first message and refuses the others.
func bidiEndingAuth(t *testing.T, condition bool) (*Authenticator, *fakeClock) {
	t.Helper()
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scp": []string{"test:stream"}, "exp": t0.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	cfg := Config{Verifier: staticVerifier{claims: claims}, Now: clock.Now, afterFunc: clock.AfterFunc, Logger: discardLogger()}
	if condition {
		cfg.Conditions = firstOnly{&atomic.Int32{}}
		cfg.Rules = map[string]*grpcauthv1.Rule{"/authtest.v1.TestService/BidiStream": {Scopes: []string{"test:stream"}, Condition: "first only"}}
	}
	return mustNew(t, cfg), clock
}

// A message that a receive returns no more (it arrived after the cut, or
// the condition refused it) is cleared from the handler's message, as
// Guard.Received asks of an adapter: a handler receiving with RecvMsg
// into a message of its own finds nothing of it there, also in a message
// generated before APIv2 (which a condition cannot read: refused with
// CONDITION_ERROR before it is delivered).
func TestStream_RefusedMessageIsClearedFromTheHandlersMessage(t *testing.T) {
	for _, tt := range []struct {
		name   string
		code   codes.Code
		reason string
		msg    func() any
	}{
		{"cut while it arrived", codes.Unauthenticated, ReasonTokenExpired, func() any { return new(authtestv1.BidiStreamRequest) }},
		{"refused by the condition", codes.PermissionDenied, ReasonConditionFailed, func() any { return new(authtestv1.BidiStreamRequest) }},
		{"cut while it arrived, APIv1 message", codes.Unauthenticated, ReasonTokenExpired, func() any { return new(legacyMessage) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, clock := bidiEndingAuth(t, tt.reason == ReasonConditionFailed)
			ss := &fillingStream{ctx: grpc.NewContextWithServerTransportStream(bearerCtx("tok"), discardStream{})}
			info := &grpc.StreamServerInfo{FullMethod: "/authtest.v1.TestService/BidiStream", IsClientStream: true, IsServerStream: true}
			err := a.StreamServerInterceptor()(nil, ss, info, func(_ any, s grpc.ServerStream) error {
				m := tt.msg()
				if err := s.RecvMsg(m); err != nil || proto.Size(messageV2(m)) == 0 {
					t.Fatalf("first message: %v, %d bytes", err, proto.Size(messageV2(m)))
				}
				if tt.reason == ReasonTokenExpired {
					ss.during = func() { clock.expire(clock.next(t)) }
				}
				err := s.RecvMsg(m)
				checkStatus(t, err, tt.code, tt.reason)
				if n := proto.Size(messageV2(m)); n != 0 {
					t.Errorf("the refused message is still in the handler's message (%d bytes)", n)
				}
				return err
			})
			checkStatus(t, err, tt.code, tt.reason)
		})
	}
}

// metadataStream is a fillingStream that records the response metadata
// set and sent on it.
type metadataStream struct {
	fillingStream
	header, trailer metadata.MD
	headerSent      bool
}

func (s *metadataStream) SetHeader(md metadata.MD) error {
	s.header = metadata.Join(s.header, md)
	return nil
}

func (s *metadataStream) SendHeader(md metadata.MD) error {
	s.header, s.headerSent = metadata.Join(s.header, md), true
	return nil
}

func (s *metadataStream) SetTrailer(md metadata.MD) { s.trailer = metadata.Join(s.trailer, md) }

// Once a stream is cut (or a message failed its condition), its handler
// can no more set or send response headers, or set a trailer, than send a
// message: SetHeader and SendHeader fail with the stream's refusal, and
// SetTrailer is dropped, so a handler that goes on cannot keep talking to
// a caller whose token ended. What it set before goes out.
func TestStream_MetadataAfterTheCutFailsAsSendsDo(t *testing.T) {
	for _, tt := range []struct {
		name   string
		code   codes.Code
		reason string
	}{
		{"cut", codes.Unauthenticated, ReasonTokenExpired},
		{"refused by the condition", codes.PermissionDenied, ReasonConditionFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, clock := bidiEndingAuth(t, tt.reason == ReasonConditionFailed)
			ss := &metadataStream{fillingStream: fillingStream{ctx: grpc.NewContextWithServerTransportStream(bearerCtx("tok"), discardStream{})}}
			info := &grpc.StreamServerInfo{FullMethod: "/authtest.v1.TestService/BidiStream", IsClientStream: true, IsServerStream: true}
			err := a.StreamServerInterceptor()(nil, ss, info, func(_ any, s grpc.ServerStream) error {
				if err := s.SetHeader(metadata.Pairs("before", "1")); err != nil {
					t.Fatalf("SetHeader before the end: %v", err)
				}
				if err := s.RecvMsg(new(authtestv1.BidiStreamRequest)); err != nil {
					t.Fatalf("first message: %v", err)
				}
				if tt.reason == ReasonTokenExpired {
					clock.expire(clock.next(t))
				} else {
					checkStatus(t, s.RecvMsg(new(authtestv1.BidiStreamRequest)), tt.code, tt.reason)
				}
				after := metadata.Pairs("after", "1")
				checkStatus(t, s.SetHeader(after), tt.code, tt.reason)
				checkStatus(t, s.SendHeader(after), tt.code, tt.reason)
				s.SetTrailer(after)
				return nil
			})
			checkStatus(t, err, tt.code, tt.reason)
			if ss.headerSent || ss.header.Get("after") != nil || ss.trailer.Get("after") != nil {
				t.Errorf("after the end the stream got header %v (sent %v), trailer %v", ss.header, ss.headerSent, ss.trailer)
			}
			if ss.header.Get("before") == nil {
				t.Errorf("the header set before the end was dropped: %v", ss.header)
			}
		})
	}
}

// On a real server, the response metadata a handler sets on its stream
// before the stream ends (cut, or refused by its condition) reaches the
// caller, and what it sets after does not: SetHeader fails with the
// refusal, and SetTrailer is dropped.
func TestStream_MetadataAfterTheEndDoesNotReachTheCaller(t *testing.T) {
	for _, cut := range []bool{true, false} {
		code, reason := codes.PermissionDenied, ReasonConditionFailed
		if cut {
			code, reason = codes.Unauthenticated, ReasonTokenExpired
		}
		t.Run(reason, func(t *testing.T) {
			e, clock, tok, _, _ := firstOnlyEnv(t)
			afterErr := make(chan error, 1)
			handler := func(_ any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, _ grpc.StreamHandler) error {
				if err := ss.SetHeader(metadata.Pairs("before", "1")); err != nil {
					return err
				}
				ss.SetTrailer(metadata.Pairs("before-trailer", "1"))
				for ss.RecvMsg(new(authtestv1.BidiStreamRequest)) == nil {
					e.svc.signal()
				}
				afterErr <- ss.SetHeader(metadata.Pairs("after", "1"))
				ss.SetTrailer(metadata.Pairs("after-trailer", "1"))
				return nil
			}
			_, addr := serve(t, e.svc, grpc.ChainStreamInterceptor(e.auth.StreamServerInterceptor(), handler))
			s, err := authtestv1.NewTestServiceClient(dial(t, addr, insecure.NewCredentials())).BidiStream(withAuth(bounded(t), bearer(tok)))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
				t.Fatal(err)
			}
			await(t, e.svc.streamStarted, "the first message did not reach the handler")
			if cut {
				clock.expire(clock.next(t))
			}
			if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil { // refused by the cut, or the condition
				t.Fatal(err)
			}
			_, err = s.Recv()
			checkStatus(t, err, code, reason)
			checkStatus(t, await(t, afterErr, "the handler's receive did not fail"), code, reason)
			header, err := s.Header()
			if err != nil {
				t.Fatal(err)
			}
			trailer := s.Trailer()
			if header.Get("before") == nil || trailer.Get("before-trailer") == nil {
				t.Errorf("the metadata set before the end did not reach the caller: header keys %v, trailer keys %v", slices.Collect(maps.Keys(header)), slices.Collect(maps.Keys(trailer)))
			}
			if header.Get("after") != nil || trailer.Get("after-trailer") != nil {
				t.Errorf("the metadata set after the end reached the caller: header keys %v, trailer keys %v", slices.Collect(maps.Keys(header)), slices.Collect(maps.Keys(trailer)))
			}
		})
	}
}
