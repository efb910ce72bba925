package jwks

import (
	"net/http"
	"strings"
	"time"

	"github.com/grpcauth/grpcauth/internal/httpheader"
)

// reasonScheduled is the reason of the background refresh's fetches, in
// logs.
const reasonScheduled = "scheduled"

// run is the background refresher: fetch, then wait the refresh interval
// (after a success) or the back-off (after a failure), with jitter, until
// Close; after a 429 or 503, never less than its Retry-After, or a 429's
// X-Rate-Limit-Reset (see retryAfter), within the back-off's caps, jitter
// included, also when an unknown kid's fetch got it while run waited (see
// waitRetryAfter). A fetch already in flight (one
// an unknown kid triggered) is joined, not repeated. Each wait follows
// Config.Now (sleep).
func (s *Set) run() {
	defer s.wg.Done()
	failures := 0
	for {
		s.mu.Lock()
		c := s.startFetchLocked(reasonScheduled)
		s.mu.Unlock()
		select {
		case <-c.done:
		case <-s.ctx.Done():
			return
		}
		var wait, notBefore time.Duration
		if c.err == nil {
			failures = 0
			wait = c.next
		} else {
			failures++
			wait = backoff(backoffBase, failures, s.cfg.RefreshInterval)
			// The issuer said when to come back (429, 503): not sooner,
			// jitter included, within the same caps as the back-off.
			notBefore = min(retryAfterOf(c.err), s.retryAfterCap())
			wait = max(wait, notBefore)
		}
		if !s.sleep(max(jitter(wait, s.random()), notBefore)) {
			return
		}
		if !s.waitRetryAfter(c.seq) {
			return
		}
	}
}

// waitRetryAfter waits until the Retry-After of a fetch that started after
// the fetch numbered seq (an unknown kid's, while run waited) has passed,
// once per such fetch, so that a clock that does not move cannot hold the
// refresh forever, and never longer than retryAfterCap, so that a clock set
// back cannot either (see retryLeft and sleep). It reports false when the
// Set was closed meanwhile.
func (s *Set) waitRetryAfter(seq uint64) bool {
	for {
		s.mu.Lock()
		until, by := s.retryUntil, s.retrySeq
		s.mu.Unlock()
		d := s.retryLeft(until, s.cfg.Now())
		if by <= seq || d == 0 {
			return true
		}
		seq = by
		if !s.sleep(d) {
			return false
		}
	}
}

// maxTimerWait is the longest timer the background refresher sets. Go's
// timers run on the monotonic clock, which stands still while the host is
// suspended (a paused VM, a sleeping laptop) and ignores steps of the wall
// clock, whereas the refresh is due at a time of Config.Now: each wait is
// cut into timers of at most maxTimerWait, after each of which Config.Now
// is read again (sleep), so that after a suspend the refresh, and with it
// the withdrawal of a key the issuer removed meanwhile, comes at most
// maxTimerWait late.
const maxTimerWait = time.Minute

// sleep waits d, in timers of at most maxTimerWait, until Config.Now has
// reached the time d from now or the timers have added up to d, whichever
// comes first: after a suspend of the host or a forward step of the clock
// the wait ends at most maxTimerWait after it is due by Config.Now, and a
// clock set back cannot stretch it past d. It reports false when the Set
// was closed meanwhile.
func (s *Set) sleep(d time.Duration) bool {
	// due loses its monotonic reading (time.Now's readings have one): Go
	// compares two times that both have one by that alone, and the
	// monotonic clock stands still while the host is suspended. Without
	// it, due compares with Config.Now by the wall clock.
	due := s.cfg.Now().Add(d).Round(0)
	step := min(d, maxTimerWait)
	fired, t := s.newTimer(step)
	defer t.Stop()
	for {
		select {
		case <-fired:
		case <-s.ctx.Done():
			return false
		}
		if d = min(d-step, due.Sub(s.cfg.Now())); d <= 0 {
			return true
		}
		step = min(d, maxTimerWait)
		t.Reset(step)
	}
}

// retryAfterCap bounds how long a Retry-After, or a 429's
// X-Rate-Limit-Reset (retryAfter), holds fetches back: the back-off's caps
// (backoffMax, RefreshInterval), so that an issuer asking for a day, or
// naming a reset a day away, cannot stop the refresh, nor key rotation, for
// a day.
func (s *Set) retryAfterCap() time.Duration { return min(backoffMax, s.cfg.RefreshInterval) }

// nextInterval is the wait before the next scheduled refresh after a
// successful fetch: the response's remaining Cache-Control max-age, clamped
// to [lo, hi], or hi when the response gives none. no-cache and no-store are
// ignored (they would mean a fetch per lookup); unknown-kid refreshes cover
// rotation in between.
func nextInterval(h http.Header, lo, hi time.Duration) time.Duration {
	d, ok := maxAge(h)
	if !ok {
		return hi
	}
	return min(max(d, lo), hi)
}

// maxAge returns Cache-Control max-age minus Age, when the header has a
// valid max-age directive.
func maxAge(h http.Header) (time.Duration, bool) {
	for _, line := range h.Values("Cache-Control") {
		for _, dir := range strings.Split(line, ",") {
			name, val, ok := strings.Cut(strings.TrimSpace(dir), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "max-age") {
				continue
			}
			secs, ok := httpheader.DeltaSeconds(strings.Trim(strings.TrimSpace(val), `"`))
			if !ok {
				return 0, false
			}
			if age, ok := httpheader.DeltaSeconds(strings.TrimSpace(h.Get("Age"))); ok {
				secs = max(secs-age, 0)
			}
			return time.Duration(secs) * time.Second, true
		}
	}
	return 0, false
}

// backoff is the wait after the n-th consecutive failure (n >= 1): base
// (backoffBase for a failed fetch) doubled per failure, capped at backoffMax
// and at ceiling.
func backoff(base time.Duration, n int, ceiling time.Duration) time.Duration {
	d := backoffMax
	if n <= 20 && base <= backoffMax {
		d = min(base<<(n-1), backoffMax)
	}
	return min(d, ceiling)
}

// jitter spreads d by ±jitterFraction; r is uniform in [0,1). Replicas that
// started together thus do not refresh in step.
func jitter(d time.Duration, r float64) time.Duration {
	return d + time.Duration(float64(d)*jitterFraction*(2*r-1))
}
