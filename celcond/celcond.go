package celcond

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/verifier"
)

// DefaultCostLimit is the evaluation cost limit when Config.CostLimit is 0,
// in cel-go's units: a comparison, a field access or one iteration of a
// comprehension costs about 1, a string operation about 1 per 10
// characters. A plain ownership, scope or claim check costs under 10 on
// typical input and is proven, at compile time, to stay under the limit
// on any input (see Config.MaxRequestSize); a comprehension over request
// or claim lists usually is not, and is tracked and stopped at the limit.
const DefaultCostLimit = 100_000

// DefaultMaxRequestSize is Config.MaxRequestSize when zero: gRPC's default
// maximum received message size, 4 MiB.
const DefaultMaxRequestSize = 4 << 20

// DefaultMaxClaimsSize is Config.MaxClaimsSize when zero: the verifier's
// default maximum token size, 64 KiB.
const DefaultMaxClaimsSize = 64 << 10

// Config configures a Compiler. The zero Config is ready to use.
type Config struct {
	// CostLimit bounds the cost of one evaluation (cel-go's
	// cel.CostLimit): an evaluation that would exceed it fails, refusing
	// the call with CONDITION_ERROR. It bounds the time a condition can
	// take, e.g. on a request with a huge repeated field. Zero means
	// DefaultCostLimit.
	//
	// Tracking the cost of every evaluation costs time and allocations,
	// so it is skipped for an expression whose worst-case cost, as cel-go
	// estimates it at compile time from MaxRequestSize and MaxClaimsSize,
	// is within the limit: such an expression can never exceed it. For
	// any other expression it is skipped on a call whose token and
	// request are no larger than the largest size for which the same
	// estimate is within the limit (see docs/conditions.md, "Cost").
	// A tracked evaluation also fails, as over the limit, past 4,096
	// comprehension steps (all its comprehensions' together, a
	// comprehension over a map counting one more per 16 entries as it
	// starts): cel-go's tracking makes their time grow with the square of
	// their number.
	CostLimit uint64

	// MaxRequestSize bounds, for the compile-time cost estimate, the size
	// of every value read from the request: its strings (characters),
	// bytes, lists and maps. Set it to the server's
	// grpc.MaxRecvMsgSize if you raised that. Zero means
	// DefaultMaxRequestSize (4 MiB).
	MaxRequestSize uint64

	// MaxClaimsSize bounds, for the compile-time cost estimate, the size
	// of every value read from the token (claims, scopes, subject,
	// client_id) and of method. Set it to the verifier's MaxTokenSize if
	// you raised that, and, for introspected tokens, whose claims are the
	// introspection answer, to introspect.Config's MaxResponseSize if you
	// raised that. Zero means DefaultMaxClaimsSize (64 KiB).
	MaxClaimsSize uint64
}

// Compiler compiles CEL conditions; it implements grpcauth.ConditionCompiler.
// It is safe for concurrent use.
type Compiler struct {
	env       *cel.Env
	limit     uint64
	estimator sizeEstimator
}

var _ grpcauth.ConditionCompiler = (*Compiler)(nil)

// New returns a Compiler with cfg.
func New(cfg Config) (*Compiler, error) {
	limit := cfg.CostLimit
	if limit == 0 {
		limit = DefaultCostLimit
	}
	env, err := cel.NewEnv(
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("scopes", cel.ListType(cel.StringType)),
		cel.Variable("subject", cel.StringType),
		cel.Variable("client_id", cel.StringType),
		cel.Variable("method", cel.StringType),
		cel.Function(keyFunction, cel.Overload(keyFunction+"_T", []*cel.Type{cel.TypeParamType("T")}, cel.TypeParamType("T"),
			cel.UnaryBinding(func(v ref.Val) ref.Val { return v }))),
	)
	if err != nil {
		return nil, fmt.Errorf("celcond: %w", err)
	}
	est := sizeEstimator{request: cfg.MaxRequestSize, token: cfg.MaxClaimsSize}
	if est.request == 0 {
		est.request = DefaultMaxRequestSize
	}
	if est.token == 0 {
		est.token = DefaultMaxClaimsSize
	}
	return &Compiler{env: env, limit: limit, estimator: est}, nil
}

// CompileCondition compiles expr for method: request is typed as the
// method's input message. It fails when expr does not parse, does not
// type-check (an unknown variable, field or function), is not a bool,
// gives matches a pattern that is not a string literal, or uses a
// google.protobuf.Any, or a value that holds one, other than to read its
// fields, reads a google.protobuf.Struct, Value or ListValue field
// repeatedly in a comprehension, or builds a message whose repeated, map
// or message field (Any, Struct, Value and ListValue included), or any
// field from a dyn value, is set to anything but a literal: cel-go would
// charge such work far below its cost (docs/conditions.md, "Cost", has
// the reasons and examples). It also fails when expr builds a
// google.protobuf.Timestamp whose seconds or nanos is not a literal within
// its valid range, which cel-go would read wrapped around (see
// builtTimestamps).
func (c *Compiler) CompileCondition(method protoreflect.MethodDescriptor, expr string) (grpcauth.Condition, error) {
	if method == nil {
		return nil, errors.New("celcond: no method descriptor")
	}
	in := method.Input()
	env, err := c.env.Extend(
		cel.TypeDescs(in.ParentFile()),
		cel.Variable("request", cel.ObjectType(string(in.FullName()))),
	)
	if err != nil {
		return nil, fmt.Errorf("celcond: request type %s: %w", in.FullName(), err)
	}
	ast, iss := env.Compile(expr)
	if err := iss.Err(); err != nil {
		return nil, fmt.Errorf("celcond: %w", err)
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("celcond: the expression is of type %s, want bool", ast.OutputType())
	}
	if err := literalPatterns(ast); err != nil {
		return nil, err
	}
	if err := anyValues(env, ast); err != nil {
		return nil, err
	}
	if err := jsonReadsInLoops(in.ParentFile(), ast); err != nil {
		return nil, err
	}
	if err := copiedFields(env, ast); err != nil {
		return nil, err
	}
	if err := builtTimestamps(ast); err != nil {
		return nil, err
	}
	// The untracked program runs ast as written: the calls chargeKeys
	// adds only charge the cost limit, which it does not track, and cost
	// it an allocation each on a request field.
	plain := ast
	if ast, err = chargeKeys(env, ast); err != nil {
		return nil, err
	}
	// Each pattern is compiled once for its cost: the estimates of within
	// and provenSize, about 20 for an expression not proven within the
	// limit, would compile it on each (a pattern of 18,000 instructions
	// took 170 ms to compile the expression, against 12 ms).
	patterns := patternCosts(ast)
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize), cel.CustomDecoratorV2(matchGuards(c.limit, patterns))}
	loops := hasComprehension(ast)
	if loops {
		opts = append(opts, cel.InterruptCheckFrequency(interruptCheckFrequency))
	}
	cond := &condition{loops: loops, readsRequest: readsRequest(ast), claims: claimNames(ast), input: in.FullName()}
	if cond.readsRequest {
		if holders := timestampHolders(in); holders != nil && readsTimes(ast, holders) {
			cond.times = holders
		}
	}
	fast, err := program(env, plain, opts...)
	if err != nil {
		return nil, err
	}
	est := c.estimator
	est.patterns = patterns
	if c.within(env, ast, est) {
		cond.prg = fast
		return cond, nil
	}
	// Not proven within the limit for every input: track it, except on
	// inputs small enough for the proof (see provenSize).
	cond.prg, err = program(env, ast, append(opts, cel.CostLimit(c.limit), cel.CostTracking(runtimeCoster{patterns: patterns, limit: c.limit}),
		cel.CustomDecoratorV2(stepGuards(loopSteps(ast), loopRanges(ast))))...)
	if err != nil {
		return nil, err
	}
	if n, ok := c.provenSize(env, ast, patterns); ok {
		cond.fast, cond.fastSize, cond.fastNameSize = fast, n, min(n, maxFastNameSize)
	}
	return cond, nil
}

// program is env.Program, with a panic of cel-go's planning returned as
// an error: with cel.OptOptimize, cel-go builds a map literal of
// constants when it plans the program, and a bytes key ({b'a': 1}, which
// the checker accepts) panics hashing it. A rule's condition is compiled
// on a call's goroutine, where a panic would end the server.
func program(env *cel.Env, ast *cel.Ast, opts ...cel.ProgramOption) (prg cel.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			prg, err = nil, fmt.Errorf("celcond: cel-go could not plan the expression: %v", r)
		}
	}()
	if prg, err = env.Program(ast, opts...); err != nil {
		return nil, fmt.Errorf("celcond: %w", err)
	}
	return prg, nil
}

// keyFunction names the identity function that chargeKeys wraps a
// computed map key in, so that the cost limit charges hashing it. A CEL
// identifier cannot start with '@': an expression cannot call it.
const keyFunction = "@celcond_key"

// chargeKeys returns the checked expression ast with every computed
// string, bytes or dyn key of a map index (m[k]) and of a map literal
// ({k: v}) wrapped in a call of keyFunction, which costs what hashing the
// key whole does: 1 per 10 bytes, at least 1 (see runtimeCoster and
// sizeEstimator.EstimateCallCost). cel-go treats the index as a field
// access and the literal as a constructor, and charges either the same
// whatever the key's length: a comprehension indexing a claim map with a
// 4 MiB request string on every step (request.items.all(i,
// claims.acl[request.tenant] == 'rw')) ran for seconds within the
// default limit, a cost the caller chose, not the rule's author.
func chargeKeys(env *cel.Env, ast *cel.Ast) (*cel.Ast, error) {
	if len(computedKeys(ast.NativeRep())) == 0 {
		return ast, nil
	}
	opt, err := cel.NewStaticOptimizer(keyCharger{})
	if err != nil {
		return nil, fmt.Errorf("celcond: %w", err)
	}
	out, iss := opt.Optimize(env, ast)
	if err := iss.Err(); err != nil {
		return nil, fmt.Errorf("celcond: %w", err)
	}
	return out, nil
}

// computedKeys returns the computed string, bytes or dyn keys of the map
// indexes and map literals of the checked expression a (see chargeKeys).
func computedKeys(a *celast.AST) []celast.Expr {
	var keys []celast.Expr
	hashed := func(k celast.Expr) bool {
		if k.Kind() == celast.LiteralKind {
			return false
		}
		switch t := a.GetType(k.ID()); t.Kind() {
		case types.StringKind, types.BytesKind, types.DynKind:
			return true
		}
		return false
	}
	celast.PreOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.CallKind:
			c := e.AsCall()
			if c.FunctionName() == operators.Index && len(c.Args()) == 2 {
				if t := a.GetType(c.Args()[0].ID()); (t.Kind() == types.MapKind || t.Kind() == types.DynKind) && hashed(c.Args()[1]) {
					keys = append(keys, c.Args()[1])
				}
			}
		case celast.MapKind:
			for _, entry := range e.AsMap().Entries() {
				if k := entry.AsMapEntry().Key(); hashed(k) {
					keys = append(keys, k)
				}
			}
		}
	}))
	return keys
}

// keyCharger is chargeKeys's rewrite.
type keyCharger struct{}

func (keyCharger) Optimize(ctx *cel.OptimizerContext, a *celast.AST) *celast.AST {
	for _, k := range computedKeys(a) {
		// The key's node becomes the call, whose argument is a new node
		// of the key's kind and children.
		key := ctx.NewIdent("key") // for its new ID
		key.SetKindCase(k)
		ctx.UpdateExpr(k, ctx.NewCall(keyFunction, key))
	}
	return a
}

// within reports whether the worst-case cost of ast, with every value
// bounded by est, is proven within the limit.
func (c *Compiler) within(env *cel.Env, ast *cel.Ast, est sizeEstimator) bool {
	cost, err := env.EstimateCost(ast, est)
	return err == nil && cost.Max <= c.limit
}

// provenSize returns, patterns holding the patternCost of ast's patterns,
// the largest size n, below the configured bounds, for
// which ast's worst-case cost is proven within the limit when every value
// read from the request and the token's variables is at most n (computed
// values bounded from them, see sizeEstimator), and subject, client_id and method at most
// min(n, maxFastNameSize) (the same estimate as for the configured bounds,
// with these bounds), and false when there is none. An evaluation whose
// inputs are that small (see condition.small) cannot exceed the limit, and
// skips tracking: tracking a comprehension costs cel-go about 1-3 µs and 9
// allocations a step, and more as the list grows (its cost tracker
// searches a stack that keeps two entries per step), several times the
// step's own work.
//
// The search assumes the estimate does not decrease as n grows; if it
// did, n might not be the largest, but it is still proven: every n
// returned was estimated within the limit.
func (c *Compiler) provenSize(env *cel.Env, ast *cel.Ast, patterns map[string]uint64) (uint64, bool) {
	lo, hi := uint64(0), max(c.estimator.request, c.estimator.token)
	bounds := func(n uint64) sizeEstimator {
		return sizeEstimator{request: min(n, c.estimator.request), token: min(n, c.estimator.token),
			name: min(n, c.estimator.token, maxFastNameSize), patterns: patterns}
	}
	if !c.within(env, ast, bounds(lo)) {
		return 0, false
	}
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if c.within(env, ast, bounds(mid)) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, true
}

// maxFastNameSize bounds subject, client_id and method for
// Compiler.provenSize: they are short (a user ID, an e-mail address, a
// client ID, a method name), and bounding them by the size of a claim list
// would make a comparison with one on every step (claims.l.exists(x, x ==
// subject)) cost, in the estimate, as much as comparing two lists. A call
// with a longer one is tracked.
const maxFastNameSize = 256

// interruptCheckFrequency is how many comprehension steps an evaluation
// takes between two looks at the call's context (cel-go's
// cel.InterruptCheckFrequency). A step costs at least a comparison, and
// an untracked one (see Compiler.provenSize) at most the cost limit: an
// evaluation whose call has ended stops within about 20 steps, and the
// look, a non-blocking receive on the context's Done channel, is paid
// once per 20 steps.
const interruptCheckFrequency = 20

// maxTrackedSteps bounds the comprehension steps (of every comprehension,
// nested ones included) of an evaluation whose cost is tracked (see
// Compiler.provenSize): one that would take more fails as if over the
// cost limit. cel-go's cost tracker keeps a stack that grows by about two
// entries a step and searches it whole on most steps, so a tracked
// comprehension's time grows with the square of its steps, which the cost
// limit charges only linearly: request.ids.exists_one(x, x < 0) over a
// 40 KB request of 40,000 ids took 1.6 s within the default limit, and
// 2.5 s stopped at the limit over a longer list. 4,096 steps of a simple
// step take 10-25 ms; a heavier step reaches the cost limit in fewer, in
// about 60 ms at worst (filter with 21 comparisons a step). An
// evaluation whose inputs are within the proven size, which is not
// tracked, is not bounded by it.
const maxTrackedSteps = 4096

// errTooManySteps is the message of an evaluation stopped by a stepGuard.
const errTooManySteps = "operation cancelled: a comprehension took more steps than a tracked evaluation may (4096)"

// loopSteps returns the IDs of the loop steps of the comprehensions of
// the checked expression ast.
func loopSteps(ast *cel.Ast) map[int64]bool {
	return comprehensionParts(ast, celast.ComprehensionExpr.LoopStep)
}

// comprehensionParts returns the IDs of part of every comprehension of
// the checked expression ast.
func comprehensionParts(ast *cel.Ast, part func(celast.ComprehensionExpr) celast.Expr) map[int64]bool {
	ids := map[int64]bool{}
	celast.PreOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.ComprehensionKind {
			ids[part(e.AsComprehension()).ID()] = true
		}
	}))
	return ids
}

// loopRanges returns the IDs of the iteration ranges of the
// comprehensions of the checked expression ast.
func loopRanges(ast *cel.Ast) map[int64]bool {
	return comprehensionParts(ast, celast.ComprehensionExpr.IterRange)
}

// entriesPerStep is how many entries of a map a stepGuard counts as one
// step when a comprehension starts iterating it. cel-go copies a map's
// keys whole before its first step (a protobuf map's at about 130 ns a
// key, a claim's faster), however few steps the comprehension then takes,
// and charges the copy nothing: request.m.exists(k, request.m.exists(j,
// true) && false) over a 3.5 MB request map of 300,000 entries ran for
// 39 s, its 4,096 steps each copying the map's keys. 16 keys take about
// what a tracked step does.
const entriesPerStep = 16

// stepGuards returns a decorator that wraps the loop step of every
// comprehension (steps holds their IDs) in a stepGuard, a callStepGuard
// for a step that is a call (map's __result__ + [x]), or an
// attrStepGuard for one that is an attribute (filter's and exists_one's
// conditional), and its iteration range (ranges holds their IDs) in a
// plain stepGuard: behind an attrStepGuard cel-go's tracker charged an
// attribute range (request.m) twice, behind a plain one it charges what
// it charges unguarded (TestEval_StepBoundKeepsTheTrackedCost).
func stepGuards(steps, ranges map[int64]bool) interpreter.InterpretableDecoratorV2 {
	return func(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
		switch {
		case ranges[i.ID()]:
			return stepGuard{i, true}, nil
		case !steps[i.ID()]:
			return i, nil
		}
		g := stepGuard{i, false}
		switch x := i.(type) {
		case interpreter.InterpretableCall:
			return callStepGuard{g, x}, nil
		case interpreter.InterpretableAttribute:
			return attrStepGuard{g, x}, nil
		}
		return g, nil
	}
}

// stepGuard counts, in the evaluation's activation, the steps of a
// tracked evaluation's comprehensions, and stops the evaluation, as the
// cost limit does, past maxTrackedSteps. A guard of a comprehension's
// iteration range (isRange) counts, once the range is evaluated, one step
// per entriesPerStep entries of a map (and 0 for a list, whose iteration
// copies nothing); a guard of a loop step counts 1 before the step.
type stepGuard struct {
	interpreter.InterpretableV2
	isRange bool
}

func (g stepGuard) Eval(a interpreter.Activation) ref.Val {
	if g.isRange {
		return g.counted(a, g.InterpretableV2.Eval(a))
	}
	g.count(a, 1)
	return g.InterpretableV2.Eval(a)
}

func (g stepGuard) Exec(f *interpreter.ExecutionFrame) ref.Val {
	if g.isRange {
		return g.counted(f, g.InterpretableV2.Exec(f))
	}
	g.count(f, 1)
	return g.InterpretableV2.Exec(f)
}

// counted counts the steps of iterating v, a comprehension's range, and
// returns v.
func (g stepGuard) counted(a interpreter.Activation, v ref.Val) ref.Val {
	if m, ok := v.(traits.Mapper); ok {
		if n, ok := m.Size().(types.Int); ok && n > 0 {
			g.count(a, (int(n)+entriesPerStep-1)/entriesPerStep)
		}
	}
	return v
}

func (stepGuard) count(a interpreter.Activation, n int) {
	act := rootActivation(a)
	if act != nil {
		act.steps += min(n, maxTrackedSteps+1)
	}
	// Without the activation the steps cannot be counted: stop, closed.
	if act == nil || act.steps > maxTrackedSteps {
		// cel-go's Eval recovers this, as it does the cost tracker's.
		panic(interpreter.EvalCancelledError{Cause: interpreter.CostLimitExceeded, Message: errTooManySteps})
	}
}

// callStepGuard is the stepGuard of a step that is a call: cel-go's cost
// tracker charges a call only when it sees one (InterpretableCall), and
// would not charge the step, behind a plain stepGuard, its cost.
type callStepGuard struct {
	stepGuard
	call interpreter.InterpretableCall
}

func (g callStepGuard) Function() string { return g.call.Function() }

func (g callStepGuard) OverloadID() string { return g.call.OverloadID() }

func (g callStepGuard) Args() []interpreter.InterpretableV2 { return g.call.Args() }

// attrStepGuard is the stepGuard of a step that is an attribute (a
// conditional, p ? a : b): cel-go's cost tracker drops a conditional's
// operands from its stack only when it sees an attribute, and behind a
// plain stepGuard its stack grew by them on every step (filter near the
// cost limit took 100 ms rather than 60). cel-go evaluates a step only by
// Exec (or Eval), which count; the other methods only describe it.
type attrStepGuard struct {
	stepGuard
	attr interpreter.InterpretableAttribute
}

func (g attrStepGuard) Attr() interpreter.Attribute { return g.attr.Attr() }

func (g attrStepGuard) Adapter() types.Adapter { return g.attr.Adapter() }

func (g attrStepGuard) AddQualifier(q interpreter.Qualifier) (interpreter.Attribute, error) {
	return g.attr.AddQualifier(q)
}

func (g attrStepGuard) Qualify(a interpreter.Activation, obj any) (any, error) {
	return g.attr.Qualify(a, obj)
}

func (g attrStepGuard) QualifyIfPresent(a interpreter.Activation, obj any, presenceOnly bool) (any, bool, error) {
	return g.attr.QualifyIfPresent(a, obj, presenceOnly)
}

func (g attrStepGuard) IsOptional() bool { return g.attr.IsOptional() }

func (g attrStepGuard) Resolve(a interpreter.Activation) (any, error) {
	g.count(a, 1)
	return g.attr.Resolve(a)
}

// rootActivation returns the activation that Eval gave cel-go, found
// from a, the activation of a step (a comprehension's, whose parent is
// the enclosing scope's), or nil if there is none.
func rootActivation(a interpreter.Activation) *activation {
	for a != nil {
		switch x := a.(type) {
		case *activation:
			return x
		case interface{ Unwrap() interpreter.Activation }:
			if u := x.Unwrap(); u != a {
				a = u
				continue
			}
		}
		a = a.Parent()
	}
	return nil
}

// hasComprehension reports whether the checked expression ast has a
// comprehension (all, exists, exists_one, map, filter): only a
// comprehension repeats work, so only its evaluation can run long
// enough to be worth stopping when the call ends.
func hasComprehension(ast *cel.Ast) bool { return containsComprehension(ast.NativeRep().Expr()) }

// containsComprehension reports whether expr is or holds a comprehension.
func containsComprehension(expr celast.Expr) bool {
	found := false
	celast.PreOrderVisit(expr, celast.NewExprVisitor(func(e celast.Expr) {
		found = found || e.Kind() == celast.ComprehensionKind
	}))
	return found
}

// literalPatterns fails when a call to matches takes a pattern that is not
// a string literal. A literal pattern is compiled once, with the program; a
// computed one would be compiled by every evaluation, and RE2 spends
// seconds and a gigabyte on a pattern of a few megabytes (a request field)
// before cel-go's cost tracking, which charges a call once it returns, can
// stop it.
func literalPatterns(ast *cel.Ast) error {
	var err error
	celast.PreOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if err != nil || e.Kind() != celast.CallKind || e.AsCall().FunctionName() != overloads.Matches {
			return
		}
		args := e.AsCall().Args()
		if len(args) > 0 && args[len(args)-1].Kind() != celast.LiteralKind {
			err = errors.New("celcond: the pattern of matches must be a string literal: a pattern computed at run time would be compiled on every evaluation, which the cost limit cannot bound")
		}
	}))
	return err
}

// anyValues fails when the checked expression ast uses a value whose type
// is, or holds, a google.protobuf.Any other than to read one of its
// fields (not a map's value that is an Any, which has(m.k) reads too), or
// to iterate a list of messages or a map. cel-go unpacks an Any whenever
// it is read (each level of an Any holding an Any), and compares
// messages that hold one by unpacking it, while the cost limit counts that
// as 1: reading a field holding an Any nested 8,000 times in a 200 KB
// request took 5 s, and the time grows with the square of the request's
// size, in one evaluation or on every step of a comprehension.
func anyValues(env *cel.Env, ast *cel.Ast) error {
	native := ast.NativeRep()
	typeMap := native.TypeMap()
	holds := holdsAny{provider: env.CELTypeProvider(), memo: map[string]bool{}}
	allowed := map[int64]bool{}
	celast.PreOrderVisit(native.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			// A map's selected value is read, unpacked if an Any, even
			// by has(m.k), which cel-go answers by finding it.
			if op := e.AsSelect().Operand(); !isAny(typeMap[op.ID()]) && !isAny(mapValue(typeMap[op.ID()])) {
				allowed[op.ID()] = true
			}
		case celast.ComprehensionKind:
			r := e.AsComprehension().IterRange()
			if t := typeMap[r.ID()]; t != nil && (t.Kind() == types.MapKind ||
				t.Kind() == types.ListKind && len(t.Parameters()) == 1 && !isAny(t.Parameters()[0])) {
				allowed[r.ID()] = true
			}
		}
	}))
	for id, t := range typeMap {
		if !allowed[id] && holds.check(t) {
			return fmt.Errorf("celcond: the expression uses a value of type %s, which is or holds a google.protobuf.Any, other than to read its fields: cel-go unpacks an Any on every read, which the cost limit does not count", t)
		}
	}
	return nil
}

// copiedFields fails when the checked expression ast builds a message
// (pkg.Msg{f: v}) and sets one of its fields to a value that is not a
// literal and that cel-go may copy into the message: a list or map (into
// a repeated or map field, an element at a time), any value into a field
// of type google.protobuf.Any, Struct, Value or ListValue (packed or
// converted whole) or of a message type (merged, when the value's Go type
// is not the field's), or a dyn value (converted by its type at run
// time), unless it is a message built in place for a message field. The
// cost limit charges a construction a fixed 40 whatever it copies:
// request.ids.all(x, Req{ids: request.ids}.ids.size() > 0) ran past 20 s
// on a 1 MB request, as did google.protobuf.ListValue{values:
// request.ids}. A scalar (a string, bytes, a number, an enum, a
// timestamp, a duration, a wrapper's value) is set as it is.
func copiedFields(env *cel.Env, ast *cel.Ast) error {
	native := ast.NativeRep()
	provider := env.CELTypeProvider()
	var err error
	celast.PreOrderVisit(native.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if err != nil || e.Kind() != celast.StructKind {
			return
		}
		s := e.AsStruct()
		for _, f := range s.Fields() {
			sf := f.AsStructField()
			ft, ok := provider.FindStructFieldType(s.TypeName(), sf.Name())
			v := sf.Value()
			// A message built in place has the field's Go type, and its
			// own fields pass this check; an Any or JSON field would
			// still marshal it whole.
			built := ok && ft.Type.Kind() == types.StructKind && v.Kind() == celast.StructKind
			if constant(v) || built || ok && !copies(ft.Type) && !copies(native.GetType(v.ID())) {
				continue
			}
			err = fmt.Errorf("celcond: the expression builds a %s whose field %s is set to a computed list, map, message, dyn, google.protobuf.Any, Struct, Value or ListValue value: cel-go copies such a value into the message on every construction, which the cost limit does not count; set it to a literal, or compare the fields themselves", s.TypeName(), sf.Name())
			return
		}
	}))
	return err
}

// builtTimestamps fails when the checked expression ast builds a
// google.protobuf.Timestamp (google.protobuf.Timestamp{seconds: s}) whose
// seconds or nanos is not a literal, or is a literal out of its valid
// range (see minTimestampSeconds): cel-go reads the message with AsTime,
// which wraps seconds near 2^63 around, so that
// google.protobuf.Timestamp{seconds: request.n} <
// timestamp('2030-01-01T00:00:00Z') held for n = 2^63 - 1, a date 292
// billion years ahead. timestamp(request.n) checks the range.
func builtTimestamps(ast *cel.Ast) error {
	native := ast.NativeRep()
	var err error
	celast.PreOrderVisit(native.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if err != nil || e.Kind() != celast.StructKind || native.GetType(e.ID()).Kind() != types.TimestampKind {
			return
		}
		for _, f := range e.AsStruct().Fields() {
			sf := f.AsStructField()
			v := sf.Value()
			var n int64
			if v.Kind() == celast.LiteralKind {
				switch x := v.AsLiteral().(type) {
				case types.Int:
					n = int64(x)
				case types.Uint:
					n = int64(min(uint64(x), math.MaxInt64))
				}
			}
			inRange := sf.Name() == "seconds" && validTimestamp(n, 0) || sf.Name() == "nanos" && validTimestamp(0, n)
			if v.Kind() != celast.LiteralKind || !inRange {
				err = fmt.Errorf("celcond: the expression builds a google.protobuf.Timestamp whose %s is not a literal within its valid range (0001-01-01 to 9999-12-31, nanos 0 to 999999999): cel-go reads it with AsTime, which wraps seconds near 2^63 around to a date 292 billion years ago; use timestamp(seconds), which checks the range", sf.Name())
				return
			}
		}
	}))
	return err
}

// copies reports whether cel-go may copy a value of type t, or into a
// field of type t, when it sets a message's field (see copiedFields): a
// list, a map, a message, a dyn value, or a google.protobuf.Any (Struct,
// ListValue and Value are a map, a list and dyn to CEL).
func copies(t *types.Type) bool {
	if t == nil {
		return true
	}
	switch t.Kind() {
	case types.ListKind, types.MapKind, types.StructKind, types.DynKind, types.AnyKind:
		return true
	}
	return false
}

// constant reports whether e is a literal, or a list or map literal of
// them at any depth: what it costs to copy is bounded by the expression's
// own length.
func constant(e celast.Expr) bool {
	switch e.Kind() {
	case celast.LiteralKind:
		return true
	case celast.ListKind:
		return len(e.AsList().OptionalIndices()) == 0 && !slices.ContainsFunc(e.AsList().Elements(), func(x celast.Expr) bool { return !constant(x) })
	case celast.MapKind:
		return !slices.ContainsFunc(e.AsMap().Entries(), func(x celast.EntryExpr) bool {
			m := x.AsMapEntry()
			return m.IsOptional() || !constant(m.Key()) || !constant(m.Value())
		})
	}
	return false
}

// isAny reports whether t is google.protobuf.Any.
func isAny(t *types.Type) bool { return t != nil && t.Kind() == types.AnyKind }

// mapValue returns the type of the values of t when it is a map, nil
// otherwise.
func mapValue(t *types.Type) *types.Type {
	if t == nil || t.Kind() != types.MapKind || len(t.Parameters()) != 2 {
		return nil
	}
	return t.Parameters()[1]
}

// holdsAny reports whether a type is, or holds, google.protobuf.Any: in a
// type parameter (a list's elements, a map's values) or in a field of a
// message, at any depth.
type holdsAny struct {
	provider types.Provider
	memo     map[string]bool // by message name
}

func (h holdsAny) check(t *types.Type) bool {
	if t == nil || t.Kind() != types.StructKind {
		return h.reach(t, map[string]bool{})
	}
	name := t.TypeName()
	held, seen := h.memo[name]
	if !seen {
		// A fresh walk, which reads every message name reaches: one
		// that a walk still under way had left out could hold an Any.
		held = h.reach(t, map[string]bool{})
		h.memo[name] = held
	}
	return held
}

// reach reports whether t is or holds google.protobuf.Any, leaving out the
// messages visited, which this walk reads or has read.
func (h holdsAny) reach(t *types.Type, visited map[string]bool) bool {
	if t == nil {
		return false
	}
	if isAny(t) || slices.ContainsFunc(t.Parameters(), func(p *types.Type) bool { return h.reach(p, visited) }) {
		return true
	}
	name := t.TypeName()
	if t.Kind() != types.StructKind || visited[name] {
		return false
	}
	visited[name] = true
	fields, _ := h.provider.FindStructFieldNames(name)
	for _, f := range fields {
		if ft, ok := h.provider.FindStructFieldType(name, f); ok && h.reach(ft.Type, visited) {
			return true
		}
	}
	return false
}

// jsonReadsInLoops fails when the checked expression ast reads a field of
// type google.protobuf.Struct, Value or ListValue, or a list or map of
// them, in the body (loop condition or step) of a comprehension, other
// than from the iteration variable of a comprehension that is in no other
// comprehension's body and iterates no computed list. cel-go copies such a
// field whole on every read, has() included, while the cost limit counts
// the read as 1: request.items.all(i, !has(request.s.x)) took 4.9 s for
// 50 items and a 2.1 MB Struct. Reading each element's own field once
// (request.items.all(i, i.labels.env == 'prod')) is linear in the
// request's size, unless the elements are one message repeated by a
// comprehension (request.items.map(i, request.item).all(x,
// has(x.labels.k))). A list or map field of them, whose elements cel-go
// copies on every access, must be used where it is read (see usedInPlace).
// file is the file that declares the request, whose messages (and its
// imports') are the expression's messages.
func jsonReadsInLoops(file protoreflect.FileDescriptor, ast *cel.Ast) error {
	native := ast.NativeRep()
	for _, sel := range celast.MatchDescendants(celast.NavigateAST(native), celast.KindMatcher(celast.SelectKind)) {
		op := sel.AsSelect().Operand()
		t := native.GetType(op.ID())
		if t == nil || t.Kind() != types.StructKind {
			continue
		}
		msg := messageNamed(file, protoreflect.FullName(t.TypeName()), map[string]bool{})
		if msg == nil {
			continue
		}
		fd := msg.Fields().ByName(protoreflect.Name(sel.AsSelect().FieldName()))
		if fd == nil || !isJSON(fd.Message()) && !(fd.IsMap() && isJSON(fd.MapValue().Message())) {
			continue
		}
		if repeatedRead(sel, op) {
			return fmt.Errorf("celcond: the expression reads %s, of type %s, in the body of a comprehension other than once from each element it iterates: cel-go copies a google.protobuf.Struct, Value or ListValue field whole on every read, which the cost limit does not count", fd.FullName(), fieldType(fd))
		}
		if (fd.IsList() || fd.IsMap()) && !usedInPlace(sel) {
			return fmt.Errorf("celcond: the expression holds %s, of type %s, as a value rather than reading, indexing or iterating it: cel-go copies an element of a list or map of google.protobuf.Struct, Value or ListValue whole on every access, which the cost limit does not count", fd.FullName(), fieldType(fd))
		}
	}
	// A message made dyn (dyn(request), [request, 1][0]), or a list or map
	// of messages (dyn([request])[0]), hides the types of its fields from
	// the check above.
	for _, e := range celast.MatchDescendants(celast.NavigateAST(native), celast.AllMatcher()) {
		if parent, ok := e.Parent(); ok && hidesType(parent) {
			if md := jsonHolder(file, e.Type()); md != nil {
				return fmt.Errorf("celcond: the expression makes a %s, which holds a google.protobuf.Struct, Value or ListValue field, a dyn value, which hides the reads of that field from the check of repeated reads: cel-go copies such a field whole on every read, which the cost limit does not count", md.FullName())
			}
		}
	}
	return nil
}

// repeatedRead reports whether the read sel, of op's field, may be
// evaluated more than once per element of the request (see
// jsonReadsInLoops).
func repeatedRead(sel celast.NavigableExpr, op celast.Expr) bool {
	var inner celast.ComprehensionExpr // the innermost comprehension whose body holds sel
	bodies := 0
	for child := sel; ; {
		parent, ok := child.Parent()
		if !ok {
			break
		}
		if parent.Kind() == celast.ComprehensionKind {
			c := parent.AsComprehension()
			if id := child.ID(); id == c.LoopCondition().ID() || id == c.LoopStep().ID() {
				if bodies == 0 {
					inner = c
				}
				bodies++
			}
		}
		child = parent
	}
	if bodies == 0 {
		return false
	}
	if bodies > 1 || op.Kind() != celast.IdentKind || op.AsIdent() != inner.IterVar() && op.AsIdent() != inner.IterVar2() {
		return true
	}
	// The elements of a computed list may be one message repeated.
	return containsComprehension(inner.IterRange())
}

// usedInPlace reports whether sel, the read of a list or map field of
// google.protobuf.Struct, Value or ListValue, is used where it is read:
// iterated, indexed, a field read from it, its size, a membership or an
// equality. cel-go copies such a field's element on every access, so held
// in a variable ([request.m].all(m, request.a.all(x, has(m['k'].y))))
// one element is copied on every step of a comprehension.
func usedInPlace(sel celast.NavigableExpr) bool {
	parent, ok := sel.Parent()
	if !ok {
		return true
	}
	switch parent.Kind() {
	case celast.SelectKind:
		return true
	case celast.ComprehensionKind:
		return parent.AsComprehension().IterRange().ID() == sel.ID()
	case celast.CallKind:
		switch parent.AsCall().FunctionName() {
		case operators.Index, overloads.Size, operators.In, operators.Equals, operators.NotEquals:
			return true
		}
	}
	return false
}

// hidesType reports whether e, a call, list or map, may hold one of its
// operands as a dyn value: whether its type is dyn or has dyn among its
// parameters, at any depth (dyn(x), c ? x : dyn(1), [x, 1], [[x], [1]],
// [x] + [dyn(1)]).
func hidesType(e celast.NavigableExpr) bool {
	switch e.Kind() {
	case celast.CallKind, celast.ListKind, celast.MapKind:
		return hasDyn(e.Type())
	}
	return false
}

// hasDyn reports whether t is dyn or has dyn among its parameters, at any
// depth.
func hasDyn(t *types.Type) bool {
	return t.Kind() == types.DynKind || slices.ContainsFunc(t.Parameters(), hasDyn)
}

// jsonHolder returns the message, among t and its parameters at any
// depth, that holds a google.protobuf.Struct, Value or ListValue field
// (see holdsJSON), nil if none; file declares the request (see
// messageNamed).
func jsonHolder(file protoreflect.FileDescriptor, t *types.Type) protoreflect.MessageDescriptor {
	if t.Kind() == types.StructKind {
		if md := messageNamed(file, protoreflect.FullName(t.TypeName()), map[string]bool{}); md != nil && holdsJSON(md, map[protoreflect.FullName]bool{}) {
			return md
		}
	}
	for _, p := range t.Parameters() {
		if md := jsonHolder(file, p); md != nil {
			return md
		}
	}
	return nil
}

// holdsJSON reports whether md has a field of type google.protobuf.Struct,
// Value or ListValue, or a list or map of them, itself or in a message it
// holds at any depth, leaving out the messages visited.
func holdsJSON(md protoreflect.MessageDescriptor, visited map[protoreflect.FullName]bool) bool {
	if visited[md.FullName()] {
		return false
	}
	visited[md.FullName()] = true
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if m := fd.Message(); m != nil && (isJSON(m) || holdsJSON(m, visited)) {
			return true
		}
	}
	return false
}

// isJSON reports whether md is google.protobuf.Struct, Value or ListValue.
func isJSON(md protoreflect.MessageDescriptor) bool {
	if md == nil {
		return false
	}
	switch md.FullName() {
	case "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue":
		return true
	}
	return false
}

// fieldType names the type of fd as its .proto file declares it.
func fieldType(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return fmt.Sprintf("map<%s, %s>", fd.MapKey().Kind(), fd.MapValue().Message().FullName())
	case fd.IsList():
		return "repeated " + string(fd.Message().FullName())
	}
	return string(fd.Message().FullName())
}

// messageNamed returns the message called name that file or one of its
// imports, at any depth, declares, nil if none; seen holds the paths of
// the files already searched.
func messageNamed(file protoreflect.FileDescriptor, name protoreflect.FullName, seen map[string]bool) protoreflect.MessageDescriptor {
	if seen[file.Path()] {
		return nil
	}
	seen[file.Path()] = true
	rest := string(name)
	if pkg := string(file.Package()); pkg != "" {
		rest, _ = strings.CutPrefix(rest, pkg+".")
	}
	if rest != string(name) || file.Package() == "" {
		msgs := file.Messages()
		var md protoreflect.MessageDescriptor
		for part := range strings.SplitSeq(rest, ".") {
			if md = msgs.ByName(protoreflect.Name(part)); md == nil {
				break
			}
			msgs = md.Messages()
		}
		if md != nil {
			return md
		}
	}
	imports := file.Imports()
	for i := range imports.Len() {
		if md := messageNamed(imports.Get(i).FileDescriptor, name, seen); md != nil {
			return md
		}
	}
	return nil
}

// claimNames returns the names of the claims the checked expression ast
// reads, when it reads each by a constant name (claims.tenant,
// claims['tenant'], has(claims.tenant)), so that an evaluation decodes
// only those: decoding every claim of a large token took half a
// millisecond, on every message of a stream. It returns nil when ast reads
// the claims map as a whole (size(claims), 'x' in claims, claims[k],
// claims.exists(...)), which needs every claim, or does not read it.
func claimNames(ast *cel.Ast) []string {
	ids := map[int64]bool{} // the claims identifiers: read as a whole until keyed
	for id, ref := range ast.NativeRep().ReferenceMap() {
		if ref.Name == "claims" {
			ids[id] = true
		}
	}
	if len(ids) == 0 {
		return nil
	}
	var names []string
	keyed := func(e celast.Expr, name string) {
		if e.Kind() == celast.IdentKind && ids[e.ID()] {
			ids[e.ID()] = false
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	celast.PreOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			keyed(e.AsSelect().Operand(), e.AsSelect().FieldName())
		case celast.CallKind:
			args := e.AsCall().Args()
			if e.AsCall().FunctionName() == operators.Index && len(args) == 2 && args[1].Kind() == celast.LiteralKind {
				if key, ok := args[1].AsLiteral().(types.String); ok {
					keyed(args[0], string(key))
				}
			}
		}
	}))
	for _, whole := range ids {
		if whole {
			return nil
		}
	}
	return names
}

// readsRequest reports whether the checked expression ast refers to the
// request variable (or to a comprehension variable of that name, which
// errs on the safe side: such a condition is checked per stream message).
func readsRequest(ast *cel.Ast) bool {
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if ref.Name == "request" {
			return true
		}
	}
	return false
}

// sizeEstimator bounds the size of every variable's values for cel-go's
// compile-time cost estimate: values read from the request by the largest
// request, and values read from the token's variables (claims, scopes,
// subject, client_id, method) by the largest token. It does not bound
// computed values, nor the variables of comprehensions over them (whose
// paths start with cel-go's "@items" or "@keys"): a computed value may be
// larger than every input (a list doubled by each of 20 map steps,
// [request.item, request.item]), so cel-go bounds them from the sizes of
// what they are computed from, or not at all.
type sizeEstimator struct {
	request, token uint64
	name           uint64 // bounds subject, client_id and method, if not 0 (see Compiler.provenSize)
	// patterns holds the patternCost of the expression's patterns (see
	// patternCosts), if not nil.
	patterns map[string]uint64
}

func (e sizeEstimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	var bound uint64
	p := n.Path()
	if len(p) == 0 {
		return nil
	}
	switch p[0] {
	case "request":
		bound = e.request
	case "claims", "scopes":
		bound = e.token
	case "subject", "client_id", "method":
		bound = e.token
		if e.name != 0 {
			bound = e.name
		}
	default:
		return nil
	}
	return &checker.SizeEstimate{Min: 0, Max: bound}
}

func (e sizeEstimator) EstimateCallCost(_, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	switch {
	case slices.Contains(parses, overloadID) && len(args) == 1:
		return &checker.CallEstimate{CostEstimate: e.size(args[0]).MultiplyByCostFactor(common.StringTraversalCostFactor).Add(checker.FixedCostEstimate(1))}
	case (overloadID == overloads.Equals || overloadID == overloads.NotEquals) && len(args) == 2 &&
		deep(args[0].Type()) && deep(args[1].Type()):
		// A list literal's computed size is its number of elements,
		// which may be messages of MaxRequestSize: bound both by their
		// deep size, weighted as runtimeCoster charges their elements
		// and entries.
		n := min(e.compared(args[0]), e.compared(args[1]))
		return &checker.CallEstimate{CostEstimate: checker.SizeEstimate{Max: n}.MultiplyByCostFactor(common.StringTraversalCostFactor).Add(checker.FixedCostEstimate(1))}
	case overloadID == overloads.InList && len(args) == 2 && deep(args[0].Type()):
		n := max(e.size(args[1]).Max, traversal(e.compared(args[1])))
		return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: 1, Max: n}}
	case overloadID == overloads.InMap && len(args) == 2:
		// Hashing the key reads it whole.
		return &checker.CallEstimate{CostEstimate: e.size(args[0]).MultiplyByCostFactor(common.StringTraversalCostFactor).Add(checker.FixedCostEstimate(1))}
	case overloadID == overloads.SizeString && len(args) == 1:
		return &checker.CallEstimate{CostEstimate: e.size(args[0]).MultiplyByCostFactor(common.StringTraversalCostFactor).Add(checker.FixedCostEstimate(1))}
	case overloadID == overloads.SizeStringInst && target != nil:
		return &checker.CallEstimate{CostEstimate: e.size(*target).MultiplyByCostFactor(common.StringTraversalCostFactor).Add(checker.FixedCostEstimate(1))}
	case overloadID == keyFunction+"_T" && len(args) == 1:
		return &checker.CallEstimate{CostEstimate: e.size(args[0]).MultiplyByCostFactor(common.StringTraversalCostFactor).Add(checker.FixedCostEstimate(1)),
			ResultSize: e.size(args[0])}
	case overloadID == overloads.MatchesString && target != nil && len(args) == 1:
		return e.matchCost(*target, args[0])
	case overloadID == overloads.Matches && target == nil && len(args) == 2:
		return e.matchCost(args[0], args[1])
	case slices.Contains(zoneOverloads, overloadID) && len(args) == 1:
		return &checker.CallEstimate{CostEstimate: e.size(args[0]).MultiplyByCostFactor(common.StringTraversalCostFactor).Add(checker.CostEstimate{Min: 1, Max: 1 + zoneLoadCost})}
	}
	return nil
}

// matchCost estimates matching text against pattern, a literal (see
// literalPatterns): as runtimeCoster charges it (matchCost), by the
// pattern's compiled program.
func (e sizeEstimator) matchCost(text, pattern checker.AstNode) *checker.CallEstimate {
	if pattern.Expr().Kind() != celast.LiteralKind {
		return nil
	}
	p, ok := pattern.Expr().AsLiteral().(types.String)
	if !ok {
		return nil
	}
	size, pc := e.size(text), knownPatternCost(e.patterns, string(p))
	return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: matchCost(size.Min, pc), Max: matchCost(size.Max, pc)}}
}

// size is the size of n: the size cel-go computed, else e's bound, else
// unknown.
func (e sizeEstimator) size(n checker.AstNode) *checker.SizeEstimate {
	if size := n.ComputedSize(); size != nil {
		return size
	}
	if size := e.EstimateSize(n); size != nil {
		return size
	}
	return &checker.SizeEstimate{Max: math.MaxUint64}
}

// bound bounds the deep size (deepSize) of n's values: by the bound of the
// variable they are read from (see EstimateSize), else by literalSize.
func (e sizeEstimator) bound(n checker.AstNode) uint64 {
	if size := e.EstimateSize(n); size != nil {
		return size.Max
	}
	return literalSize(n.Expr())
}

// compared bounds the size an equality with n's values, or membership of
// a list or map in them, is charged by (comparedSizeUpTo): their deep
// size bound, times the most that the weights of their lists' elements
// and maps' entries can make of a unit of it (weightFactor).
func (e sizeEstimator) compared(n checker.AstNode) uint64 {
	return mulSize(e.bound(n), weightFactor(n.Type()))
}

// weightFactor bounds comparedSizeUpTo over deepSize for values of type
// t: an element of a list counts at least 1 in deepSize, and at least
// 1+elementWeight compared, an entry of a map 1 and 1+entryWeight (each
// the larger of that and its deep size weighted, so that the ratio of
// the whole is no more than the largest ratio within it); a
// message, compared by proto.Equal, counts no weights, nor does a string,
// bytes or scalar. A dyn value, or a type not known here, may be a map.
func weightFactor(t *types.Type) uint64 {
	f := uint64(1)
	switch t.Kind() {
	case types.BoolKind, types.IntKind, types.UintKind, types.DoubleKind, types.StringKind, types.BytesKind,
		types.NullTypeKind, types.DurationKind, types.TimestampKind, types.StructKind, types.TypeKind:
	case types.ListKind:
		f = 1 + elementWeight
	default:
		return 1 + entryWeight
	}
	for _, p := range t.Parameters() {
		f = max(f, weightFactor(p))
	}
	return f
}

// literalSize is the deep size (deepSize) of x when it is a literal or a
// list literal of literals (claims.role in ['admin', 'editor']), and the
// largest size otherwise: a computed value may be larger than any input
// ([request.item, request.item], or a list doubled by map steps).
func literalSize(x celast.Expr) uint64 {
	switch x.Kind() {
	case celast.LiteralKind:
		if n, ok := textSize(x.AsLiteral()); ok {
			return n
		}
		return 1
	case celast.ListKind:
		n := uint64(0)
		for _, el := range x.AsList().Elements() {
			size := literalSize(el)
			if size == math.MaxUint64 {
				return size
			}
			n += 1 + size
		}
		return n
	}
	return math.MaxUint64
}

// deep reports whether comparing values of type t may read more than their
// number of elements: messages, lists, maps and dyn values.
func deep(t *types.Type) bool {
	switch t.Kind() {
	case types.StructKind, types.ListKind, types.MapKind, types.DynKind, types.AnyKind:
		return true
	}
	return false
}

// parses are the conversions that parse a string: int(s), uint(s),
// double(s), timestamp(s) and duration(s). Their time grows with the
// string's length, but cel-go charges each 1 whatever the length: a
// comprehension converting a request string of a few megabytes on every
// step ran for a minute within the default limit. celcond charges them as
// cel-go charges other string operations, 1 plus 1 per 10 characters, in
// the compile-time estimate (sizeEstimator.EstimateCallCost) and at run
// time (runtimeCoster).
var parses = []string{overloads.StringToInt, overloads.StringToUint, overloads.StringToDouble,
	overloads.StringToTimestamp, overloads.StringToDuration}

// zoneOverloads are the timestamp accessors that take a time zone
// (timestamp.getHours('Europe/Paris')). Given a zone name rather than a
// fixed offset ('+01:00'), cel-go loads the zone with time.LoadLocation
// on every call, which reads the zone's file: about 60 µs, 200 µs for a
// missing name, while cel-go charges 1. A comprehension calling one on
// every step ran for 2 s (7 s with a missing name) within the default
// limit. Either way the zone is read whole (a name copied into each path
// tried, an offset parsed and quoted in its error): with a 4 MiB request
// string such a comprehension ran for 3 s as a name, 8 minutes as an
// offset. A call costs 1 plus 1 per 10 bytes of the zone, plus
// zoneLoadCost for a name.
var zoneOverloads = []string{overloads.TimestampToYearWithTz, overloads.TimestampToMonthWithTz,
	overloads.TimestampToDayOfYearWithTz, overloads.TimestampToDayOfMonthZeroBasedWithTz,
	overloads.TimestampToDayOfMonthOneBasedWithTz, overloads.TimestampToDayOfWeekWithTz,
	overloads.TimestampToHoursWithTz, overloads.TimestampToMinutesWithTz,
	overloads.TimestampToSecondsWithTz, overloads.TimestampToMillisecondsWithTz}

// zoneLoadCost is what a call in zoneOverloads given a zone name costs on
// top of reading the name: a generous thousand comparisons' worth, since
// a zone's file may be slower to read than here (a zip of zones, a slow
// disk).
const zoneLoadCost = 1000

// runtimeCoster charges, at run time, what cel-go undercharges:
//
//   - the conversions in parses, matched by function and argument type,
//     as a call on a dyn value (a claim) is dispatched under the
//     function's name rather than the overload's;
//   - size() of a string, which counts its characters: 1 plus 1 per 10
//     bytes, as the conversions in parses;
//   - the timestamp accessors of zoneOverloads, matched the same way: 1
//     plus 1 per 10 bytes of the zone, plus zoneLoadCost for a zone name
//     (a string without ':', which cel-go loads rather than parses);
//   - equality (==, !=) and list membership (in), which compare whole
//     values, but which cel-go charges by their number of elements (a
//     message 1): comparing two messages, or two claims maps holding long
//     lists, walks every field and element. An equality costs 1 per 10
//     units of the smaller operand's comparedSizeUpTo (smallerDeepSize:
//     the deep size, each list element counting at least 2.1 units of
//     cost and each map entry 6.1, converted on either side, see
//     elementWeight), a membership of the list's, comparedSizeUpTo when
//     it looks for a list or map, else deepSize, at least what cel-go
//     charges; sizing either stops once it is over the limit. Charged by deep
//     size alone, an equality of two lists or maps bought 5-8 times the
//     time a unit of comprehension steps does
//     (BenchmarkCost_NanosecondsPerUnit);
//   - membership in a map (in), which hashes the key whole, but which
//     cel-go charges 1: 1 per 10 units of the key's deepSize, at least 1;
//   - concatenation (+) and ordering (<, <=, >, >=) of strings and bytes,
//     and the conversions between string and bytes, which cel-go charges
//     by length only when the checker chose the overload: on dyn operands
//     (a claim, a google.protobuf.Struct field) the call is dispatched at
//     run time, without an overload ID, and charged 1. They cost what
//     cel-go charges the chosen overload, at least 1.
//   - matches, which runs the pattern's compiled program over the text:
//     cel-go charges it by the pattern's length, which a repetition
//     multiplies ('(a{30}){30}x', 12 characters, compiles to 963
//     instructions); see matchCost.
type runtimeCoster struct {
	// patterns holds the patternCost of each pattern the expression
	// matches, computed once at compile time.
	patterns map[string]uint64
	// limit is the cost limit, if not 0: sizing a comparison stops
	// once it is known to cost more (see smallerDeepSize), as the
	// evaluation is then refused.
	limit uint64
}

// most is the size above which a comparison costs more than the limit,
// or math.MaxUint64 without one.
func (r runtimeCoster) most() uint64 {
	if r.limit == 0 {
		return math.MaxUint64
	}
	return mulSize(r.limit, 10) // traversal(n) > limit for every n above
}

func (r runtimeCoster) CallCost(function, _ string, args []ref.Val, _ ref.Val) *uint64 {
	var cost uint64
	switch function {
	case keyFunction:
		if len(args) != 1 {
			return nil
		}
		n, _ := textSize(args[0])
		cost = max(1, traversal(n))
	case overloads.Matches:
		if len(args) != 2 {
			return nil
		}
		text, ok := args[0].(types.String)
		pattern, isString := args[1].(types.String)
		if !ok || !isString {
			return nil
		}
		cost = matchCost(uint64(len(text)), knownPatternCost(r.patterns, string(pattern)))
	case overloads.TypeConvertInt, overloads.TypeConvertUint, overloads.TypeConvertDouble,
		overloads.TypeConvertTimestamp, overloads.TypeConvertDuration, overloads.Size:
		if len(args) != 1 {
			return nil
		}
		s, ok := args[0].(types.String)
		if !ok {
			return nil
		}
		cost = 1 + traversal(uint64(len(s)))
	case overloads.TypeConvertBytes, overloads.TypeConvertString:
		// string to bytes copies the string, bytes to string checks the
		// UTF-8 and copies; string(string) and bytes(bytes) return their
		// argument, as cel-go charges them.
		if len(args) != 1 {
			return nil
		}
		n, ok := textSize(args[0])
		_, isString := args[0].(types.String)
		if !ok || isString == (function == overloads.TypeConvertString) {
			return nil
		}
		cost = 1 + traversal(n)
	case overloads.TimeGetFullYear, overloads.TimeGetMonth, overloads.TimeGetDayOfYear,
		overloads.TimeGetDayOfMonth, overloads.TimeGetDate, overloads.TimeGetDayOfWeek, overloads.TimeGetHours,
		overloads.TimeGetMinutes, overloads.TimeGetSeconds, overloads.TimeGetMilliseconds:
		if len(args) != 2 {
			return nil
		}
		zone, ok := args[1].(types.String)
		if !ok {
			return nil
		}
		cost = 1 + traversal(uint64(len(zone)))
		if !strings.Contains(string(zone), ":") {
			cost += zoneLoadCost
		}
	case operators.Equals, operators.NotEquals:
		if len(args) != 2 {
			return nil
		}
		cost = max(1, traversal(smallerDeepSize(args[0], args[1], r.most())))
	case operators.Add, operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
		if len(args) != 2 {
			return nil
		}
		a, aok := textSize(args[0])
		b, bok := textSize(args[1])
		switch {
		case !aok || !bok:
			return nil
		case function == operators.Add:
			cost = max(1, traversal(a+b))
		default:
			cost = max(1, traversal(min(a, b)))
		}
	case operators.In:
		switch c := args[1].(type) {
		case traits.Lister:
			// Looking for a list or map compares it with each element
			// that is one, as an equality does; looking for anything
			// else, the elements are converted and compared at once.
			var n uint64
			switch args[0].(type) {
			case traits.Lister, traits.Mapper:
				n = comparedSizeUpTo(c, r.most())
			default:
				n = deepSizeUpTo(c, r.most())
			}
			cost = max(uint64(c.Size().(types.Int)), traversal(n))
		case traits.Mapper:
			cost = max(1, traversal(deepSize(args[0])))
		default:
			return nil
		}
	default:
		return nil
	}
	return &cost
}

// patternCost is what matching a regular expression costs per 10 bytes
// of text: 1 per 4 instructions of its compiled program (cel-go's
// RegexStringLengthCostFactor, which cel-go applies to the pattern's
// length, guessing 4 characters an instruction), at least 1. Go's regexp
// runs every instruction of the program on every byte in the worst case,
// and a repetition compiles to as many copies as it counts: cel-go charged
// '(a{30}){30}x' 3 per 10 bytes for a program of 963 instructions, and
// matching it on a 64 KiB request string took 0.9 s within the default
// limit. A pattern that does not compile costs by its length, as cel-go
// charges it (the program refuses it anyway).
func patternCost(pattern string) uint64 {
	n := uint64(len(pattern))
	if re, err := syntax.Parse(pattern, syntax.Perl); err == nil {
		// Compiled as regexp.Compile does: syntax.Compile does not
		// handle the repetitions that Simplify expands.
		if prog, err := syntax.Compile(re.Simplify()); err == nil {
			n = max(n, uint64(len(prog.Inst)))
		}
	}
	return max(1, uint64(math.Ceil(float64(n)*common.RegexStringLengthCostFactor)))
}

// matchCost is what matching a text of n bytes against a pattern of
// patternCost pc costs: 1 per 10 bytes of the text and 1 more, as cel-go
// charges a match, times pc.
func matchCost(n, pc uint64) uint64 {
	if n == math.MaxUint64 {
		return n
	}
	return mulSize(traversal(n+1), pc)
}

// knownPatternCost is the patternCost of pattern: patterns's entry for
// it, if any.
func knownPatternCost(patterns map[string]uint64, pattern string) uint64 {
	if pc, ok := patterns[pattern]; ok {
		return pc
	}
	return patternCost(pattern)
}

// patternCosts returns the patternCost of every pattern the checked
// expression ast matches (all literals: see literalPatterns).
func patternCosts(ast *cel.Ast) map[string]uint64 {
	costs := map[string]uint64{}
	celast.PreOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.CallKind || e.AsCall().FunctionName() != overloads.Matches {
			return
		}
		args := e.AsCall().Args()
		if len(args) == 0 || args[len(args)-1].Kind() != celast.LiteralKind {
			return
		}
		if p, ok := args[len(args)-1].AsLiteral().(types.String); ok {
			costs[string(p)] = patternCost(string(p))
		}
	}))
	return costs
}

// matchGuards returns a decorator that guards the text of every matches
// call of a program whose cost limit is limit (see matchGuard): cel-go's
// cost tracking charges a call once it has returned, and a match charged
// more than the limit would first run to its end (a request string of
// 4 MiB matched against '[a-z]{1,64}x' took 7 s). It keeps the call's
// arguments otherwise as they are, for cel-go's regular expression
// optimization, which replaces the call by one that runs the pattern
// compiled once, on the same arguments. patterns holds the patternCost
// of the expression's patterns (see patternCosts).
func matchGuards(limit uint64, patterns map[string]uint64) interpreter.InterpretableDecoratorV2 {
	return func(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
		call, ok := i.(interpreter.InterpretableCall)
		if !ok || call.Function() != overloads.Matches || len(call.Args()) != 2 {
			return i, nil
		}
		lit, ok := call.Args()[1].(interpreter.InterpretableConst)
		if !ok {
			return i, nil
		}
		pattern, ok := lit.Value().(types.String)
		if !ok {
			return i, nil
		}
		args := slices.Clone(call.Args())
		args[0] = matchGuard{InterpretableV2: args[0], pc: knownPatternCost(patterns, string(pattern)), limit: limit}
		return interpreter.NewCall(call.ID(), call.Function(), call.OverloadID(), args, match), nil
	}
}

// match is matches, for a call that cel-go's regular expression
// optimization has not replaced.
func match(args ...ref.Val) ref.Val {
	m, ok := args[0].(traits.Matcher)
	if len(args) != 2 || !ok {
		return types.NoSuchOverloadErr()
	}
	return m.Match(args[1])
}

// matchGuard evaluates the text of a matches call and stops the
// evaluation, as the cost limit does, when matching it against the
// call's pattern (of patternCost pc) would alone cost more than the
// limit, before the pattern runs.
type matchGuard struct {
	interpreter.InterpretableV2
	pc, limit uint64
}

// errMatchCost is the message of an evaluation stopped by a matchGuard.
const errMatchCost = "operation cancelled: matching the string would exceed the cost limit"

func (g matchGuard) Eval(a interpreter.Activation) ref.Val { return g.check(g.InterpretableV2.Eval(a)) }

func (g matchGuard) Exec(f *interpreter.ExecutionFrame) ref.Val {
	return g.check(g.InterpretableV2.Exec(f))
}

func (g matchGuard) check(v ref.Val) ref.Val {
	if s, ok := v.(types.String); ok && matchCost(uint64(len(s)), g.pc) > g.limit {
		// cel-go's Eval recovers this, as it does the cost tracker's.
		panic(interpreter.EvalCancelledError{Cause: interpreter.CostLimitExceeded, Message: errMatchCost})
	}
	return v
}

// traversal is the cost of reading n units: 1 per 10, as cel-go charges a
// string operation.
func traversal(n uint64) uint64 {
	return uint64(math.Ceil(float64(n) * common.StringTraversalCostFactor))
}

// textSize returns the length of v when it is a string or bytes.
func textSize(v ref.Val) (uint64, bool) {
	switch x := v.(type) {
	case types.String:
		return uint64(len(x)), true
	case types.Bytes:
		return uint64(len(x)), true
	}
	return 0, false
}

// deepSize is the size of v, which comparing it reads: the length of a
// string or bytes, the encoded size of a message plus one, the sizes of a
// list's elements (each at least 1), the sizes of a map's keys and values
// plus one per entry, and 1 for anything else.
func deepSize(v ref.Val) uint64 { return deepSizeUpTo(v, math.MaxUint64) }

// Comparing two lists or maps converts each element, key and value that
// it reads into a CEL value, on either side (cel-go's lists and maps of
// the request and of the claims hold Go or protobuf values, converted on
// every read, allocating), and sizing them for the charge reads them
// again: an element of two lists took about 0.24 µs to compare and size,
// an entry of two maps about 0.7 µs, where the deep size alone charged
// 0.5 and 1.1 units for them (5-byte strings), 5 and 7 times the time a
// unit of comprehension steps buys (BenchmarkCost_NanosecondsPerUnit).
// So an equality, and membership of a list or map in a list, counts each
// list element at least 1+elementWeight units of size, and each map entry
// at least 1+entryWeight (2.1 and 6.1 units of cost), where deepSize
// counts 1, at any depth of lists and maps (see comparison): a map entry
// is a key and a value converted, and a lookup in the other map. A floor
// rather than an addition, so that nesting adds no weight that the deep
// size does not bound (a list holding a list holding a list of one empty
// string has deep size 1), and the compile-time estimate bounds the
// charge by the deep size's bound times 1+entryWeight at most (see
// weightFactor). Messages, which cel-go compares with proto.Equal,
// without converting, count their encoded size only.
const (
	elementWeight = 20
	entryWeight   = 60
)

// weights are the units of size a sizer counts a list element, and a map
// entry, at least, beyond deepSize's 1.
type weights struct{ element, entry uint64 }

// comparison is what comparing lists and maps is charged by: see
// elementWeight.
var comparison = weights{element: elementWeight, entry: entryWeight}

// smallerDeepSize returns the smaller comparedSizeUpTo of a and b, what
// comparing a and b reads at most, reading each of them up to a limit that
// doubles from 64 until one fits: each no further than about twice the
// smaller's size (or 64), however large the other; or, once the limit
// reaches most with neither within it, a number above most, read no
// further (an equality charged most or more is over the cost limit: see
// runtimeCoster.limit). Computing both sizes whole read
// a long list on every step of a comprehension that compared it with a
// short one (claims.l.all(x, claims.l != [x]) ran for 15 s within the
// default limit over a 30,000-element claim), while the comparison,
// charged by the smaller size, stops at once. A list or map of more
// elements than the limit tried is not read at all (see sizer), and each
// list, map and message, at any depth, is walked once (a sizer for each
// operand, which each larger limit takes on from where the last
// stopped): a new walk for each limit read two maps of 4,000 entries
// five times each, cel-go's iterator copying their keys on every walk,
// and took two thirds of the time of a comprehension comparing two such
// request maps on every step; a message was read from its start at each
// limit (see protoWalk), and proto.Size reads it once, when it is known
// no larger than the units left.
func smallerDeepSize(a, b ref.Val, most uint64) uint64 {
	sa, sb := sizer{next: a, w: comparison}, sizer{next: b, w: comparison}
	for limit := uint64(64); ; limit *= 2 {
		x, y := sa.upTo(limit), sb.upTo(limit)
		if x <= limit || y <= limit || limit > math.MaxUint64/2 || limit >= most {
			return min(x, y)
		}
	}
}

// deepSizeUpTo returns deepSize(v) when it is at most limit, and else a
// number above limit, reading about limit units of v: the elements of a
// list or map, or, through protoSizeAtLeast, the fields of a message.
func deepSizeUpTo(v ref.Val, limit uint64) uint64 {
	s := sizer{next: v}
	return s.upTo(limit)
}

// comparedSizeUpTo is the deep size of v with the weights of comparison
// (what an equality with v, or membership of a list or map in v, is
// charged by) when it is at most limit, and else a number above limit,
// reading about limit units of v.
func comparedSizeUpTo(v ref.Val, limit uint64) uint64 {
	s := sizer{next: v, w: comparison}
	return s.upTo(limit)
}

// sizer computes the deep size of a value in one walk that may stop at a
// limit and go on to a larger one: it counts what it has read, n, and
// keeps the iterators of the lists and maps it is in, so that no list or
// map is walked twice (cel-go's iterator over a map copies all its keys),
// and the walk of the message it is sizing, so that no message is read
// twice either (see protoWalk). A list or map of more elements than the
// units left before the limit is not entered (its elements count at
// least 1 each), and a message is read no further than it takes to know
// it larger than them: either is taken on, from where it stopped, with
// the next limit. A message known no larger is sized by proto.Size, once.
// It counts each list element and map entry at least 1 and its weight in
// w (none for deepSize, comparison for comparedSizeUpTo).
type sizer struct {
	n     uint64      // the units counted
	w     weights     // each element and entry counts at least 1 and its weight
	next  ref.Val     // the value to size next, or nil
	stack []sizeFrame // the lists and maps being walked, innermost last
	// msg is the walk of next when it is a message larger than the units
	// left at the last limit (msgOn), taken on at the next.
	msg   protoWalk
	msgOn bool
}

// sizeFrame is a list or map being walked.
type sizeFrame struct {
	it traits.Iterator
	// m is the map walked, or nil for a list.
	m traits.Mapper
	// key is the map key whose value is to be sized next, or nil.
	key ref.Val
	// elem is set while a list's element, or a map's entry, is being
	// sized, which started at start units: an element counts at least
	// 1, but a scalar no more (a packed repeated field encodes one in a
	// byte, and the request's encoded size bounds this deep size for the
	// compile-time proof: see condition.small), and an entry 1 and its
	// key and value; with weights, at least 1 and the weight.
	elem  bool
	start uint64
}

// upTo walks on until the value is sized or more than limit units are
// counted, and returns the deep size, or a number above limit.
func (s *sizer) upTo(limit uint64) uint64 {
	for s.n <= limit {
		if s.next == nil {
			if len(s.stack) == 0 {
				return s.n // sized whole
			}
			s.step()
			continue
		}
		switch x := s.next.(type) {
		case types.String:
			s.n = addSize(s.n, uint64(len(x)))
		case types.Bytes:
			s.n = addSize(s.n, uint64(len(x)))
		case traits.Mapper, traits.Lister:
			// An entry or element counts at least 1 and its weight: a
			// map or list of more than the units left is known larger
			// without an iterator (which copies all a cel-go map's keys)
			// or reading an element (a claim list's are converted,
			// allocating, on every read).
			c := x.(interface {
				traits.Sizer
				traits.Iterable
			})
			m, isMap := x.(traits.Mapper)
			least := 1 + s.w.element
			if isMap {
				least = 1 + s.w.entry
			}
			if size, ok := c.Size().(types.Int); ok && size > 0 {
				if at := mulSize(uint64(size), least); at > limit-s.n {
					return addSize(s.n, at)
				}
			}
			s.stack = append(s.stack, sizeFrame{it: c.Iterator(), m: m})
		default:
			if m, ok := x.Value().(proto.Message); ok {
				// proto.Size reads the whole message: first make sure,
				// reading no more than the units left, that it is not
				// larger, taking on the walk of the last limit.
				if !s.msgOn {
					s.msg.start(m.ProtoReflect())
					s.msgOn = true
				}
				if k := s.msg.upTo(limit - s.n); k >= limit-s.n {
					return addSize(s.n, addSize(k, 1))
				}
				s.msg.reset()
				s.msgOn = false
				s.n = addSize(s.n, 1+uint64(proto.Size(m)))
			} else {
				s.n = addSize(s.n, 1)
			}
		}
		s.next = nil
	}
	return s.n
}

// step takes the walk of the innermost list or map one step on, once the
// value it was sizing, if any, is sized: to its next element, key or
// value, or out of it when it has no more.
func (s *sizer) step() {
	f := &s.stack[len(s.stack)-1]
	switch {
	case f.elem:
		weight := s.w.element
		if f.m != nil {
			weight = s.w.entry
		}
		s.n = max(s.n, addSize(f.start, 1+weight))
		f.elem = false
	case f.key != nil:
		s.next, f.key, f.elem = f.m.Get(f.key), nil, true
	case f.it.HasNext() != types.True:
		s.stack[len(s.stack)-1] = sizeFrame{}
		s.stack = s.stack[:len(s.stack)-1]
	case f.m != nil:
		// An entry counts 1, and its key and value.
		f.start, s.n = s.n, addSize(s.n, 1)
		s.next = f.it.Next()
		f.key = s.next
	default:
		f.elem, f.start, s.next = true, s.n, f.it.Next()
	}
}

// protoSizeAtLeast returns a lower bound of proto.Size(m), or a number at
// least limit, reading about limit units of m (see protoWalk).
func protoSizeAtLeast(m protoreflect.Message, limit uint64) uint64 {
	var w protoWalk
	w.start(m)
	return w.upTo(limit)
}

// protoWalk counts a lower bound of a message's encoded size in one walk
// that may stop at a limit and go on to a larger one: every field, list
// element and map entry it reads adds at least 1 (its tag, or a packed
// scalar's byte), every string and bytes its length, and the unknown
// fields their length. It keeps the messages, lists and maps it is in,
// so that each is read once however many limits the walk is taken to: a
// walk from the start for each limit the sizer tried read a large
// message once per limit, up to twice what one walk reads. A list or map
// of more elements or entries than the units left is known larger
// without being read; a list of scalars counts its length.
type protoWalk struct {
	n     uint64
	stack []protoFrame // innermost last
}

// protoFrame is a message, list or map being walked, at its i-th field,
// element or message value.
type protoFrame struct {
	fields []protoField         // a message's set fields
	list   protoreflect.List    // a list of strings, bytes or messages
	kind   protoreflect.Kind    // the list's elements'
	values []protoreflect.Value // a map's message values (isMap; the rest counted as it was entered)
	isMap  bool
	i      int
}

// protoField is a set field of a message, and its value.
type protoField struct {
	fd protoreflect.FieldDescriptor
	v  protoreflect.Value
}

// start begins the walk of m, reusing the walk's memory.
func (w *protoWalk) start(m protoreflect.Message) {
	w.n = 0
	w.enter(m)
}

// reset ends the walk, keeping its memory for the next (and none of the
// message).
func (w *protoWalk) reset() {
	clear(w.stack[:cap(w.stack)])
	w.stack, w.n = w.stack[:0], 0
}

// enter counts m's unknown fields and takes the walk into its set fields.
func (w *protoWalk) enter(m protoreflect.Message) {
	w.n = addSize(w.n, uint64(len(m.GetUnknown())))
	var f protoFrame
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		f.fields = append(f.fields, protoField{fd, v})
		return true
	})
	if len(f.fields) > 0 {
		w.stack = append(w.stack, f)
	}
}

// upTo walks on until the message is read whole or at least limit units
// are counted, and returns the count.
func (w *protoWalk) upTo(limit uint64) uint64 {
	for w.n < limit && len(w.stack) > 0 {
		f := &w.stack[len(w.stack)-1]
		switch {
		case f.list != nil:
			if f.i == f.list.Len() {
				w.pop()
				continue
			}
			v := f.list.Get(f.i)
			f.i++
			w.n = addSize(w.n, 1)
			w.value(f.kind, v)
		case f.isMap:
			if f.i == len(f.values) {
				w.pop()
				continue
			}
			v := f.values[f.i]
			f.i++
			w.enter(v.Message())
		default:
			if f.i == len(f.fields) {
				w.pop()
				continue
			}
			f.i++ // before field, which may grow the stack, moving f
			if larger := w.field(f.fields[f.i-1], limit); larger != 0 {
				f.i-- // not read: taken on with the next limit
				return larger
			}
		}
	}
	return w.n
}

// pop leaves the innermost message, list or map.
func (w *protoWalk) pop() {
	w.stack[len(w.stack)-1] = protoFrame{}
	w.stack = w.stack[:len(w.stack)-1]
}

// field counts the field f of the innermost message, 1 and its value,
// and returns 0; or, when f is a list or map of more elements or entries
// than the units left before limit (each counts at least 1), it counts
// nothing, and returns the lower bound that makes the message known
// larger without reading f, above limit.
func (w *protoWalk) field(f protoField, limit uint64) (larger uint64) {
	switch {
	case f.fd.IsList():
		l := f.v.List()
		if uint64(l.Len()) >= limit-w.n {
			return addSize(w.n, 1+uint64(l.Len()))
		}
		w.n = addSize(w.n, 1)
		switch f.fd.Kind() {
		case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind, protoreflect.GroupKind:
			if l.Len() > 0 {
				w.stack = append(w.stack, protoFrame{list: l, kind: f.fd.Kind()})
			}
		default:
			w.n = addSize(w.n, uint64(l.Len())) // 1 a scalar
		}
	case f.fd.IsMap():
		m := f.v.Map()
		if uint64(m.Len()) >= limit-w.n {
			return addSize(w.n, 1+uint64(m.Len()))
		}
		w.n = addSize(w.n, 1)
		// No more entries than the units left: each is read now, its
		// message value, if any, kept for the walk.
		g := protoFrame{isMap: true}
		key, value := f.fd.MapKey().Kind(), f.fd.MapValue().Kind()
		m.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			w.n = addSize(w.n, 1+textLen(key, k.Value()))
			if value == protoreflect.MessageKind {
				g.values = append(g.values, v)
			} else {
				w.n = addSize(w.n, textLen(value, v))
			}
			return true
		})
		if len(g.values) > 0 {
			w.stack = append(w.stack, g)
		}
	default:
		w.n = addSize(w.n, 1)
		w.value(f.fd.Kind(), f.v)
	}
	return 0
}

// value counts v, a value of kind k (a singular field's or a list's
// element): a string or bytes by its length, a message by walking into
// it, and 0 for anything else. Read by kind, as protoreflect.Value's
// Interface would box a string, allocating.
func (w *protoWalk) value(k protoreflect.Kind, v protoreflect.Value) {
	if k == protoreflect.MessageKind || k == protoreflect.GroupKind {
		w.enter(v.Message())
		return
	}
	w.n = addSize(w.n, textLen(k, v))
}

// textLen is the length of v, of kind k, when it is a string or bytes,
// and 0 otherwise.
func textLen(k protoreflect.Kind, v protoreflect.Value) uint64 {
	switch k {
	case protoreflect.StringKind:
		return uint64(len(v.String()))
	case protoreflect.BytesKind:
		return uint64(len(v.Bytes()))
	}
	return 0
}

// mulSize returns a*b, or math.MaxUint64 if it overflows.
func mulSize(a, b uint64) uint64 {
	if b != 0 && a > math.MaxUint64/b {
		return math.MaxUint64
	}
	return a * b
}

// addSize returns a+b, or math.MaxUint64 if it overflows.
func addSize(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// condition is a compiled CEL condition.
type condition struct {
	prg cel.Program
	// fast is prg without cost tracking, for inputs within fastSize and
	// fastNameSize (see Compiler.provenSize and small); nil when prg is not
	// tracked, or when no size is proven.
	fast         cel.Program
	fastSize     uint64
	fastNameSize uint64 // the bound of subject, client_id and method for fast
	loops        bool   // the expression has a comprehension: watch the context
	readsRequest bool
	claims       []string              // the claims read, nil for all (see claimNames)
	input        protoreflect.FullName // the method's request type
	// times holds the request's messages that are or hold a
	// google.protobuf.Timestamp (see timestampHolders), whose Timestamps
	// an evaluation checks first (validTimestamps); nil when the request
	// holds none, or the expression reads none (see readsTimes).
	times map[protoreflect.FullName]bool
}

// ReadsRequest reports whether the expression reads the request variable;
// a streaming call evaluates one that does not as it opens
// (grpcauth.RequestReader).
func (c *condition) ReadsRequest() bool { return c.readsRequest }

// Eval evaluates the condition on in. An error (a missing claim or key, a
// cost limit exceeded, a request of another type than the method's input,
// even one whose fields have the same names, a nil request message, a
// request holding a google.protobuf.Timestamp out of its valid range when
// the expression may read a timestamp, the call's end) says what failed.
//
// A Timestamp out of its range (before 0001-01-01 or after 9999-12-31, or
// with nanos out of [0, 10^9)), anywhere in the request, fails an
// expression that has a value of type timestamp, or makes dyn a request
// value that can hold one (dyn(request), [request.b, 1]), whether or not
// it reads that one: cel-go's reading wraps seconds near 2^63 around to a
// date 292 billion years ago (see validTimestamps). A claim, dyn as it is,
// does not make an expression check them (see readsTimes).
//
// A comprehension watches ctx, the call's context, every
// interruptCheckFrequency steps: once the call is cancelled or its
// deadline passes, the evaluation stops and fails with an error wrapping
// ctx.Err() (context.Canceled or context.DeadlineExceeded), so an
// expression that takes long within the cost limit (see docs/conditions.md,
// "Cost") does not run on for a caller that is gone. An expression
// without a comprehension does not look at ctx: it does a bounded amount
// of work.
func (c *condition) Eval(ctx context.Context, in grpcauth.ConditionInput) (bool, error) {
	if c.readsRequest && in.Request != nil {
		if err := c.checkRequest(in.Request); err != nil {
			return false, err
		}
		if c.times != nil {
			if err := validTimestamps(in.Request.ProtoReflect(), c.times); err != nil {
				return false, err
			}
		}
	}
	act := activations.Get().(*activation)
	act.in = in
	act.names = c.claims
	var (
		out ref.Val
		err error
	)
	prg := c.prg
	if c.fast != nil && c.small(in) {
		prg = c.fast
	}
	if c.loops && ctx.Done() != nil {
		out, _, err = prg.ContextEval(ctx, act)
	} else {
		out, _, err = prg.Eval(act)
	}
	*act = activation{} // keep nothing of this call alive
	activations.Put(act)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, interpreter.InterruptError{}) {
			return false, fmt.Errorf("celcond: the evaluation was stopped: %w", ctxErr)
		}
		return false, fmt.Errorf("celcond: %w", shortError{err})
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("celcond: the result is a %s, not a bool", out.Type())
	}
	return bool(b), nil
}

// checkRequest fails unless m is a message of the method's input type,
// and not a nil one. cel-go reads a request's fields by name, whatever its
// type: a message of another type with a field of the same name would be
// read as the method's request. A nil message (a typed nil pointer) would
// read as one with every field unset, which request.owner == "" admits;
// a nil or zero *dynamicpb.Message panics when asked its type.
func (c *condition) checkRequest(m proto.Message) (err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("celcond: the request is a nil or uninitialized message")
		}
	}()
	r := m.ProtoReflect()
	if name := r.Descriptor().FullName(); name != c.input {
		return fmt.Errorf("celcond: the request is a %s, not the method's %s", clipQuoted(string(name)), c.input)
	}
	if !r.IsValid() {
		return fmt.Errorf("celcond: the request is a nil %s", c.input)
	}
	return nil
}

// small reports whether the values of in are within the sizes proven for
// c.fast: its subject, client ID and method within fastNameSize, and the
// size, in the sense of the cost estimate (sizeEstimator), of every value
// an evaluation reads from its variables within fastSize: the length of a
// string or bytes, the number of elements of a list or map, and the deep
// size runtimeCoster charges comparisons by (deepSize). The token's values
// are bounded by the claims' Footprint, which counts the JSON payload
// every claim, its name and the scopes are read from, 16 bytes per scope,
// and the subject and client ID; the request's, when the expression reads
// it, by its encoded size plus one.
func (c *condition) small(in grpcauth.ConditionInput) bool {
	if uint64(max(len(in.Claims.Subject()), len(in.Claims.ClientID()), len(in.Method))) > c.fastNameSize ||
		uint64(max(in.Claims.Footprint(), 0)) > c.fastSize {
		return false
	}
	return !c.readsRequest || in.Request == nil || 1+uint64(proto.Size(in.Request)) <= c.fastSize
}

// maxErrorLen bounds the message of an evaluation error. cel-go quotes the
// value it failed on (timestamp(request.s) on a malformed string, a
// missing key read with claims[request.k]): a request's megabytes would
// go into Decision.Err and the server's log on every call.
const maxErrorLen = 256

// shortError is an evaluation error whose message is cut to maxErrorLen
// bytes, at a character boundary.
type shortError struct{ err error }

func (e shortError) Error() string { return endpoint.Clip(e.err.Error(), maxErrorLen) }

func (e shortError) Unwrap() error { return e.err }

// activations recycles activations: an evaluation holds one only while
// cel-go runs, which keeps no reference to it, and it is cleared before it
// is put back. This saves one allocation per evaluation.
var activations = sync.Pool{New: func() any { return new(activation) }}

// activation resolves the variables of one evaluation, each only when the
// expression reads it: a condition on the request and subject never
// decodes the claims.
type activation struct {
	in     grpcauth.ConditionInput
	names  []string // the claims to decode, nil for all
	claims any      // the decoded claims (a map or an error), once read
	// The other variables as CEL values, once read: a comprehension
	// reads a variable on every step (x == subject), and converting it
	// each time cost an allocation a step (a list of the scopes, two).
	// They are immutable values of this call's input.
	subject, clientID, method, scopes ref.Val
	steps                             int // comprehension steps taken, counted in a tracked evaluation (see stepGuard)
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "request":
		return a.in.Request, a.in.Request != nil
	case "subject":
		if a.subject == nil {
			a.subject = nameOrError(a.in.Claims.Subject(), errNoSubject)
		}
		return a.subject, true
	case "client_id":
		if a.clientID == nil {
			a.clientID = nameOrError(a.in.Claims.ClientID(), errNoClientID)
		}
		return a.clientID, true
	case "method":
		if a.method == nil {
			a.method = types.String(a.in.Method)
		}
		return a.method, true
	case "scopes":
		if a.scopes == nil {
			a.scopes = types.NewStringList(types.DefaultTypeAdapter, a.in.Claims.Scopes())
		}
		return a.scopes, true
	case "claims":
		// Decoded once per evaluation: a comprehension may read claims on
		// every iteration.
		if a.claims == nil {
			m, err := claimsMap(a.in.Claims, a.names)
			if err != nil {
				a.claims = types.WrapErr(err)
			} else {
				a.claims = types.NewStringInterfaceMap(types.DefaultTypeAdapter, m)
			}
		}
		return a.claims, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// Errors for subject and client_id when the token names no one: as empty
// strings they would equal every unset string field of the request
// (request.owner == subject admitting a token without sub for an item that
// names no owner), so reading them fails, as reading a missing claim does.
var (
	errNoSubject  = errors.New("the token has no subject (its sub claim is missing, null or empty)")
	errNoClientID = errors.New("the token names no client (Claims.ClientID is empty)")
)

// nameOrError returns s as a CEL string, or an error value wrapping
// errEmpty when s is empty: a new one, as cel-go labels an error value
// with the node that produced it, in place.
func nameOrError(s string, errEmpty error) ref.Val {
	if s == "" {
		return types.WrapErr(errEmpty)
	}
	return types.String(s)
}

// claimsMap decodes the claims named, or every claim when names is nil,
// into a map for CEL. A name the token lacks is left out.
func claimsMap(c verifier.Claims, names []string) (map[string]any, error) {
	if names == nil {
		names = c.Names()
	}
	m := make(map[string]any, len(names))
	for _, name := range names {
		raw, ok := c.Raw(name)
		if !ok {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		err := d.Decode(&v)
		if err == nil {
			v, err = numbers(v)
		}
		if err != nil {
			// Eval prefixes "celcond: ". A name is as long as the token
			// makes it when the expression reads every claim.
			return nil, fmt.Errorf("claim %q: %w", clipQuoted(name), err)
		}
		m[name] = v
	}
	return m, nil
}

// exactDouble is 2^53: a double holds every integer of smaller magnitude
// exactly, and CEL compares an int with a double by converting the int.
const exactDouble = 1 << 53

// numbers replaces the JSON numbers in v, a value decoded with UseNumber,
// by CEL's numbers, in place: a double, except for an integer of magnitude
// 2^53 or more (however written: 1e16 too), which becomes an int (or a
// uint above the int range). As a
// double it would equal its neighbours (2^53 + 1 would be 2^53), and a
// numeric ID claim would match another user's ID in the request.
func numbers(v any) (any, error) {
	var err error
	switch x := v.(type) {
	case json.Number:
		return number(x)
	case []any:
		for i := range x {
			if x[i], err = numbers(x[i]); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k, e := range x {
			if x[k], err = numbers(e); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// number converts one JSON number (see numbers). JSON does not tell
// integers from other numbers: an integer written with a fraction or an
// exponent (9007199254740993.0, 1e16) is an integer too. Such a number is
// read by exactInteger first, not only when strconv.ParseFloat finds it
// large: ParseFloat's slow path counts only the first 800 digits before
// the point, and reads 9007199254740993 written with 1,000 more zeros and
// e-1000 as 9.0e-201.
func number(n json.Number) (any, error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if i >= exactDouble || i <= -exactDouble {
			return i, nil
		}
	} else if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
		return u, nil
	} else if v, ok := exactInteger(string(n)); ok {
		if i, isInt := v.(int64); !isInt || i >= exactDouble || i <= -exactDouble {
			return v, nil
		}
	}
	f, err := parseFloat(string(n))
	if err != nil {
		// strconv's error quotes the number whole (or as parseFloat
		// rewrote it), and a claim may be 64 KiB of digits.
		return f, fmt.Errorf("the number %s is beyond the range of a double: %w", clipQuoted(string(n)), strconv.ErrRange)
	}
	return f, nil
}

// maxQuoted bounds a claim's name or number quoted in an error: the rest
// of the error must fit in maxErrorLen.
const maxQuoted = 64

// clipQuoted returns s, text the token chose, cut to maxQuoted bytes (at a
// character boundary, with "…" and its length when cut).
func clipQuoted(s string) string { return endpoint.ClipSized(s, maxQuoted) }

// maxPointDigits is how many digits before the point strconv.ParseFloat's
// slow path counts for the point's place (the 800 digits of its decimal
// type, whose set method stops counting there).
const maxPointDigits = 800

// parseFloat is strconv.ParseFloat for n, a valid JSON number, written as
// 0.digits×10^exp first when more than maxPointDigits significant digits
// precede its point: ParseFloat's slow path reads 1 followed by 1,000
// zeros and e-1000 as 1e-201, and 7 written so as 7e-201.
func parseFloat(n string) (float64, error) {
	sign, mant := "", n
	if strings.HasPrefix(mant, "-") {
		sign, mant = "-", mant[1:]
	}
	var exp int64 // not int: ±2^40 overflows a 32-bit int
	if i := strings.IndexAny(mant, "eE"); i >= 0 {
		// Beyond the int64 range ParseInt gives its end. Clamped to
		// ±2^40, the exponent leaves the value beyond the double range,
		// as it was, and cannot overflow when the digits' count is added
		// below.
		exp, _ = strconv.ParseInt(mant[i+1:], 10, 64)
		exp, mant = min(max(exp, -1<<40), 1<<40), mant[:i]
	}
	whole, frac, _ := strings.Cut(mant, ".")
	if whole = strings.TrimLeft(whole, "0"); len(whole) <= maxPointDigits {
		return strconv.ParseFloat(n, 64)
	}
	return strconv.ParseFloat(sign+"0."+whole+frac+"e"+strconv.FormatInt(exp+int64(len(whole)), 10), 64)
}

// exactInteger returns the value of n, a valid JSON number written with a
// fraction or an exponent, as an int64 or, above the int range, a uint64,
// when it is an integer within their range, and false otherwise. It reads
// the digits once (math/big's exact parse took 60 ms on a claim of 64,000
// digits, on every evaluation).
func exactInteger(n string) (any, bool) {
	neg := strings.HasPrefix(n, "-")
	n = strings.TrimPrefix(n, "-")
	exp := 0
	if i := strings.IndexAny(n, "eE"); i >= 0 {
		var err error
		// An exponent beyond ±(len(n) + 20) makes no integer of 20
		// digits or fewer whatever the digits, and would overflow below.
		if exp, err = strconv.Atoi(n[i+1:]); err != nil || exp > len(n)+20 || exp < -len(n)-20 {
			return nil, false
		}
		n = n[:i]
	}
	whole, frac, _ := strings.Cut(n, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	exp -= len(frac)
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	// The value is trimmed × 10^exp, trimmed ending in a non-zero digit:
	// an integer only for exp >= 0, and beyond uint64 above 20 digits.
	if trimmed == "" || exp < 0 || len(trimmed)+exp > 20 {
		return nil, false
	}
	s := trimmed + strings.Repeat("0", exp)
	if neg {
		i, err := strconv.ParseInt("-"+s, 10, 64)
		return i, err == nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, true
	}
	u, err := strconv.ParseUint(s, 10, 64)
	return u, err == nil
}

// timestampName is the full name of google.protobuf.Timestamp.
const timestampName protoreflect.FullName = "google.protobuf.Timestamp"

// Timestamp's valid range, as timestamppb's CheckValid has it: from
// 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z, CEL's range.
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
)

// validTimestamp reports whether a google.protobuf.Timestamp of sec and
// nanos is within its valid range, as timestamppb's CheckValid has it.
func validTimestamp(sec, nanos int64) bool {
	return sec >= minTimestampSeconds && sec <= maxTimestampSeconds && nanos >= 0 && nanos < 1e9
}

// readsTimes reports whether the checked expression ast has a value that
// may be a timestamp read from the request, holders holding the request's
// messages that can hold one (see timestampHolders): a value of type
// timestamp, or one of a type that is or holds dyn (dyn(request),
// [request.b, 1]) built from a value that is or may hold a request's
// Timestamp (a timestamp, a message of holders, a list or map of them).
// A claim alone, dyn as it is, holds no Timestamp: claims.sub ==
// request.name does not make an evaluation read the request's Timestamps,
// 20 times the cost of the rest on a request of 1,000 of them.
func readsTimes(ast *cel.Ast, holders map[protoreflect.FullName]bool) bool {
	found := false
	// visit reports whether e, or a value e is built from, is or may hold
	// a request's Timestamp.
	var visit func(e celast.NavigableExpr) bool
	visit = func(e celast.NavigableExpr) bool {
		t := e.Type()
		if t.Kind() == types.TimestampKind {
			found = true
		}
		holds := typeHolds(t, func(t *types.Type) bool {
			return t.Kind() == types.TimestampKind || t.Kind() == types.StructKind && holders[protoreflect.FullName(t.TypeName())]
		})
		for _, c := range e.Children() {
			holds = visit(c) || holds
		}
		if holds && typeHolds(t, func(t *types.Type) bool {
			return t.Kind() == types.DynKind || t.Kind() == types.AnyKind || t.Kind() == types.TypeParamKind
		}) {
			found = true
		}
		return holds
	}
	visit(celast.NavigateAST(ast.NativeRep()))
	return found
}

// typeHolds reports whether t, or one of its type parameters at any depth
// (a list's elements, a map's keys and values), is one is reports true for.
func typeHolds(t *types.Type, is func(*types.Type) bool) bool {
	if is(t) {
		return true
	}
	for _, p := range t.Parameters() {
		if typeHolds(p, is) {
			return true
		}
	}
	return false
}

// timestampHolders returns the messages, md and those it holds at any
// depth (in fields, lists and map values), that are or hold a
// google.protobuf.Timestamp, or nil when md holds none.
func timestampHolders(md protoreflect.MessageDescriptor) map[protoreflect.FullName]bool {
	// Every message md reaches, each then asked alone: a walk that leaves
	// out the messages it is visiting (a cycle) could not record the
	// answer of one it left, as holdsAny.check explains.
	reached := map[protoreflect.FullName]protoreflect.MessageDescriptor{}
	messagesOf(md, reached)
	holders := map[protoreflect.FullName]bool{}
	for name, m := range reached {
		if reachesTimestamp(m, map[protoreflect.FullName]bool{}) {
			holders[name] = true
		}
	}
	if !holders[md.FullName()] {
		return nil
	}
	return holders
}

// fieldMessages calls f with the message type of each field of md that
// holds messages (a map's values), and stops when f returns true; it
// reports whether f did.
func fieldMessages(md protoreflect.MessageDescriptor, f func(protoreflect.MessageDescriptor) bool) bool {
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if m := fd.Message(); m != nil && f(m) {
			return true
		}
	}
	return false
}

// messagesOf adds md, and the messages it holds at any depth, to reached.
func messagesOf(md protoreflect.MessageDescriptor, reached map[protoreflect.FullName]protoreflect.MessageDescriptor) {
	if _, ok := reached[md.FullName()]; ok {
		return
	}
	reached[md.FullName()] = md
	fieldMessages(md, func(m protoreflect.MessageDescriptor) bool { messagesOf(m, reached); return false })
}

// reachesTimestamp reports whether md is or holds, at any depth, a
// google.protobuf.Timestamp, leaving out the messages visited.
func reachesTimestamp(md protoreflect.MessageDescriptor, visited map[protoreflect.FullName]bool) bool {
	if md.FullName() == timestampName {
		return true
	}
	if visited[md.FullName()] {
		return false
	}
	visited[md.FullName()] = true
	return fieldMessages(md, func(m protoreflect.MessageDescriptor) bool { return reachesTimestamp(m, visited) })
}

// validTimestamps fails when m holds a google.protobuf.Timestamp out of
// its valid range (see minTimestampSeconds), or with nanos out of [0,
// 10^9), at any depth; holders holds the messages that may hold one (see
// timestampHolders). cel-go reads a Timestamp with AsTime, which wraps
// around for seconds within about 2^36 of 2^63: seconds 2^63 - 1, a date
// 292 billion years ahead, read as one 292 billion years ago, and
// request.at < timestamp('2030-01-01T00:00:00Z') held for it.
func validTimestamps(m protoreflect.Message, holders map[protoreflect.FullName]bool) error {
	md := m.Descriptor()
	if md.FullName() == timestampName {
		fields := md.Fields()
		sec, nanos := m.Get(fields.ByNumber(1)).Int(), m.Get(fields.ByNumber(2)).Int()
		if !validTimestamp(sec, nanos) {
			return fmt.Errorf("celcond: the request holds a google.protobuf.Timestamp out of its valid range (0001-01-01 to 9999-12-31, nanos 0 to 999999999): seconds %d, nanos %d", sec, nanos)
		}
		return nil
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		vd := fd
		if fd.IsMap() {
			vd = fd.MapValue()
		}
		if vd.Message() == nil || !holders[vd.Message().FullName()] {
			return true
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = validTimestamps(l.Get(i).Message(), holders)
			}
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
				err = validTimestamps(v.Message(), holders)
				return err == nil
			})
		default:
			err = validTimestamps(v.Message(), holders)
		}
		return err == nil
	})
	return err
}
