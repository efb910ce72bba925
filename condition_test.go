package grpcauth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcauth/grpcauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/internal/testproto/conditiontest"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// fakeCompiler compiles every expression to a condition that returns the
// expression's verdict: "true", "false", "true with an error" (both) or
// anything else (an error). It
// records the request types it compiled for.
type fakeCompiler struct {
	inputs []protoreflect.FullName
	nilAll bool // return neither a condition nor an error
}

func (f *fakeCompiler) CompileCondition(md protoreflect.MethodDescriptor, expr string) (grpcauth.Condition, error) {
	f.inputs = append(f.inputs, md.Input().FullName())
	if f.nilAll {
		return nil, nil
	}
	if expr == "does not compile" {
		return nil, errors.New("fake: bad expression")
	}
	return fakeCondition(expr), nil
}

// nilCondition is a Condition whose nil pointer a faulty compiler returns.
type nilCondition struct{ verdict bool }

func (c *nilCondition) Eval(context.Context, grpcauth.ConditionInput) (bool, error) {
	return c.verdict, nil // dereferences c
}

// condFunc is a Condition that is a function.
type condFunc func(context.Context, grpcauth.ConditionInput) (bool, error)

func (f condFunc) Eval(ctx context.Context, in grpcauth.ConditionInput) (bool, error) {
	return f(ctx, in)
}

// allOf is a Condition that holds when each of its conditions does: a nil
// one, when there are none.
type allOf []grpcauth.Condition

func (a allOf) Eval(ctx context.Context, in grpcauth.ConditionInput) (bool, error) {
	for _, c := range a {
		if ok, err := c.Eval(ctx, in); !ok || err != nil {
			return false, err
		}
	}
	return true, nil
}

// fixedCompiler compiles every expression to cond, with no error.
type fixedCompiler struct{ cond grpcauth.Condition }

func (c fixedCompiler) CompileCondition(protoreflect.MethodDescriptor, string) (grpcauth.Condition, error) {
	return c.cond, nil
}

// panicCompiler is a ConditionCompiler with a bug: it panics. It is a
// Condition too, so that a table row can name it.
type panicCompiler struct{}

func (panicCompiler) CompileCondition(protoreflect.MethodDescriptor, string) (grpcauth.Condition, error) {
	panic("compiler bug")
}

func (panicCompiler) Eval(context.Context, grpcauth.ConditionInput) (bool, error) { return true, nil }

// panicReader is a Condition whose ReadsRequest panics.
type panicReader struct{}

func (panicReader) Eval(context.Context, grpcauth.ConditionInput) (bool, error) { return true, nil }
func (panicReader) ReadsRequest() bool                                          { panic("reader bug") }

type fakeCondition string

func (c fakeCondition) Eval(_ context.Context, in grpcauth.ConditionInput) (bool, error) {
	if in.Request == nil || in.Claims.IsZero() || in.Method == "" {
		return false, errors.New("fake: incomplete input")
	}
	switch c {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "true with an error":
		return true, errors.New("fake: evaluation failed half-way")
	}
	return false, errors.New("fake: evaluation failed")
}

func TestCondition_CompilerOutcomesDecideTheCall(t *testing.T) {
	const m = "/authtest.v1.ConditionService/Method"
	for _, tt := range []struct {
		expr   string
		code   codes.Code
		reason string
	}{
		{"true", codes.OK, ""},
		{"false", codes.PermissionDenied, grpcauth.ReasonConditionFailed},
		{"fails", codes.PermissionDenied, grpcauth.ReasonConditionError},
		// The error decides: a condition that fails half-way may have
		// no verdict worth the true it returns.
		{"true with an error", codes.PermissionDenied, grpcauth.ReasonConditionError},
		{"does not compile", codes.PermissionDenied, grpcauth.ReasonMethodNotConfigured},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			fc := &fakeCompiler{}
			var mu sync.Mutex
			var decisions []grpcauth.Decision
			e := conditiontest.New(t, grpcauth.Config{Conditions: fc, Rules: map[string]*grpcauthv1.Rule{m: {Condition: tt.expr}},
				OnDecision: func(_ context.Context, d grpcauth.Decision) {
					mu.Lock()
					decisions = append(decisions, d)
					mu.Unlock()
				}})
			_, err := e.Client.Method(conditiontest.Bearer(t.Context(), e.Token(t, nil, nil)), &authtestv1.MethodRequest{})
			conditiontest.CheckStatus(t, err, tt.code, tt.reason)
			mu.Lock()
			defer mu.Unlock()
			if n := len(decisions); n == 0 || decisions[n-1].Code != tt.code || decisions[n-1].Latency <= 0 {
				t.Errorf("decisions %+v, want the last with code %v and a positive Latency", decisions, tt.code)
			}
			if len(fc.inputs) != 1 || fc.inputs[0] != "authtest.v1.MethodRequest" {
				t.Errorf("compiled for %v, want once for authtest.v1.MethodRequest", fc.inputs)
			}
		})
	}
}

func TestCondition_InvalidWithoutDescriptorOrCondition(t *testing.T) {
	// A configured rule with a condition for a method no descriptor
	// describes: its request type is unknown.
	a, err := grpcauth.New(grpcauth.Config{Verifier: nopVerifier{}, Conditions: &fakeCompiler{},
		Rules: map[string]*grpcauthv1.Rule{"/ghost.v1.GhostService/Get": {Condition: "true"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Requirement("/ghost.v1.GhostService/Get")
	if !errors.Is(err, grpcauth.ErrInvalidRule) || !strings.Contains(err.Error(), "request type") {
		t.Errorf("Requirement = %v, want an invalid rule naming the unknown request type", err)
	}
	// A compiler that returns neither a condition nor an error.
	a, err = grpcauth.New(grpcauth.Config{Verifier: nopVerifier{}, Conditions: &fakeCompiler{nilAll: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Requirement("/authtest.v1.ConditionService/Own"); !errors.Is(err, grpcauth.ErrInvalidRule) {
		t.Errorf("Requirement = %v, want ErrInvalidRule", err)
	}
	// A valid condition shows in the Requirement.
	a, err = grpcauth.New(grpcauth.Config{Verifier: nopVerifier{}, Conditions: &fakeCompiler{}})
	if err != nil {
		t.Fatal(err)
	}
	req, err := a.Requirement("/authtest.v1.ConditionService/Own")
	if err != nil || req.Condition != "request.item.owner == subject || 'test:admin' in scopes" {
		t.Errorf("Requirement = %+v, %v", req, err)
	}
}

// A ConditionCompiler that returns no condition and no error, even as a
// nil pointer or func in the interface (whose Eval would panic on every
// call), makes the rule invalid: the method is denied and Check reports it. So does one
// that panics, or whose condition's ReadsRequest panics. A nil slice is
// an empty collection, a Condition like any other.
func TestCondition_NilConditionFromCompilerDeniesTheMethod(t *testing.T) {
	const m = "/authtest.v1.ConditionService/Method"
	for _, tt := range []struct {
		name   string
		cond   grpcauth.Condition
		code   codes.Code
		reason string
	}{
		{"nil interface", nil, codes.PermissionDenied, grpcauth.ReasonMethodNotConfigured},
		{"nil pointer", (*nilCondition)(nil), codes.PermissionDenied, grpcauth.ReasonMethodNotConfigured},
		{"nil func", condFunc(nil), codes.PermissionDenied, grpcauth.ReasonMethodNotConfigured},
		{"nil slice", allOf(nil), codes.OK, ""},
		// A compiler, or a condition's ReadsRequest, that panics: the
		// rule is invalid, rather than the panic crashing the server on
		// the method's first call or in Check.
		{"compiler panics", panicCompiler{}, codes.PermissionDenied, grpcauth.ReasonMethodNotConfigured},
		{"ReadsRequest panics", panicReader{}, codes.PermissionDenied, grpcauth.ReasonMethodNotConfigured},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var compiler grpcauth.ConditionCompiler = fixedCompiler{tt.cond}
			if _, ok := tt.cond.(panicCompiler); ok {
				compiler = panicCompiler{}
			}
			e := conditiontest.New(t, grpcauth.Config{Conditions: compiler, Rules: map[string]*grpcauthv1.Rule{m: {Condition: "true"}}})
			_, err := e.Auth.Requirement(m)
			if invalid := errors.Is(err, grpcauth.ErrInvalidRule); invalid != (tt.code != codes.OK) {
				t.Fatalf("Requirement = %v, want it invalid: %v", err, !invalid) // before a call that would panic
			}
			var ce *grpcauth.CheckError
			err = e.Auth.Check(e.Server)
			if reported := errors.As(err, &ce) && slices.Contains(ce.Methods(), m); reported != (tt.code != codes.OK) {
				t.Errorf("Check = %v; want %s reported: %v", err, m, !reported)
			}
			_, err = e.Client.Method(conditiontest.Bearer(t.Context(), e.Token(t, nil, nil)), &authtestv1.MethodRequest{})
			conditiontest.CheckStatus(t, err, tt.code, tt.reason)
		})
	}
}

func TestCondition_StreamMessageRefusalReportsItsLatency(t *testing.T) {
	const m = "/authtest.v1.ConditionService/OwnClientStream"
	decisions := make(chan grpcauth.Decision, 4)
	e := conditiontest.New(t, grpcauth.Config{Conditions: &fakeCompiler{}, Rules: map[string]*grpcauthv1.Rule{m: {Condition: "false"}},
		OnDecision: func(_ context.Context, d grpcauth.Decision) { decisions <- d }})
	s, err := e.Client.OwnClientStream(conditiontest.Bearer(t.Context(), e.Token(t, nil, nil)))
	if err != nil {
		t.Fatal(err)
	}
	allowed := conditiontest.Await(t, decisions, "the stream's opening decision") // no message yet
	if allowed.Code != codes.OK {
		t.Fatalf("opening decision %+v, want OK", allowed)
	}
	if err := s.Send(&authtestv1.OwnClientStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err = s.CloseAndRecv()
	conditiontest.CheckStatus(t, err, codes.PermissionDenied, grpcauth.ReasonConditionFailed)
	if d := conditiontest.Await(t, decisions, "the message's decision"); d.Reason != grpcauth.ReasonConditionFailed || d.Latency <= 0 {
		t.Fatalf("message decision %+v, want %s with a positive Latency", d, grpcauth.ReasonConditionFailed)
	}
}
