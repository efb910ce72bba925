package grpcauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/reflect/protoregistry"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

func registered(t *testing.T) *grpc.Server {
	t.Helper()
	srv := grpc.NewServer()
	svc := &testService{}
	authtestv1.RegisterTestServiceServer(srv, svc)
	authtestv1.RegisterUnannotatedServiceServer(srv, svc)
	t.Cleanup(srv.Stop)
	return srv
}

func TestCheck_ReportsUnannotatedMethod(t *testing.T) {
	a := mustNew(t, Config{})
	err := a.Check(registered(t))
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("Check = %v, want a *CheckError", err)
	}
	if got, want := ce.Methods(), []string{mUnannotated}; !slices.Equal(got, want) {
		t.Errorf("Methods = %v, want %v", got, want)
	}
	if !errors.Is(err, ErrNoRule) || errors.Is(err, ErrInvalidRule) {
		t.Errorf("Check error %v: want ErrNoRule only", err)
	}
	if !strings.Contains(err.Error(), mUnannotated) {
		t.Errorf("message %q does not name the method", err)
	}
	// Check compiled and published every registered method.
	if n := a.planLen(); n != 9 {
		t.Errorf("plan holds %d methods after Check, want 9", n)
	}
}

// Check leaves every registered method's plan in the lock-free map, so
// that no call after it takes the plan mutex: publishing its plans one by
// one left up to half of them in the pending map, whose calls lock until
// enough of them bring about a merge.
func TestCheck_LeavesEveryRegisteredMethodOnTheLockFreePath(t *testing.T) {
	a := mustNew(t, Config{})
	a.lookup(mAuth) // a plan published before Check is kept
	before, _ := a.published(mAuth)
	srv := registered(t)
	_ = a.Check(srv)
	plan := *a.plan.Load()
	n := 0
	for svc, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			n++
			if _, ok := plan["/"+svc+"/"+m.Name]; !ok {
				t.Errorf("/%s/%s: not in the lock-free plan map after Check", svc, m.Name)
			}
		}
	}
	if len(plan) != n {
		t.Errorf("lock-free plan map holds %d plans after Check, want the %d registered methods", len(plan), n)
	}
	if plan[mAuth] != before {
		t.Errorf("Check replaced the plan of %s published before it", mAuth)
	}
	a.mu.Lock()
	pending, debt := len(a.pending), a.debt
	a.mu.Unlock()
	if pending != 0 || debt != 0 {
		t.Errorf("after Check: %d pending plans, debt %d; want none", pending, debt)
	}
}

// TestCheck_NilServerIsAnError: Check(nil), or a nil *grpc.Server (a
// variable left unset), returns an error saying so instead of panicking,
// and one that is no *CheckError: nothing was checked.
func TestCheck_NilServerIsAnError(t *testing.T) {
	a := mustNew(t, Config{})
	for name, srv := range map[string]ServiceInfoProvider{
		"nil":              nil,
		"nil *grpc.Server": (*grpc.Server)(nil),
	} {
		t.Run(name, func(t *testing.T) {
			err := checkWithoutPanic(t, a, srv)
			var ce *CheckError
			if !errors.Is(err, errNoServer) || errors.As(err, &ce) {
				t.Fatalf("Check = %v, want a grpcauth error that is no *CheckError", err)
			}
			if strings.Contains(err.Error(), "<nil>") {
				t.Errorf("Check = %q: a nil interface has no type to name", err)
			}
		})
	}
}

// checkWithoutPanic returns a.Check(srv), failing the test at once if
// Check panics.
func checkWithoutPanic(t *testing.T, a *Authenticator, srv ServiceInfoProvider) (err error) {
	t.Helper()
	defer func() {
		if v := recover(); v != nil {
			t.Fatalf("Check panicked: %v", v)
		}
	}()
	return a.Check(srv)
}

func TestCheck_PassesWhenEveryMethodHasARule(t *testing.T) {
	a := mustNew(t, Config{Public: []string{"authtest.v1.UnannotatedService"}})
	if err := a.Check(registered(t)); err != nil {
		t.Fatalf("Check = %v, want nil", err)
	}
}

func TestCheck_ReportsInvalidRule(t *testing.T) {
	a := mustNew(t, Config{Descriptors: badFiles(t)})
	err := a.Check(fakeServer{"bad.v1.BadService": {Methods: []grpc.MethodInfo{{Name: "Contradictory"}}}})
	if !errors.Is(err, ErrInvalidRule) {
		t.Fatalf("Check = %v, want ErrInvalidRule", err)
	}
	if !strings.Contains(err.Error(), "/bad.v1.BadService/Contradictory") {
		t.Errorf("message %q does not name the method", err)
	}
}

type fakeServer map[string]grpc.ServiceInfo

func (f fakeServer) GetServiceInfo() map[string]grpc.ServiceInfo { return f }

// TestCheck_ReportsStreamGRPCRunsWithoutInterceptors registers
// authtest.v1.TestService by hand, as a dynamic server might, with its
// ServerStream method as a grpc.StreamDesc without ClientStreams or
// ServerStreams. grpc-go then calls neither interceptor for it, so a call
// without a token reaches the handler: Check must say so.
// TestCheck_ReportsStreamWithoutInterceptorsWhenDescriptorsLackIt: a
// custom Config.Descriptors without the service's file does not hide a
// flagless stream; the generated code linked into the binary still says
// the method streams.
func TestCheck_ReportsStreamWithoutInterceptorsWhenDescriptorsLackIt(t *testing.T) {
	const mServerStream = "/authtest.v1.TestService/ServerStream"
	a := mustNew(t, Config{Descriptors: new(protoregistry.Files), DefaultRule: &grpcauthv1.Rule{}})
	handler := recordingHandler(make(chan string, 1))
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(a.StreamServerInterceptor()))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "authtest.v1.TestService",
		HandlerType: (*any)(nil),
		Streams:     []grpc.StreamDesc{{StreamName: "ServerStream", Handler: handler}}, // flags forgotten
	}, struct{}{})
	var ce *CheckError
	if err := a.Check(srv); !errors.As(err, &ce) {
		t.Fatalf("Check = %v, want a *CheckError", err)
	}
	for _, p := range ce.Problems {
		if p.Method == mServerStream && errors.Is(p.Err, ErrNotIntercepted) {
			return
		}
	}
	t.Errorf("problems %v, want %s with ErrNotIntercepted", ce.Problems, mServerStream)
}

func TestCheck_ReportsStreamGRPCRunsWithoutInterceptors(t *testing.T) {
	const mServerStream = "/authtest.v1.TestService/ServerStream"
	a := mustNew(t, Config{})
	reached := make(chan string, 2)
	handler := recordingHandler(reached)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(a.StreamServerInterceptor()))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "authtest.v1.TestService",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{
			{StreamName: "ServerStream", Handler: handler}, // flags forgotten
			{StreamName: "BidiStream", Handler: handler, ClientStreams: true, ServerStreams: true},
		},
	}, struct{}{})

	err := a.Check(srv)
	var ce *CheckError
	if !errors.As(err, &ce) || !errors.Is(err, ErrNotIntercepted) {
		t.Fatalf("Check = %v, want a *CheckError with ErrNotIntercepted", err)
	}
	if got, want := ce.Methods(), []string{mServerStream}; !slices.Equal(got, want) {
		t.Errorf("Methods = %v, want %v", got, want)
	}
	if !strings.Contains(err.Error(), "ClientStreams") {
		t.Errorf("message %q does not name the fix", err)
	}

	// Why: the call, without a token, reaches the handler unchecked.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, srv, lis)
	conn := dial(t, lis.Addr().String(), insecure.NewCredentials())
	err = conn.Invoke(t.Context(), mServerStream, &authtestv1.ServerStreamRequest{}, &authtestv1.ServerStreamResponse{})
	if err != nil || len(reached) != 1 {
		t.Errorf("call without a token: %v, handler reached %d times; want it reached (grpc-go v1.85 behaviour; if grpc-go now intercepts such a desc, ErrNotIntercepted can go)", err, len(reached))
	}
	// The bidi stream, registered with its flags, is checked.
	s, err := conn.NewStream(t.Context(), &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/authtest.v1.TestService/BidiStream")
	if err == nil {
		err = s.RecvMsg(&authtestv1.BidiStreamResponse{})
	}
	checkStatus(t, err, codes.Unauthenticated, ReasonCredentialsMissing)
}

// wantProblem is one problem a Check test expects: the name, the Config
// field ("" for a registered method) and the sentinel its error wraps.
type wantProblem struct {
	name, field string
	kind        error
}

// checkProblems checks that err is nil when want is empty, or else a
// *CheckError with exactly the problems of want, in order.
func checkProblems(t *testing.T, err error, want []wantProblem) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("Check = %v, want nil", err)
		}
		return
	}
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("Check = %v, want a *CheckError", err)
	}
	if len(ce.Problems) != len(want) {
		t.Fatalf("Check found %d problems, want %d:\n%v", len(ce.Problems), len(want), err)
	}
	for i, w := range want {
		p := ce.Problems[i]
		if p.Method != w.name || p.ConfigField != w.field || !errors.Is(p.Err, w.kind) {
			t.Errorf("problem %d = {%s %q %v}, want {%s %q %v}", i, p.Method, p.ConfigField, p.Err, w.name, w.field, w.kind)
		}
	}
}

// TestCheck_ReportsConfigNamesThatMatchNothingRegistered: a name in
// Config.Public, Rules or DryRunMethods that names no method or service
// registered on the server is dead (a typo, usually); Check reports each,
// with the field it is in, as ErrUnmatchedName.
func TestCheck_ReportsConfigNamesThatMatchNothingRegistered(t *testing.T) {
	const unannotated = "authtest.v1.UnannotatedService"
	for _, tt := range []struct {
		name string
		cfg  Config
		want []wantProblem
	}{
		{"every name matches a registered method or service", Config{
			Public:        []string{unannotated, "/authtest.v1.TestService/Inherited"},
			Rules:         map[string]*grpcauthv1.Rule{"authtest.v1.TestService": {Scopes: []string{"x"}}},
			DryRunMethods: []string{mAllOf, unannotated},
		}, nil},
		{"a method typo in Public", Config{
			Public: []string{unannotated, "/authtest.v1.TestService/Publik"},
		}, []wantProblem{{"/authtest.v1.TestService/Publik", "Public", ErrUnmatchedName}}},
		{"a service typo in Rules leaves its method without a rule", Config{
			Rules: map[string]*grpcauthv1.Rule{"authtest.v1.UnanotatedService": {}},
		}, []wantProblem{
			{mUnannotated, "", ErrNoRule},
			{"authtest.v1.UnanotatedService", "Rules", ErrUnmatchedName},
		}},
		{"a method typo in DryRunMethods", Config{
			Public:        []string{unannotated},
			DryRunMethods: []string{"/authtest.v1.TestService/AlOf"},
		}, []wantProblem{{"/authtest.v1.TestService/AlOf", "DryRunMethods", ErrUnmatchedName}}},
		{"a service the descriptors know but the server does not register", Config{
			Public: []string{unannotated},
			Rules:  map[string]*grpcauthv1.Rule{"authtest.v1.ConditionService": {Scopes: []string{"x"}}},
		}, []wantProblem{{"authtest.v1.ConditionService", "Rules", ErrUnmatchedName}}},
		{"a method of a service the server does not register", Config{
			Public: []string{unannotated, "/authtest.v1.ConditionService/Own"},
		}, []wantProblem{{"/authtest.v1.ConditionService/Own", "Public", ErrUnmatchedName}}},
		{"one dead name in two fields, sorted by field", Config{
			Public:        []string{unannotated},
			Rules:         map[string]*grpcauthv1.Rule{"/ghost.v1.Ghost/Haunt": {}},
			DryRunMethods: []string{"/ghost.v1.Ghost/Haunt"},
		}, []wantProblem{
			{"/ghost.v1.Ghost/Haunt", "DryRunMethods", ErrUnmatchedName},
			{"/ghost.v1.Ghost/Haunt", "Rules", ErrUnmatchedName},
		}},
		{"StandardPublicServices the server does not register", Config{
			Public: append(slices.Clone(StandardPublicServices), unannotated),
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := mustNew(t, tt.cfg).Check(registered(t))
			checkProblems(t, err, tt.want)
			for _, w := range tt.want {
				if w.field != "" && !strings.Contains(err.Error(), "Config."+w.field+" "+fmt.Sprintf("%q", w.name)) {
					t.Errorf("message %q does not name Config.%s %q", err, w.field, w.name)
				}
			}
		})
	}
}

// TestCheck_WithoutDropsTheKindsAServerExpects: a proxy whose Config names
// the services it forwards drops ErrUnmatchedName and still fails on a
// method without a rule.
func TestCheck_WithoutDropsTheKindsAServerExpects(t *testing.T) {
	a := mustNew(t, Config{Rules: map[string]*grpcauthv1.Rule{"backend.v1.Backend": {Scopes: []string{"x"}}}})
	err := a.Check(registered(t))
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("Check = %v, want a *CheckError", err)
	}
	rest := ce.Without(ErrUnmatchedName)
	checkProblems(t, rest, []wantProblem{{mUnannotated, "", ErrNoRule}})
	if strings.Contains(rest.Error(), "backend.v1.Backend") {
		t.Errorf("Without(ErrUnmatchedName) = %q still names the dropped entry", rest)
	}
	if err := ce.Without(ErrNoRule, ErrUnmatchedName); err != nil {
		t.Errorf("Without(both kinds) = %v, want nil", err)
	}
	if got := ce.Methods(); !slices.Equal(got, []string{mUnannotated}) {
		t.Errorf("Methods = %v, want only the registered method %s", got, mUnannotated)
	}
}

// TestCheck_ReportsOptionsConfigDescriptorsHides: when Config.Descriptors
// does not resolve a registered service, its options are not read and its
// methods silently get a Config service rule or DefaultRule (here: any
// token for the admin-scoped AnyOf). Check reports each method an option
// of the generated code (protoregistry.GlobalFiles) would have ruled, as
// ErrNoDescriptor; a method without any option (Unannotated) loses
// nothing and is not reported.
func TestCheck_ReportsOptionsConfigDescriptorsHides(t *testing.T) {
	empty := new(protoregistry.Files)
	testService := []string{mAllOf, mAnyOf, "/authtest.v1.TestService/Authenticated", "/authtest.v1.TestService/BidiStream",
		"/authtest.v1.TestService/ClientStream", mInherited, "/authtest.v1.TestService/Public", "/authtest.v1.TestService/ServerStream"}
	hidden := func(skip string, rest ...wantProblem) []wantProblem {
		var w []wantProblem
		for _, m := range testService {
			if m != skip {
				w = append(w, wantProblem{m, "", ErrNoDescriptor})
			}
		}
		return append(w, rest...)
	}
	everyMethod := map[string]*grpcauthv1.Rule{}
	for _, m := range testService {
		everyMethod[m] = &grpcauthv1.Rule{Scopes: []string{"x"}}
	}
	for _, tt := range []struct {
		name string
		cfg  Config
		want []wantProblem
	}{
		{"DefaultRule in place of every option", Config{Descriptors: empty, DefaultRule: &grpcauthv1.Rule{}}, hidden("")},
		// Denied: the problem wraps ErrNoRule too.
		{"no rule in place of the options", Config{Descriptors: empty}, hidden("", wantProblem{mUnannotated, "", ErrNoRule})},
		// The service option is outranked by a Config service rule: only
		// the method options are lost.
		{"a Config service rule in place of the method options", Config{Descriptors: empty,
			Rules: map[string]*grpcauthv1.Rule{"authtest.v1.TestService": {Scopes: []string{"test:read"}}}, DefaultRule: &grpcauthv1.Rule{}},
			hidden(mInherited)},
		// A Config method rule outranks every option: nothing is lost.
		{"a Config rule for every method", Config{Descriptors: empty, Rules: everyMethod, DefaultRule: &grpcauthv1.Rule{}}, nil},
		{"the descriptors resolve the service", Config{DefaultRule: &grpcauthv1.Rule{}}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, tt.cfg)
			err := a.Check(registered(t))
			checkProblems(t, err, tt.want)
			if len(tt.want) == 0 {
				return
			}
			if !strings.Contains(err.Error(), "authtest/v1/authtest.proto") {
				t.Errorf("message %q does not name the file to add", err)
			}
			first := err.(*CheckError).Problems[0].Err
			if denied := tt.cfg.DefaultRule == nil; errors.Is(first, ErrNoRule) != denied {
				t.Errorf("problem %v: wraps ErrNoRule = %t, want %t (the method is denied)", first, !denied, denied)
			}
		})
	}

	// What the report is about: the admin-only AnyOf admits any token.
	a := mustNew(t, Config{Descriptors: empty, DefaultRule: &grpcauthv1.Rule{}})
	if req, err := a.Requirement(mAnyOf); err != nil || req.Source != SourceDefault || len(req.AnyOf) != 0 {
		t.Errorf("Requirement(%s) = %+v, %v; want the default rule, its option unread", mAnyOf, req, err)
	}
}

// TestCheck_LogsRegisteredMethodsNoDescriptorDescribes: a hand-written
// service that no descriptor describes gets its rules from the Config, as
// documented; Check does not fail on it but logs it once, at Warn, unless
// a Config method entry rules every one of its methods.
func TestCheck_LogsRegisteredMethodsNoDescriptorDescribes(t *testing.T) {
	for _, tt := range []struct {
		name  string
		rules map[string]*grpcauthv1.Rule
		warn  bool
	}{
		{"ruled by DefaultRule", nil, true},
		{"ruled by a Config service entry", map[string]*grpcauthv1.Rule{"ghost.v1.Ghost": {}}, true},
		{"ruled by Config method entries", map[string]*grpcauthv1.Rule{"/ghost.v1.Ghost/Haunt": {}, "/ghost.v1.Ghost/Wail": {}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			a := mustNew(t, Config{
				Logger:      slog.New(slog.NewJSONHandler(&logs, nil)),
				Public:      []string{"authtest.v1.UnannotatedService"},
				Rules:       tt.rules,
				DefaultRule: &grpcauthv1.Rule{Scopes: []string{"x"}},
			})
			srv := registered(t)
			handler := recordingHandler(make(chan string, 1))
			srv.RegisterService(&grpc.ServiceDesc{
				ServiceName: "ghost.v1.Ghost",
				HandlerType: (*any)(nil),
				Methods: []grpc.MethodDesc{{MethodName: "Haunt", Handler: func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
					return nil, nil
				}}},
				Streams: []grpc.StreamDesc{{StreamName: "Wail", Handler: handler, ServerStreams: true}},
			}, struct{}{})
			if err := a.Check(srv); err != nil {
				t.Fatalf("Check = %v, want nil", err)
			}
			recs := jsonRecords(t, &logs)
			if !tt.warn {
				if len(recs) != 0 {
					t.Errorf("logged %v, want nothing", recs)
				}
				return
			}
			if len(recs) != 1 || recs[0]["level"] != "WARN" || recs[0]["service"] != "ghost.v1.Ghost" ||
				fmt.Sprint(recs[0]["methods"]) != "[Haunt Wail]" {
				t.Errorf("logged %v, want one WARN record for ghost.v1.Ghost [Haunt Wail]", recs)
			}
		})
	}
}

// Under dry run a method without a usable rule denies no caller with a
// valid token (its refusal is only reported), so Check's summary does not
// say it would be denied to every caller, and its line is marked; a
// method outside dry run still gets the summary it has.
func TestCheck_DryRunMethodWithoutARuleIsNotCalledDenied(t *testing.T) {
	for _, tt := range []struct {
		name         string
		cfg          Config
		denied, note bool
	}{
		{"enforced", Config{}, true, false},
		{"whole server in dry run", Config{DryRun: true}, false, true},
		{"method in dry run", Config{DryRunMethods: []string{mUnannotated}}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := mustNew(t, tt.cfg).Check(registered(t))
			if !errors.Is(err, ErrNoRule) {
				t.Fatalf("Check = %v, want ErrNoRule", err)
			}
			msg := err.Error()
			if got := strings.Contains(msg, "would be denied to every caller"); got != tt.denied {
				t.Errorf("message says denied to every caller: %v, want %v:\n%s", got, tt.denied, msg)
			}
			if got := strings.Contains(msg, "which dry run reports but does not enforce") && strings.Contains(msg, mUnannotated+" (dry run): "); got != tt.note {
				t.Errorf("message notes dry run: %v, want %v:\n%s", got, tt.note, msg)
			}
		})
	}
}

// Dry run relaxes a rule's refusals, not a method grpc-go runs without
// interceptors: Check's line for such a method on a dry-run server is
// not marked "(dry run)", nor does its summary speak of dry run, which
// would read as if the method were only reported.
func TestCheck_DryRunDoesNotMarkAMethodThatRunsUnchecked(t *testing.T) {
	const mServerStream = "/authtest.v1.TestService/ServerStream"
	a := mustNew(t, Config{DryRun: true})
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(a.StreamServerInterceptor()))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "authtest.v1.TestService",
		HandlerType: (*any)(nil),
		Streams:     []grpc.StreamDesc{{StreamName: "ServerStream", Handler: recordingHandler(make(chan string, 1))}}, // flags forgotten
	}, struct{}{})
	err := a.Check(srv)
	if !errors.Is(err, ErrNotIntercepted) {
		t.Fatalf("Check = %v, want ErrNotIntercepted", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "\n  "+mServerStream+": ") || strings.Contains(msg, "dry run") {
		t.Errorf("message marks the unchecked method as in dry run, or lacks its line:\n%s", msg)
	}
}

// A dry-run method whose option Config.Descriptors hides and that has no
// other rule is a method without a usable rule, as its problem says (it
// wraps ErrNoRule beside ErrNoDescriptor): dry run only reports its
// refusals, so the problem is marked DryRun, its line "(dry run)", and
// the summary does not call it denied to every caller.
func TestCheck_DryRunMethodWhoseOptionIsHiddenIsNotCalledDenied(t *testing.T) {
	a := mustNew(t, Config{Descriptors: new(protoregistry.Files), DryRun: true})
	err := a.Check(registered(t))
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("Check = %v, want a *CheckError", err)
	}
	var hidden int
	for _, p := range ce.Problems {
		if !errors.Is(p.Err, ErrNoDescriptor) {
			continue
		}
		hidden++
		if !errors.Is(p.Err, ErrNoRule) || !p.DryRun {
			t.Errorf("problem %s: wraps ErrNoRule %t, DryRun %t; want both (no usable rule, in dry run)", p.Method, errors.Is(p.Err, ErrNoRule), p.DryRun)
		}
		if !strings.Contains(err.Error(), "\n  "+p.Method+" (dry run): ") {
			t.Errorf("line of %s not marked (dry run):\n%s", p.Method, err)
		}
	}
	if hidden == 0 {
		t.Fatalf("Check = %v, want ErrNoDescriptor problems", err)
	}
	if msg := err.Error(); strings.Contains(msg, "would be denied to every caller") || !strings.Contains(msg, "which dry run reports but does not enforce") {
		t.Errorf("summary calls dry-run methods denied, or does not note dry run:\n%s", msg)
	}
}
