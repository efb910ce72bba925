package grpcauth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// hungService is authtest.v1.TestService (whose service option rules its
// method Inherited with test:read) as a custom resolver's descriptor,
// under a name of its own and in no file, and its own resolver: the part
// named by hang (hungResolver, hungMethods or hungOptions: the resolver's
// FindDescriptorByName, the service's Methods or its Options) does not
// return until release is closed, as a resolver that fetches descriptors
// from a server that never answers. entered counts the calls that hung.
// Create it inside the synctest bubble of its test, so that a goroutine
// stopped in it is durably blocked.
type hungService struct {
	protoreflect.ServiceDescriptor
	name    protoreflect.FullName
	hang    string
	release chan struct{}
	unhang  func() // closes release, once
	entered atomic.Int32
}

const (
	hungResolver = "FindDescriptorByName"
	hungMethods  = "Methods"
	hungOptions  = "Options"
)

func newHungService(t *testing.T, hang string) *hungService {
	readAuthtestOptionsAlone(t)
	s := &hungService{
		ServiceDescriptor: authtestv1.File_authtest_v1_authtest_proto.Services().Get(0),
		name:              protoreflect.FullName(uniquePkg("hung") + ".Svc"), hang: hang, release: make(chan struct{}),
	}
	var once sync.Once
	s.unhang = func() { once.Do(func() { close(s.release) }) }
	t.Cleanup(s.unhang) // also when the test fails early
	return s
}

func (s *hungService) wait(part string) {
	if s.hang == part {
		s.entered.Add(1)
		<-s.release
	}
}

func (s *hungService) FullName() protoreflect.FullName         { return s.name }
func (s *hungService) ParentFile() protoreflect.FileDescriptor { return nil }

func (s *hungService) Methods() protoreflect.MethodDescriptors {
	s.wait(hungMethods)
	return s.ServiceDescriptor.Methods()
}

func (s *hungService) Options() protoreflect.ProtoMessage {
	s.wait(hungOptions)
	return s.ServiceDescriptor.Options()
}

func (s *hungService) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if name != s.name {
		return nil, protoregistry.NotFound
	}
	s.wait(hungResolver)
	return s, nil
}

// method is the full name of the service's method Inherited.
func (s *hungService) method() string { return "/" + string(s.name) + "/Inherited" }

// server registers the service's methods Inherited and AllOf.
func (s *hungService) server() ServiceInfoProvider {
	return fakeServer{string(s.name): {Methods: []grpc.MethodInfo{{Name: "Inherited"}, {Name: "AllOf"}}}}
}

// Check and Requirement, which take no context, wait at most
// Config.DescriptorTimeout (DefaultDescriptorTimeout when unset) for a
// resolver, or a descriptor's Methods or Options, that does not return:
// they then fail with ErrDescriptorTimeout (Requirement denying, never
// reading the method as needing no scope), whether they started the read
// themselves or found it under way in a call's first use of the method.
// The read that hangs holds one goroutine, its own: the Checks and
// Requirements after it wait for it (or for their own bound) rather than
// each start another read that hangs, or leave a goroutine waiting. Once
// the resolver answers, the method has its rule: the time-outs kept
// nothing. Without the bound, Check hangs, and the failAfter guard
// (synctest's clock, so at once) fails the test.
func TestCheckAndRequirement_HungDescriptorReadTimesOut(t *testing.T) {
	for _, hang := range []string{hungResolver, hungMethods, hungOptions} {
		for _, callFirst := range []bool{false, true} {
			for _, timeout := range []time.Duration{0, 20 * time.Second} {
				name := hang + "/check first"
				if callFirst {
					name = hang + "/call first"
				}
				if timeout != 0 {
					name += "/DescriptorTimeout " + timeout.String()
				}
				t.Run(name, func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						checkHungRead(t, hang, callFirst, timeout)
					})
				})
			}
		}
	}
}

func checkHungRead(t *testing.T, hang string, callFirst bool, timeout time.Duration) {
	s := newHungService(t, hang)
	a := mustNew(t, Config{Verifier: staticVerifier{claims: mustClaims(t, "test:read")}, Descriptors: s, DescriptorTimeout: timeout})
	want := timeout
	if want == 0 {
		want = DefaultDescriptorTimeout
	}
	var call chan *methodPlan
	if callFirst {
		// A call's first use of the method starts the read that hangs.
		call = make(chan *methodPlan, 1)
		go func() { call <- a.lookupCall(t.Context(), s.method()) }()
		synctest.Wait()
		if n := s.entered.Load(); n != 1 {
			t.Fatalf("the call entered %s %d times, want once", hang, n)
		}
	}
	// The goroutines a Check may leave: with a call first, none (the call's
	// own read hangs, and Check waits for it), except when the resolver
	// hangs, which a call does not share with Check (one more, hung).
	var before goleak.Option
	if callFirst && hang != hungResolver {
		before = goleak.IgnoreCurrent()
	}
	start := time.Now()
	checkTimesOut(t, a, s)
	if took := time.Since(start); took != want {
		t.Errorf("Check returned after %v, want Config.DescriptorTimeout, %v", took, want)
	}
	if before == nil {
		before = goleak.IgnoreCurrent() // the one read that hangs, Check's
	}
	for range 3 {
		checkTimesOut(t, a, s)
		requirementTimesOut(t, a, s.method())
	}
	if err := goleak.Find(before); err != nil {
		t.Errorf("goroutines left by the Checks and Requirements that timed out: %v", err)
	}
	wantEntered := int32(1)
	if callFirst && hang == hungResolver {
		wantEntered = 2
	}
	if n := s.entered.Load(); n != wantEntered {
		t.Errorf("%s entered %d times, want %d: one read that hangs per service, not one per Check or Requirement", hang, n, wantEntered)
	}

	s.unhang()
	synctest.Wait()
	if callFirst {
		wantInherited(t, <-call)
	}
	if req, err := a.Requirement(s.method()); err != nil || req.Denied || len(req.Scopes) != 1 || req.Scopes[0] != "test:read" {
		t.Errorf("Requirement(%s), the resolver answering = %+v, %v; want the service option's test:read", s.method(), req, err)
	}
	if err := a.Check(s.server()); err != nil {
		t.Errorf("Check, the resolver answering = %v, want nil", err)
	}
}

// checkTimesOut checks that a.Check(s.server()) returns an error wrapping
// ErrDescriptorTimeout, and no *CheckError, within failAfter.
func checkTimesOut(t *testing.T, a *Authenticator, s *hungService) {
	t.Helper()
	errs := make(chan error, 1)
	go func() { errs <- a.Check(s.server()) }()
	err := await(t, errs, "Check waited without bound for a read of descriptors that does not return")
	var ce *CheckError
	if !errors.Is(err, ErrDescriptorTimeout) || errors.As(err, &ce) || !strings.Contains(err.Error(), s.method()) {
		t.Errorf("Check = %v; want an error wrapping ErrDescriptorTimeout that names %s, and no *CheckError", err, s.method())
	}
}

// requirementTimesOut checks that a.Requirement(method) returns an error
// wrapping ErrDescriptorTimeout and a denied Requirement, within
// failAfter.
func requirementTimesOut(t *testing.T, a *Authenticator, method string) {
	t.Helper()
	type answer struct {
		req Requirement
		err error
	}
	answers := make(chan answer, 1)
	go func() {
		req, err := a.Requirement(method)
		answers <- answer{req, err}
	}()
	got := await(t, answers, "Requirement waited without bound for a read of descriptors that does not return")
	if !errors.Is(got.err, ErrDescriptorTimeout) {
		t.Errorf("Requirement(%s) error = %v, want one wrapping ErrDescriptorTimeout", method, got.err)
	}
	if r := got.req; !r.Denied || r.Public || r.Scopes != nil || r.Alternatives() != nil || r.Method != method || r.Source != SourceNone {
		t.Errorf("Requirement(%s) = %+v, want only Method and Denied set: no rule is known", method, r)
	}
}

// New refuses a negative Config.DescriptorTimeout, which would time every
// read out.
func TestNew_RefusesNegativeDescriptorTimeout(t *testing.T) {
	_, err := New(Config{Verifier: staticVerifier{claims: mustClaims(t)}, DescriptorTimeout: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "DescriptorTimeout") {
		t.Errorf("New with DescriptorTimeout -1s = %v, want an error naming it", err)
	}
}

// A call that finds its service's Methods being built by another call
// (the first use of the service's file, one build at a time) waits for
// that build only as long as its own context lasts: a resolver's Methods
// that does not return holds the call that entered it, not every call
// after it. The call is refused as one whose context ended, and the
// refusal is not kept: once Methods returns, the method has its rule.
func TestCall_WaitingForAnotherCallsBuildEndsWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newHungService(t, hungMethods)
		a := mustNew(t, Config{Verifier: staticVerifier{claims: mustClaims(t, "test:read")}, Descriptors: s})
		ctx, cancel := context.WithCancel(bearerCtx("tok"))
		defer cancel()
		secondCallEndsWithItsContext(t, a, s.method(), ctx, cancel, codes.Canceled, ReasonCanceled, s.unhang)
		if n := s.entered.Load(); n != 1 {
			t.Errorf("Methods entered %d times, want once", n)
		}
	})
}

// panickingService is a hungService whose Options, once released,
// returns options whose ProtoReflect panics (panickyOptions): a
// resolver's descriptor that hangs, then fails in a way that escapes the
// read.
type panickingService struct{ *hungService }

func (s panickingService) Options() protoreflect.ProtoMessage {
	s.wait(hungOptions)
	return panickyOptions{}
}

func (s panickingService) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if name != s.name {
		return nil, protoregistry.NotFound
	}
	return s, nil
}

// A read that Requirement stopped waiting for (ErrDescriptorTimeout) and
// that then panics has no caller to panic in: its panic is logged, and a
// Logger whose handler panics on that record loses the record, as it
// loses that of any panic grpcauth recovered, rather than end the process
// from the read's goroutine, which nothing else recovers. Without
// safelog there, the handler's panic crashed the test binary.
func TestRequirement_AbandonedReadsPanicIsLoggedAndALoggersPanicGoesNoFurther(t *testing.T) {
	for _, panicky := range []bool{false, true} {
		name := "logger"
		if panicky {
			name = "panicking logger"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := panickingService{newHungService(t, hungOptions)}
				var logs bytes.Buffer
				var h slog.Handler = slog.NewTextHandler(&logs, nil)
				if panicky {
					ph := &panickyHandler{Handler: h}
					ph.armed.Store(true)
					h = ph
				}
				a := mustNew(t, Config{Verifier: staticVerifier{claims: mustClaims(t, "test:read")}, Descriptors: s, Logger: slog.New(h)})
				requirementTimesOut(t, a, s.method())
				s.unhang()
				synctest.Wait() // the read has panicked, and its goroutine ended
				l := logs.String()
				switch {
				case panicky && l != "":
					t.Errorf("log %q; want nothing: the handler panicked on the one record", l)
				case !panicky && (!strings.Contains(l, "stopped waiting for") || !strings.Contains(l, "the descriptor's bug")):
					t.Errorf("log %q; want the abandoned read's panic", l)
				}
			})
		})
	}
}
