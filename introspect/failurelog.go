package introspect

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/grpcauth/grpcauth/internal/ratelog"
)

// failureLogEvery is how often a Verifier logs a failed request of each
// kind (see failureLog): a minute, as the stacks of recovered panics are
// logged. The first failure is logged at once, so an outage shows as soon
// as it starts; the minute only holds back what the next failures of its
// kind say. Stats.Failures counts every one as it happens.
const failureLogEvery = time.Minute

// failureKind is what went wrong with a failed request, which decides the
// window it is logged in (see failureLog), its level, and its record's
// "kind".
type failureKind int

const (
	failNetwork     failureKind = iota // not reached, timed out, or the answer's body broken off
	failServer                         // a 5xx status (a 503 too)
	failRateLimited                    // a 429 status
	failRefused                        // a 401 or 403 without invalid_client, or whose body was not read
	failCredentials                    // a 401 or 403 invalid_client: this service's credentials refused
	failStatus                         // any other status: a redirect, another 4xx
	failMalformed                      // a 200 not labelled JSON, not an RFC 7662 answer, or claims of the wrong type
	failOversized                      // a 200 larger than MaxResponseSize
	failureKinds                       // the number of kinds
)

// failureKindNames are the kinds' names, for records ("kind").
var failureKindNames = [failureKinds]string{
	failNetwork:     "network",
	failServer:      "server_error",
	failRateLimited: "rate_limited",
	failRefused:     "refused",
	failCredentials: "invalid_client",
	failStatus:      "status",
	failMalformed:   "malformed",
	failOversized:   "oversized",
}

// level is the level a failure of kind k is logged at: error for a 401 or
// 403 (whatever refuses this service's requests, or its credentials, calls
// for a fix here), warn for the others (the endpoint is unusable).
func (k failureKind) level() slog.Level {
	if k == failRefused || k == failCredentials {
		return slog.LevelError
	}
	return slog.LevelWarn
}

// statusKind is the kind of failure of an answer with status code, other
// than 200, 401 and 403.
func statusKind(code int) failureKind {
	switch {
	case code == http.StatusTooManyRequests:
		return failRateLimited
	case code >= 500:
		return failServer
	}
	return failStatus
}

// failureLog bounds the records of a Verifier's failed requests. Anyone
// able to reach the service can make each request fail while the
// authorization server is down or refusing (a flood of made-up tokens,
// each one a request), and a token can provoke some failures itself (a
// proxy's 403, a server's 400 or 500 for a token it chokes on): logged one
// by one, that is as many records a second as requests fail. Per kind of
// failure (failureKind), one failure a failureLogEvery is logged, the
// others are counted, and the next record of that kind says how many were
// not logged ("suppressed"). Each kind has its own window so that a
// trickle of one kind, which a caller may keep up, does not hold back for
// a minute the record of another that calls for a different fix: neither
// the 403s a caller provokes the error that says the credentials are
// wrong, nor 4xx answers to made-up tokens the warning of an outage or of
// a rate limit. (Before, there was one window per level, so a caller's
// trickle of one kind left a real outage a "suppressed" count.) Each
// failure still reaches the log at debug level, as every rejected token
// does ("introspect: token rejected", logRejection), once per caller.
type failureLog struct {
	windows [failureKinds]ratelog.Window
	// recovered is the minute since the last "introspection recovered"
	// record: answers and failures taking turns log one a minute.
	recovered ratelog.Window
	// failing is set by every failure, logged or counted, and cleared by
	// the "introspection recovered" record that accounts for it.
	failing atomic.Bool
}

// fail logs err, a failure of kind k, at k's level, unless a failure of
// that kind was logged in the failureLogEvery before (see failureLog), and
// returns it.
func (v *Verifier) fail(ctx context.Context, k failureKind, err error) error {
	ok, suppressed := v.failLog.windows[k].Allow(v.s.Now(), failureLogEvery)
	// After Allow has counted it: a recovery record that clears failing
	// before this Store takes a count this failure is in, or leaves
	// failing set for the next one to.
	v.failLog.failing.Store(true)
	if !ok {
		return err
	}
	args := []any{"endpoint", v.endpoint, "kind", failureKindNames[k], "error", err}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	v.s.Logger.Log(ctx, k.level(), "introspect: introspection failed", args...)
	return err
}

// answered records a usable answer from the endpoint (active or not): the
// first after a failure (logged or counted), and at most one a
// failureLogEvery, is logged at info level, "introspection recovered",
// with the failures not logged since the last record ("suppressed", every
// kind), which no later record would otherwise say. Other answers cost
// an atomic load, or, while a recovery waits for its minute, a lock. So
// answers and failures taking turns log at most a recovery and a failure
// per kind a failureLogEvery, and a failure counted after a recovery
// (a second outage within the minute) is said by the next one.
func (v *Verifier) answered(ctx context.Context) {
	if !v.failLog.failing.Load() {
		return
	}
	if ok, _ := v.failLog.recovered.Allow(v.s.Now(), failureLogEvery); !ok {
		return
	}
	// Before the counts are taken: see fail.
	v.failLog.failing.Store(false)
	var suppressed int64
	for i := range v.failLog.windows {
		suppressed += v.failLog.windows[i].Take()
	}
	v.s.Logger.InfoContext(ctx, "introspect: introspection recovered", "endpoint", v.endpoint, "suppressed", suppressed)
}
