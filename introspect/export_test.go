package introspect

import "time"

// SetRandom makes r the source of v's jitter (see jitter.Earlier), in
// place of jitter.Random. Call it before v is used.
func SetRandom(v *Verifier, r func() float64) { v.random = r }

// EntryOverhead is what a positive cache entry accounts for beyond its
// claims' footprint.
const EntryOverhead = entryOverhead

// KnownLen returns the number of tokens v remembers as accepted, whose
// next request passes MaxRequestRate.
func KnownLen(v *Verifier) int {
	if v.known == nil {
		return 0
	}
	return v.known.len()
}

// SetPauseRead makes f run each time v, recording a Retry-After's pause,
// has read the pause it may replace (before it reads the clock). Call it
// while no request of v is in flight.
func SetPauseRead(v *Verifier, f func()) { v.pauseRead = f }

// SetChecked makes f run each time a request of v, holding its
// concurrency slot, has found no pause running, before it is sent. Call it
// before v is used.
func SetChecked(v *Verifier, f func()) { v.checked = f }

// ForgetNotBuiltLogged makes the next use of a Verifier or Combined its
// constructor did not build log again, as the first in the process does.
func ForgetNotBuiltLogged() { notBuiltLog.Forget() }

// SetAfterFunc makes f stand in for time.AfterFunc where v bounds the
// reading of a refused answer's body: f gets the bound and the function
// that ends the read, and returns the timer's Stop. Call it before v is
// used.
func SetAfterFunc(v *Verifier, f func(d time.Duration, fire func()) (stop func() bool)) {
	v.afterFunc = f
}

// SetWallNow makes now the process's clock v bounds the stacks of
// recovered panics by (see recoverRun), in place of time.Now. Call it
// before v is used.
func SetWallNow(v *Verifier, now func() time.Time) { v.wallNow = now }
