package grpcauth

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// rereadAlias is an aliasedService whose first Options reads the
// generated options (whose decoding panics), and whose later ones, the
// re-read that records the failed decoding (partialOptions.add), call
// again: the gap between the panic and its recording, widened at will.
type rereadAlias struct {
	aliasedService
	mu    *sync.Mutex
	reads *int
	again func()
}

func (s rereadAlias) Options() protoreflect.ProtoMessage {
	s.mu.Lock()
	*s.reads++
	first := *s.reads == 1
	s.mu.Unlock()
	if !first {
		s.again()
	}
	return s.ServiceDescriptor.Options()
}

// rereadAliases describes stalled.v1.Svc as a rereadAlias of sd, and
// every other name as an aliasedService of sd.
type rereadAliases struct {
	sd    protoreflect.ServiceDescriptor
	mu    *sync.Mutex
	reads *int
	again func()
}

func newRereadAliases(sd protoreflect.ServiceDescriptor, again func()) rereadAliases {
	return rereadAliases{sd, new(sync.Mutex), new(int), again}
}

func (r rereadAliases) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if name == "stalled.v1.Svc" {
		return rereadAlias{aliasedService{r.sd, name}, r.mu, r.reads, r.again}, nil
	}
	return aliasedService{r.sd, name}, nil
}

// A read whose decoding failed stays under way until the failure is
// recorded (its re-read of the options by partialOptions.add), not only
// until its panic is recovered: a call under another name that reads the
// same options, partial, in that gap waits for the record, and is denied
// as every name is (codes.PermissionDenied, METHOD_NOT_CONFIGURED), never
// given the wider rule (the DefaultRule here). The read that panicked is
// no longer under way once it has returned.
func TestCall_AliasReadWhileAnotherNameRecordsItsFailedDecodingWaitsForTheRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		recording, release := make(chan struct{}), make(chan struct{})
		r := newRereadAliases(undecodableService(t, "undecodablerecord"), func() {
			close(recording)
			<-release
		})
		a := mustNew(t, Config{Descriptors: r, DefaultRule: &grpcauthv1.Rule{},
			Verifier: staticVerifier{claims: mustClaims(t, "ok")}, Logger: discardLogger()})
		releaseOnce := sync.OnceFunc(func() { close(release) })
		t.Cleanup(releaseOnce) // on failure: no goroutine left blocked
		stalled := goErr(func() error { _, err := a.Requirement("/stalled.v1.Svc/Get"); return err })
		<-recording
		callWaitsForTheFailedRead(t, a, "/tenant.v1.Svc/Get", stalled, releaseOnce)
		if n := optionReads.underWay(); n != 0 {
			t.Errorf("%d reads of options left under way, want none", n)
		}
	})
}

// A read whose decoding failed, and whose re-read to record the failure
// ends its goroutine (a resolver's descriptor calling runtime.Goexit), is
// no longer under way once its goroutine has ended: were it left so,
// every later first read of options never read complete would wait for
// it as long as its call's context lasts (Check and Requirement, for
// good). Before, the end of the read was skipped.
func TestOption_ReadWhoseRecordingEndsItsGoroutineIsNoLongerUnderWay(t *testing.T) {
	readAuthtestOptionsAlone(t)
	r := newRereadAliases(undecodableService(t, "undecodablegoexit"), runtime.Goexit)
	d, _ := r.FindDescriptorByName("stalled.v1.Svc")
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = options(context.Background(), d.(protoreflect.Descriptor))
	}()
	await(t, done, "the read whose recording ends its goroutine")
	if n := optionReads.underWay(); n != 0 {
		t.Fatalf("%d reads of options left under way, want none", n)
	}
	pkg := uniquePkg("aftergoexit")
	fresh := generatedService(t, pkg, &descriptorpb.ServiceDescriptorProto{Name: proto.String("Svc"),
		Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", &descriptorpb.MethodOptions{Deprecated: proto.Bool(true)})}})
	if _, err := options(noWait, fresh.Methods().Get(0)); err != nil {
		t.Errorf("options never read before, with no read under way: %v", err)
	}
}

// nilPanicService is an aliasedService whose Options or Methods (in)
// panics with nil (the resolver's bug), which recover sees as no panic
// at all under GODEBUG=panicnil=1.
type nilPanicService struct {
	aliasedService
	in string
}

func (s nilPanicService) Options() protoreflect.ProtoMessage {
	if s.in == "Options" {
		panic(nil)
	}
	return s.aliasedService.Options()
}

func (s nilPanicService) Methods() protoreflect.MethodDescriptors {
	if s.in == "Methods" {
		panic(nil)
	}
	return s.aliasedService.Methods()
}

// nilPanicAliases describes every name as a nilPanicService of the
// authtest service.
type nilPanicAliases struct{ in string }

func (r nilPanicAliases) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	return nilPanicService{aliasedService{authtestv1.File_authtest_v1_authtest_proto.Services().Get(0), name}, r.in}, nil
}

// A resolver's service descriptor whose Options or Methods panics with
// nil, which recover sees as no panic under GODEBUG=panicnil=1, fails as
// one that does not return does: the method is denied
// (ErrUnreadableOption), never given the wider rule (the DefaultRule
// here). Before, the read of options returned no options and no error,
// so the method got the DefaultRule, and the build returned no methods
// and no error, on which the lookup panicked (a server without a
// recovery interceptor crashed).
func TestCall_ResolverDescriptorThatPanicsNilUnderPanicnilIsDenied(t *testing.T) {
	if !UnderPanicnil(t) {
		return
	}
	for _, in := range []string{"Options", "Methods"} {
		a := mustNew(t, Config{Descriptors: nilPanicAliases{in}, DefaultRule: &grpcauthv1.Rule{}, Logger: discardLogger()})
		method := "/panicnil" + strings.ToLower(in) + ".v1.TestService/Inherited" // no method option: its service's rules it
		if req, err := a.Requirement(method); !errors.Is(err, ErrUnreadableOption) || !req.Denied {
			t.Errorf("%s panicking nil: Requirement(%s) = %+v, %v; want denied with ErrUnreadableOption", in, method, req, err)
		}
	}
	if n := optionReads.underWay(); n != 0 {
		t.Errorf("%d reads of options left under way, want none", n)
	}
}
