package grpcauth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"

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
	if n := optionReads.underWay(); n != 0 {
		t.Fatalf("%d reads of options under way, want none", n)
	}
	if _, err := options(noWait, sd); err != nil {
		t.Fatal(err)
	}
	for i := range sd.Methods().Len() {
		if _, err := options(noWait, sd.Methods().Get(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// The first call that reads a service's options in the gap between
// protobuf-go's failed decoding of them (under another name, whose read
// panicked, and whose panic the resolver's descriptor holds) and
// grpcauth's recording of that failure waits for that read to end, and
// is then denied as every name is (codes.PermissionDenied,
// METHOD_NOT_CONFIGURED): its options, returned while another read was in
// its Options and never read complete before, are the partial ones
// recorded. Before, that call got the DefaultRule; then it was refused
// with codes.Unavailable (RULES_UNAVAILABLE) without waiting, as was any
// call whose first read overlapped another read of options
// (TestCall_FirstCallOverlappingAnotherReadOfOptionsGetsItsRule).
func TestCall_FirstReadInTheGapOfAFailedDecodingWaitsForItAndIsDenied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := stalledAliases{undecodableService(t, "undecodablerace"), make(chan struct{}), make(chan struct{})}
		a := mustNew(t, Config{Descriptors: r, DefaultRule: &grpcauthv1.Rule{},
			Verifier: staticVerifier{claims: mustClaims(t, "ok")}, Logger: discardLogger()})
		release := sync.OnceFunc(func() { close(r.release) })
		t.Cleanup(release) // on failure: no goroutine left blocked
		stalled := goErr(func() error { _, err := a.Requirement("/stalled.v1.Svc/Get"); return err })
		<-r.panicked

		const method = "/tenant.v1.Svc/Get"
		callWaitsForTheFailedRead(t, a, method, stalled, release)
		_, err := callUnary(a, bearerCtx("tok"), method)
		checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
	})
}

// callWaitsForTheFailedRead calls method on a, whose options are the
// partial options of a failed decoding that another read (stalled, its
// error) has not yet recorded, and checks that the call waits until
// release lets that read record the failure, and is then denied
// (codes.PermissionDenied, METHOD_NOT_CONFIGURED). Call it in the synctest
// bubble of its test.
func callWaitsForTheFailedRead(t *testing.T, a *Authenticator, method string, stalled <-chan error, release func()) {
	t.Helper()
	call := goErr(func() error { _, err := callUnary(a, bearerCtx("tok"), method); return err })
	synctest.Wait()
	select {
	case err := <-call:
		t.Fatalf("the call that read the partial options returned before the failed decoding was recorded: %v", err)
	default:
	}
	release()
	if err := <-stalled; !errors.Is(err, ErrUnreadableOption) {
		t.Fatalf("the name whose read panicked: %v, want ErrUnreadableOption", err)
	}
	checkStatus(t, <-call, codes.PermissionDenied, ReasonMethodNotConfigured)
}

// While another read is in its descriptor's Options, options read
// complete before are read as they are, and options never read so wait
// for it: they may be the partial options of a failed decoding that it
// has not yet recorded. A read given a context that has ended (New's,
// noWait) does not wait, and fails (errWaitEnded). With no read under
// way, they are read, and known complete from then on.
func TestOption_OptionsNeverReadCompleteWaitForAnotherReadUnderWay(t *testing.T) {
	readAuthtestOptionsAlone(t)
	sd := authtestv1.File_authtest_v1_authtest_proto.Services().Get(0)
	pkg := uniquePkg("neverread")
	fresh := generatedService(t, pkg, &descriptorpb.ServiceDescriptorProto{Name: proto.String("Svc"), // its method's options are never read before
		Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", &descriptorpb.MethodOptions{Deprecated: proto.Bool(true)})}})
	release := readStalled(t)
	if _, err := options(noWait, sd); err != nil {
		t.Errorf("options read complete before, while another read is under way: %v", err)
	}
	if _, err := options(noWait, fresh.Methods().Get(0)); !errors.Is(err, errWaitEnded) {
		t.Errorf("options never read complete, while another read is under way, not waiting: %v, want errWaitEnded", err)
	}
	release()
	for range 2 {
		if _, err := options(noWait, fresh.Methods().Get(0)); err != nil {
			t.Errorf("the same options, read with no read under way: %v", err)
		}
	}
}

// A read of options that waits for the reads under way as its own
// returned waits for those only, not for reads begun since: reads that
// keep coming (a busy server's first calls) cannot hold it for good.
func TestOption_WaitForReadsUnderWayIsNotHeldUpByReadsBegunLater(t *testing.T) {
	var r readsUnderWay
	before := r.begin()
	own := r.begin()
	last, alone := r.end(own)
	if alone {
		t.Fatal("a read ended alone while another was under way")
	}
	later := r.begin()
	waited := goErr(func() error { return r.wait(t.Context(), last) })
	r.end(before)
	if err := await(t, waited, "the wait, once the read under way before ended"); err != nil {
		t.Errorf("wait: %v", err)
	}
	if _, alone := r.end(later); !alone {
		t.Error("reads left under way")
	}
}

// A read of a service's (grpcauth.v1.service) option whose call's context
// ended while it waited for another read of options (errWaitEnded) is
// its call's alone: the call is refused as one whose context ended, and
// the service's next call reads the option again, and gets its rule,
// rather than the refusal kept as the read of the service's option.
func TestCall_ServiceOptionReadWhoseCallEndedWhileItWaitedIsNotKept(t *testing.T) {
	readAuthtestOptionsAlone(t)
	pkg := uniquePkg("racedsvc")
	opts := &descriptorpb.ServiceOptions{}
	proto.SetExtension(opts, grpcauthv1.E_Service, &grpcauthv1.Rule{Scopes: []string{"test:read"}})
	sd := generatedService(t, pkg, &descriptorpb.ServiceDescriptorProto{Name: proto.String("Svc"), Options: opts,
		Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", nil)}})
	a := mustNew(t, Config{Descriptors: aliases{sd}, Logger: discardLogger()})
	method := "/" + pkg + ".Svc/Get"

	release := readStalled(t)
	if p := a.lookupCall(noWait, method); !p.ended || !errors.Is(p.err, errWaitEnded) {
		t.Errorf("plan of a call whose context ended while another read is under way: ended %v, err %v; want its own, wrapping errWaitEnded", p.ended, p.err)
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
		_, err := options(context.Background(), stalled)
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
