package logonce

import (
	"log/slog"
	"sync/atomic"
)

// Once logs one error record per process. The zero value is ready to use.
type Once struct{ done atomic.Bool }

// Error writes msg and args through slog.Default() at level Error the
// first time it is called on o, from any goroutine, and does nothing after.
// args must carry nothing of a token or a secret.
func (o *Once) Error(msg string, args ...any) {
	if o.done.CompareAndSwap(false, true) {
		slog.Default().Error(msg, args...)
	}
}

// Forget makes the next Error log again, as in a fresh process. It is for
// tests.
func (o *Once) Forget() { o.done.Store(false) }
