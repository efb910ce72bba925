package grpcauth

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

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
