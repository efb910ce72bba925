package grpcauth

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/emptypb"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// A resolver that describes any name a caller sends (renamedNames: the
// generated authtest service under whatever name it is asked about, its
// methods and options intact) makes every such name a declared method,
// reachable through grpc.UnknownServiceHandler. A call of one under a
// service name of 64 KiB (gRPC admits a :path of 16 MiB) gets its rule
// (the service option's test:read) and goes through, but neither its
// plan nor its service's option read is kept under that name, and its
// decision is reported as about an unknown method, so that its record
// holds the name clipped. Before, each such call kept the whole name
// twice for good (its plan, and its service's read), and logged it
// whole.
func TestCall_LongServiceNameAResolverMakesUpIsNotKept(t *testing.T) {
	reached := make(chan string, 1)
	decisions := make(chan Decision, 1)
	a := mustNew(t, Config{
		Verifier:    staticVerifier{claims: mustClaims(t, "test:read")},
		Descriptors: renamedNames{},
		Logger:      discardLogger(),
		OnDecision:  func(_ context.Context, d Decision) { decisions <- d },
	})
	_, addr := serve(t, &testService{}, grpc.UnknownServiceHandler(recordingHandler(reached)),
		grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(a.StreamServerInterceptor()))
	conn := dial(t, addr, insecure.NewCredentials())
	for i := range 3 {
		method := fmt.Sprintf("/made.up%d.%s.Svc/Inherited", i, strings.Repeat("x", 64<<10))
		if err := conn.Invoke(withAuth(t.Context(), bearer("tok")), method, &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
			t.Fatalf("call %d: %v, want the service option's rule to admit it", i, err)
		}
		if m, _ := awaitOK(t, reached, "the call reaching its handler"); m != method {
			t.Fatalf("call %d reached its handler as a method of %d bytes, want %d", i, len(m), len(method))
		}
		d, _ := awaitOK(t, decisions, "the call's decision")
		if d.Source != SourceServiceOption || !d.UnknownMethod {
			t.Errorf("call %d: source %v, unknown method %v; want %v, reported as unknown", i, d.Source, d.UnknownMethod, SourceServiceOption)
		}
		if n := len(d.LogValue().String()); n > 4<<10 {
			t.Errorf("call %d: its decision record is %d bytes long, want the method clipped", i, n)
		}
	}
	if n := a.planLen(); n != 0 {
		t.Errorf("%d plans kept under made-up names of 64 KiB, want none", n)
	}
	a.svcMu.Lock()
	defer a.svcMu.Unlock()
	if n := len(a.svcRules); n != 0 {
		t.Errorf("%d service option reads kept under made-up names of 64 KiB, want none", n)
	}
}

// However many short service names callers make up, a resolver that
// describes them all gets at most maxResolverPlans plans and
// maxResolverServices service option reads kept; the calls past the bound
// still get their rule, built for the call. A *protoregistry.Files
// describes no name a caller makes up, and is not bounded.
func TestPlan_ShortServiceNamesAResolverMakesUpAreKeptWithinABound(t *testing.T) {
	a := mustNew(t, Config{Descriptors: renamedNames{}, Logger: discardLogger()})
	for i := range maxResolverPlans + 100 {
		p := a.lookup(fmt.Sprintf("/made.up%d.Svc/Inherited", i))
		if p.rule == nil || p.source != SourceServiceOption || len(p.rule.all) != 1 || p.rule.all[0] != "test:read" {
			t.Fatalf("call %d: source %v, err %v; want the service option's rule", i, p.source, p.err)
		}
	}
	if n := a.planLen(); n > maxResolverPlans {
		t.Errorf("%d plans kept under made-up names, want at most %d", n, maxResolverPlans)
	}
	a.svcMu.Lock()
	defer a.svcMu.Unlock()
	if n := len(a.svcRules); n > maxResolverServices {
		t.Errorf("%d service option reads kept under made-up names, want at most %d", n, maxResolverServices)
	}
}

// generatedAliases describes every name whose last part names one of the
// generated authtest services (TestService, UnannotatedService,
// ConditionService, BrokenConditionService) as that service under the
// name asked about (aliasedService: its file, methods and options the
// generated one's), as a resolver that serves one descriptor under many
// names (versions, tenants) does.
type generatedAliases struct{}

func (generatedAliases) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	for _, f := range []protoreflect.FileDescriptor{authtestv1.File_authtest_v1_authtest_proto, authtestv1.File_authtest_v1_conditions_proto} {
		if sd := f.Services().ByName(name.Name()); sd != nil {
			return aliasedService{sd, name}, nil
		}
	}
	return nil, protoregistry.NotFound
}

// fillResolverBounds makes a, whose Config.Descriptors is generatedAliases,
// keep as many plans and service option reads of made-up names as it
// keeps for a custom resolver.
func fillResolverBounds(t *testing.T, a *Authenticator) {
	t.Helper()
	for i := range maxResolverPlans {
		if p := a.lookup(fmt.Sprintf("/made.up%d.TestService/Inherited", i)); p.rule == nil {
			t.Fatalf("made-up method %d: %v, want the service option's rule", i, p.err)
		}
	}
	a.mu.Lock()
	n := a.resolverPlans
	a.mu.Unlock()
	a.svcMu.Lock()
	reads := len(a.svcRules)
	a.svcMu.Unlock()
	if n != maxResolverPlans || reads != maxResolverServices {
		t.Fatalf("the made-up names kept %d plans and %d service option reads, want the bounds, %d and %d", n, reads, maxResolverPlans, maxResolverServices)
	}
}

// A method a custom resolver describes gets the same rule, and its calls
// the same decisions, past the bound of what grpcauth keeps of such
// methods (callers made up 16,384 names first) as before it: the same
// Requirement (or the same denial), the same code, reason, source and
// error, allowed or denied alike, dry run alike. Only Decision.
// UnknownMethod differs, as documented: the method's plan is its call's
// own, so its name is not taken for a label. The methods cover every
// source: method options (public, scopes, any_of, conditions, step-up,
// broken conditions), the service option, a Config service entry, the
// DefaultRule, a method its descriptor does not declare, and dry run.
func TestPlan_AMethodPastTheResolverBoundGetsTheSameRuleAsBefore(t *testing.T) {
	var methods []string
	for _, f := range []protoreflect.FileDescriptor{authtestv1.File_authtest_v1_authtest_proto, authtestv1.File_authtest_v1_conditions_proto} {
		for i := range f.Services().Len() {
			sd := f.Services().Get(i)
			for j := range sd.Methods().Len() {
				methods = append(methods, fmt.Sprintf("/tenant.v1.%s/%s", sd.Name(), sd.Methods().Get(j).Name()))
			}
			methods = append(methods, fmt.Sprintf("/tenant.v1.%s/Undeclared", sd.Name()))
		}
	}
	newAuthenticator := func(decisions chan<- Decision) *Authenticator {
		return mustNew(t, Config{
			Verifier:      staticVerifier{claims: mustClaims(t, "test:read", "test:write")},
			Descriptors:   generatedAliases{},
			Rules:         map[string]*grpcauthv1.Rule{"tenant.v1.UnannotatedService": {Scopes: []string{"test:write"}}},
			DefaultRule:   &grpcauthv1.Rule{Scopes: []string{"default:scope"}},
			DryRunMethods: []string{"/tenant.v1.TestService/AllOf"},
			OnDecision:    func(_ context.Context, d Decision) { decisions <- d },
		})
	}
	type outcome struct {
		req     Requirement
		reqErr  string
		d       Decision
		callErr string
	}
	outcomes := func(a *Authenticator, decisions <-chan Decision) map[string]outcome {
		got := make(map[string]outcome)
		for _, m := range methods {
			var o outcome
			var err error
			o.req, err = a.Requirement(m)
			o.reqErr = fmt.Sprint(err)
			_, err = callUnary(a, bearerCtx("tok"), m)
			o.callErr = fmt.Sprint(err)
			o.d = await(t, decisions, "the decision of "+m)
			got[m] = o
		}
		return got
	}
	freshDecisions, boundDecisions := make(chan Decision, 1), make(chan Decision, 1)
	fresh := outcomes(newAuthenticator(freshDecisions), freshDecisions)
	bound := newAuthenticator(boundDecisions)
	fillResolverBounds(t, bound)
	past := outcomes(bound, boundDecisions)
	for _, m := range methods {
		f, p := fresh[m], past[m]
		if !reflect.DeepEqual(f.req, p.req) || f.reqErr != p.reqErr || f.callErr != p.callErr {
			t.Errorf("%s: fresh %+v (%s), call %s; past the bound %+v (%s), call %s; want the same", m, f.req, f.reqErr, f.callErr, p.req, p.reqErr, p.callErr)
		}
		fd, pd := f.d, p.d
		if fd.Allowed != pd.Allowed || fd.DryRun != pd.DryRun || fd.Code != pd.Code || fd.Reason != pd.Reason ||
			fd.Source != pd.Source || fd.Public != pd.Public || fmt.Sprint(fd.Err) != fmt.Sprint(pd.Err) {
			t.Errorf("%s: fresh decision %+v; past the bound %+v; want the same", m, fd, pd)
		}
		if undeclared := strings.HasSuffix(m, "/Undeclared"); fd.UnknownMethod != undeclared || !pd.UnknownMethod {
			t.Errorf("%s: unknown method %v fresh, %v past the bound; want %v, and true past the bound", m, fd.UnknownMethod, pd.UnknownMethod, undeclared)
		}
	}
}

// Concurrent first calls of made-up names around the bound (16 goroutines
// each calling the same 256 names in the same order, so that they race to
// publish each, the first 64 of which still fit) keep
// exactly as many plans as the bound allows, counting each name once
// however many calls publish it: every call gets the service option's
// rule, a name kept is known to every later call, and one past the bound
// is unknown to each.
func TestPlan_ConcurrentMadeUpNamesAroundTheBoundKeepExactlyTheBound(t *testing.T) {
	a := mustNew(t, Config{Descriptors: generatedAliases{}, Logger: discardLogger()})
	const room = 64
	for i := range maxResolverPlans - room {
		a.lookup(fmt.Sprintf("/made.up%d.TestService/Inherited", i))
	}
	names := make([]string, 4*room)
	for i := range names {
		names[i] = fmt.Sprintf("/racing%d.v1.TestService/Inherited", i)
	}
	errs := make(chan error, 16)
	start := make(chan struct{})
	for range 16 {
		go func() {
			<-start
			var err error
			for _, m := range names {
				if p := a.lookup(m); p.rule == nil || p.source != SourceServiceOption {
					err = fmt.Errorf("%s: source %v, err %v; want the service option's rule", m, p.source, p.err)
				}
			}
			errs <- err
		}()
	}
	close(start)
	for range 16 {
		if err := await(t, errs, "a goroutine's calls"); err != nil {
			t.Fatal(err)
		}
	}
	a.mu.Lock()
	counted := a.resolverPlans
	a.mu.Unlock()
	if n := a.planLen(); n != maxResolverPlans || counted != maxResolverPlans {
		t.Fatalf("%d plans kept, %d counted, want exactly %d", n, counted, maxResolverPlans)
	}
	kept := 0
	for _, m := range names {
		p := a.lookup(m)
		if !p.unknown {
			kept++
		}
		if q := a.lookup(m); q.unknown != p.unknown || !p.unknown && q != p {
			t.Errorf("%s: unknown %v then %v, want a kept plan kept", m, p.unknown, q.unknown)
		}
	}
	if kept != room {
		t.Errorf("%d of the racing names kept, want %d", kept, room)
	}
}

// The methods Check found registered on a server stay kept, and known,
// whatever the bound on a custom resolver's methods, also when their
// plans are built again (after a failed decoding of options, recorded
// since, dropped every plan kept): callers that filled the bound again
// with made-up names first cannot make them uncached or unknown.
func TestPlan_RegisteredMethodsRebuiltPastTheResolverBoundAreKeptAndKnown(t *testing.T) {
	a := mustNew(t, Config{Descriptors: generatedAliases{}, DefaultRule: &grpcauthv1.Rule{}, Logger: discardLogger()})
	_ = a.Check(registered(t)) // UnannotatedService's methods are reported: not this test's concern
	fillResolverBounds(t, a)
	const method = "/authtest.v1.TestService/AllOf"
	if _, ok := a.published(method); !ok {
		t.Fatal("Check kept no plan of a registered method")
	}
	if !partialOptions.add(freshOptionsService{renamedService{authtestv1.File_authtest_v1_authtest_proto.Services().Get(0), "failed.v1.Svc"}}, "test") {
		t.Fatal("partialOptions kept no options")
	}
	fillResolverBounds(t, a) // again: the plans kept were dropped
	p := a.lookup(method)
	if q, ok := a.published(method); !ok || q != p || p.unknown {
		t.Errorf("the registered method built again past the bound: kept %v, unknown %v; want kept, and known", ok, p.unknown)
	}
}
