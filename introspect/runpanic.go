package introspect

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/panictext"
)

// recoverRun, deferred by run on the flight's own goroutine, where no
// caller's recovery runs (a server's recovery interceptor, grpcauth's
// recovery on a stream's timer), recovers a panic of the user code run
// calls there (Config.Now, Config.HTTPClient's transport; Config.Logger's
// panics are recovered record by record, internal/safelog) rather than
// let it end the process. The flight's callers, unless run
// had settled them already (settled), are refused with an error wrapping
// ErrUnavailable (codes.Unavailable behind grpcauth: no verdict, so
// nothing is cached, and a stream re-verified goes on to its next
// re-verification), the flight is ended, and the token loses the rate
// limit's pass it took (fail closed). The panic is logged at error level
// with its value and its stack, the stack at most once a minute per
// Verifier by the process's clock (wallNow): Config.Now may be what
// panicked, on every request. A second panic while it is logged is
// dropped.
func (v *Verifier) recoverRun(key tokenKey, f *flight, settled *bool) {
	p := recover()
	if p == nil {
		return
	}
	stack := debug.Stack()
	text := panictext.Text(p, endpoint.MaxErrorText) // the code that panicked chose its size
	if !*settled {
		// After the record, so that a caller refused finds it logged.
		defer v.refuseFlight(key, f, fmt.Errorf("%w: the introspection request panicked: %s", ErrUnavailable, text))
	}
	defer func() { _ = recover() }()
	v.s.Logger.LogAttrs(context.Background(), slog.LevelError, "introspect: panic recovered in an introspection request; its callers are refused with ErrUnavailable",
		slog.String("endpoint", v.endpoint), slog.String("panic", text), slog.String("stack", v.runPanics.Stack(stack, v.wallNow())))
}

// refuseFlight ends f, the flight for key, with err, caching nothing, and
// makes the token lose the rate limit's pass it may have taken.
func (v *Verifier) refuseFlight(key tokenKey, f *flight, err error) {
	v.forget(key)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.flights[key] == f {
		delete(v.flights, key)
	}
	f.err = err
	close(f.done)
}
