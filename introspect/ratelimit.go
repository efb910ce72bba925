package introspect

import (
	"fmt"
	"sync"
	"time"
)

// errRateLimited: a request would have exceeded Config.MaxRequestRate.
var errRateLimited = fmt.Errorf("%w: MaxRequestRate reached, request not sent", ErrUnavailable)

// limiter is a token bucket: rate requests a second on average, up to
// burst at once. Its time is the Verifier's Config.Now.
type limiter struct {
	mu     sync.Mutex
	rate   float64 // > 0
	burst  float64 // >= 1
	tokens float64 // requests that may be sent now, at most burst
	last   time.Time
}

// newLimiter returns a full bucket for rate requests a second, holding one
// second's worth, at least one.
func newLimiter(rate float64, now time.Time) *limiter {
	burst := max(rate, 1)
	return &limiter{rate: rate, burst: burst, tokens: burst, last: now}
}

// allow takes one request from the bucket at now, and reports whether
// there was one. A clock that goes back refills nothing, and the bucket
// refills from its new time on.
func (l *limiter) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := now.Sub(l.last); d > 0 {
		l.tokens = min(l.burst, l.tokens+d.Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
