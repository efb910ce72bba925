package grpcauth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/panictext"
	"github.com/grpcauth/grpcauth/internal/safelog"
)

// ErrDescriptorTimeout is wrapped by the error of Authenticator.Check and
// Authenticator.Requirement when Config.Descriptors, or a descriptor it
// returned (its Methods or Options), does not answer within
// Config.DescriptorTimeout, or when an earlier read of the same service's
// descriptors that did not return holds them up that long: a resolver that
// hangs. Check then reports no method, and Requirement no rule: the
// method's rule is not known.
var ErrDescriptorTimeout = errors.New("grpcauth: Config.Descriptors, or a descriptor it returned, did not answer within Config.DescriptorTimeout")

// DefaultDescriptorTimeout is Config.DescriptorTimeout's default.
const DefaultDescriptorTimeout = 10 * time.Second

// readOutcome is how a read run by boundedRead ended, under mu: finished
// once it ended, returned when it returned, panicked when it panicked,
// with value (nil for a panic(nil) under GODEBUG=panicnil=1), and neither
// when it ended its goroutine (runtime.Goexit); abandoned once its caller
// stopped waiting for it.
type readOutcome struct {
	mu                                      sync.Mutex
	finished, returned, panicked, abandoned bool
	value                                   any
	stack                                   []byte // the read's goroutine's stack as it panicked
}

// boundedRead runs read, which asks Config.Descriptors about the service
// svc and reads the descriptors it returns, for Check or Requirement
// (which take no context), and waits for it at most
// a.descriptorTimeout: then it returns an error wrapping
// ErrDescriptorTimeout, and read is left to end on its own (its ctx has
// ended, so that it stops waiting for other reads under way; only the
// resolver's own code can hold it). read runs on a goroutine of its own,
// one at a time per service (a.descriptorReads): a boundedRead of a service
// whose read under way does not return waits for it, within its bound,
// and starts none, so that a hung read holds one goroutine, not one per
// call. A read that panics panics again in the caller, with the same
// value (nil, for a panic(nil) under GODEBUG=panicnil=1), and one that
// ends its goroutine (runtime.Goexit) ends the caller's, as they did when
// run on it; a read that panics after its caller stopped waiting is logged
// (a Logger whose handler panics on that record loses it, as nothing
// recovers a panic on that goroutine). The panic raised again carries the
// caller's stack only, so its value is logged first with the read's
// stack, which shows the resolver's frames (logReadPanic).
func (a *Authenticator) boundedRead(svc string, read func(ctx context.Context)) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.descriptorTimeout)
	defer cancel()
	timedOut := func() error {
		return fmt.Errorf("%w (%v) for the service %s", ErrDescriptorTimeout, a.descriptorTimeout, clipLogged(svc))
	}
	if err := a.descriptorReads.begin(ctx, svc); err != nil {
		return timedOut()
	}
	o := new(readOutcome)
	done := make(chan struct{})
	go func() {
		// Set once Catch returned, as read returned or panicked: a read
		// that ends its goroutine (runtime.Goexit) ends it within Catch,
		// and leaves caught false. Telling a panic by recover's value
		// would take a panic(nil) under GODEBUG=panicnil=1 for a Goexit.
		var (
			caught, panicked bool
			v                any
			stack            []byte
		)
		defer func() {
			a.descriptorReads.end(svc)
			o.mu.Lock()
			defer o.mu.Unlock()
			o.finished, o.returned, o.panicked, o.value, o.stack = true, caught && !panicked, panicked, v, stack
			if !o.abandoned {
				close(done)
				return
			}
			if panicked {
				a.logReadPanic("grpcauth: a read of descriptors that Check or Requirement stopped waiting for (ErrDescriptorTimeout) panicked; fix Config.Descriptors", svc, v, stack)
			}
		}()
		v, panicked = panictext.Catch(func() {
			returned := false
			defer func() {
				if !returned {
					// Still on the panicking frames: the stack shows
					// where in the resolver the read panicked.
					stack = debug.Stack()
				}
			}()
			read(ctx)
			returned = true
		})
		caught = true
	}()
	select {
	case <-done:
	case <-ctx.Done():
		o.mu.Lock()
		o.abandoned = !o.finished
		o.mu.Unlock()
		if o.abandoned {
			return timedOut()
		}
	}
	switch {
	case o.returned && ctx.Err() != nil:
		// It returned, but may have stopped waiting for a read under
		// way as ctx ended: what it found is no answer.
		return timedOut()
	case o.returned:
		return nil
	case o.panicked:
		a.logReadPanic("grpcauth: a read of descriptors for Check or Requirement panicked, and its panic is raised again in their caller, whose stack does not show the read's; fix Config.Descriptors", svc, o.value, o.stack)
		panic(o.value)
	default:
		runtime.Goexit()
		return nil
	}
}

// logReadPanic logs the panic of a read of the descriptors of the service
// svc run by boundedRead, with value v, and stack, the read's goroutine's
// as it panicked, which shows where in the resolver's code it panicked:
// at most one stack a minute (a.readPanics, on the process's clock), as a
// resolver that panics on every call would log one each time. It is
// written through safelog: a Logger whose handler panics loses the
// record, nothing more (no caller recovers a panic on the read's
// goroutine, and the caller's own panic is the read's).
func (a *Authenticator) logReadPanic(msg, svc string, v any, stack []byte) {
	safelog.New(a.logger).Error(msg, "service", clipLogged(svc), "panic", panictext.Text(v, endpoint.MaxErrorText),
		"stack", a.readPanics.Stack(stack, a.wallNow()))
}
