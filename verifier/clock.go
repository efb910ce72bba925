package verifier

import (
	"sync/atomic"
	"time"

	"github.com/grpcauth/grpcauth/verifier/internal/jwks"
)

// hitClockResolution is how long a reading of a hit clock is reused.
const hitClockResolution = 10 * time.Millisecond

// hitClockMinSkew is the least clock skew (Verifier.ClockSkew) with which
// a Verifier's cache hits read a hit clock: 100 times hitClockResolution,
// so that a reading's age adds at most 1 % to the tolerance past exp. With
// less skew (none when ClockSkew is negative) that age would be more
// tolerance than was configured, so every hit reads Config.Now.
const hitClockMinSkew = 100 * hitClockResolution

// newHitClock returns the clock a Verifier's cache hits read when
// Config.Now is not set and the skew is at least hitClockMinSkew: a
// reading of time.Now, reused for hitClockResolution. Each Verifier has its
// own, so that no reading is seen by a Verifier other than the one that
// took it: inside a testing/synctest bubble time.Now reads the bubble's
// clock, and the timer that ends a reading stops with the bubble.
func newHitClock() *coarseClock {
	return &coarseClock{read: time.Now, after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
}

// coarseClock is a clock that reads its source at most once per
// hitClockResolution. On a VM one time.Now costs more than the rest of a
// cache hit; a reading of this clock costs an atomic load, and may be up to
// hitClockResolution old (longer only while the process is too starved of
// CPU to run the timer that ends a reading's use). The timer runs on the
// monotonic clock, which stands still while the host is suspended and
// ignores steps of the wall clock: a reading taken just before a suspend
// (or a forward step) is still used for what is left of its
// hitClockResolution after it, behind the wall clock by the suspend's
// length (the step's) plus that. Nothing short of reading the clock on
// every hit can tell; the entry's window (cacheEntry.from) keeps such a
// reading from serving a token verified after it.
//
// The first call after a reading has expired reads the source, stores the
// reading and starts a timer that clears it after hitClockResolution; the
// calls until then share it. An idle process runs no timer and no
// goroutine.
type coarseClock struct {
	read  func() time.Time
	after func(time.Duration, func()) // time.AfterFunc
	// cur is the reading in use, nil when there is none. A reading is
	// never changed once stored: one (16 bytes) is allocated per
	// hitClockResolution.
	cur atomic.Pointer[reading]
}

// reading is one reading of a clock, as a cache hit compares it.
type reading struct {
	// ns is the reading in Unix nanoseconds, clamped (unixNano): what a
	// cache entry's validity window is compared with, and the wall clock
	// on which the key set also measures its age (jwks.Set.Holds).
	ns int64
	// at is jwks.Elapsed of the reading: on the monotonic clock for a
	// reading of time.Now, the other clock of the key set's age.
	at time.Duration
}

func newReading(t time.Time) reading { return reading{ns: unixNano(t), at: jwks.Elapsed(t)} }

// Now returns a reading taken at most hitClockResolution ago.
func (c *coarseClock) Now() *reading {
	if r := c.cur.Load(); r != nil {
		return r
	}
	r := new(reading)
	*r = newReading(c.read())
	if c.cur.CompareAndSwap(nil, r) {
		c.after(hitClockResolution, func() { c.cur.Store(nil) })
	}
	return r
}

// hitNow is the reading a cache hit checks: the Verifier's hit clock's (a
// coarseClock), or Config.Now's when Config.Now is set (a test's clock, or
// a caller's choice of an exact reading on every hit) or the skew is below
// hitClockMinSkew (too small a tolerance to absorb a reading's age).
func (v *Verifier) hitNow() reading {
	if v.clock == nil {
		return newReading(v.s.Now())
	}
	return *v.clock.Now()
}

// unixNano is t.UnixNano, clamped to the int64 range (see jwks.UnixNano).
func unixNano(t time.Time) int64 { return jwks.UnixNano(t) }
