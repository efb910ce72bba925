package grpcauth_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/internal/safelog/safelogtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/internal/testproto/conditiontest"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// lockedBuffer is a log's destination that the server's goroutines write
// and the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// conditionBug is the start of the value a buggy condition panics with:
// a long one, which Decision.Err and the log hold clipped.
const conditionBug = "condition bug: index out of range"

// panickingCondition panics with conditionBug, padded to 8 KiB, on a
// unary call while buggy is set, and on a stream message whose owner is
// "panic"; otherwise it holds.
func panickingCondition(buggy *atomic.Bool) grpcauth.Condition {
	return condFunc(func(_ context.Context, in grpcauth.ConditionInput) (bool, error) {
		r, streamed := in.Request.(*authtestv1.OwnClientStreamRequest)
		if (streamed && r.GetOwner() == "panic") || (!streamed && buggy.Load()) {
			panic(conditionBug + strings.Repeat("!", 8<<10))
		}
		return true, nil
	})
}

// checkPanicCause fails t unless d is the refusal of a condition that
// panicked: CONDITION_ERROR, its Err holding the panic's value clipped.
func checkPanicCause(t *testing.T, d grpcauth.Decision) {
	t.Helper()
	if d.Reason != grpcauth.ReasonConditionError || d.Err == nil {
		t.Fatalf("decision %+v, want %s with a cause", d, grpcauth.ReasonConditionError)
	}
	if msg := d.Err.Error(); !strings.Contains(msg, "Eval panicked") || !strings.Contains(msg, conditionBug) || len(msg) > 512 {
		t.Fatalf("Decision.Err = %q (%d bytes); want the panic's value, clipped", msg, len(msg))
	}
}

// A unary call whose condition panics is refused with CONDITION_ERROR, as
// one whose condition fails to evaluate: the client is told nothing of
// the panic, which is logged with its stack, and the server goes on
// serving (without the recovery, the panic ends the process).
func TestCondition_PanicRefusesTheUnaryCallAndTheServerServesOn(t *testing.T) {
	const m = "/authtest.v1.ConditionService/Method"
	var logs lockedBuffer
	var buggy atomic.Bool
	buggy.Store(true)
	decisions := make(chan grpcauth.Decision, 4)
	e := conditiontest.New(t, grpcauth.Config{
		Conditions: fixedCompiler{panickingCondition(&buggy)}, Rules: map[string]*grpcauthv1.Rule{m: {Condition: "buggy"}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnDecision: func(_ context.Context, d grpcauth.Decision) { decisions <- d }})
	tok := e.Token(t, nil, nil)
	_, err := e.Client.Method(conditiontest.Bearer(t.Context(), tok), &authtestv1.MethodRequest{})
	conditiontest.CheckStatus(t, err, codes.PermissionDenied, grpcauth.ReasonConditionError)
	if strings.Contains(err.Error(), "panic") {
		t.Errorf("the client is told of the panic: %v", err)
	}
	checkPanicCause(t, conditiontest.Await(t, decisions, "the refused call's decision"))
	out := logs.String()
	if !strings.Contains(out, "panic recovered in a condition's Eval") || !strings.Contains(out, "level=WARN") ||
		!strings.Contains(out, "panickingCondition") || strings.Contains(out, tok) || strings.Count(out, "!") > 1024 {
		t.Errorf("log = %s; want the panic at the Problem level with its stack and its value clipped, without the token", out)
	}

	buggy.Store(false)
	if _, err := e.Client.Method(conditiontest.Bearer(t.Context(), tok), &authtestv1.MethodRequest{}); err != nil {
		t.Fatalf("the call after the panic: %v; want it served", err)
	}
}

// A stream message whose condition panics is refused as one whose
// condition fails to evaluate: the stream ends with CONDITION_ERROR, the
// message never reaches the handler, and the server serves the next
// stream.
func TestCondition_PanicRefusesTheStreamMessageAndTheServerServesOn(t *testing.T) {
	const m = "/authtest.v1.ConditionService/OwnClientStream"
	decisions := make(chan grpcauth.Decision, 8)
	e := conditiontest.New(t, grpcauth.Config{
		Conditions: fixedCompiler{panickingCondition(new(atomic.Bool))}, Rules: map[string]*grpcauthv1.Rule{m: {Condition: "buggy"}},
		OnDecision: func(_ context.Context, d grpcauth.Decision) { decisions <- d }})
	ctx := conditiontest.Bearer(t.Context(), e.Token(t, nil, nil))
	s, err := e.Client.OwnClientStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := conditiontest.Await(t, decisions, "the stream's opening decision"); d.Code != codes.OK {
		t.Fatalf("opening decision %+v, want OK", d)
	}
	if err := s.Send(&authtestv1.OwnClientStreamRequest{Owner: "ok"}); err != nil {
		t.Fatal(err)
	}
	conditiontest.Await(t, e.Handled, "the first message handled")
	_ = s.Send(&authtestv1.OwnClientStreamRequest{Owner: "panic"}) // io.EOF once the stream has ended
	_, err = s.CloseAndRecv()
	conditiontest.CheckStatus(t, err, codes.PermissionDenied, grpcauth.ReasonConditionError)
	checkPanicCause(t, conditiontest.Await(t, decisions, "the refused message's decision"))
	if len(e.Handled) != 0 {
		t.Errorf("the refused message reached the handler")
	}

	s, err = e.Client.OwnClientStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&authtestv1.OwnClientStreamRequest{Owner: "ok"}); err != nil {
		t.Fatal(err)
	}
	if resp, err := s.CloseAndRecv(); err != nil || resp.GetReceived() != 1 {
		t.Fatalf("the stream after the panic: %v, %v; want it served", resp, err)
	}
}

// In dry run a condition that panics is what one that fails to evaluate
// is: a would-deny with CONDITION_ERROR, and the call goes through, as
// dry run lets through every refusal of the rule but the call's own end.
func TestCondition_PanicInDryRunIsAWouldDenyAsAnEvalError(t *testing.T) {
	const m = "/authtest.v1.ConditionService/Method"
	for _, tt := range []struct {
		name string
		cond grpcauth.Condition
	}{
		{"error", fakeCondition("fails")},
		{"panic", panickingCondition(func() *atomic.Bool { b := new(atomic.Bool); b.Store(true); return b }())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			decisions := make(chan grpcauth.Decision, 4)
			e := conditiontest.New(t, grpcauth.Config{DryRun: true,
				Conditions: fixedCompiler{tt.cond}, Rules: map[string]*grpcauthv1.Rule{m: {Condition: "buggy"}},
				OnDecision: func(_ context.Context, d grpcauth.Decision) { decisions <- d }})
			_, err := e.Client.Method(conditiontest.Bearer(t.Context(), e.Token(t, nil, nil)), &authtestv1.MethodRequest{})
			d := conditiontest.Await(t, decisions, "the call's decision")
			if err != nil || !d.Allowed || !d.DryRun || d.Reason != grpcauth.ReasonConditionError || errors.Is(d.Err, context.Canceled) {
				t.Fatalf("call: %v, decision %+v; want it through, a would-deny with %s", err, d, grpcauth.ReasonConditionError)
			}
		})
	}
}

// A condition's panic is logged on every call, its stack at most once a
// minute per Authenticator: a caller may send the request that makes it
// panic again and again, and a stack is a few KB. The Env's clock stands
// still, so the second panic comes within the minute; another
// Authenticator logs its own first stack.
func TestCondition_PanicStackIsLoggedAtMostOnceAMinutePerAuthenticator(t *testing.T) {
	const m = "/authtest.v1.ConditionService/Method"
	var buggy atomic.Bool
	buggy.Store(true)
	newEnv := func(records logRecords) *conditiontest.Env {
		return conditiontest.New(t, grpcauth.Config{
			Conditions: fixedCompiler{panickingCondition(&buggy)}, Rules: map[string]*grpcauthv1.Rule{m: {Condition: "buggy"}},
			Logger: slog.New(slog.NewTextHandler(records, nil))})
	}
	panicRecord := func(e *conditiontest.Env, records logRecords) string {
		t.Helper()
		_, err := e.Client.Method(conditiontest.Bearer(t.Context(), e.Token(t, nil, nil)), &authtestv1.MethodRequest{})
		conditiontest.CheckStatus(t, err, codes.PermissionDenied, grpcauth.ReasonConditionError)
		return records.await(t, "panic recovered in a condition's Eval")
	}
	const stackFrame = "panickingCondition"
	records := make(logRecords, 16)
	e := newEnv(records)
	if r := panicRecord(e, records); !strings.Contains(r, stackFrame) {
		t.Fatalf("first record = %s; want the stack", r)
	}
	if r := panicRecord(e, records); strings.Contains(r, stackFrame) || !strings.Contains(r, "stack=\"omitted") || !strings.Contains(r, conditionBug) {
		t.Fatalf("second record within the minute = %s; want the panic without its stack", r)
	}
	other := make(logRecords, 16)
	if r := panicRecord(newEnv(other), other); !strings.Contains(r, stackFrame) {
		t.Fatalf("another Authenticator's first record = %s; want its stack", r)
	}
}

// A condition that panics is refused with CONDITION_ERROR, and the server
// serves on, even when the code its panic's record calls panics too: a
// Config.Now that panics is read as the process's clock (the record says
// so, "now_panic"), and a Logger whose handler panics on the record loses
// it. Before, that second panic escaped the recovery and ended the
// process (grpc-go recovers none).
func TestCondition_PanicIsRefusedWhenConfigNowOrTheLoggerPanicsAsItIsLogged(t *testing.T) {
	const m = "/authtest.v1.ConditionService/Method"
	const record = "panic recovered in a condition's Eval"
	for _, logPanics := range []bool{false, true} {
		t.Run(map[bool]string{false: "Config.Now panics", true: "the Logger panics"}[logPanics], func(t *testing.T) {
			var buggy atomic.Bool
			buggy.Store(true)
			records := make(logRecords, 16)
			panicked := make(chan string, 1)
			logger := slog.New(slog.NewTextHandler(records, nil))
			if logPanics {
				logger = slog.New(safelogtest.Handler{Next: logger.Handler(), On: record, Panicked: panicked})
			}
			cfg := grpcauth.Config{
				Conditions: fixedCompiler{panickingCondition(&buggy)}, Rules: map[string]*grpcauthv1.Rule{m: {Condition: "buggy"}},
				Logger: logger}
			if !logPanics {
				cfg.Now = func() time.Time { panic("clock bug 51c2") }
			}
			e := conditiontest.New(t, cfg)
			tok := e.Token(t, nil, nil)
			_, err := e.Client.Method(conditiontest.Bearer(t.Context(), tok), &authtestv1.MethodRequest{})
			conditiontest.CheckStatus(t, err, codes.PermissionDenied, grpcauth.ReasonConditionError)
			if logPanics {
				conditiontest.Await(t, panicked, "the Logger given the panic's record")
			} else if r := records.await(t, record); !strings.Contains(r, "clock bug 51c2") || !strings.Contains(r, "panickingCondition") {
				t.Fatalf("record = %s; want Config.Now's panic and the condition's stack", r)
			}
			records.await(t, "grpcauth: call denied") // the decision's own record

			buggy.Store(false)
			if _, err := e.Client.Method(conditiontest.Bearer(t.Context(), tok), &authtestv1.MethodRequest{}); err != nil {
				t.Fatalf("the call after the panic: %v; want it served", err)
			}
		})
	}
}
