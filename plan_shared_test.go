package grpcauth

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
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

// Check has decisions about the methods registered on the server report
// them as known (Decision.UnknownMethod false, so that they are metric
// labels), though no descriptor or Config entry names them; calls of the
// service's other names, made up by callers, are still reported as of an
// unknown method, and the plan the two share is not written to.
func TestCheck_RegisteredMethodsNoDescriptorDeclaresAreReportedKnown(t *testing.T) {
	var rec recorder
	a := mustNew(t, Config{Public: []string{"ghost.v1.GhostService"}, DefaultRule: &grpcauthv1.Rule{}, OnDecision: rec.record, Logger: discardLogger()})
	if err := a.Check(fakeServer{
		"ghost.v1.GhostService": {Methods: []grpc.MethodInfo{{Name: "Get"}}},
		"nobody.v1.Svc":         {Methods: []grpc.MethodInfo{{Name: "Get"}}},
	}); err != nil {
		t.Fatalf("Check = %v", err)
	}
	for _, c := range []struct {
		method  string
		unknown bool
	}{
		{"/ghost.v1.GhostService/Get", false},
		{"/ghost.v1.GhostService/Other", true},
		{"/nobody.v1.Svc/Get", false},
		{"/nobody.v1.Svc/Other", true},
	} {
		rec.mu.Lock()
		rec.ds = nil
		rec.mu.Unlock()
		_ = a.ServeCall(context.Background(), c.method, false, nil, func(context.Context, *Guard) error { return nil })
		rec.mu.Lock()
		if len(rec.ds) != 1 || rec.ds[0].UnknownMethod != c.unknown {
			t.Errorf("%s: decisions %+v, want one with UnknownMethod %v", c.method, rec.ds, c.unknown)
		}
		rec.mu.Unlock()
	}
}

// A method registered on the server whose service Config.Descriptors did
// not describe when Check ran (a resolver not yet given the file), ruled
// then by the service's Config entry or by DefaultRule, has its
// descriptor read once the resolver describes it: its method option, which
// ranks above either, rules it, not the rule Check found. Check keeps no
// rule by name for such a method, as its calls keep none. The Config entry
// here makes the service public, and the option of AllOf, which the
// .proto's author meant to narrow it, asks for scopes.
func TestCheck_RegisteredMethodDescribedAfterCheckIsRuledByItsOption(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"Config service entry", Config{Public: []string{"authtest.v1.TestService"}}},
		{"DefaultRule", Config{DefaultRule: &grpcauthv1.Rule{}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := new(lateResolver)
			r.down.Store(true)
			c.cfg.Descriptors, c.cfg.Logger = r, discardLogger()
			a := mustNew(t, c.cfg)
			_ = a.Check(fakeServer{"authtest.v1.TestService": {Methods: []grpc.MethodInfo{{Name: "AllOf"}}}})
			if req, err := a.Requirement(mAllOf); err != nil || req.Source == SourceMethodOption {
				t.Fatalf("without a descriptor: %+v, %v; want the Config's rule", req, err)
			}
			r.down.Store(false)
			if req, err := a.Requirement(mAllOf); err != nil || req.Public || req.Source != SourceMethodOption || len(req.Scopes) == 0 {
				t.Errorf("once described: %+v, %v; want the scopes of its method option", req, err)
			}
		})
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

// The methods of a service whose descriptor's methods cannot be built (a
// file protobuf-go cannot build, behind a resolver New does not walk) are
// denied with one plan of the service's, not a plan built on every call;
// and the plan is made again for a descriptor the resolver makes afresh.
func TestPlan_MethodsOfAServiceThatCannotBeBuiltShareTheServicesDenial(t *testing.T) {
	pkg := uniquePkg("unbuildableshared")
	a := mustNew(t, Config{Descriptors: findOnly{unbuildableFile(t, pkg)}, DefaultRule: &grpcauthv1.Rule{}, Logger: discardLogger()})
	first := a.lookup("/" + pkg + ".Svc/Get")
	if first.rule != nil || !errors.Is(first.err, ErrUnreadableOption) || !strings.Contains(first.err.Error(), `"`+pkg+`/x.proto"`) {
		t.Fatalf("source %v, err %v; want denied with ErrUnreadableOption naming the file", first.source, first.err)
	}
	for _, m := range []string{"/" + pkg + ".Svc/Get", "/" + pkg + ".Svc/List", "/" + pkg + ".Svc/Made_Up"} {
		if p := a.lookup(strings.Clone(m)); p != first {
			t.Errorf("%s was given a plan of its own, want the service's", m)
		}
	}
	// A resolver that describes any name a caller sends, with a
	// descriptor made afresh each time, whose methods cannot be built.
	sd := authtestv1.File_authtest_v1_authtest_proto.Services().Get(0)
	anyName := mustNew(t, Config{Descriptors: answerAny(func() protoreflect.Descriptor { return &freshService{sd} }), Logger: discardLogger()})
	for i := range 2 * maxUnbuilt {
		for range 2 {
			if p := anyName.lookup(fmt.Sprintf("/made.up%d.Svc/Get", i)); !errors.Is(p.err, ErrUnreadableOption) {
				t.Fatalf("a made-up service: err %v, want ErrUnreadableOption", p.err)
			}
		}
	}
	if n := len(anyName.unbuilt); n > maxUnbuilt {
		t.Errorf("callers' made-up service names kept %d services' plans, want at most %d", n, maxUnbuilt)
	}
}

// answerAny is a resolver that answers every name with a descriptor d
// returns.
type answerAny func() protoreflect.Descriptor

func (r answerAny) FindDescriptorByName(protoreflect.FullName) (protoreflect.Descriptor, error) {
	return r(), nil
}

// A resolver that describes any name a caller sends, with a descriptor
// whose methods cannot be built, hears of service names as long as a
// request's headers allow: the denial's error (every call's Decision.Err,
// logged) names the service clipped, as it names a method, and no plan is
// kept under such a name, which would hold it for good.
func TestPlan_LongMadeUpServiceThatCannotBeBuiltIsNeitherKeptNorNamedWhole(t *testing.T) {
	sd := authtestv1.File_authtest_v1_authtest_proto.Services().Get(0)
	a := mustNew(t, Config{Descriptors: answerAny(func() protoreflect.Descriptor { return &freshService{sd} }), Logger: discardLogger()})
	long := "made.up." + strings.Repeat("x", 1<<20)
	for range 2 {
		p := a.lookup("/" + long + ".Svc/Get")
		if !errors.Is(p.err, ErrUnreadableOption) {
			t.Fatalf("err %v, want ErrUnreadableOption", p.err)
		}
		if n := len(p.err.Error()); n > 4<<10 {
			t.Errorf("the denial's error is %d bytes long, want the service's name clipped", n)
		}
	}
	if n := len(a.unbuilt); n != 0 {
		t.Errorf("%d plans kept for a service name of %d bytes, want none", n, len(long))
	}
}

// The plans shared by the methods no descriptor declares are in dry run
// for exactly the methods Config.DryRunMethods puts there, on a method's
// first call too (not yet kept for its service), whether the rule is a
// Config service entry's or DefaultRule; and a method its service's
// descriptor declares, ruled by the same Config entry or DefaultRule, gets
// a plan of its own, known and kept by name, not the shared one of names
// callers make up.
func TestPlan_SharedPlansKeepDryRunPerMethodAndDeclaredMethodsTheirOwn(t *testing.T) {
	const unannotated = "/authtest.v1.UnannotatedService/Unannotated"
	a := mustNew(t, Config{
		Rules:         map[string]*grpcauthv1.Rule{"authtest.v1.TestService": {}, "ghost.v1.GhostService": {}},
		DefaultRule:   &grpcauthv1.Rule{},
		DryRunMethods: []string{"/ghost.v1.GhostService/Trial", "/nobody.v1.Svc/Trial"},
	})
	for _, c := range []struct {
		method string
		source Source
		dryRun bool
	}{
		{"/ghost.v1.GhostService/Trial", SourceConfigService, true}, // its service's first call
		{"/ghost.v1.GhostService/Get", SourceConfigService, false},
		{"/nobody.v1.Svc/Trial", SourceDefault, true},
		{"/nobody.v1.Svc/Get", SourceDefault, false},
	} {
		if p := a.lookup(c.method); p.rule == nil || p.source != c.source || p.dryRun != c.dryRun {
			t.Errorf("%s: source %v, dry run %v, err %v; want %v, dry run %v", c.method, p.source, p.dryRun, p.err, c.source, c.dryRun)
		}
	}
	for _, c := range []struct {
		method string
		source Source
	}{
		{mInherited, SourceConfigService},
		{unannotated, SourceDefault},
	} {
		p := a.lookup(c.method)
		if p.rule == nil || p.source != c.source || p.unknown || p.shared {
			t.Errorf("%s: source %v, unknown %v, shared %v, err %v; want %v, known, its own plan", c.method, p.source, p.unknown, p.shared, p.err, c.source)
		}
		if _, ok := (*a.plan.Load())[c.method]; !ok {
			if _, ok := a.pendingPlan(c.method); !ok {
				t.Errorf("%s: its plan is not kept by name", c.method)
			}
		}
	}
}
