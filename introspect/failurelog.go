package introspect

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/grpcauth/grpcauth/internal/ratelog"
)

// failureLogEvery is how often a Verifier logs a failed request at each
// level (see failureLog): a minute, as the stacks of recovered panics are
// logged. The first failure is logged at once, so an outage shows as soon
// as it starts; the minute only holds back what the next failures say.
// Stats.Failures counts every one as it happens.
const failureLogEvery = time.Minute

// failureLog bounds the records of a Verifier's failed requests. Anyone
// able to reach the service can make each request fail while the
// authorization server is down or refusing (a flood of made-up tokens,
// each one a request), and a token can provoke some refusals itself (a
// proxy's 403): logged one by one, that is as many records a second as
// requests fail. Per level (Warn: the endpoint is unusable; Error: it
// refused this service's credentials, or refused a request with a 401 or
// 403), one failure a failureLogEvery is logged, the others are counted,
// and the next record says how many were not logged ("suppressed"). The
// levels have their own windows, so that an outage's warnings do not hold
// back, for a minute, the error that says the credentials are wrong. Each
// failure still reaches the log at debug level, as every rejected token
// does ("introspect: token rejected", logRejection), once per caller.
type failureLog struct {
	warn, err ratelog.Window
	// failing is set when a failure is logged and cleared, by the first
	// usable answer after it, with the "introspection recovered" record.
	failing atomic.Bool
}

// fail logs err at level, unless a failure was logged at that level in
// the failureLogEvery before (see failureLog), and returns it.
func (v *Verifier) fail(ctx context.Context, level slog.Level, err error) error {
	w := &v.failLog.warn
	if level >= slog.LevelError {
		w = &v.failLog.err
	}
	ok, suppressed := w.Allow(v.s.Now(), failureLogEvery)
	if !ok {
		return err
	}
	v.failLog.failing.Store(true)
	if suppressed > 0 {
		v.s.Logger.Log(ctx, level, "introspect: introspection failed", "endpoint", v.endpoint, "error", err, "suppressed", suppressed)
	} else {
		v.s.Logger.Log(ctx, level, "introspect: introspection failed", "endpoint", v.endpoint, "error", err)
	}
	return err
}

// answered records a usable answer from the endpoint (active or not): the
// first after a logged failure is logged at info level, "introspection
// recovered", with the failures since not logged ("suppressed", both
// levels), which no later record would otherwise say. Other answers cost
// an atomic load. At most one such record follows each logged failure, so
// answers and failures taking turns log at most two records a
// failureLogEvery per level.
func (v *Verifier) answered(ctx context.Context) {
	if !v.failLog.failing.Load() || !v.failLog.failing.CompareAndSwap(true, false) {
		return
	}
	v.s.Logger.InfoContext(ctx, "introspect: introspection recovered", "endpoint", v.endpoint,
		"suppressed", v.failLog.warn.Take()+v.failLog.err.Take())
}
