package grpcauth

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// stalledOptions is a service descriptor, stalled.v1.Svc, whose Options
// does not return until release is closed (a resolver's descriptor that
// fetches them, or waits on a lock); entered is closed when Options is
// first called.
type stalledOptions struct {
	protoreflect.ServiceDescriptor
	once             sync.Once
	entered, release chan struct{}
}

func (*stalledOptions) FullName() protoreflect.FullName { return "stalled.v1.Svc" }

func (s *stalledOptions) Options() protoreflect.ProtoMessage {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	return s.ServiceDescriptor.Options()
}

// A descriptor's Options that does not return holds up only the reads of
// its own options: another descriptor's (another Authenticator's New, and
// the first call of its method) does not wait for it, as it did when every read
// of options in the process took one lock around the resolver's code.
//
// The authtest options are read complete first: read for the first time
// while the stalled read is under way, they would wait for it
// (TestOption_OptionsNeverReadCompleteWaitForAnotherReadUnderWay), as the
// stalled read might be holding the panic of their failed decoding.
func TestOption_ReadThatDoesNotReturnHoldsUpOnlyItsDescriptor(t *testing.T) {
	readAuthtestOptionsAlone(t)
	stalled := &stalledOptions{
		ServiceDescriptor: authtestv1.File_authtest_v1_authtest_proto.Services().Get(0),
		entered:           make(chan struct{}), release: make(chan struct{}),
	}
	stall(t, "the stalled read", stalled.entered, stalled.release, func() error {
		_, err := options(context.Background(), stalled)
		return err
	})

	cfg := Config{Verifier: staticVerifier{claims: mustClaims(t)}, Logger: discardLogger()}
	plans := make(chan *methodPlan, 1)
	go func() {
		a, err := New(cfg)
		if err != nil {
			plans <- &methodPlan{err: err}
			return
		}
		plans <- a.lookup(mInherited)
	}()
	p := await(t, plans, "another Authenticator's New and first call waited for the stalled read of options")
	if p.source != SourceServiceOption || p.rule == nil {
		t.Errorf("plan of %s: source %v, err %v; want its service option's rule", mInherited, p.source, p.err)
	}
}

// stall runs call, which stalls, on a goroutine, and returns once entered
// is closed (call is under way); when the test ends, it closes release
// and checks that call, released, returns no error.
func stall(t *testing.T, what string, entered, release chan struct{}, call func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	t.Cleanup(func() {
		close(release)
		if err := <-done; err != nil {
			t.Errorf("%s, once released: %v", what, err)
		}
	})
	<-entered
}
