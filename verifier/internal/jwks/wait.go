package jwks

import "time"

// How a lookup of an unknown kid waits for a fetch (see missLocked).
type missMode int

const (
	started missMode = iota // it started the fetch
	joined                  // it holds a waiter slot and joined a fetch already in flight
	waited                  // it holds a waiter slot and waits for s.next
)

// missLocked decides how a lookup of kid, absent from snap at now, goes on:
// it returns the fetch to wait for and how the lookup came to wait for it,
// or the answer to give at once. arrived is s.started when the lookup
// arrived: a fetch numbered higher is its answer, and looks for kid on its
// behalf (fetchCall.kids). s.mu is held.
//
// In order: a kid confirmed absent moments ago is refused; a fetch in
// flight is joined; after Close the answer is errClosedMiss; a miss fetch is started when the rate limit allows one
// (MinRefreshInterval since the last, and no Retry-After running: see retryingLocked);
// otherwise the lookup waits for the next permitted refresh, shared with
// every other waiting lookup, unless waiting cannot change the answer (no
// usable set, or the latest refresh failed: ErrUnavailable tells the client
// to retry). A lookup that joins or waits takes one of MaxWaiters slots;
// when they are all taken it is refused at once, so that a flood of forged
// kids cannot hold calls open in bulk, not even while a slow or hung issuer
// keeps a fetch in flight. Only the lookup that starts a fetch waits for it
// without a slot: one per fetch. When MaxWaiters turns waiting off, joining
// stays on, within DefaultMaxWaiters slots (cfg.maxJoiners).
func (s *Set) missLocked(kid string, now time.Time, snap *snapshot, arrived uint64) (*fetchCall, missMode, error) {
	usable := snap.usable(now, s.cfg.MaxStaleness)
	if s.refusedLocked(kid, now, usable, true) {
		return nil, 0, ErrUnknownKey
	}
	if s.inflight != nil {
		if s.waiters >= s.cfg.maxJoiners {
			s.limited.Add(1)
			return nil, 0, s.missErr(snap, now)
		}
		s.waiters++
		if s.inflight.seq > arrived {
			// A lookup looking again after a stale answer joins a fetch
			// that started after it arrived: its answer is the lookup's.
			s.inflight.lookedFor(kid)
		}
		return s.inflight, joined, nil
	}
	if s.closed {
		return nil, 0, errClosedMiss // no fetch will look for kid
	}
	if since := now.Sub(s.lastMiss); (!s.missFetched || since < 0 || since >= s.cfg.MinRefreshInterval) && !s.retryingLocked(now) {
		c := s.startMissFetchLocked("unknown kid")
		c.lookedFor(kid)
		return c, started, nil
	}
	if !usable || s.lastErr.Load() != nil || s.waiters >= s.cfg.MaxWaiters {
		s.limited.Add(1)
		return nil, 0, s.missErr(snap, now)
	}
	s.waiters++
	s.waits.Add(1)
	c := s.nextLocked(now)
	c.waiting++
	c.lookedFor(kid)
	return c, waited, nil
}

// retryingLocked reports whether the latest fetch's Retry-After (a 429's or
// 503's, within retryAfterCap) still runs at now: no fetch for an unknown
// kid starts before it ends. A clock set back before the Retry-After was
// given, which would stretch the wait past its cap, ends it. s.mu is held.
func (s *Set) retryingLocked(now time.Time) bool { return s.retryLeft(s.retryUntil, now) > 0 }

// retryLeft is how long a Retry-After ending at until still runs at now: 0
// once it has ended, or when it would run longer than retryAfterCap (the
// clock was set back since it was given).
func (s *Set) retryLeft(until, now time.Time) time.Duration {
	if d := until.Sub(now); d > 0 && d <= s.retryAfterCap() {
		return d
	}
	return 0
}

// startMissFetchLocked starts a fetch on behalf of unknown kids and opens a
// new rate-limit window. s.mu is held and no fetch is in flight.
func (s *Set) startMissFetchLocked(reason string) *fetchCall {
	s.missFetched, s.lastMiss = true, s.cfg.Now()
	s.missFetches.Add(1)
	return s.startFetchLocked(reason)
}

// nextLocked returns the refresh waiting lookups share, scheduling it for
// the end of the current rate-limit window if it is not scheduled yet. One
// timer serves every waiter; no goroutine runs until it fires. s.mu is held
// and the Set is not closed.
func (s *Set) nextLocked(now time.Time) *fetchCall {
	if s.next != nil {
		return s.next
	}
	c := &fetchCall{done: make(chan struct{})}
	s.next = c
	s.wg.Add(1) // released by fireNext, or by whoever stops the timer
	s.nextStop = s.afterFunc(max(s.lastMiss.Add(s.cfg.MinRefreshInterval).Sub(now), 0), func() { s.fireNext(c) })
	return c
}

// fireNext starts the shared refresh c when its timer fires. Nothing is
// left to do when another fetch has already taken c, or Close cancelled it.
// While s.next is set no fetch is in flight: a fetch that starts takes it.
func (s *Set) fireNext(c *fetchCall) {
	defer s.wg.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == c {
		s.startMissFetchLocked("unknown kid, after waiting for the rate limit")
	}
}

// leaveNextLocked records that a lookup of kid waiting for the shared
// refresh c gave up (its ctx ended) before c answered. When c has not
// started, it will not look for kid on that lookup's behalf; and when no
// lookup waits for it any more, it is cancelled, its timer stopped: a
// refresh nobody waits for would cost the issuer a fetch for nothing, and
// open a new rate-limit window that the next unknown kid would have to
// wait out. s.mu is held.
func (s *Set) leaveNextLocked(c *fetchCall, kid string) {
	c.waiting--
	if s.next != c {
		return // started (or cancelled by Close): it looks for what it looked for
	}
	c.notLookedFor(kid)
	if c.waiting == 0 {
		s.takeNextLocked()
	}
}

// takeNextLocked removes and returns the shared refresh (nil when none), for
// a fetch about to start or to cancel it, and stops its timer. s.mu is held.
func (s *Set) takeNextLocked() *fetchCall {
	c := s.next
	if c == nil {
		return nil
	}
	s.next = nil
	if s.nextStop() {
		s.wg.Done() // the timer will not fire
	}
	return c
}

// cancelNextLocked ends the shared refresh before it starts, for Close: its
// waiters get ErrClosed (they then answer from the last snapshot when it
// has their kid, else ErrUnavailable wrapping ErrClosed). s.mu is held.
func (s *Set) cancelNextLocked() {
	if c := s.takeNextLocked(); c != nil {
		c.err = ErrClosed
		close(c.done)
	}
}
