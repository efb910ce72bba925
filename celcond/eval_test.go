package celcond_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/celcond"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// method returns the descriptor of a ConditionService method.
func method(name string) protoreflect.MethodDescriptor {
	return authtestv1.File_authtest_v1_conditions_proto.Services().ByName("ConditionService").Methods().ByName(protoreflect.Name(name))
}

func compile(t testing.TB, cfg celcond.Config, expr string) grpcauth.Condition {
	t.Helper()
	c, err := celcond.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cond, err := c.CompileCondition(method("Own"), expr)
	if err != nil {
		t.Fatalf("CompileCondition(%q): %v", expr, err)
	}
	return cond
}

func claims(t testing.TB, m map[string]any) verifier.Claims {
	t.Helper()
	c, err := verifier.NewClaims(m)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEval_Variables(t *testing.T) {
	c := claims(t, map[string]any{"sub": "alice", "cid": "app", "scp": []string{"b", "a"},
		"tenant": map[string]any{"id": "acme", "tier": 2}, "amr": []string{"pwd", "otp"}, "admin": true})
	in := grpcauth.ConditionInput{Method: "/authtest.v1.ConditionService/Own", Claims: c,
		Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "alice"}}}
	wantEval(t, in, map[string]bool{
		"request.item.owner == subject":                         true,
		"has(request.item) && request.item.owner != ''":         true,
		"client_id == 'app'":                                    true,
		"scopes == ['a', 'b']":                                  true,
		"'b' in scopes && !('c' in scopes)":                     true,
		"method.endsWith('/Own')":                               true,
		"claims.tenant.id == 'acme' && claims.tenant.tier == 2": true,
		"'otp' in claims.amr":                                   true,
		"claims.admin == true":                                  true,
		"'missing' in claims":                                   false,
		"claims.sub == subject":                                 true,
	})
}

// wantEval evaluates each expression on in and wants its result, without
// error.
func wantEval(t *testing.T, in grpcauth.ConditionInput, want map[string]bool) {
	t.Helper()
	for expr, want := range want {
		got, err := compile(t, celcond.Config{}, expr).Eval(context.Background(), in)
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", expr, got, err, want)
		}
	}
}

func TestEval_Errors(t *testing.T) {
	long := make([]int, 1100)
	in := grpcauth.ConditionInput{Claims: claims(t, map[string]any{"sub": "alice", "l": long}), Request: &authtestv1.OwnRequest{}}
	for _, tt := range []struct {
		cfg  celcond.Config
		expr string
		want string
	}{
		{celcond.Config{}, "claims.tenant == 'acme'", "no such key"},
		{celcond.Config{CostLimit: 2}, "subject.size() > 0 && method.size() >= 0 && client_id.size() >= 0 && scopes.size() >= 0", "cost limit"},
		{celcond.Config{}, "[1, 2, 3].all(x, x / 0 > 1)", "division by zero"},
		// Not provably bounded, so tracked at run time: 1100² iterations
		// exceed the limit.
		{celcond.Config{CostLimit: 10_000}, "claims.l.all(x, claims.l.all(y, x == y || true))", "cost limit"},
	} {
		_, err := compile(t, tt.cfg, tt.expr).Eval(context.Background(), in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", tt.expr, err, tt.want)
		}
	}
	// A request value reached through a comprehension's variable is sized
	// as a request value, not a token's: on a 2 MiB request string both
	// forms exceed the default limit, and neither may run untracked.
	big := grpcauth.ConditionInput{Claims: in.Claims, Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: strings.Repeat("a", 2<<20)}}}
	for _, expr := range []string{
		"!request.item.owner.contains('zz')",
		"[request.item.owner].all(x, !x.contains('zz'))",
		"{'k': request.item.owner}.all(k, !{'k': request.item.owner}[k].contains('zz'))",
	} {
		if ok, err := compile(t, celcond.Config{}, expr).Eval(context.Background(), big); err == nil || !strings.Contains(err.Error(), "cost limit") {
			t.Errorf("%s on a 2 MiB string = %v, %v; want a cost limit error", expr, ok, err)
		}
	}
	// A request of another type than the method's is an error, not a
	// wrong answer.
	_, err := compile(t, celcond.Config{}, "request.item.owner == ''").Eval(context.Background(),
		grpcauth.ConditionInput{Claims: in.Claims, Request: &authtestv1.TenantRequest{}})
	if err == nil {
		t.Error("a request of the wrong type evaluated without error")
	}
}

// TestEval_RequestOfAnotherTypeIsAnErrorEvenWithTheSameFieldNames: cel-go
// reads a request's fields by name, so a message of another type than the
// method's input with an owner field of its own was read as the method's
// request, and admitted.
func TestEval_RequestOfAnotherTypeIsAnErrorEvenWithTheSameFieldNames(t *testing.T) {
	c, err := celcond.New(celcond.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cond, err := c.CompileCondition(method("InheritedOwn"), "request.owner == subject")
	if err != nil {
		t.Fatal(err)
	}
	alice := claims(t, map[string]any{"sub": "alice"})
	for _, tt := range []struct {
		req     proto.Message
		want    bool
		wantErr bool
	}{
		{&authtestv1.InheritedOwnRequest{Owner: "alice"}, true, false},
		{&authtestv1.InheritedOwnRequest{Owner: "bob"}, false, false},
		{&authtestv1.OwnClientStreamRequest{Owner: "alice"}, false, true},
		{&authtestv1.OwnBidiStreamRequest{Owner: "alice"}, false, true},
		{&authtestv1.TenantRequest{Tenant: "alice"}, false, true},
	} {
		got, err := cond.Eval(context.Background(), grpcauth.ConditionInput{Claims: alice, Request: tt.req})
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%T %v: Eval = %v, %v; want %v, error %v", tt.req, tt.req, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestEval_NilRequestMessageIsAnError: a nil request message (a typed nil
// pointer given to ServeCall) fails the condition instead of reading as a
// request with every field unset (which request.owner == "" admits), and a
// nil or zero *dynamicpb.Message, whose Descriptor method panics, fails
// it too instead of panicking out of Eval. A dynamicpb message of the
// method's input type is read as the request.
func TestEval_NilRequestMessageIsAnError(t *testing.T) {
	c, err := celcond.New(celcond.Config{})
	if err != nil {
		t.Fatal(err)
	}
	md := method("InheritedOwn")
	cond, err := c.CompileCondition(md, "request.owner == '' || request.owner == subject")
	if err != nil {
		t.Fatal(err)
	}
	alice := claims(t, map[string]any{"sub": "alice"})
	owned := dynamicpb.NewMessage(md.Input())
	owned.Set(md.Input().Fields().ByName("owner"), protoreflect.ValueOfString("alice"))
	for _, tt := range []struct {
		req     proto.Message
		want    bool
		wantErr string
	}{
		{owned, true, ""},
		{(*authtestv1.InheritedOwnRequest)(nil), false, "nil authtest.v1.InheritedOwnRequest"},
		{(*authtestv1.TenantRequest)(nil), false, "not the method's"},
		{(*dynamicpb.Message)(nil), false, "nil"},
		{&dynamicpb.Message{}, false, "nil"},
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%T %v: Eval panicked: %v", tt.req, tt.req, r)
				}
			}()
			got, err := cond.Eval(context.Background(), grpcauth.ConditionInput{Claims: alice, Request: tt.req})
			if got != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%T %v: Eval = %v, %v; want %v, an error naming %q", tt.req, tt.req, got, err, tt.want, tt.wantErr)
			}
		}()
	}
}

func TestCompile_RejectsWhatIsNotABoolOrDoesNotCheck(t *testing.T) {
	c, err := celcond.New(celcond.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for expr, want := range map[string]string{
		"subject":                 "want bool",
		"claims.admin":            "want bool", // dyn: compare explicitly
		"request.item.ownr == ''": "undefined field 'ownr'",
		"user == 'x'":             "undeclared reference to 'user'",
		"subject ==":              "Syntax error",
		"":                        "Syntax error",
		"size(subject) == 'a'":    "no matching overload",
	} {
		if _, err := c.CompileCondition(method("Own"), expr); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want one containing %q", expr, err, want)
		}
	}
	if _, err := c.CompileCondition(nil, "true"); err == nil {
		t.Error("CompileCondition(nil, ...) succeeded")
	}
}

// TestCompile_ConstantMapWithABytesKeyIsAnErrorNotAPanic: cel-go builds a
// map literal of constants when it plans the program, and a bytes key,
// which its checker accepts, panicked hashing it: in CompileCondition, on
// the goroutine of the call that compiled the rule.
func TestCompile_ConstantMapWithABytesKeyIsAnErrorNotAPanic(t *testing.T) {
	c, err := celcond.New(celcond.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{"{b'a': 1}.size() == 1", "b'a' in {b'a': 1}"} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: CompileCondition panicked: %v", expr, r)
				}
			}()
			if _, err := c.CompileCondition(method("Own"), expr); err == nil {
				t.Errorf("%s: compiled, want an error", expr)
			}
		}()
	}
	// Computed, such a key is an evaluation error.
	in := grpcauth.ConditionInput{Claims: claims(t, map[string]any{"sub": "alice"}), Request: &authtestv1.OwnRequest{}}
	if ok, err := compile(t, celcond.Config{}, "{bytes(subject): 1}.size() == 1").Eval(context.Background(), in); ok || err == nil {
		t.Errorf("a computed bytes key = %v, %v; want an error", ok, err)
	}
}

func TestCompile_ReportsWhetherTheConditionReadsTheRequest(t *testing.T) {
	for expr, want := range map[string]bool{
		"request.item.owner == subject":               true,
		"has(request.item) || 'test:admin' in scopes": true,
		".request.item.owner == ''":                   true,
		"[1].exists(request, request == 1)":           true, // a shadowing variable errs on the safe side
		"claims.tenant == 'acme'":                     false,
		"'test:admin' in scopes && subject != ''":     false,
		"method.endsWith('/Own')":                     false,
	} {
		rr, ok := compile(t, celcond.Config{}, expr).(grpcauth.RequestReader)
		if !ok {
			t.Fatalf("%q: the condition does not implement grpcauth.RequestReader", expr)
		}
		if got := rr.ReadsRequest(); got != want {
			t.Errorf("%q: ReadsRequest = %v, want %v", expr, got, want)
		}
	}
}

// A regular expression is compiled when it is used: a pattern computed at
// run time would be compiled on every evaluation, and RE2 takes seconds and
// a gigabyte for a pattern of a few megabytes, before cel-go's cost
// tracking sees the call.
func TestCompile_RejectsARegularExpressionThatIsNotALiteral(t *testing.T) {
	c, err := celcond.New(celcond.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{
		"subject.matches(request.item.owner)",
		"matches(subject, request.item.owner)",
		"request.item.owner.matches('^' + subject)",
		"scopes.exists(s, subject.matches(s))",
		"claims.pattern == '' || subject.matches(string(claims.pattern))",
	} {
		if _, err := c.CompileCondition(method("Own"), expr); err == nil || !strings.Contains(err.Error(), "literal") {
			t.Errorf("%q: err = %v, want one asking for a literal pattern", expr, err)
		}
	}
	for _, expr := range []string{
		"request.item.owner.matches('^a')",
		"matches(request.item.owner, '^[a-z]+$')",
		"scopes.exists(s, s.matches('^items:'))",
	} {
		if _, err := c.CompileCondition(method("Own"), expr); err != nil {
			t.Errorf("%q: %v", expr, err)
		}
	}
}

// TestEval_MatchesIsChargedByThePatternsProgram: cel-go charged a match
// by the pattern's length, but a repetition compiles to a copy of its
// operand per count, and Go's regexp may run every instruction on every
// byte: '(a{30}){30}x', 12 characters and 963 instructions, was charged 3
// per 10 bytes, and matching a 64 KiB request string took 0.9 s within
// the default limit, without error.
func TestEval_MatchesIsChargedByThePatternsProgram(t *testing.T) {
	l := make([]string, 60)
	for i := range l {
		l[i] = strings.Repeat("a", 1000)
	}
	c := claims(t, map[string]any{"sub": "alice", "l": l})
	in := grpcauth.ConditionInput{Claims: c, Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: strings.Repeat("a", 64<<10)}}}
	wantCostLimit(t, celcond.Config{}, in,
		"!request.item.owner.matches('(a{30}){30}x')",
		"!matches(request.item.owner, '(a{30}){30}x')",
		"[request.item.owner].all(s, !s.matches('(a{30}){30}x'))",
		// Each match within the limit, together beyond it.
		"claims.l.all(s, !s.matches('(a{30}){30}x'))")
	// A short text, or a pattern whose program is short, stays cheap.
	short := grpcauth.ConditionInput{Claims: c, Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: strings.Repeat("a", 100)}}}
	wantTrue(t, celcond.Config{}, short, "!request.item.owner.matches('(a{30}){30}x')")
	wantTrue(t, celcond.Config{}, in, "request.item.owner.matches('^a+$')")
}

// TestEval_MatchTooCostlyAloneStopsBeforeItRuns: cel-go charges a call
// once it has returned, so a match that alone costs more than the limit
// ran to its end before the limit stopped the evaluation: a 4 MiB request
// string matched against '[a-z]{1,64}x' took 7 s. Such a match is
// refused before it runs, with the cost limit.
func TestEval_MatchTooCostlyAloneStopsBeforeItRuns(t *testing.T) {
	c := claims(t, map[string]any{"sub": "alice"})
	for _, tc := range []struct {
		cfg   celcond.Config
		owner int
	}{
		{celcond.Config{CostLimit: 1000}, 1000}, // 101 × 33 > 1000
		{celcond.Config{}, 4 << 20},
	} {
		in := grpcauth.ConditionInput{Claims: c, Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: strings.Repeat("a", tc.owner)}}}
		for _, expr := range []string{
			"!request.item.owner.matches('[a-z]{1,64}x')",
			"request.item.owner.matches('[a-z]{1,64}x') || true",
			"[request.item.owner].exists(s, s.matches('[a-z]{1,64}x'))",
		} {
			// A context that can end: a comprehension is then evaluated
			// by cel-go's ContextEval.
			ctx, cancel := context.WithCancel(context.Background())
			_, err := compile(t, tc.cfg, expr).Eval(ctx, in)
			cancel()
			if err == nil || !strings.Contains(err.Error(), "matching the string would exceed the cost limit") {
				t.Errorf("%s on %d bytes, limit %d: err = %.200v, want the match refused before it runs", expr, tc.owner, tc.cfg.CostLimit, err)
			}
		}
	}
}

// A number with more than 800 digits before its point is read as the
// double it is, not as strconv.ParseFloat's slow path reads it (it counts
// only the first 800 digits for the point's place: 1 followed by 1,000
// zeros and e-1000 was 1e-201, and a claim compared with a bound passed).
func TestEval_LongNumberClaimsAreTheDoublesTheyWrite(t *testing.T) {
	in := grpcauth.ConditionInput{Claims: claims(t, map[string]any{"sub": "alice",
		"one":   json.Number("1" + strings.Repeat("0", 1000) + "e-1000"),
		"risk":  json.Number("7" + strings.Repeat("0", 1000) + ".0e-1000"),
		"minus": json.Number("-15" + strings.Repeat("0", 1000) + "e-1001"),
	}),
		Request: &authtestv1.OwnRequest{}}
	wantEval(t, in, map[string]bool{
		"claims.one == 1.0":    true,
		"claims.risk < 5.0":    false,
		"claims.risk == 7.0":   true,
		"claims.minus == -1.5": true,
	})
}

// A double holds integers exactly only up to 2^53: a numeric ID claim
// beyond that must not equal its neighbours.
func TestEval_LargeIntegerClaimsKeepTheirValue(t *testing.T) {
	in := grpcauth.ConditionInput{Claims: claims(t, map[string]any{"sub": "alice",
		"uid":   json.Number("9007199254740993"), // 2^53 + 1
		"edge":  json.Number("9007199254740992"), // 2^53
		"neg":   json.Number("-9007199254740993"),
		"big":   json.Number("18446744073709551615"),
		"ids":   []any{json.Number("9223372036854775807")},
		"level": 2, "ratio": 0.5,
		// JSON does not tell integers from other numbers: an issuer may
		// write one with a fraction or an exponent.
		"uid2": json.Number("9007199254740993.0"),
		"sci":  json.Number("9.007199254740993e15"),
		"e16":  json.Number("1E16"),
		"neg2": json.Number("-9007199254740993.000"),
		"big2": json.Number("1.8446744073709551615e19"),
		"huge": json.Number("1e30"), // beyond uint64: a double
		// More than 800 digits before the point: strconv.ParseFloat
		// counts only the first 800 when it falls back to its slow path
		// (2^53 + 1 is halfway between two doubles), and reads 9.0e-201.
		"long": json.Number("9007199254740993" + strings.Repeat("0", 1000) + "e-1000"),
	}),
		Request: &authtestv1.OwnRequest{}}
	wantEval(t, in, map[string]bool{
		"claims.uid == 9007199254740993":                   true,
		"claims.uid == 9007199254740992":                   false,
		"claims.uid != 9007199254740994":                   true,
		"claims.edge == 9007199254740992":                  true,
		"claims.edge == 9007199254740993":                  false,
		"claims.neg == -9007199254740993":                  true,
		"claims.neg == -9007199254740992":                  false,
		"claims.big == 18446744073709551615u":              true,
		"9223372036854775807 in claims.ids":                true,
		"9223372036854775806 in claims.ids":                false,
		"claims.level == 2.0 && claims.level + 1.0 == 3.0": true, // smaller numbers stay doubles
		"claims.ratio == 0.5":                              true,
		"claims.uid2 == 9007199254740993":                  true,
		"claims.uid2 == 9007199254740992":                  false,
		"claims.sci == 9007199254740993":                   true,
		"claims.sci == 9007199254740992":                   false,
		"claims.e16 == 10000000000000000":                  true,
		"claims.e16 == 10000000000000001":                  false,
		"claims.neg2 == -9007199254740993":                 true,
		"claims.neg2 == -9007199254740992":                 false,
		"claims.big2 == 18446744073709551615u":             true,
		"claims.big2 == 18446744073709551614u":             false,
		"type(claims.uid2) == int && type(claims.big2) == uint && type(claims.huge) == double": true,
		"claims.long == 9007199254740993": true,
	})
}

// TestEval_StringParsesAreChargedByLength: int(), uint(), double(),
// timestamp() and duration() of a string take time in its length, which
// cel-go charges as 1: a comprehension parsing a megabyte request string
// on every step ran for seconds within the limit, and a short list literal
// was proven within the limit and not tracked at all.
func TestEval_StringParsesAreChargedByLength(t *testing.T) {
	in := grpcauth.ConditionInput{
		Claims:  claims(t, map[string]any{"sub": "alice", "l": make([]int, 1000), "n": strings.Repeat("0", 1<<20) + "1"}),
		Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: strings.Repeat("0", 1<<20) + "1"}},
	}
	wantCostLimit(t, celcond.Config{CostLimit: 10_000}, in,
		"claims.l.all(x, int(request.item.owner) == 1)",
		"claims.l.all(x, int(claims.n) == 1)", // dispatched at run time: a dyn argument
		"claims.l.all(x, double(request.item.owner) == 1.0)",
		"[1, 2, 3].exists(x, uint(request.item.owner) == 2u)",
		"[1, 2, 3].exists(x, timestamp(request.item.owner) == timestamp(0))",
		"[1, 2, 3].exists(x, duration(request.item.owner) == duration('0s'))",
	)
}

// TestEval_StringSizesAreChargedByLength: size() of a string counts its
// characters, which cel-go charges 1 whatever the length: a comprehension
// taking the size of a 4 MiB request string on every step ran for about
// 150 s within the default limit.
func TestEval_StringSizesAreChargedByLength(t *testing.T) {
	in := grpcauth.ConditionInput{
		Claims:  claims(t, map[string]any{"sub": "alice", "l": make([]int, 1000), "s": strings.Repeat("a", 1<<16)}),
		Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: strings.Repeat("a", 1<<16)}},
	}
	wantCostLimit(t, celcond.Config{CostLimit: 10_000}, in,
		"claims.l.all(x, size(request.item.owner) > 0)",
		"claims.l.all(x, request.item.owner.size() > 0)",
		"claims.l.all(x, size(claims.s) > 0)", // dispatched at run time: a dyn argument
	)
	// Proven within the limit by the estimate, these would not be tracked.
	wantCostLimit(t, celcond.Config{CostLimit: 1000}, in,
		"size(request.item.owner) > 0 && request.item.owner.size() < 1000000")
	wantTrue(t, celcond.Config{CostLimit: 10_000}, in, "claims.l.all(x, size(subject) == 5)")
}

// TestEval_MapMembershipIsChargedByKeyLength: in on a map hashes the key,
// which cel-go charges 1 whatever the key's length: a comprehension
// testing a 4 MiB request string against a map literal on every step ran
// for about 3 s within the default limit.
func TestEval_MapMembershipIsChargedByKeyLength(t *testing.T) {
	in := grpcauth.ConditionInput{
		Claims:  claims(t, map[string]any{"sub": "alice", "l": make([]int, 1000), "m": map[string]int{"a": 1}}),
		Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: strings.Repeat("a", 1<<16)}},
	}
	wantCostLimit(t, celcond.Config{}, in,
		"claims.l.all(x, !(request.item.owner in {'a': 1}))",
		"claims.l.all(x, !(request.item.owner in claims))",
		"claims.l.all(x, !(request.item.owner in claims.m))", // dispatched at run time: a dyn map
	)
	// Proven within the limit by the estimate, these would not be tracked.
	wantCostLimit(t, celcond.Config{CostLimit: 1000}, in,
		"!(request.item.owner in {'a': 1}) && !(request.item.owner in {'b': 1})")
	wantTrue(t, celcond.Config{CostLimit: 10_000}, in, "claims.l.all(x, subject in {'alice': 1})")
}

// TestEval_ComputedMapKeysAreChargedByLength: indexing a map, or building
// one, with a computed key hashes the key whole, which cel-go charged the
// same whatever its length: a comprehension indexing a claim map with a
// multi-megabyte request string on every step ran for 1-3.5 s within the
// default limit, at a length the caller chose.
func TestEval_ComputedMapKeysAreChargedByLength(t *testing.T) {
	owner := strings.Repeat("a", 1<<16)
	in := grpcauth.ConditionInput{
		Claims:  claims(t, map[string]any{"sub": "alice", "l": make([]int, 1000), "acl": map[string]string{owner: "rw"}}),
		Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: owner}},
	}
	wantCostLimit(t, celcond.Config{}, in,
		"claims.l.all(x, claims.acl[request.item.owner] == 'rw')", // a dyn map
		"claims.l.all(x, {request.item.owner: 1}[request.item.owner] == 1)",
		"claims.l.all(x, {request.item.owner: 1}.size() == 1)",
		"claims.l.all(x, claims[request.item.owner] != 'rw')",
	)
	// Proven within the limit by the estimate, these would not be tracked.
	wantCostLimit(t, celcond.Config{CostLimit: 1000}, in,
		"claims.acl[request.item.owner] == 'rw' && {request.item.owner: 1}.size() == 1")
	// A short key, a literal one, or a list index costs as before.
	wantTrue(t, celcond.Config{}, in, "claims.l.all(x, {subject: 1}[subject] == 1)")
	wantTrue(t, celcond.Config{}, in, "claims.l.all(x, claims.l[x] == 0 && {'a': 1}['a'] == 1)")
}

// TestEval_NamedTimeZonesAreChargedAsZoneLoads: a timestamp accessor
// given a time zone name (getHours('Europe/Paris')) loads the zone from
// disk on every call, about 60 µs (200 µs for a missing name), which
// cel-go charges 1: a comprehension calling it on every step ran for
// 2 s (7 s for a missing name) within the default limit. A fixed offset
// ('+01:00') is parsed, not loaded, and costs what cel-go charges.
func TestEval_NamedTimeZonesAreChargedAsZoneLoads(t *testing.T) {
	in := grpcauth.ConditionInput{
		Claims:  claims(t, map[string]any{"sub": "alice", "l": make([]int, 200), "tz": "Europe/Paris"}),
		Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "Europe/Paris"}},
	}
	wantCostLimit(t, celcond.Config{CostLimit: 10_000}, in,
		"claims.l.all(x, timestamp(0).getHours('Europe/Paris') >= 0)",
		"claims.l.all(x, timestamp(0).getDayOfWeek(request.item.owner) >= 0)",
		"claims.l.all(x, timestamp(0).getMinutes(claims.tz) >= 0)", // dispatched at run time: a dyn argument
		"claims.l.all(x, timestamp(0).getSeconds('Nowhere/Missing') >= 0 || true)",
	)
	// Proven within the limit by the estimate, these would not be tracked.
	wantCostLimit(t, celcond.Config{CostLimit: 1500}, in,
		"timestamp(0).getHours('Europe/Paris') >= 0 && timestamp(0).getFullYear('Europe/Paris') > 0")
	wantTrue(t, celcond.Config{CostLimit: 10_000}, in, "claims.l.all(x, timestamp(0).getHours('+01:00') == 1)")
}

// TestEval_TimeZonesAreChargedByLength: a timestamp accessor reads its
// zone whole, a name to load as an offset to parse (and quote in its
// error), which cel-go charges 1 whatever the length: a comprehension
// given a 4 MiB request string as an offset ('aaa…:') on every step ran
// for 8 minutes within the default limit, as a name for 3 s.
func TestEval_TimeZonesAreChargedByLength(t *testing.T) {
	in := grpcauth.ConditionInput{
		Claims:  claims(t, map[string]any{"sub": "alice", "l": make([]int, 1000), "tz": strings.Repeat("a", 1<<14) + ":00"}),
		Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: strings.Repeat("1", 1<<14) + ":00"}},
	}
	wantCostLimit(t, celcond.Config{CostLimit: 10_000}, in,
		"claims.l.all(x, timestamp(0).getHours(request.item.owner) >= 0 || true)",
		"claims.l.all(x, timestamp(0).getMinutes(claims.tz) >= 0 || true)", // dispatched at run time: a dyn argument
	)
	// Proven within the limit by the estimate, this would not be tracked.
	wantCostLimit(t, celcond.Config{CostLimit: 1500}, in,
		"timestamp(0).getHours(request.item.owner) >= 0 || true")
}

// TestEval_DynamicStringOperationsAreChargedByLength: concatenation,
// ordering and the conversions between string and bytes read their
// operands whole, which cel-go charges by length only when the checker
// picked the overload; on dyn operands (claims, google.protobuf.Struct
// fields, dyn()) the call is dispatched at run time and charged 1: a
// comprehension concatenating two 64 KiB claims on every step ran on
// within the limit.
func TestEval_DynamicStringOperationsAreChargedByLength(t *testing.T) {
	s := strings.Repeat("a", 1<<16)
	in := grpcauth.ConditionInput{
		Claims:  claims(t, map[string]any{"sub": "alice", "l": make([]int, 1000), "s": s, "t": s}),
		Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: s}},
	}
	wantCostLimit(t, celcond.Config{CostLimit: 10_000}, in,
		"claims.l.all(x, claims.s + claims.t != '')",
		"claims.l.all(x, !(claims.s < claims.t))",
		"claims.l.all(x, claims.s >= claims.t)",
		"claims.l.all(x, bytes(claims.s) != b'')",
		"[b'"+s[:1<<10]+"'].all(b, claims.l.all(x, string(dyn(b)) != ''))",
	)
	wantTrue(t, celcond.Config{CostLimit: 10_000}, in, "claims.l.all(x, subject + subject <= subject + 'b')")
}

// TestEval_DeepComparisonsAreChargedBySize: ==, != and in compare whole
// values, which cel-go charges by their number of elements: comparing two
// maps of a few keys holding long lists, on every step of a comprehension,
// ran for seconds within the limit.
func TestEval_DeepComparisonsAreChargedBySize(t *testing.T) {
	l := make([]int, 2000)
	in := grpcauth.ConditionInput{
		Claims:  claims(t, map[string]any{"sub": "alice", "l": l, "ll": [][]int{l}}),
		Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "alice"}},
	}
	wantCostLimit(t, celcond.Config{}, in,
		"claims.l.all(x, claims == claims)",
		"claims.l.all(x, claims.ll == claims.ll)",
		"claims.l.all(x, claims.l in claims.ll)",
	)
}

// TestEval_DeepComparisonsOfLiteralsAreTracked: a list literal's size, to
// cel-go's estimate, is its number of elements, though they may be
// messages of megabytes: comparing such lists was proven within the limit
// and never tracked.
func TestEval_DeepComparisonsOfLiteralsAreTracked(t *testing.T) {
	in := grpcauth.ConditionInput{
		Claims:  claims(t, map[string]any{"sub": "alice"}),
		Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: strings.Repeat("a", 1<<20)}},
	}
	wantCostLimit(t, celcond.Config{CostLimit: 1000}, in,
		"[1, 2, 3].all(x, [request] == [request])",
		"[1, 2, 3].all(x, request.item in [request.item])",
	)
}

// TestEval_ErrorsDoNotQuoteLargeInput: cel-go quotes the value it failed
// on; the evaluation error, which goes into Decision.Err and the log, is
// cut short rather than carrying a request's megabyte.
func TestEval_ErrorsDoNotQuoteLargeInput(t *testing.T) {
	in := grpcauth.ConditionInput{
		Claims:  claims(t, map[string]any{"sub": "alice"}),
		Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: strings.Repeat("é", 1<<19)}},
	}
	for _, expr := range []string{
		"timestamp(request.item.owner) == timestamp(0)",
		"claims[request.item.owner] == 1",
	} {
		_, err := compile(t, celcond.Config{}, expr).Eval(context.Background(), in)
		if err == nil || len(err.Error()) > 300 || !utf8.ValidString(err.Error()) {
			t.Errorf("%s: err = %.300v (%d bytes), want a short error", expr, err, len(fmt.Sprint(err)))
		}
	}
}

// A number claim beyond the range of a double fails the evaluation with an
// error that says so and quotes the number (and the claim's name, which a
// condition reading every claim does not choose) clipped: a claim may be
// 64 KiB of digits, and the error goes into Decision.Err and the log on
// every call. No error it wraps holds more.
func TestEval_OutOfRangeNumberClaimIsAShortErrorThatSaysSo(t *testing.T) {
	longName := strings.Repeat("n", 20000)
	for _, tc := range []struct {
		name, number, expr string
	}{
		{"big", "1" + strings.Repeat("0", 60000) + "e400", "claims.big > 1.0"},
		{"big", "-1e" + strings.Repeat("9", 60000), "claims.big < 1.0"},
		{"big", "1e400", "claims.big > 1.0"},
		{longName, "1e400", "claims.size() > 0"},
	} {
		in := grpcauth.ConditionInput{Claims: claims(t, map[string]any{"sub": "alice", tc.name: json.Number(tc.number)}),
			Request: &authtestv1.OwnRequest{}}
		_, err := compile(t, celcond.Config{}, tc.expr).Eval(context.Background(), in)
		if err == nil || !strings.Contains(err.Error(), "out of range") || !strings.HasPrefix(err.Error(), "celcond: claim ") {
			t.Errorf("%s on %.20s… (%d bytes) = %.300v, want a celcond error saying the claim is out of range", tc.expr, tc.number, len(tc.number), err)
			continue
		}
		for e := err; e != nil; e = errors.Unwrap(e) {
			if n := len(e.Error()); n > 256+len("celcond: …") {
				t.Errorf("%s: the error wraps one of %d bytes: %.100q…", tc.expr, n, e.Error())
			}
		}
	}
}

// wantCostLimit asserts that each expression, compiled with cfg, fails on
// in with the cost limit exceeded.
func wantCostLimit(t *testing.T, cfg celcond.Config, in grpcauth.ConditionInput, exprs ...string) {
	t.Helper()
	for _, expr := range exprs {
		_, err := compile(t, cfg, expr).Eval(context.Background(), in)
		if err == nil || !strings.Contains(err.Error(), "cost limit") {
			t.Errorf("%s: err = %.200v, want the cost limit exceeded", expr, err)
		}
	}
}

// wantTrue asserts that expr, compiled with cfg, is true on in.
func wantTrue(t *testing.T, cfg celcond.Config, in grpcauth.ConditionInput, expr string) {
	t.Helper()
	if ok, err := compile(t, cfg, expr).Eval(context.Background(), in); !ok || err != nil {
		t.Errorf("%s = %v, %v; want true, nil", expr, ok, err)
	}
}

// TestEval_DecodesOnlyTheClaimsRead: a condition reading claims by name
// decodes those alone: decoding every claim of a large token (a long
// groups list) took half a millisecond, on every message of a stream.
func TestEval_DecodesOnlyTheClaimsRead(t *testing.T) {
	groups := make([]string, 1500)
	for i := range groups {
		groups[i] = fmt.Sprintf("group-%d", i)
	}
	in := grpcauth.ConditionInput{
		Claims:  claims(t, map[string]any{"sub": "alice", "groups": groups, "tenant": "a"}),
		Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "tenant"}},
	}
	cond := compile(t, celcond.Config{}, "claims.tenant == 'a' && has(claims.sub) && claims['tenant'] != ''")
	if allocs := testing.AllocsPerRun(20, func() {
		if ok, err := cond.Eval(context.Background(), in); !ok || err != nil {
			t.Fatalf("Eval = %v, %v; want true", ok, err)
		}
	}); allocs > 100 {
		t.Errorf("Eval made %.0f allocations, want the groups claim left undecoded", allocs)
	}
	// Reading the claims as a whole still sees every claim.
	for _, expr := range []string{
		"size(claims) == 3",
		"'groups' in claims && claims.tenant == 'a'",
		"claims.exists(k, k == 'groups')",
		"claims[request.item.owner] == 'a' && size(claims.groups) == 1500",
		"claims.all(k, k != 'x') && has(claims.tenant)",
	} {
		if ok, err := compile(t, celcond.Config{}, expr).Eval(context.Background(), in); !ok || err != nil {
			t.Errorf("%s = %v, %v; want true", expr, ok, err)
		}
	}
}

// TestEval_EndedCallStopsAComprehension: a comprehension watches the
// call's context, so that an expression that runs long within the cost
// limit (a map indexed with a computed key, which cel-go undercharges)
// stops once the call is cancelled or past its deadline, and fails with
// that context error rather than running to its end: to a grant (the
// first expression is true) or to its own result (the second would fail
// on its last element, "no such key").
func TestEval_EndedCallStopsAComprehension(t *testing.T) {
	l := make([]string, 1000)
	for i := range l {
		l[i] = "a"
	}
	l[len(l)-1] = "z"
	in := grpcauth.ConditionInput{Claims: claims(t, map[string]any{"sub": "alice", "l": l, "m": map[string]int{"a": 1}}),
		Request: &authtestv1.OwnRequest{}}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	past, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		want error
	}{{"cancelled", cancelled, context.Canceled}, {"past its deadline", past, context.DeadlineExceeded}} {
		for _, expr := range []string{"claims.l.exists(x, x == 'z')", "claims.l.all(x, claims.m[x] == 1)"} {
			got, err := compile(t, celcond.Config{}, expr).Eval(tt.ctx, in)
			if got || !errors.Is(err, tt.want) {
				t.Errorf("%s: %s = %v, %v; want false, %v", tt.name, expr, got, err, tt.want)
			}
		}
	}
	// A live call's context does not stop it, nor does an ended one stop an
	// expression without a comprehension, which does bounded work.
	live, cancel := context.WithCancel(context.Background())
	defer cancel()
	if got, err := compile(t, celcond.Config{}, "claims.l.exists(x, x == 'z')").Eval(live, in); !got || err != nil {
		t.Errorf("with a live context: %v, %v; want true", got, err)
	}
	if got, err := compile(t, celcond.Config{}, "claims.m.a == 1").Eval(cancelled, in); !got || err != nil {
		t.Errorf("no comprehension, cancelled: %v, %v; want true", got, err)
	}
}

// A token that names no user or client makes reading subject or client_id
// an error, as reading a missing claim is, not ”: an empty subject would
// equal every unset request field. An error absorbed by || still lets the
// other side decide.
func TestEval_SubjectAndClientIDOfATokenNamingNoOneAreErrors(t *testing.T) {
	in := grpcauth.ConditionInput{Claims: claims(t, map[string]any{"sub": "", "scp": "test:admin"}), Request: &authtestv1.OwnRequest{}}
	for expr, want := range map[string]string{
		"request.item.owner == subject":   "no subject",
		"subject == ''":                   "no subject",
		"client_id == request.item.owner": "names no client",
	} {
		if ok, err := compile(t, celcond.Config{}, expr).Eval(context.Background(), in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s = %v, %v; want an error containing %q", expr, ok, err, want)
		}
	}
	if ok, err := compile(t, celcond.Config{}, "request.item.owner == subject || 'test:admin' in scopes").Eval(context.Background(), in); !ok || err != nil {
		t.Errorf("an admin without a subject = %v, %v; want true", ok, err)
	}
}

// TestEval_MatchJustOverTheLimitStopsBeforeItRuns: with a cost limit of
// 1,000 and the pattern '[a-z]{1,64}x' (33), a 299-byte text (30 × 33 =
// 990) is matched, and a 300-byte one (31 × 33 = 1,023) is refused
// before the pattern runs. (Mutants: the guard reading half the text's
// length; the text's cost without its 1 more.)
func TestEval_MatchJustOverTheLimitStopsBeforeItRuns(t *testing.T) {
	c := claims(t, map[string]any{"sub": "alice"})
	cond := compile(t, celcond.Config{CostLimit: 1000}, "!request.item.owner.matches('[a-z]{1,64}x')")
	eval := func(n int) (bool, error) {
		in := grpcauth.ConditionInput{Claims: c, Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: strings.Repeat("a", n)}}}
		return cond.Eval(context.Background(), in)
	}
	if ok, err := eval(299); !ok || err != nil {
		t.Errorf("299 bytes: %v, %v; want true: the match costs 990", ok, err)
	}
	if _, err := eval(300); err == nil || !strings.Contains(err.Error(), "matching the string would exceed the cost limit") {
		t.Errorf("300 bytes: err = %v, want the match refused before it runs", err)
	}
}
