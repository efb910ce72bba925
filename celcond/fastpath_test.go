package celcond

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types/ref"

	"github.com/grpcauth/grpcauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// compileOwn compiles expr for the ConditionService's Own method with cfg.
func compileOwn(t *testing.T, cfg Config, expr string) *condition {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	md := authtestv1.File_authtest_v1_conditions_proto.Services().ByName("ConditionService").Methods().ByName("Own")
	cond, err := c.CompileCondition(md, expr)
	if err != nil {
		t.Fatal(err)
	}
	return cond.(*condition)
}

// TestEval_UntrackedOnlyWithinTheProvenSize checks the run-time side of
// the cost proof: whenever an evaluation's inputs are small enough to skip
// tracking (small), the tracked program, run on the
// same inputs, stays within the limit. The expressions are ones the
// compile-time estimate cannot prove for every input, over inputs around
// the proven size.
func TestEval_UntrackedOnlyWithinTheProvenSize(t *testing.T) {
	const limit = DefaultCostLimit
	fast, tracked := 0, 0
	for _, expr := range []string{
		"claims.l.exists(g, g == 'admin')",
		"claims.l.exists(x, x == subject)",
		"claims.l.all(x, size(x) < 100)",
		"claims.l.map(x, x + x).exists(y, y == request.item.owner)",
		"claims.l.exists(x, claims.l.exists(y, x == y + subject))",
		"request.item.owner.matches('^a+$') && claims.l.exists(x, x == request.item.owner)",
		"claims == claims && claims.l.exists(x, x in scopes)",
		"scopes.exists(s, s.startsWith(request.item.owner))",
		"claims.l.exists(x, x.matches('(a{30}){30}x'))",
		// A match is charged by its pattern's program in the proof too:
		// charged by the pattern's length, 20 matches of a 300-byte owner
		// were proven within the limit, and cost 150,000 tracked.
		"[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19].all(i, !request.item.owner.matches('(a{30}){30}x'))",
	} {
		cond := compileOwn(t, Config{CostLimit: limit}, expr)
		t.Logf("%s: proven size %d", expr, cond.fastSize)
		if cond.fast == nil {
			t.Fatalf("%s: no proven size", expr)
		}
		for _, n := range []int{0, 1, 2, 5, 10, 20, 40, 80, 160, 320} {
			for _, k := range []int{1, 10, 40, 300} {
				for _, owner := range []int{0, 10, 300} {
					l := make([]string, n)
					scp := make([]string, n)
					for i := range l {
						l[i] = strings.Repeat("a", k)
						scp[i] = fmt.Sprintf("s%d", i)
					}
					claims, err := verifier.NewClaims(map[string]any{"sub": strings.Repeat("b", k), "l": l, "scp": scp})
					if err != nil {
						t.Fatal(err)
					}
					in := grpcauth.ConditionInput{Method: "/authtest.v1.ConditionService/Own", Claims: claims,
						Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: strings.Repeat("a", owner)}}}
					if !cond.small(in) {
						tracked++
						continue
					}
					fast++
					_, det, err := cond.prg.Eval(&activation{in: in})
					if err != nil {
						t.Fatalf("%s (n=%d k=%d owner=%d): tracked: %v", expr, n, k, owner, err)
					}
					if cost := det.ActualCost(); cost == nil || *cost > limit {
						t.Fatalf("%s (n=%d k=%d owner=%d): cost %v over %d within the proven size", expr, n, k, owner, cost, limit)
					}
				}
			}
		}
	}
	if fast == 0 || tracked == 0 {
		t.Fatalf("%d untracked and %d tracked inputs: want both", fast, tracked)
	}
}

// TestEval_InputsOverTheProvenSizeAreTracked checks that an input over the
// proven size is tracked and stopped at the limit.
func TestEval_InputsOverTheProvenSizeAreTracked(t *testing.T) {
	cond := compileOwn(t, Config{CostLimit: 1000}, "claims.l.exists(x, x == 'admin')")
	claims, err := verifier.NewClaims(map[string]any{"l": make([]string, 2000)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cond.Eval(t.Context(), grpcauth.ConditionInput{Claims: claims})
	if err == nil || !strings.Contains(err.Error(), "cost limit exceeded") {
		t.Fatalf("Eval over 2000 elements with a limit of 1000: %v, want the cost limit exceeded", err)
	}
}

// TestEval_ComprehensionOverSmallClaimsIsNotTracked checks that a
// realistic comprehension over a claim list, within the proven size, is
// evaluated without cel-go's cost tracking, which cost it about 10
// allocations a step: here at most 5 a step, decoding the claim (2 a
// string) included.
func TestEval_ComprehensionOverSmallClaimsIsNotTracked(t *testing.T) {
	cond := compileOwn(t, Config{}, "claims.groups.exists(g, g == 'admin')")
	groups := make([]string, 20)
	for i := range groups {
		groups[i] = fmt.Sprintf("group-%02d", i)
	}
	claims, err := verifier.NewClaims(map[string]any{"sub": "alice", "groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	in := grpcauth.ConditionInput{Claims: claims, Request: &authtestv1.OwnRequest{}}
	allocs := testing.AllocsPerRun(100, func() {
		if ok, err := cond.Eval(t.Context(), in); ok || err != nil {
			t.Fatal(ok, err)
		}
	})
	if allocs > 5*float64(len(groups)) {
		t.Fatalf("%v allocations for %d steps, want at most 5 a step", allocs, len(groups))
	}
}

// TestEval_ValuesComputedLargerThanTheInputsAreTracked checks that the
// cost proof does not bound a computed value by the size of the inputs: a
// list doubled by each map step, or a list literal repeating a request
// message, is larger than any of them, and an evaluation over it is
// tracked and stopped at the limit however small the token and request.
func TestEval_ValuesComputedLargerThanTheInputsAreTracked(t *testing.T) {
	const limit = 10_000
	claims, err := verifier.NewClaims(map[string]any{"sub": "alice", "l": []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	item := "request.item" + strings.Repeat(", request.item", 49)
	for _, tc := range []struct {
		expr    string
		request *authtestv1.OwnRequest
	}{
		// 2^14 elements, from one.
		{"[claims.l]" + strings.Repeat(".map(y, y + y)", 14) + ".exists(y, y.exists(z, z == 'q'))", nil},
		// 50 copies of a 20,000-byte message compared.
		{"[" + item + "] == [" + item + "]",
			&authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: strings.Repeat("a", 20_000)}}},
	} {
		cond := compileOwn(t, Config{CostLimit: limit}, tc.expr)
		in := grpcauth.ConditionInput{Method: "/authtest.v1.ConditionService/Own", Claims: claims, Request: tc.request}
		if _, err := cond.Eval(t.Context(), in); err == nil || !strings.Contains(err.Error(), "cost limit exceeded") {
			t.Errorf("%.60s...: Eval: %v, want the cost limit exceeded", tc.expr, err)
		}
	}
}

// trackedProgram counts the evaluations of the program it wraps.
type trackedProgram struct {
	cel.Program
	evals int
}

func (p *trackedProgram) Eval(in any) (ref.Val, *cel.EvalDetails, error) {
	p.evals++
	return p.Program.Eval(in)
}

func (p *trackedProgram) ContextEval(ctx context.Context, in any) (ref.Val, *cel.EvalDetails, error) {
	p.evals++
	return p.Program.ContextEval(ctx, in)
}

// TestEval_UntrackedComprehensionStopsWhenTheCallEnds checks that the
// program without cost tracking, run on inputs within the proven size,
// watches the call's context as the tracked one does: a comprehension
// evaluated for a cancelled call stops with an error wrapping
// context.Canceled instead of running on to a grant. The tracked program
// is wrapped to prove it was not the one run.
func TestEval_UntrackedComprehensionStopsWhenTheCallEnds(t *testing.T) {
	cond := compileOwn(t, Config{}, "claims.l.exists(x, x == request.item.owner)")
	if cond.fast == nil {
		t.Fatal("no proven size")
	}
	tracked := &trackedProgram{Program: cond.prg}
	cond.prg = tracked
	in, n := longOwnList(t)
	if !cond.small(in) {
		t.Fatalf("%d elements: not within the proven size %d", n, cond.fastSize)
	}
	if ok, err := cond.Eval(t.Context(), in); !ok || err != nil {
		t.Fatalf("live call: Eval = %v, %v; want true", ok, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if ok, err := cond.Eval(ctx, in); ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: Eval = %v, %v; want an error wrapping context.Canceled", ok, err)
	}
	if tracked.evals != 0 {
		t.Fatalf("the tracked program ran %d times, want the untracked one only", tracked.evals)
	}
}

// TestEval_UntrackedEvaluationDoesNotChargeComputedKeys: the call that
// CompileCondition wraps a computed map key in only charges the cost
// limit, and an untracked evaluation, which has no limit to charge, runs
// the expression as written: a key read from the request costs it no
// more allocations than one read from a variable (the call cost a
// request-field key one allocation and about 0.2 µs an index).
func TestEval_UntrackedEvaluationDoesNotChargeComputedKeys(t *testing.T) {
	claims, err := verifier.NewClaims(map[string]any{"sub": "alice", "acl": map[string]any{"alice": "rw"}})
	if err != nil {
		t.Fatal(err)
	}
	in := grpcauth.ConditionInput{Claims: claims, Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "alice"}}}
	allocs := func(expr string) float64 {
		cond := compileOwn(t, Config{}, expr)
		return testing.AllocsPerRun(100, func() {
			if ok, err := cond.Eval(t.Context(), in); !ok || err != nil {
				t.Fatal(ok, err)
			}
		})
	}
	field, variable := allocs("claims.acl[request.item.owner] == 'rw'"), allocs("claims.acl[subject] == 'rw'")
	if field > variable {
		t.Errorf("a key read from the request: %v allocations, from a variable: %v; want no more", field, variable)
	}
}

// TestProvenSize_EstimatesMatchesWithThePatternCostsGiven: the search
// for the proven size estimates the expression about 20 times, and
// compiled each pattern again on each (a pattern of 18,000 instructions
// made compiling the expression take 170 ms, against 12 ms): it takes
// the patterns' costs, computed once, and estimates with them.
func TestProvenSize_EstimatesMatchesWithThePatternCostsGiven(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	env, err := c.env.Extend(cel.TypeDescs(authtestv1.File_authtest_v1_conditions_proto),
		cel.Variable("request", cel.ObjectType("authtest.v1.OwnRequest")))
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Compile("claims.l.exists(x, x.matches('^a'))")
	if err := iss.Err(); err != nil {
		t.Fatal(err)
	}
	actual, ok := c.provenSize(env, ast, patternCosts(ast))
	if !ok {
		t.Fatal("not proven for any size")
	}
	dearer, ok := c.provenSize(env, ast, map[string]uint64{"^a": 100 * patternCost("^a")})
	if !ok || dearer >= actual {
		t.Errorf("proven size %d (%v) with the pattern 100 times dearer, %d with its cost: want it smaller", dearer, ok, actual)
	}
}

// longOwnList returns the input of an Own call whose claim l lists n
// strings, alice last, enough for an exists over it to check the call's
// context several times (interruptCheckFrequency) before it finds her.
func longOwnList(t *testing.T) (in grpcauth.ConditionInput, n int) {
	t.Helper()
	l := make([]string, 10*interruptCheckFrequency)
	l[len(l)-1] = "alice"
	claims, err := verifier.NewClaims(map[string]any{"sub": "alice", "l": l})
	if err != nil {
		t.Fatal(err)
	}
	return grpcauth.ConditionInput{Method: "/authtest.v1.ConditionService/Own", Claims: claims,
		Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "alice"}}}, len(l)
}
