package grpcauth_test

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/internal/testproto/conditiontest"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// logRecords is a log's destination that hands the test each record the
// server writes (slog's handlers write a record at a time). Once its
// buffer is full it drops records rather than block the server.
type logRecords chan string

func (l logRecords) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default:
	}
	return len(p), nil
}

// await returns the next record holding s, skipping the others.
func (l logRecords) await(t *testing.T, s string) string {
	t.Helper()
	for {
		if r := conditiontest.Await(t, l, "a log record with "+s); strings.Contains(r, s) {
			return r
		}
	}
}

// exitingCondition ends its goroutine instead of returning, as a test's
// fake calling t.FailNow does.
type exitingCondition struct{}

func (exitingCondition) Eval(context.Context, grpcauth.ConditionInput) (bool, error) {
	runtime.Goexit()
	return true, nil
}

// callOnce makes one call of method (a unary Method call, or an
// OwnClientStream stream of one message) with ctx, and returns its error.
func callOnce(ctx context.Context, e *conditiontest.Env, method string) error {
	if !strings.HasSuffix(method, "Stream") {
		_, err := e.Client.Method(ctx, &authtestv1.MethodRequest{})
		return err
	}
	s, err := e.Client.OwnClientStream(ctx)
	if err != nil {
		return err
	}
	_ = s.Send(&authtestv1.OwnClientStreamRequest{Owner: "alice"}) // io.EOF once the stream has ended
	_, err = s.CloseAndRecv()
	return err
}

// A condition that ends its goroutine (runtime.Goexit) ends the call's
// with it, which grpcauth cannot stop: the call, or the stream message,
// is not let through and gets no answer until the client cancels it. The
// server logs it at the Problem level with the condition's stack (without
// that record, nothing on the server said why the call hung).
func TestCondition_GoexitIsLoggedAndTheCallIsNotLetThrough(t *testing.T) {
	for _, method := range []string{"/authtest.v1.ConditionService/Method", "/authtest.v1.ConditionService/OwnClientStream"} {
		t.Run(method[strings.LastIndex(method, "/")+1:], func(t *testing.T) {
			records := make(logRecords, 16)
			e := conditiontest.New(t, grpcauth.Config{
				Conditions: fixedCompiler{exitingCondition{}}, Rules: map[string]*grpcauthv1.Rule{method: {Condition: "exits"}},
				Logger: slog.New(slog.NewTextHandler(records, nil))})
			tok := e.Token(t, nil, nil)
			ctx, cancel := context.WithCancel(conditiontest.Bearer(t.Context(), tok))
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- callOnce(ctx, e, method) }()

			r := records.await(t, "Eval did not return")
			if !strings.Contains(r, "level=WARN") || !strings.Contains(r, "exitingCondition.Eval") || strings.Contains(r, tok) {
				t.Errorf("record = %s; want it at the Problem level with the condition's stack, without the token", r)
			}
			cancel()
			if err := conditiontest.Await(t, done, "the call's end"); status.Code(err) != codes.Canceled {
				t.Fatalf("call: %v; want it cancelled by the client, never let through", err)
			}
			if len(e.Handled) != 0 {
				t.Error("the message reached the handler")
			}
		})
	}
}

// Under GODEBUG=panicnil=1, recover sees no value for panic(nil): a
// condition that panics with nil is refused as one that panics with a
// value, CONDITION_ERROR and logged, not as a false condition
// (CONDITION_FAILED, which said nothing of the bug). The test runs in a
// child process, as GODEBUG is read at start.
func TestCondition_PanicNilUnderGODEBUGPanicnilIsAConditionError(t *testing.T) {
	if !grpcauth.UnderPanicnil(t) {
		return
	}
	const m = "/authtest.v1.ConditionService/Method"
	records := make(logRecords, 16)
	decisions := make(chan grpcauth.Decision, 4)
	e := conditiontest.New(t, grpcauth.Config{
		Conditions: fixedCompiler{condFunc(func(context.Context, grpcauth.ConditionInput) (bool, error) { panic(nil) })},
		Rules:      map[string]*grpcauthv1.Rule{m: {Condition: "panics with nil"}},
		Logger:     slog.New(slog.NewTextHandler(records, nil)), OnDecision: func(_ context.Context, d grpcauth.Decision) { decisions <- d }})
	err := callOnce(conditiontest.Bearer(t.Context(), e.Token(t, nil, nil)), e, m)
	conditiontest.CheckStatus(t, err, codes.PermissionDenied, grpcauth.ReasonConditionError)
	if d := conditiontest.Await(t, decisions, "the call's decision"); d.Reason != grpcauth.ReasonConditionError || d.Err == nil || !strings.Contains(d.Err.Error(), "Eval did not return") {
		t.Fatalf("decision %+v; want %s, the Eval that did not return its cause", d, grpcauth.ReasonConditionError)
	}
	if r := records.await(t, "Eval did not return"); !strings.Contains(r, "level=WARN") || !strings.Contains(r, "TestCondition_PanicNilUnderGODEBUGPanicnilIsAConditionError") {
		t.Errorf("record = %s; want it at the Problem level with the condition's stack", r)
	}
}
