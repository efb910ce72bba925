package grpcauth

import (
	"reflect"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// The methods no descriptor declares whose rule is the Config's (a service
// entry, or DefaultRule) share one plan, made once, rather than each call
// building its own: a name the service's descriptor does not declare
// (reached through grpc.UnknownServiceHandler), any name of a service no
// descriptor describes ruled by DefaultRule, and a DryRunMethods method of
// a service whose Config entry's plan is kept. No plan is kept by a name
// the caller chose.
func TestPlan_MethodsNoDescriptorDeclaresShareTheConfigRulesPlan(t *testing.T) {
	a := mustNew(t, Config{
		Rules: map[string]*grpcauthv1.Rule{
			"authtest.v1.TestService": {Scopes: []string{"test:read"}},
			"ghost.v1.GhostService":   {Scopes: []string{"ghost:read"}},
		},
		DryRunMethods: []string{"/ghost.v1.GhostService/Trial"},
		DefaultRule:   &grpcauthv1.Rule{Scopes: []string{"any"}},
	})
	a.lookup("/ghost.v1.GhostService/Get") // keeps the service's plan
	for _, c := range []struct {
		name          string
		first, second string // two names with one plan
		source        Source
		dryRun        bool
	}{
		{"undeclared by its service's descriptor, Config service entry", "/authtest.v1.TestService/DeleteEverything", "/authtest.v1.TestService/Drop", SourceConfigService, false},
		{"undeclared by its service's descriptor, DefaultRule", "/authtest.v1.UnannotatedService/DeleteEverything", "/authtest.v1.UnannotatedService/Drop", SourceDefault, false},
		{"undescribed service, DefaultRule", "/nobody.v1.Svc/Get", "/elsewhere.v1.Svc/Put", SourceDefault, false},
		{"DryRunMethods method of a kept service", "/ghost.v1.GhostService/Trial", "/ghost.v1.GhostService/Trial", SourceConfigService, true},
	} {
		p := a.lookup(strings.Clone(c.first))
		if p.rule == nil || p.source != c.source || p.dryRun != c.dryRun || !p.unknown {
			t.Fatalf("%s: %s: source %v, dry run %v, unknown %v, err %v; want %v, %v, unknown", c.name, c.first, p.source, p.dryRun, p.unknown, p.err, c.source, c.dryRun)
		}
		if q := a.lookup(strings.Clone(c.second)); q != p {
			t.Errorf("%s: %s was given a plan of its own, want the one of %s", c.name, c.second, c.first)
		}
	}
	if n := a.planLen(); n != 0 {
		t.Errorf("the method plans hold %d entries for names no descriptor declares, want 0", n)
	}
}

// Check marks the plans of the registered methods as known, on copies of
// its own: a shared plan (methods no descriptor declares) is left as it
// is, and calls of the service's other names are still reported as of an
// unknown method.
func TestCheck_LeavesTheSharedPlanOfUnregisteredNamesUnknown(t *testing.T) {
	a := mustNew(t, Config{Rules: map[string]*grpcauthv1.Rule{"ghost.v1.GhostService": {}}, Logger: discardLogger()})
	if err := a.Check(fakeServer{"ghost.v1.GhostService": {Methods: []grpc.MethodInfo{{Name: "Get"}}}}); err != nil {
		t.Fatalf("Check = %v", err)
	}
	if p := a.lookup("/ghost.v1.GhostService/Get"); p.unknown {
		t.Error("the registered method is unknown after Check, want known")
	}
	if p := a.lookup("/ghost.v1.GhostService/Other"); !p.unknown || p.rule == nil {
		t.Errorf("an unregistered name: unknown %v, err %v; want unknown, under the service's rule", p.unknown, p.err)
	}
}

// keepingResolver is a custom resolver that keeps every name it is asked
// about (a cache of its answers would), and describes none.
type keepingResolver struct {
	mu    sync.Mutex
	names []protoreflect.FullName
}

func (r *keepingResolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names = append(r.names, name)
	return nil, protoregistry.NotFound
}

// A custom resolver, which may keep the names it is asked about, is never
// handed a part of the caller's method name (its :path, or with
// grpc.Server.ServeHTTP its URL's, which may share the query's memory):
// keeping it would keep the whole string the caller sent.
func TestResolver_IsNotHandedAPartOfTheCallersMethod(t *testing.T) {
	r := new(keepingResolver)
	a := mustNew(t, Config{Descriptors: r, Public: []string{"ghost.v1.GhostService"}})
	r.names = nil // New's questions
	for _, m := range []string{"/ghost.v1.GhostService/Get", "/ghost.v1.GhostService/Get", "/other.v1.Svc/Get"} {
		method := strings.Clone(m + "?" + strings.Repeat("q", 1<<10)) // a :path with its query
		method = method[:len(m)]
		a.lookup(method)
		start := reflect.ValueOf(method).Pointer()
		r.mu.Lock()
		if len(r.names) == 0 {
			t.Errorf("%s: the resolver was not asked", m)
		}
		for _, n := range r.names {
			if p := reflect.ValueOf(string(n)).Pointer(); p >= start && p < start+uintptr(len(method)+1<<10) {
				t.Errorf("the resolver was handed %q inside the caller's string %q", n, m)
			}
		}
		r.names = nil
		r.mu.Unlock()
	}
}
