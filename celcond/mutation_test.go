package celcond

// Tests for checks a hand-run mutation test found no test held: each fails
// with the mutant named in its comment.

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/verifier"
)

// TestEval_LongMethodIsTracked: the proven size bounds the method name
// too (maxFastNameSize), which the claims' footprint does not count: a
// call whose method is longer is tracked, and an expression whose cost
// grows with it fails at the cost limit rather than running untracked.
// (Mutant: small without the check of subject, client_id and method.)
func TestEval_LongMethodIsTracked(t *testing.T) {
	cond := compileOwn(t, Config{}, "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].all(i, !method.matches('(a{30}){30}x'))")
	if cond.fast == nil {
		t.Fatal("no proven size")
	}
	claims, err := verifier.NewClaims(map[string]any{"sub": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	in := grpcauth.ConditionInput{Method: "/authtest.v1.ConditionService/Own", Claims: claims}
	if ok, err := cond.Eval(t.Context(), in); !ok || err != nil {
		t.Fatalf("short method: Eval = %v, %v; want true", ok, err)
	}
	in.Method = "/" + strings.Repeat("a", 3000)
	if cond.small(in) {
		t.Fatalf("a %d-byte method is within the proven size: fastNameSize %d", len(in.Method), cond.fastNameSize)
	}
	if ok, err := cond.Eval(t.Context(), in); ok || err == nil || !strings.Contains(err.Error(), "cost") {
		t.Fatalf("long method: Eval = %v, %v; want the cost limit's error", ok, err)
	}
}

// TestEval_ErrorQuotingALongValueIsClipped: an evaluation error that
// quotes a value the caller chose (a missing key) is cut to maxErrorLen
// bytes, and "…" marks the cut. (Mutant: shortError without the clip.)
func TestEval_ErrorQuotingALongValueIsClipped(t *testing.T) {
	cond := compileOwn(t, Config{}, "claims[method] == 1")
	claims, err := verifier.NewClaims(map[string]any{"sub": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	in := grpcauth.ConditionInput{Method: "/" + strings.Repeat("k", 10_000), Claims: claims}
	ok, err := cond.Eval(t.Context(), in)
	if ok || err == nil {
		t.Fatalf("Eval = %v, %v; want an error", ok, err)
	}
	if n, limit := len(err.Error()), len("celcond: ")+maxErrorLen+len("…"); n > limit {
		t.Fatalf("error of %d bytes, want at most %d: %.80q…", n, limit, err)
	}
}

// TestEval_StoppedEvaluationWrapsTheContextsError: a comprehension
// stopped by the end of its call fails with an error wrapping ctx.Err()
// (context.Canceled), also when the context was cancelled with a cause,
// which cel-go's own error carries in its place. (Mutant: Eval without
// its wrapping of ctx.Err().)
func TestEval_StoppedEvaluationWrapsTheContextsError(t *testing.T) {
	cond := compileOwn(t, Config{}, "claims.l.exists(x, x == request.item.owner)")
	in, _ := longOwnList(t)
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("client went away")
	cancel(cause)
	ok, err := cond.Eval(ctx, in)
	if ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("Eval = %v, %v; want an error wrapping context.Canceled", ok, err)
	}
}

// TestEval_ExpressionReadingTheRequestFailsWithoutOne: an expression that
// reads request, evaluated without one (ConditionInput.Request nil), fails
// closed, also where a nil request would read as one without the field
// (!has(request.item)). (Mutant: activation.ResolveName reporting request
// found when it is nil, which made both expressions below true.)
func TestEval_ExpressionReadingTheRequestFailsWithoutOne(t *testing.T) {
	claims, err := verifier.NewClaims(map[string]any{"sub": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{"!has(request.item)", "request == request"} {
		cond := compileOwn(t, Config{}, expr)
		in := grpcauth.ConditionInput{Method: "/authtest.v1.ConditionService/Own", Claims: claims}
		if ok, err := cond.Eval(t.Context(), in); ok || err == nil {
			t.Errorf("%s without a request: Eval = %v, %v; want false and an error", expr, ok, err)
		}
	}
}
