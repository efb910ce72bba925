package httpheader

import (
	"errors"
	"math"
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
// value that is not 1*DIGIT: empty, not a number, or signed ("+30" and
// "-0" included). The caller trims the whitespace around the value.
func DeltaSeconds(v string) (secs int64, ok bool) {
	secs, ok = seconds(v)
	return min(secs, DeltaCeiling), ok
}

// seconds parses a non-negative number of seconds, 1*DIGIT as RFC 9110
// and 9111 write delta-seconds (no sign: strconv would take "+30" and
// "-0"); one too large for an int64 is math.MaxInt64.
func seconds(v string) (secs int64, ok bool) {
	if v == "" || strings.TrimLeft(v, "0123456789") != "" {
		return 0, false
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && secs > 0:
		return math.MaxInt64, true
	case err != nil || secs < 0:
		return 0, false
	}
	return secs, true
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
		return until(t, now)
	}
	return 0
}

// RateLimitReset parses an X-Rate-Limit-Reset value, which Okta sends with
// its 429 answers instead of a Retry-After: the Unix time, in seconds, at
// which the rate-limit window resets, read against now (the caller's
// clock). A value of MillisecondsFrom or more is a Unix time in
// milliseconds, as some servers send it: read as seconds it would lie
// past the year 33000 and hold the caller back for all its cap allows. It
// returns how long until then: 0 when v is empty, unparsable, negative or
// not after now, and at most DeltaCeiling seconds (also for a number too
// large for an int64): the caller caps it further, as it caps a
// Retry-After.
func RateLimitReset(v string, now time.Time) time.Duration {
	n, ok := seconds(strings.TrimSpace(v))
	switch {
	case !ok:
		return 0
	case n >= MillisecondsFrom:
		if n > now.UnixMilli()+DeltaCeiling*1000 { // and time.UnixMilli(n) might overflow
			return DeltaCeiling * time.Second
		}
		return until(time.UnixMilli(n), now)
	case n > now.Unix()+DeltaCeiling: // and time.Unix(n, 0) might overflow
		return DeltaCeiling * time.Second
	}
	return until(time.Unix(n, 0), now)
}

// MillisecondsFrom is the smallest X-Rate-Limit-Reset that RateLimitReset
// reads as a Unix time in milliseconds: 10^12, in seconds the year 33658,
// in milliseconds September 2001, so every reset in milliseconds since is
// at least this and no reset in seconds before that year reaches it.
const MillisecondsFrom = 1_000_000_000_000

// until returns how long from now t is: 0 when t is not after now, at most
// DeltaCeiling seconds.
func until(t, now time.Time) time.Duration {
	return max(min(t.Sub(now), DeltaCeiling*time.Second), 0)
}

// Wait is how long resp asks its client not to ask again, read against
// now: for a 429 (RFC 6585, section 4) or a 503, its Retry-After (RFC 9110,
// section 10.2.3), or, for a 429 whose Retry-After is absent or blank, its
// X-Rate-Limit-Reset, the Unix time at which the rate-limit window resets,
// which Okta sends instead. A Retry-After that is there decides, even one
// that does not parse or is 0; an X-Rate-Limit-Reset on any other status
// (Okta sends it with every answer) asks for nothing. header names the
// header read, for messages. d is 0 for none, and at most DeltaCeiling
// seconds: each caller caps it further. The key set, the introspection
// Verifier and tokencreds share it, so all read the same answer alike.
func Wait(resp *http.Response, now time.Time) (d time.Duration, header string) {
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0, ""
	}
	v := resp.Header.Get("Retry-After")
	if resp.StatusCode == http.StatusTooManyRequests && strings.TrimSpace(v) == "" {
		return RateLimitReset(resp.Header.Get("X-Rate-Limit-Reset"), now), "X-Rate-Limit-Reset"
	}
	return RetryAfter(v, now), "Retry-After"
}
