// Package httpheader reads the HTTP header values that say how long
// something lasts: delta-seconds (Cache-Control max-age, Age, Retry-After)
// and Retry-After's HTTP-date. The verifier's key set, the
// introspection Verifier and tokencreds share it, so all read a
// Retry-After alike.
package httpheader

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DeltaCeiling is the largest number of seconds a header value is read as
// (RFC 9111, 1.2.2): it avoids overflow, and is far above every wait its
// callers allow (they cap what they read).
const DeltaCeiling = 1 << 31

// DeltaSeconds parses a number of seconds in a header (Cache-Control
// max-age, Age, Retry-After), at most DeltaCeiling: a value too large to
// represent is DeltaCeiling, as RFC 9111, 1.2.2 requires, not an invalid
// one: an Age of 20 digits makes a response stale, a Retry-After of 20
// digits a pause as long as the caller's cap allows. ok is false for a
// value that is not a number, or is negative.
func DeltaSeconds(v string) (secs int64, ok bool) {
	secs, err := strconv.ParseInt(v, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && secs > 0:
		return DeltaCeiling, true
	case err != nil || secs < 0:
		return 0, false
	}
	return min(secs, DeltaCeiling), true
}

// RetryAfter parses a Retry-After value (RFC 9110, 10.2.3): delay-seconds
// or an HTTP-date, read against now (the caller's clock). It is 0 when v is
// empty, unparsable or in the past, and at most DeltaCeiling seconds: the
// caller caps it further.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if secs, ok := DeltaSeconds(v); ok {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(min(t.Sub(now), DeltaCeiling*time.Second), 0)
	}
	return 0
}
