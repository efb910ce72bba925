package grpcauth

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// gatedService is authtest.v1.TestService (whose service option rules
// its method Inherited with test:read) under another name, as a custom
// resolver's descriptor: its Options counts its calls (reads) and returns
// only once release is closed; with panicFirst, the first call returns
// options whose ProtoReflect panics (a resolver's bug that escapes the
// read). Create it inside the synctest bubble of its test, so that a
// goroutine stopped in Options is durably blocked.
type gatedService struct {
	protoreflect.ServiceDescriptor
	name       protoreflect.FullName
	release    chan struct{}
	panicFirst bool

	mu    sync.Mutex
	reads int
}

func newGatedService(t *testing.T, name protoreflect.FullName, panicFirst bool) *gatedService {
	readAuthtestOptionsAlone(t)
	return &gatedService{
		ServiceDescriptor: authtestv1.File_authtest_v1_authtest_proto.Services().Get(0),
		name:              name, release: make(chan struct{}), panicFirst: panicFirst,
	}
}

func (s *gatedService) FullName() protoreflect.FullName { return s.name }

func (s *gatedService) Options() protoreflect.ProtoMessage {
	s.mu.Lock()
	s.reads++
	first := s.reads == 1
	s.mu.Unlock()
	<-s.release
	if first && s.panicFirst {
		return panickyOptions{}
	}
	return s.ServiceDescriptor.Options()
}

// readCount returns the number of calls of Options.
func (s *gatedService) readCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// method is the full name of the service's method Inherited.
func (s *gatedService) method() string { return "/" + string(s.name) + "/Inherited" }

// FindDescriptorByName makes the service its own resolver, of itself only.
func (s *gatedService) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if name == s.name {
		return s, nil
	}
	return nil, protoregistry.NotFound
}

// panickyOptions is options whose ProtoReflect panics.
type panickyOptions struct{}

func (panickyOptions) ProtoReflect() protoreflect.Message { panic("the descriptor's bug") }

// wantInherited fails the test unless p is the plan of the service option's
// test:read.
func wantInherited(t *testing.T, p *methodPlan) {
	t.Helper()
	if p.source != SourceServiceOption || p.rule == nil || !slices.Equal(p.rule.all, []string{"test:read"}) {
		t.Errorf("plan: source %v, rule %+v, err %v; want the service option's test:read", p.source, p.rule, p.err)
	}
}

// firstCalls makes callers concurrent first calls of g's method, on an
// Authenticator that resolves g, and returns their plans and their
// panics. It releases g only once each call is stopped: it reads the
// option, or waits for a read, or waits to read it after another (reads
// of one descriptor's options take turns), none finding a plan that lets
// it skip all three. Call it in g's synctest bubble.
func firstCalls(t *testing.T, g *gatedService, callers int) (plans []*methodPlan, panics []any) {
	t.Helper()
	a := mustNew(t, Config{Descriptors: g})
	var mu sync.Mutex
	for range callers {
		go func() {
			defer func() {
				if v := recover(); v != nil {
					mu.Lock()
					panics = append(panics, v)
					mu.Unlock()
				}
			}()
			p := a.lookup(g.method())
			mu.Lock()
			plans = append(plans, p)
			mu.Unlock()
		}()
	}
	synctest.Wait()
	close(g.release)
	synctest.Wait() // every call is done
	return plans, panics
}

// Concurrent first calls of a service's methods share one read of its
// (grpcauth.v1.service) option: the others wait for the first rather than
// each reading and compiling it again (for a huge option, a CPU spike per
// caller).
func TestPlan_ConcurrentFirstCallsReadAServiceOptionOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const callers = 8
		g := newGatedService(t, "gated.v1.Once", false)
		plans, panics := firstCalls(t, g, callers)
		if len(plans) != callers || len(panics) != 0 {
			t.Fatalf("%d calls got a plan and %d panicked, want %d plans", len(plans), len(panics), callers)
		}
		for _, p := range plans {
			wantInherited(t, p)
		}
		if n := g.readCount(); n != 1 {
			t.Errorf("%d concurrent first calls read their service's option %d times, want once", callers, n)
		}
	})
}

// A read of a service option that panics (a custom descriptor's bug) is
// forgotten: the callers waiting for it read the option again, and get
// its rule, rather than waiting for good or taking the missing result for
// an absent option (which would fall through to a wider rule).
func TestPlan_CallersWaitingForAServiceOptionReadThatPanicsReadItAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const callers = 4
		g := newGatedService(t, "gated.v1.Panics", true)
		plans, panics := firstCalls(t, g, callers)
		if n := len(panics); n != 1 {
			t.Errorf("%d callers panicked, want the one whose read panicked", n)
		}
		if n := len(plans); n != callers-1 {
			t.Errorf("%d callers got a plan, want %d", n, callers-1)
		}
		for _, p := range plans {
			wantInherited(t, p)
		}
		if n := g.readCount(); n != 2 {
			t.Errorf("the option was read %d times, want twice: once panicking, once again for the callers that waited", n)
		}
	})
}

// A call that waits for another call's read of its service's
// (grpcauth.v1.service) option (concurrent first calls share one read)
// stops waiting when its own context ends, and is refused as any call
// whose context ends during authentication is (codes.Canceled or
// codes.DeadlineExceeded), rather than hanging as long as the resolver's
// descriptor does; the read goes on for the call that started it, and
// the refusal is not kept as the method's rule.
func TestPlan_CallWaitingForAServiceOptionReadReturnsWhenItsContextEnds(t *testing.T) {
	for _, tt := range []struct {
		name   string
		ctx    func() (context.Context, context.CancelFunc) // the waiting call's; cancel runs once it waits
		code   codes.Code
		reason string
	}{
		{"canceled", func() (context.Context, context.CancelFunc) { return context.WithCancel(bearerCtx("tok")) },
			codes.Canceled, ReasonCanceled},
		{"deadline passed", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(bearerCtx("tok"), time.Unix(1, 0))
		}, codes.DeadlineExceeded, ReasonDeadlineExceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newGatedService(t, "gated.v1.Waits", false)
				a := mustNew(t, Config{Verifier: staticVerifier{claims: mustClaims(t, "test:read")}, Descriptors: g})
				ctx, cancel := tt.ctx()
				defer cancel()
				secondCallEndsWithItsContext(t, a, g.method(), ctx, cancel, tt.code, tt.reason, func() { close(g.release) })
				if n := g.readCount(); n != 1 {
					t.Errorf("the option was read %d times, want once", n)
				}
			})
		})
	}
}

// secondCallEndsWithItsContext makes a first call of method on a, whose
// service's descriptor stalls it (in its code, until release), then a
// second whose context is ctx, which waits for the first; it cancels ctx
// (cancel) and checks that the second is refused with code and reason,
// then releases the first, and checks that it, and a later call, are
// admitted by the service option (test:read): the refusal is not kept.
// Call it in the synctest bubble of the stalling descriptor.
func secondCallEndsWithItsContext(t *testing.T, a *Authenticator, method string, ctx context.Context, cancel func(), code codes.Code, reason string, release func()) {
	t.Helper()
	first := make(chan error, 1)
	go func() {
		_, err := callUnary(a, bearerCtx("tok"), method)
		first <- err
	}()
	synctest.Wait() // the first call is in the descriptor's code, which stalls

	second := make(chan error, 1)
	go func() {
		_, err := callUnary(a, ctx, method)
		second <- err
	}()
	synctest.Wait() // the second call waits for the first
	cancel()
	checkStatus(t, await(t, second, "a call waited for another call's read after its context ended"), code, reason)

	release()
	if err := <-first; err != nil {
		t.Errorf("the first call, released: %v; want it admitted by the service option", err)
	}
	if _, err := callUnary(a, bearerCtx("tok"), method); err != nil {
		t.Errorf("a later call: %v; want it admitted by the service option, the second call's refusal not kept", err)
	}
}
