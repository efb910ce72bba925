package grpcauth

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// The methods of a service no descriptor describes (a hand-written
// grpc.ServiceDesc), ruled by a Config entry naming the service, share one
// plan that their calls find without a lock of grpcauth's or an
// allocation (Config.Descriptors, asked whether it describes the service
// now, is GlobalFiles here, which allocates nothing to say no), as a method
// ruled by its option finds its own, rather than building one on every
// call until Check runs; and no made-up name under the service is kept.
func TestPlan_MethodsRuledByAConfigServiceEntryReuseOnePlan(t *testing.T) {
	a := mustNew(t, Config{
		Rules:  map[string]*grpcauthv1.Rule{"ghost.v1.GhostService": {Scopes: []string{"ghost:read"}}},
		Public: []string{"ghost.v1.OpenService"},
	})
	for _, m := range []string{"/ghost.v1.GhostService/Get", "/ghost.v1.OpenService/Ping"} {
		method := strings.Clone(m) // built at run time, as grpc-go's is
		first := a.lookup(method)
		if first.rule == nil || first.source != SourceConfigService {
			t.Fatalf("%s: source %v, err %v; want the Config service rule", m, first.source, first.err)
		}
		if again := a.lookup(method); again != first {
			t.Errorf("%s: a second call built its plan again", m)
		}
		if n := testing.AllocsPerRun(100, func() { a.lookup(method) }); n != 0 {
			t.Errorf("%s: lookup allocates %v times a call, want 0 (as a method ruled by its option)", m, n)
		}
	}
	if a.lookup("/ghost.v1.GhostService/Other") != a.lookup("/ghost.v1.GhostService/Get") {
		t.Error("two methods of the service got two plans, want the service's one")
	}
	// The service's plan is for its methods' names only.
	for _, odd := range []string{"/ghost.v1.GhostService/", "/ghost.v1.GhostService/a/b", "/ghost.v1.GhostService/1x", "ghost.v1.GhostService/Get"} {
		if p := a.lookup(odd); p.rule != nil {
			t.Errorf("%q got the service's rule, want it denied as no method name", odd)
		}
	}
	if n := a.planLen(); n != 0 {
		t.Errorf("the method plans hold %d entries for names the caller chose, want 0", n)
	}
}

// The shared plan of a service no descriptor describes gives way to what
// the Config says of one of its methods: a rule naming the method, or
// DryRunMethods naming it.
func TestPlan_ServiceSharedPlanLeavesConfigMethodEntriesTheirOwn(t *testing.T) {
	const svc = "ghost.v1.GhostService"
	a := mustNew(t, Config{
		Rules: map[string]*grpcauthv1.Rule{
			svc:                 {Scopes: []string{"ghost:read"}},
			"/" + svc + "/Edit": {Scopes: []string{"ghost:write"}},
		},
		DryRunMethods: []string{"/" + svc + "/Trial"},
	})
	for range 2 { // before and after the service's plan is kept
		for _, c := range []struct {
			method string
			scopes []string
			dryRun bool
		}{
			{"/" + svc + "/Get", []string{"ghost:read"}, false},
			{"/" + svc + "/Edit", []string{"ghost:write"}, false},
			{"/" + svc + "/Trial", []string{"ghost:read"}, true},
		} {
			r, err := a.Requirement(c.method)
			if err != nil || strings.Join(r.Scopes, " ") != strings.Join(c.scopes, " ") || r.DryRun != c.dryRun {
				t.Errorf("%s: scopes %v, dry run %v, err %v; want %v, %v", c.method, r.Scopes, r.DryRun, err, c.scopes, c.dryRun)
			}
		}
	}
}

// FuzzUndescribedPlan checks that the plan kept for a service no
// descriptor describes, found without splitMethod's validation of the
// service name, applies to exactly the names splitMethod accepts as the
// service's methods, in dry run for the one DryRunMethods names.
//
//	go test -run '^$' -fuzz FuzzUndescribedPlan .
func FuzzUndescribedPlan(f *testing.F) {
	const svc = "ghost.v1.GhostService"
	const trial = "/" + svc + "/Trial"
	for _, s := range []string{"/" + svc + "/Get", "/" + svc + "/", "/" + svc + "/a/b", "/" + svc + "/1x", svc + "/Get", "/" + svc, "/ghost.v1.Other/Get", "", trial} {
		f.Add(s)
	}
	a := mustNew(f, Config{Rules: map[string]*grpcauthv1.Rule{svc: {}}, DryRunMethods: []string{trial}})
	kept := a.lookup("/" + svc + "/Get")
	dry := a.lookup(trial)
	if kept.dryRun || !dry.dryRun || dry.rule != kept.rule {
		f.Fatalf("kept plan in dry run %v, %s's %v (same rule: %v); want false, true, the same rule", kept.dryRun, trial, dry.dryRun, dry.rule == kept.rule)
	}
	f.Fuzz(func(t *testing.T, m string) {
		s, _, ok := splitMethod(m)
		want := kept
		if m == trial {
			want = dry
		}
		if !ok || s != svc {
			want = nil
		}
		if p, err := a.undescribedPlan(m); p != want || err != nil {
			t.Fatalf("undescribedPlan(%q) = %p, %v; want %p", m, p, err, want)
		}
	})
}

// lateResolver is protoregistry.GlobalFiles once its down is false, and
// before that a registry that does not have the file (still loading, or
// given it later), and says so with an error wrapping
// protoregistry.NotFound. (One that fails otherwise denies the call:
// plan_resolver_test.go.)
type lateResolver struct{ down atomic.Bool }

func (r *lateResolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if r.down.Load() {
		return nil, fmt.Errorf("the registry has not loaded %s yet: %w", name, protoregistry.NotFound)
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}

// A service that Config.Descriptors does not describe on its methods'
// first call, but does later (a resolver that gained the file since), has its descriptor read from then on: a method option, which
// ranks above the Config service entry, rules its method, rather than the
// service's Config entry kept for good from that first call. The Config
// entry here makes the service public, and the option of AllOf, which
// the .proto's author meant to narrow it, asks for scopes.
func TestPlan_ServiceDescribedAfterItsFirstCallIsRuledByItsOptions(t *testing.T) {
	r := new(lateResolver)
	r.down.Store(true)
	a := mustNew(t, Config{Descriptors: r, Public: []string{"authtest.v1.TestService"}})
	if p := a.lookup(mInherited); p.rule == nil || !p.rule.public || p.source != SourceConfigService {
		t.Fatalf("without a descriptor: source %v, err %v; want the Config service entry's public rule", p.source, p.err)
	}
	r.down.Store(false)
	for range 2 {
		req, err := a.Requirement(mAllOf)
		if err != nil || req.Public || req.Source != SourceMethodOption || len(req.Scopes) == 0 {
			t.Fatalf("once described: %s: %+v, %v; want the scopes of its method option", mAllOf, req, err)
		}
	}
}

// A method whose rule was compiled from its descriptor keeps that rule
// when Config.Descriptors no longer finds the descriptor later, also while the rule waits in the
// plans published since the last merge (a.pending): the rule a service
// without a descriptor keeps for its methods, which calls look up before
// those, does not take its place: the rule kept for the service, without
// the method option's scopes or condition, is not the method's.
func TestPlan_MethodRuleFromItsDescriptorOutlastsALaterResolverFailure(t *testing.T) {
	for _, serviceKeptFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("service rule kept first: %v", serviceKeptFirst), func(t *testing.T) {
			r := new(lateResolver)
			a := mustNew(t, Config{Descriptors: r, Public: []string{"authtest.v1.TestService"}})
			// Enough published plans that the next one waits for a merge.
			other := make(map[string]*methodPlan)
			for i := range 8 {
				other[fmt.Sprintf("/other.v1.S/M%d", i)] = &methodPlan{}
			}
			a.publishAll(other)
			keepService := func() {
				r.down.Store(true)
				if p := a.lookup(mInherited); p.source != SourceConfigService {
					t.Fatalf("without a descriptor: source %v, err %v; want the Config service entry", p.source, p.err)
				}
			}
			if serviceKeptFirst {
				keepService()
			}
			r.down.Store(false)
			own := a.lookup(mAllOf)
			if own.source != SourceMethodOption {
				t.Fatalf("with its descriptor: source %v, err %v; want its method option", own.source, own.err)
			}
			if !serviceKeptFirst {
				keepService()
			}
			r.down.Store(true)
			if p := a.lookup(mAllOf); p != own {
				t.Errorf("the resolver failing: %s got source %v, public %v; want the rule compiled from its method option", mAllOf, p.source, p.rule != nil && p.rule.public)
			}
		})
	}
}
