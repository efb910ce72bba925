package jwks

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/grpcauth/grpcauth/internal/unixnano"
)

// snapshot is one immutable generation of the key set. Lookups read it
// through an atomic.Pointer, so they never lock or touch the network.
type snapshot struct {
	keys    map[string]*Key
	fetched time.Time     // Config.Now when the document was fetched
	at      time.Duration // Elapsed(fetched)
	wall    int64         // UnixNano(fetched): the fetch's wall-clock reading
	skipped int           // entries of the document that were not usable
	gen     uint64        // unique to this snapshot, never 0 (see Set.Holds)
}

// generations numbers snapshots.
var generations atomic.Uint64

// newSnapshot builds the next generation from keys, reusing old's *Key for
// every kid whose key material and alg are unchanged, so that *Key pointers
// stay stable across refreshes.
func newSnapshot(keys []*Key, skipped int, old *snapshot, fetched time.Time) *snapshot {
	next := &snapshot{keys: make(map[string]*Key, len(keys)), fetched: fetched, at: Elapsed(fetched), wall: UnixNano(fetched), skipped: skipped, gen: generations.Add(1)}
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
// when s has none of them (or is nil). The result is a generation of its
// own: a cache entry that Holds found in s must not find it current.
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
	next := &snapshot{keys: make(map[string]*Key, len(s.keys)), fetched: s.fetched, at: s.at, wall: s.wall, skipped: s.skipped, gen: generations.Add(1)}
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

// usable reports whether s exists and is no older than maxStale at now
// (see age).
func (s *snapshot) usable(now time.Time, maxStale time.Duration) bool {
	return s != nil && s.age(now) <= maxStale
}

// age returns s's age at now: the larger of its age on the monotonic clock
// (now.Sub(s.fetched) when both readings have one, as every reading of
// time.Now does) and on the wall clock. The monotonic clock stands still
// while the host is suspended (a laptop asleep, a VM paused or migrated;
// not a frozen container, whose host's clock runs on), the wall clock
// does not: after a long suspend the set is as old as the wall clock
// says, whatever time the process was awake.
// The wall clock set back cannot make a set younger than its monotonic age;
// set forward, it ages the set early (see docs/key-set.md).
func (s *snapshot) age(now time.Time) time.Duration {
	return max(now.Sub(s.fetched), since(UnixNano(now), s.wall))
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

// since returns now - then, saturated to the Duration range when the
// difference overflows.
func since[T ~int64](now, then T) time.Duration {
	d := time.Duration(now - then)
	switch {
	case now > then && d < 0:
		return math.MaxInt64
	case now < then && d > 0:
		return math.MinInt64
	}
	return d
}

// UnixNano is t.UnixNano, clamped to the int64 range (UnixNano's result is
// undefined outside it: years before 1678 or after 2262). A clamped value
// is one saturated reports.
func UnixNano(t time.Time) int64 { return unixnano.Of(t) }

// saturated reports whether d is a value at which Elapsed or UnixNano
// saturates: the reading was more than 292 years from epoch (from 1970 for
// UnixNano), and its distance from it is unknown.
func saturated[T ~int64](d T) bool { return d == math.MinInt64 || d == math.MaxInt64 }
