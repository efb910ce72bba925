package grpcauth

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// dropFiles is a registry describing drop.v1.Svc, whose methods Get and
// Inherit have no option but Get's methodOpt, and whose service option is
// svcOpt (each nil: none).
func dropFiles(t testing.TB, svcOpt, methodOpt *grpcauthv1.Rule) DescriptorResolver {
	t.Helper()
	get := &descriptorpb.MethodDescriptorProto{Name: proto.String("Get"), InputType: proto.String(".drop.v1.M"), OutputType: proto.String(".drop.v1.M")}
	if methodOpt != nil {
		get.Options = &descriptorpb.MethodOptions{}
		proto.SetExtension(get.Options, grpcauthv1.E_Method, methodOpt)
	}
	svc := &descriptorpb.ServiceDescriptorProto{Name: proto.String("Svc"), Method: []*descriptorpb.MethodDescriptorProto{
		get, {Name: proto.String("Inherit"), InputType: proto.String(".drop.v1.M"), OutputType: proto.String(".drop.v1.M")},
	}}
	if svcOpt != nil {
		svc.Options = &descriptorpb.ServiceOptions{}
		proto.SetExtension(svc.Options, grpcauthv1.E_Service, svcOpt)
	}
	return optionFiles(t, &descriptorpb.FileDescriptorProto{
		Name:        proto.String("drop/v1/drop.proto"),
		Package:     proto.String("drop.v1"),
		Syntax:      proto.String("proto3"),
		Dependency:  []string{authProto},
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("M")}},
		Service:     []*descriptorpb.ServiceDescriptorProto{svc},
	})
}

// A method's own rule replaces its service's rule entirely (documented),
// so a method rule that leaves out the service rule's step-up
// (acr_values, max_age_seconds) or proof of possession (require_dpop,
// require_certificate_binding) takes plain tokens on a service that
// demands more: Check logs each such method at Warn, with what its rule
// drops, but does not fail on it. A public method rule, which needs no
// token at all, is not reported, nor a rule that changes the requirement
// rather than dropping it.
func TestCheck_WarnsOfAMethodRuleDroppingItsServicesStepUpOrProofOfPossession(t *testing.T) {
	const method = "/drop.v1.Svc/Get"
	dpop := &grpcauthv1.Rule{Scopes: []string{"a"}, RequireDpop: true}
	plain := &grpcauthv1.Rule{Scopes: []string{"b"}}
	for _, tt := range []struct {
		name           string
		svcOpt         *grpcauthv1.Rule // the service's option
		cfgSvc         *grpcauthv1.Rule // Config.Rules["drop.v1.Svc"]
		methodOpt      *grpcauthv1.Rule // Get's option
		cfgMethod      *grpcauthv1.Rule // Config.Rules[method]
		undescribed    bool             // Config.Descriptors does not describe the service
		dropped        string           // the record's dropped attribute, or "" for no record
		serviceRuleSrc string           // its service_rule attribute
	}{
		{name: "method option drops the service option's require_dpop", svcOpt: dpop, methodOpt: plain,
			dropped: "[require_dpop]", serviceRuleSrc: "service option"},
		{name: "method option drops acr_values and max_age_seconds", svcOpt: &grpcauthv1.Rule{AcrValues: []string{"gold"}, MaxAgeSeconds: 300}, methodOpt: plain,
			dropped: "[acr_values max_age_seconds]", serviceRuleSrc: "service option"},
		{name: "method option drops max_age_seconds, keeps acr_values", svcOpt: &grpcauthv1.Rule{AcrValues: []string{"gold"}, MaxAgeSeconds: 300}, methodOpt: &grpcauthv1.Rule{AcrValues: []string{"gold"}},
			dropped: "[max_age_seconds]", serviceRuleSrc: "service option"},
		{name: "method option drops require_certificate_binding", svcOpt: &grpcauthv1.Rule{RequireCertificateBinding: true}, methodOpt: plain,
			dropped: "[require_certificate_binding]", serviceRuleSrc: "service option"},
		{name: "Config method entry drops the service option's require_dpop", svcOpt: dpop, cfgMethod: plain,
			dropped: "[require_dpop]", serviceRuleSrc: "service option"},
		{name: "method option drops the Config service entry's require_dpop", cfgSvc: dpop, methodOpt: plain,
			dropped: "[require_dpop]", serviceRuleSrc: "config (service)"},
		{name: "Config method entry drops the Config service entry's require_dpop, no descriptor", undescribed: true, cfgSvc: dpop, cfgMethod: plain,
			dropped: "[require_dpop]", serviceRuleSrc: "config (service)"},
		{name: "method option swaps require_certificate_binding for require_dpop", svcOpt: &grpcauthv1.Rule{RequireCertificateBinding: true}, methodOpt: dpop},
		{name: "method option repeats require_dpop", svcOpt: dpop, methodOpt: &grpcauthv1.Rule{Scopes: []string{"b"}, RequireDpop: true}},
		{name: "method option changes acr_values", svcOpt: &grpcauthv1.Rule{AcrValues: []string{"gold"}}, methodOpt: &grpcauthv1.Rule{AcrValues: []string{"silver"}}},
		{name: "method option changes max_age_seconds", svcOpt: &grpcauthv1.Rule{MaxAgeSeconds: 300}, methodOpt: &grpcauthv1.Rule{MaxAgeSeconds: 3600}},
		{name: "public method option", svcOpt: dpop, methodOpt: &grpcauthv1.Rule{Public: true}},
		{name: "no method rule: the method inherits", svcOpt: dpop},
		{name: "the Config service entry in force has no require_dpop", svcOpt: dpop, cfgSvc: plain, methodOpt: &grpcauthv1.Rule{Scopes: []string{"c"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rules := map[string]*grpcauthv1.Rule{}
			if tt.cfgSvc != nil {
				rules["drop.v1.Svc"] = tt.cfgSvc
			}
			if tt.cfgMethod != nil {
				rules[method] = tt.cfgMethod
			}
			files := dropFiles(t, tt.svcOpt, tt.methodOpt)
			if tt.undescribed {
				files = new(protoregistry.Files)
			}
			var logs bytes.Buffer
			a := mustNew(t, Config{
				Logger:      slog.New(slog.NewJSONHandler(&logs, nil)),
				Descriptors: files,
				Rules:       rules,
			})
			if err := a.Check(fakeServer{"drop.v1.Svc": {Methods: []grpc.MethodInfo{{Name: "Get"}, {Name: "Inherit"}}}}); err != nil {
				t.Fatalf("Check = %v, want nil", err)
			}
			var recs []map[string]any // the records of dropped requirements
			for _, r := range jsonRecords(t, &logs) {
				if _, ok := r["dropped"]; ok {
					recs = append(recs, r)
				}
			}
			if tt.dropped == "" {
				if len(recs) != 0 {
					t.Errorf("logged %v, want nothing", recs)
				}
				return
			}
			if len(recs) != 1 || recs[0]["level"] != "WARN" || recs[0]["method"] != method ||
				fmt.Sprint(recs[0]["dropped"]) != tt.dropped || recs[0]["service_rule"] != tt.serviceRuleSrc {
				t.Errorf("logged %v, want one WARN record for %s, dropped %s, service_rule %q", recs, method, tt.dropped, tt.serviceRuleSrc)
			}
		})
	}
}

// panickyOptionService is authtest.v1.TestService as a custom resolver
// describes it: its methods' Parent is the resolver's service, whose
// Options returns options that panic when read (a resolver's bug).
type panickyOptionService struct{ protoreflect.ServiceDescriptor }

func (s panickyOptionService) Options() protoreflect.ProtoMessage { return panickyOptions{} }

func (s panickyOptionService) Methods() protoreflect.MethodDescriptors {
	return parentedMethods{s.ServiceDescriptor.Methods(), s}
}

func (s panickyOptionService) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if name == s.FullName() {
		return s, nil
	}
	return nil, protoregistry.NotFound
}

// parentedMethods are methods whose Parent is parent.
type parentedMethods struct {
	protoreflect.MethodDescriptors
	parent protoreflect.ServiceDescriptor
}

func (ms parentedMethods) Get(i int) protoreflect.MethodDescriptor {
	return parentedMethod{ms.MethodDescriptors.Get(i), ms.parent}
}

func (ms parentedMethods) ByName(n protoreflect.Name) protoreflect.MethodDescriptor {
	if md := ms.MethodDescriptors.ByName(n); md != nil {
		return parentedMethod{md, ms.parent}
	}
	return nil
}

type parentedMethod struct {
	protoreflect.MethodDescriptor
	parent protoreflect.ServiceDescriptor
}

func (m parentedMethod) Parent() protoreflect.Descriptor { return m.parent }

// Check compares a method's own rule with its service's, for its warning
// of dropped requirements, even on a service whose every registered
// method has its own rule, and whose service option no call ever reads.
// A custom descriptor that panics as that option is read (a resolver's
// bug the calls never meet) costs the method its warning, not the server
// its start-up: Check returns its verdict rather than panicking.
func TestCheck_ServiceOptionThatPanicsWhenComparedForTheWarningDoesNotCrashCheck(t *testing.T) {
	a := mustNew(t, Config{Descriptors: panickyOptionService{authtestv1.File_authtest_v1_authtest_proto.Services().Get(0)}})
	srv := fakeServer{"authtest.v1.TestService": {Methods: []grpc.MethodInfo{{Name: "AllOf"}, {Name: "Public"}}}}
	if err := checkWithoutPanic(t, a, srv); err != nil {
		t.Fatalf("Check = %v, want nil: both methods have their own rule", err)
	}
	if r, err := a.Requirement(mAllOf); err != nil || r.Source != SourceMethodOption {
		t.Errorf("%s: %+v, %v; want its method option", mAllOf, r, err)
	}
}

// otherParentService is a service as a custom resolver describes it: its
// methods' Parent is parent, another service than the one resolved.
type otherParentService struct {
	protoreflect.ServiceDescriptor
	parent protoreflect.ServiceDescriptor
}

func (s otherParentService) Methods() protoreflect.MethodDescriptors {
	return parentedMethods{s.ServiceDescriptor.Methods(), s.parent}
}

func (s otherParentService) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if name == s.FullName() {
		return s, nil
	}
	return nil, protoregistry.NotFound
}

// Check's warning of a method rule dropping its service's requirements
// compares with the rule the service's other methods get: the option of
// the service as Config.Descriptors resolves it, as the calls read it,
// not that of the method's Parent, which a custom resolver may give as
// another service (here one without the option).
func TestCheck_DroppedWarningComparesWithTheServiceTheCallsRead(t *testing.T) {
	find := func(files DescriptorResolver) protoreflect.ServiceDescriptor {
		d, err := files.FindDescriptorByName("drop.v1.Svc")
		if err != nil {
			t.Fatal(err)
		}
		return d.(protoreflect.ServiceDescriptor)
	}
	plain := &grpcauthv1.Rule{Scopes: []string{"b"}}
	resolved := find(dropFiles(t, &grpcauthv1.Rule{Scopes: []string{"a"}, RequireDpop: true}, plain))
	var logs bytes.Buffer
	a := mustNew(t, Config{
		Logger:      slog.New(slog.NewJSONHandler(&logs, nil)),
		Descriptors: otherParentService{resolved, find(dropFiles(t, nil, plain))},
	})
	if err := a.Check(fakeServer{"drop.v1.Svc": {Methods: []grpc.MethodInfo{{Name: "Get"}, {Name: "Inherit"}}}}); err != nil {
		t.Fatalf("Check = %v, want nil", err)
	}
	if r, err := a.Requirement("/drop.v1.Svc/Inherit"); err != nil || !r.RequireDPoP {
		t.Fatalf("Inherit: %+v, %v; want the resolved service's option, require_dpop", r, err)
	}
	var recs []map[string]any
	for _, r := range jsonRecords(t, &logs) {
		if _, ok := r["dropped"]; ok {
			recs = append(recs, r)
		}
	}
	if len(recs) != 1 || recs[0]["method"] != "/drop.v1.Svc/Get" || fmt.Sprint(recs[0]["dropped"]) != "[require_dpop]" || recs[0]["service_rule"] != "service option" {
		t.Errorf("logged %v, want one record for /drop.v1.Svc/Get dropping [require_dpop] of the service option", recs)
	}
}
