package ratelog

import (
	"sync"
	"time"
)

// Window lets one event a period through to the log and counts the
// others. The zero Window lets the first event through. It is safe for
// concurrent use; keep one per site and per instance (a Verifier's failed
// requests, an Authenticator's DPoP panics), so that one flood does not
// silence another site.
type Window struct {
	mu         sync.Mutex
	started    bool      // an event was let through
	last       time.Time // when the last event let through happened
	suppressed int64     // events refused since the last let through, or since Take
}

// Allow reports whether the event happening at now is to be logged: the
// first one is, and then the first at least every after the last one let
// through. A now before that one's (a clock set back) is let through too,
// so that a clock set back an hour does not silence the site for an hour.
// When it lets the event through, suppressed is the number of events it
// refused since the last one let through (or since Take), which the record
// should say; the count then starts again. A refused event is counted,
// and suppressed is 0.
func (w *Window) Allow(now time.Time, every time.Duration) (ok bool, suppressed int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started && !now.Before(w.last) && now.Sub(w.last) < every {
		w.suppressed++
		return false, 0
	}
	suppressed = w.suppressed
	w.started, w.last, w.suppressed = true, now, 0
	return true, suppressed
}

// Take returns the number of events Allow refused since the last one it
// let through (or since the last Take), and starts the count again,
// without letting an event through or moving the period: for a record
// that closes the account (the failures stopped), so that no refused
// event goes unsaid.
func (w *Window) Take() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.suppressed
	w.suppressed = 0
	return n
}
