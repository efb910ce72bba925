package grpcauth

import (
	"errors"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// readAuthtestOptionsAlone reads the options of authtest.v1.TestService
// and its methods with no other read under way, so that they are known
// complete (completeOptions) to the reads that race another later.
func readAuthtestOptionsAlone(t *testing.T) {
	t.Helper()
	sd := authtestv1.File_authtest_v1_authtest_proto.Services().Get(0)
	if n := optionReads.Load(); n != 0 {
		t.Fatalf("%d reads of options under way, want none", n)
	}
	if _, err := options(sd); err != nil {
		t.Fatal(err)
	}
	for i := range sd.Methods().Len() {
		if _, err := options(sd.Methods().Get(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// The first call that reads a service's options in the gap between
// protobuf-go's failed decoding of them (under another name, whose read
// panicked, and whose panic the resolver's descriptor holds) and
// grpcauth's recording of that failure is denied too: its options,
// returned while another read was in its Options and never read complete
// before, may be partial. It is refused as an outage (codes.Unavailable,
// RULES_UNAVAILABLE), nothing is kept, and once the failure is recorded
// the name is denied as every other name is. Before, that call got the
// DefaultRule.
func TestCall_FirstReadInTheGapOfAFailedDecodingIsDenied(t *testing.T) {
	r := stalledAliases{undecodableService(t, "undecodablerace"), make(chan struct{}), make(chan struct{})}
	a := mustNew(t, Config{Descriptors: r, DefaultRule: &grpcauthv1.Rule{},
		Verifier: staticVerifier{claims: mustClaims(t, "ok")}, Logger: discardLogger()})
	stalled, done := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(done)
		_, err := a.Requirement("/stalled.v1.Svc/Get")
		stalled <- err
	}()
	release := sync.OnceFunc(func() { close(r.release) })
	t.Cleanup(func() { release(); <-done }) // on failure: no read left under way
	await(t, r.panicked, "the stalled name's read of the options to panic")

	const method = "/tenant.v1.Svc/Get"
	req, err := a.Requirement(method)
	if !errors.Is(err, errOptionsRaced) || !req.Denied {
		t.Fatalf("Requirement read in the gap = %+v, %v; want denied with errOptionsRaced", req, err)
	}
	_, err = callUnary(a, bearerCtx("tok"), method)
	checkStatus(t, err, codes.Unavailable, ReasonRulesUnavailable)
	if _, ok := a.published(method); ok {
		t.Error("the plan denied in the gap was kept")
	}

	release()
	if err := await(t, stalled, "the stalled name's rule"); !errors.Is(err, ErrUnreadableOption) {
		t.Fatalf("the name whose read panicked: %v, want ErrUnreadableOption", err)
	}
	_, err = callUnary(a, bearerCtx("tok"), method)
	checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
}

// While another read is in its descriptor's Options, options read
// complete before are read as they are, and options never read so are
// denied for the call (errOptionsRaced) without waiting for the other
// read: they may be the partial options of a failed decoding that it has
// not yet recorded. With no read under way, they are read, and known
// complete from then on.
func TestCall_OptionsNeverReadCompleteAreDeniedWhileAnotherReadIsUnderWay(t *testing.T) {
	readAuthtestOptionsAlone(t)
	sd := authtestv1.File_authtest_v1_authtest_proto.Services().Get(0)
	pkg := uniquePkg("neverread")
	fresh := generatedService(t, pkg, &descriptorpb.ServiceDescriptorProto{Name: proto.String("Svc"), // its method's options are never read before
		Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", &descriptorpb.MethodOptions{Deprecated: proto.Bool(true)})}})
	release := readStalled(t)
	if _, err := options(sd); err != nil {
		t.Errorf("options read complete before, while another read is under way: %v", err)
	}
	if _, err := options(fresh.Methods().Get(0)); !errors.Is(err, errOptionsRaced) {
		t.Errorf("options never read complete, while another read is under way: %v, want errOptionsRaced", err)
	}
	release()
	for range 2 {
		if _, err := options(fresh.Methods().Get(0)); err != nil {
			t.Errorf("the same options, read with no read under way: %v", err)
		}
	}
}

// A read of a service's (grpcauth.v1.service) option denied because it
// raced another read (errOptionsRaced) is its call's alone: the service's
// next call reads the option again, and gets its rule, rather than the
// denial kept as the read of the service's option.
func TestCall_ServiceOptionReadThatRacedIsNotKept(t *testing.T) {
	readAuthtestOptionsAlone(t)
	pkg := uniquePkg("racedsvc")
	opts := &descriptorpb.ServiceOptions{}
	proto.SetExtension(opts, grpcauthv1.E_Service, &grpcauthv1.Rule{Scopes: []string{"test:read"}})
	sd := generatedService(t, pkg, &descriptorpb.ServiceDescriptorProto{Name: proto.String("Svc"), Options: opts,
		Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", nil)}})
	a := mustNew(t, Config{Descriptors: aliases{sd}, Logger: discardLogger()})
	method := "/" + pkg + ".Svc/Get"

	release := readStalled(t)
	if _, err := a.Requirement(method); !errors.Is(err, errOptionsRaced) {
		t.Errorf("Requirement while another read is under way: %v, want errOptionsRaced", err)
	}
	release()
	if req, err := a.Requirement(method); err != nil || req.Source != SourceServiceOption || len(req.Scopes) != 1 {
		t.Errorf("Requirement once no read is under way = %+v, %v; want the service option's test:read", req, err)
	}
}

// readStalled starts a read of the options of authtest.v1.TestService
// through a stalledOptions, and returns once it is in Options; release
// lets it return, and waits for it.
func readStalled(t *testing.T) (release func()) {
	t.Helper()
	stalled := &stalledOptions{ServiceDescriptor: authtestv1.File_authtest_v1_authtest_proto.Services().Get(0),
		entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := options(stalled)
		done <- err
	}()
	<-stalled.entered
	return func() {
		t.Helper()
		close(stalled.release)
		if err := <-done; err != nil {
			t.Fatalf("the stalled read, released: %v", err)
		}
	}
}

// generatedService is the service Svc of generated code for a proto3
// file of package pkg declaring svc (see undecodableFiles).
func generatedService(t *testing.T, pkg string, svc *descriptorpb.ServiceDescriptorProto) protoreflect.ServiceDescriptor {
	t.Helper()
	d, err := undecodableFiles(t, pkg, svc).FindDescriptorByName(protoreflect.FullName(pkg + ".Svc"))
	if err != nil {
		t.Fatal(err)
	}
	return d.(protoreflect.ServiceDescriptor)
}
