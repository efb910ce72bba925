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
// requests fail. Per window (warn: the endpoint is unusable; err: it
// refused a request with a 401 or 403 without saying invalid_client;
// creds: it refused this service's credentials, invalid_client), one
// failure a failureLogEvery is logged, the others are counted, and the
// next record says how many were not logged ("suppressed"). The windows
// are apart so that one kind of failure does not hold back, for a minute,
// the record of another that calls for a different fix: neither an
// outage's warnings nor the 403s a caller provokes the error that says
// the credentials are wrong, which no token can make the server say. Each
// failure still reaches the log at debug level, as every rejected token
// does ("introspect: token rejected", logRejection), once per caller.
type failureLog struct {
	warn, err, creds ratelog.Window
	// recovered is the minute since the last "introspection recovered"
	// record: answers and failures taking turns log one a minute.
	recovered ratelog.Window
	// failing is set by every failure, logged or counted, and cleared by
	// the "introspection recovered" record that accounts for it.
	failing atomic.Bool
}

// fail logs err at level (Warn or Error), unless a failure was logged at
// that level in the failureLogEvery before (see failureLog), and returns
// it.
func (v *Verifier) fail(ctx context.Context, level slog.Level, err error) error {
	w := &v.failLog.warn
	if level >= slog.LevelError {
		w = &v.failLog.err
	}
	return v.logFailure(ctx, w, level, err)
}

// failCredentials logs err, a refusal of this service's client
// credentials (invalid_client), at error level, unless another was logged
// in the failureLogEvery before, and returns it.
func (v *Verifier) failCredentials(ctx context.Context, err error) error {
	return v.logFailure(ctx, &v.failLog.creds, slog.LevelError, err)
}

// logFailure logs err at level unless w refuses it, and returns it.
func (v *Verifier) logFailure(ctx context.Context, w *ratelog.Window, level slog.Level, err error) error {
	ok, suppressed := w.Allow(v.s.Now(), failureLogEvery)
	// After Allow has counted it: a recovery record that clears failing
	// before this Store takes a count this failure is in, or leaves
	// failing set for the next one to.
	v.failLog.failing.Store(true)
	if !ok {
		return err
	}
	if suppressed > 0 {
		v.s.Logger.Log(ctx, level, "introspect: introspection failed", "endpoint", v.endpoint, "error", err, "suppressed", suppressed)
	} else {
		v.s.Logger.Log(ctx, level, "introspect: introspection failed", "endpoint", v.endpoint, "error", err)
	}
	return err
}

// answered records a usable answer from the endpoint (active or not): the
// first after a failure (logged or counted), and at most one a
// failureLogEvery, is logged at info level, "introspection recovered",
// with the failures not logged since the last record ("suppressed", every
// level), which no later record would otherwise say. Other answers cost
// an atomic load, or, while a recovery waits for its minute, a lock. So
// answers and failures taking turns log at most a recovery and a failure
// per level a failureLogEvery, and a failure counted after a recovery
// (a second outage within the minute) is said by the next one.
func (v *Verifier) answered(ctx context.Context) {
	if !v.failLog.failing.Load() {
		return
	}
	if ok, _ := v.failLog.recovered.Allow(v.s.Now(), failureLogEvery); !ok {
		return
	}
	// Before the counts are taken: see logFailure.
	v.failLog.failing.Store(false)
	v.s.Logger.InfoContext(ctx, "introspect: introspection recovered", "endpoint", v.endpoint,
		"suppressed", v.failLog.warn.Take()+v.failLog.err.Take()+v.failLog.creds.Take())
}
