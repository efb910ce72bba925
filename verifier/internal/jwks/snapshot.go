package jwks

import (
	"math"
	"sync/atomic"
	"time"
)

// snapshot is one immutable generation of the key set. Lookups read it
// through an atomic.Pointer, so they never lock or touch the network.
type snapshot struct {
	keys    map[string]*Key
	fetched time.Time     // Config.Now when the document was fetched
	at      time.Duration // Elapsed(fetched)
	skipped int           // entries of the document that were not usable
	gen     uint64        // unique to this snapshot, never 0 (see Set.Holds)
}

// generations numbers snapshots.
var generations atomic.Uint64

// newSnapshot builds the next generation from keys, reusing old's *Key for
// every kid whose key material and alg are unchanged, so that *Key pointers
// stay stable across refreshes.
func newSnapshot(keys []*Key, skipped int, old *snapshot, fetched time.Time) *snapshot {
	next := &snapshot{keys: make(map[string]*Key, len(keys)), fetched: fetched, at: Elapsed(fetched), skipped: skipped, gen: generations.Add(1)}
	for _, k := range keys {
		if old != nil {
			if prev := old.keys[k.ID]; prev != nil && prev.thumb == k.thumb && prev.Algorithm == k.Algorithm {
				k = prev
			}
		}
		next.keys[k.ID] = k
	}
	return next
}

// withoutExposed returns s without the keys whose private material a
// skipped entry of a later document holds, keeping s's fetch time; nil
// when s has none of them (or is nil).
func (s *snapshot) withoutExposed(skipped []skippedKey) *snapshot {
	if s == nil {
		return nil
	}
	exposed := make(map[string]bool)
	for _, sk := range skipped {
		for _, tp := range sk.Exposes {
			exposed[tp] = true
		}
	}
	next := &snapshot{keys: make(map[string]*Key, len(s.keys)), fetched: s.fetched, at: s.at, skipped: s.skipped, gen: generations.Add(1)}
	for kid, k := range s.keys {
		if !exposed[k.thumb] {
			next.keys[kid] = k
		}
	}
	if len(next.keys) == len(s.keys) {
		return nil
	}
	return next
}

// usable reports whether s exists and is no older than maxStale at now.
func (s *snapshot) usable(now time.Time, maxStale time.Duration) bool {
	return s != nil && now.Sub(s.fetched) <= maxStale
}

// lookup returns kid's key, or nil when it is absent or s is not usable.
func (s *snapshot) lookup(kid string, now time.Time, maxStale time.Duration) *Key {
	if !s.usable(now, maxStale) {
		return nil
	}
	return s.keys[kid]
}

// epoch is the origin of Elapsed.
var epoch = time.Now()

// Elapsed returns t's time since the process started (t.Sub of a reading
// taken then): on the monotonic clock when t has a monotonic reading, as
// every reading of time.Now does, else on the wall clock. The difference
// of two Elapsed values is so the difference of the two readings, Sub's,
// unless one saturated (see saturated) or the difference overflows.
func Elapsed(t time.Time) time.Duration { return t.Sub(epoch) }

// saturated reports whether d is a value at which Elapsed saturates: the
// reading was more than 292 years from epoch, and its distance from epoch
// is unknown.
func saturated(d time.Duration) bool { return d == math.MinInt64 || d == math.MaxInt64 }
