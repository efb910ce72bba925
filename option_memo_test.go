package grpcauth

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// panickingOptionsService is the generated authtest service, renamed to
// name as a resolver that describes any name a caller sends may return
// it, whose Options panics (the resolver's bug) each time it is called.
// Its methods build.
type panickingOptionsService struct{ renamedService }

func (panickingOptionsService) Options() protoreflect.ProtoMessage { panic("the resolver's bug") }

// panickingOptionsNames describes every name as a panickingOptionsService.
type panickingOptionsNames struct{}

func (panickingOptionsNames) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	return panickingOptionsService{renamedService{authtestv1.File_authtest_v1_authtest_proto.Services().Get(0), name}}, nil
}

// A resolver that describes any name a caller sends, with services whose
// Options panics each time, does not let callers grow the memory of
// options that did not decode: at most maxResolverBuilds such failures
// are kept, none under a name longer than 256 bytes (gRPC admits a :path
// of 16 MiB), and every call of a method its service's option would rule
// is still denied, the failure kept or not, with an error (a Decision's
// Err) that names the method clipped. Before, every made-up name's
// failure was kept for good, with its whole name, and named it whole.
func TestCall_MadeUpServicesWhoseOptionsPanicDoNotGrowTheOptionsMemory(t *testing.T) {
	checkMadeUpOptionFailuresBounded(t, panickingOptionsNames{})
}

// checkMadeUpOptionFailuresBounded calls, twice each, a method of more
// made-up services than undecodable keeps within its bound, one of them
// named 64 KiB long, that r describes with options that panic on every
// read, and checks that each call is denied with an error naming the
// method clipped, and that undecodable keeps at most its bound of their
// failures, under no name longer than 256 bytes.
func checkMadeUpOptionFailuresBounded(t *testing.T, r DescriptorResolver) {
	t.Helper()
	forgetBounded(t, &undecodable)
	before, _ := failuresKept(&undecodable)
	a := mustNew(t, Config{Descriptors: r, DefaultRule: &grpcauthv1.Rule{}, Logger: discardLogger()})
	names := []string{"made.up." + strings.Repeat("x", 64<<10) + ".Svc"}
	for i := range 2 * maxResolverBuilds {
		names = append(names, fmt.Sprintf("made.up%d.Svc", i))
	}
	for _, svc := range names {
		for range 2 {
			_, err := a.Requirement("/" + svc + "/Inherited")
			if !errors.Is(err, ErrUnreadableOption) {
				t.Fatalf("a made-up service of %d bytes: %.300v, want its method denied with ErrUnreadableOption", len(svc), err)
			}
			if n := len(err.Error()); n > 4<<10 {
				t.Fatalf("a made-up service of %d bytes: the denial's error (a Decision's Err) is %d bytes long, want the method clipped", len(svc), n)
			}
		}
	}
	n, longest := failuresKept(&undecodable)
	if n-before > maxResolverBuilds {
		t.Errorf("callers' made-up service names kept %d failed reads of options, want at most %d", n-before, maxResolverBuilds)
	}
	if longest > maxUnbuiltName {
		t.Errorf("a failed read of options is kept under a name of %d bytes, want at most %d", longest, maxUnbuiltName)
	}
	undecodable.mu.Lock()
	defer undecodable.mu.Unlock()
	for k := range undecodable.errs {
		if len(k.name) > maxUnbuiltName {
			t.Errorf("a failed read of options is kept, past the bound, under a name of %d bytes", len(k.name))
		}
	}
}

// A generated descriptor whose options do not decode panics on their
// first read only, and reads as partial options afterwards: its failure is
// kept whatever the bound on the failures of resolvers' own descriptors,
// so that its method stays denied rather than falling through to the
// DefaultRule once that bound is full.
func TestOption_OptionsThatDoNotDecodeAreKeptPastTheBound(t *testing.T) {
	undecodable.mu.Lock()
	saved := undecodable.nBounded
	undecodable.nBounded = undecodable.maxBounded // full
	undecodable.mu.Unlock()
	t.Cleanup(func() {
		undecodable.mu.Lock()
		undecodable.nBounded = saved
		undecodable.mu.Unlock()
	})
	pkg := uniquePkg("undecodablebound")
	broken := &descriptorpb.MethodOptions{}
	broken.ProtoReflect().SetUnknown(undecodableRule(1))
	files := undecodableFiles(t, pkg, &descriptorpb.ServiceDescriptorProto{Name: proto.String("Svc"),
		Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", broken)}})
	a := mustNew(t, Config{Descriptors: files, DefaultRule: &grpcauthv1.Rule{}})
	for i := range 2 {
		if req, err := a.Requirement("/" + pkg + ".Svc/Get"); !errors.Is(err, ErrUnreadableOption) || !req.Denied {
			t.Fatalf("read %d: %+v, %v; want the method denied with ErrUnreadableOption", i, req, err)
		}
	}
}

// aliasedService is a generated service descriptor under another name, as
// a resolver that serves one descriptor under several names (versions,
// tenants) returns it: its file, methods and options are the generated
// one's.
type aliasedService struct {
	protoreflect.ServiceDescriptor
	name protoreflect.FullName
}

func (s aliasedService) FullName() protoreflect.FullName { return s.name }

// aliases describes every name as an aliasedService of sd.
type aliases struct {
	sd protoreflect.ServiceDescriptor
}

func (r aliases) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	return aliasedService{r.sd, name}, nil
}

// undecodableService is the generated service Svc of a new package named
// after base, with the method Get, whose (grpcauth.v1.service) option
// does not decode (acr_values not UTF-8), not yet read.
func undecodableService(t *testing.T, base string) protoreflect.ServiceDescriptor {
	t.Helper()
	pkg := uniquePkg(base)
	broken := &descriptorpb.ServiceOptions{}
	broken.ProtoReflect().SetUnknown(undecodableRule(7)) // acr_values
	return generatedService(t, pkg, &descriptorpb.ServiceDescriptorProto{Name: proto.String("Svc"), Options: broken,
		Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", nil)}})
}

// A generated service whose (grpcauth.v1.service) option does not decode,
// served by a resolver under several names, is denied under every one of
// them: protobuf-go panics on the first read of its options only (under
// the first name called), and every later read, under any other name,
// returns the options decoded before the failure, in which the rule is
// missing. Before, the first name's method was denied and every other
// name's got the DefaultRule.
func TestCall_AliasOfAServiceWhoseOptionsDoNotDecodeIsDeniedToo(t *testing.T) {
	a := mustNew(t, Config{Descriptors: aliases{undecodableService(t, "undecodablealias")}, DefaultRule: &grpcauthv1.Rule{},
		Verifier: staticVerifier{claims: mustClaims(t, "ok")}, Logger: discardLogger()})
	for _, m := range []string{"/tenant1.v1.Svc/Get", "/tenant2.v1.Svc/Get", "/tenant1.v1.Svc/Get", "/tenant3.v1.Svc/Get"} {
		_, err := callUnary(a, bearerCtx("tok"), m)
		checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
		if _, err := a.Requirement(m); !errors.Is(err, ErrUnreadableOption) {
			t.Errorf("Requirement(%s) = %v, want ErrUnreadableOption", m, err)
		}
	}
}

// zeroGeneratedService is the generated authtest service, renamed to name
// as a resolver that describes any name a caller sends may return it,
// whose Options is that of a zero descriptor of protobuf-go's own type
// (the resolver's bug: a descriptor it never built): it panics each time,
// inside protobuf-go's descriptors, but in no decoding of options. Its
// methods build.
type zeroGeneratedService struct{ renamedService }

func (zeroGeneratedService) Options() protoreflect.ProtoMessage {
	sd := authtestv1.File_authtest_v1_authtest_proto.Services().Get(0)
	return reflect.New(reflect.TypeOf(sd).Elem()).Interface().(protoreflect.ServiceDescriptor).Options()
}

// zeroGeneratedNames describes every name as a zeroGeneratedService.
type zeroGeneratedNames struct{}

func (zeroGeneratedNames) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	return zeroGeneratedService{renamedService{authtestv1.File_authtest_v1_authtest_proto.Services().Get(0), name}}, nil
}

// A resolver's descriptor whose Options panics each time inside
// protobuf-go's own descriptor code, but not in its one-time decoding of
// options (the next read panics again, rather than returning partial
// options), is a failure of the resolver's own, kept within the bound:
// a resolver that describes any name a caller sends so does not let
// callers grow the memory of options that did not decode, with names of
// any length. Its methods are denied on every call, the failure kept or
// not. Before, any panic that went through protobuf-go's descriptors was
// taken for its decoding of options, and kept whatever the bound, under
// the whole name.
func TestCall_MadeUpServicesWhoseOptionsPanicInProtobufGoEachTimeDoNotGrowTheOptionsMemory(t *testing.T) {
	checkMadeUpOptionFailuresBounded(t, zeroGeneratedNames{})
}

// stalledAlias is an aliasedService whose Options, when the generated
// options it reads panic, holds the panic until release is closed, having
// closed panicked: the gap, between protobuf-go's failed decoding and
// grpcauth's recording of it, in which another name's read of the same
// options returns them partial without a sign, widened at will.
type stalledAlias struct {
	aliasedService
	panicked, release chan struct{}
}

func (s stalledAlias) Options() protoreflect.ProtoMessage {
	defer func() {
		if v := recover(); v != nil {
			close(s.panicked)
			<-s.release
			panic(v)
		}
	}()
	return s.ServiceDescriptor.Options()
}

// stalledAliases describes stalled.v1.Svc as a stalledAlias of sd, and
// every other name as an aliasedService of sd.
type stalledAliases struct {
	sd                protoreflect.ServiceDescriptor
	panicked, release chan struct{}
}

func (r stalledAliases) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if name == "stalled.v1.Svc" {
		return stalledAlias{aliasedService{r.sd, name}, r.panicked, r.release}, nil
	}
	return aliasedService{r.sd, name}, nil
}

// A name read in the gap between protobuf-go's failed decoding of a
// service's options (under another name, whose read panicked) and
// grpcauth's recording of that failure reads the options partial, without
// a sign: it waits for the failure to be recorded
// (TestCall_FirstReadInTheGapOfAFailedDecodingWaitsForItAndIsDenied), and
// is denied, and so are its later calls, as every other name's are.
// Before, the wider rule (the DefaultRule here) was kept for the name for
// good; then given to the call in the gap only.
func TestCall_AliasReadWhileItsOptionsFailUnderAnotherNameIsDeniedOnceTheFailureIsRecorded(t *testing.T) {
	r := stalledAliases{undecodableService(t, "undecodablegap"), make(chan struct{}), make(chan struct{})}
	a := mustNew(t, Config{Descriptors: r, DefaultRule: &grpcauthv1.Rule{}, Logger: discardLogger()})
	stalled := make(chan error, 1)
	go func() {
		_, err := a.Requirement("/stalled.v1.Svc/Get")
		stalled <- err
	}()
	await(t, r.panicked, "the stalled name's read of the options to panic")
	gap := make(chan error, 1)
	go func() {
		_, err := a.Requirement("/tenant.v1.Svc/Get") // in the gap, or just after it
		gap <- err
	}()
	close(r.release)
	if err := await(t, stalled, "the stalled name's rule"); !errors.Is(err, ErrUnreadableOption) {
		t.Fatalf("the name whose read panicked: %v, want ErrUnreadableOption", err)
	}
	if err := await(t, gap, "the rule read in the gap"); !errors.Is(err, ErrUnreadableOption) {
		t.Errorf("Requirement read in the gap: %v, want ErrUnreadableOption", err)
	}
	for _, m := range []string{"/tenant.v1.Svc/Get", "/tenant.v1.Svc/Get", "/other.v1.Svc/Get"} {
		if req, err := a.Requirement(m); !errors.Is(err, ErrUnreadableOption) || !req.Denied {
			t.Errorf("Requirement(%s) once the failure is recorded = %+v, %v; want denied with ErrUnreadableOption", m, req, err)
		}
	}
}

// freshOptionsService is a renamedService whose Options returns a new
// message on each read: added to partialOptions, it stands for options
// protobuf-go failed to decode that nothing else reads.
type freshOptionsService struct{ renamedService }

func (freshOptionsService) Options() protoreflect.ProtoMessage { return &descriptorpb.ServiceOptions{} }

// A plan whose build began before a failed decoding of options was
// recorded, and ends after it, is its call's alone: its options may have
// been read partial in the gap. The method's next call builds a plan
// again, which is kept.
func TestPlan_BuiltBeforeAFailedDecodingIsRecordedIsNotKept(t *testing.T) {
	a := mustNew(t, Config{Descriptors: renamedNames{}, Logger: discardLogger()})
	for i := range 64 {
		a.lookup(fmt.Sprintf("/other%d.v1.Svc/Inherited", i))
	}
	a.publishAll(nil) // merged: a plan published next waits in a.pending
	const method = "/built.v1.Svc/Inherited"
	p, kept := a.buildPlan(t.Context(), method)
	if kept != keptForMethod || p.rule == nil {
		t.Fatalf("kept %v, err %v; want the service option's rule, kept for the method", kept, p.err)
	}
	if !partialOptions.add(freshOptionsService{renamedService{authtestv1.File_authtest_v1_authtest_proto.Services().Get(0), "failed.v1.Svc"}}, "test") {
		t.Fatal("partialOptions kept no options")
	}
	if q := a.publish(method, p, true); q != p {
		t.Fatal("publish returned another plan")
	}
	if _, ok := a.published(method); ok {
		t.Fatal("the plan built before the failed decoding was recorded is kept, want it its call's alone")
	}
	q := a.lookup(method)
	if kept, ok := a.published(method); q == p || q.rule == nil || !ok || kept != q {
		t.Errorf("the next call: its plan built again %v, kept %v; want both", q != p, ok)
	}
}
