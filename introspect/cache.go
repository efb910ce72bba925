package introspect

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/grpcauth/grpcauth/verifier"
)

// tokenKey is the SHA-256 of a token: what caches and in-flight requests
// are keyed by, so that no long-lived structure holds a bearer token.
type tokenKey = [sha256.Size]byte

// result is one cached introspection outcome: claims that passed the
// static checks, or the error that ended it.
type result struct {
	claims verifier.Claims
	err    error
	// from and until bound, by the wall clock, the instants the result is
	// used at: from <= now < until. from is when its request was sent, or
	// when put stored it, so that a wall clock set back does not stretch
	// its use by more than the time since (see wall).
	from, until time.Time
}

// evictionSample is how many entries a put inspects for expiry before
// inserting, so that expired entries are reclaimed without a goroutine.
const evictionSample = 2

// entryOverhead is what an entry keeps alive beyond its claims' footprint:
// its map slot (the 32-byte hash and the result, at the map's load
// factor). TestCache_AccountsWhatItKeepsAlive measures the sum against the
// live heap.
const entryOverhead = 128

// resultCache is a map of results with per-entry lifetimes, bounded in
// entries and in accounted bytes: each entry counts entryOverhead plus its
// claims' footprint (verifier.Claims.Footprint, the member index included
// before it is built). Errors add nothing: they are shared sentinels or a
// *verifier.TokenExpiredError of a few words.
type resultCache struct {
	mu       sync.RWMutex
	m        map[tokenKey]result
	bytes    int64 // accounted size of the entries in m
	max      int
	maxBytes int64
}

func newResultCache(maxEntries int, maxBytes int64) *resultCache {
	return &resultCache{m: make(map[tokenKey]result), max: maxEntries, maxBytes: maxBytes}
}

// size is r's accounted size.
func (r result) size() int64 { return entryOverhead + r.claims.Footprint() }

// get returns the entry for k and whether it is live at now. An entry that
// is no longer live is deleted, and returned with ok false (a zero result
// when there was none).
func (c *resultCache) get(k tokenKey, now time.Time) (r result, ok bool) {
	r, ok = c.lookup(k, now)
	if !ok && !r.until.IsZero() {
		c.dropEnded(k, now)
	}
	return r, ok
}

// lookup is get without the deletion: an entry that is no longer live is
// returned with ok false and kept, until put or keepEnded replaces it,
// dropEnded removes it or makeRoom reclaims it. The positive cache keeps
// its ended entries so: the exp an ended answer gave tells an expired
// token from a revoked one until the server's next verdict, even when
// asking it fails.
func (c *resultCache) lookup(k tokenKey, now time.Time) (r result, ok bool) {
	c.mu.RLock()
	r, found := c.m[k]
	c.mu.RUnlock()
	return r, found && r.live(now)
}

// live reports whether r may be used at now: from <= now < until.
func (r result) live(now time.Time) bool { return !now.Before(r.from) && now.Before(r.until) }

// dropEnded deletes k's entry if it is no longer live at now.
func (c *resultCache) dropEnded(k tokenKey, now time.Time) {
	c.mu.Lock()
	if cur, ok := c.m[k]; ok && !cur.live(now) {
		c.delete(k, cur)
	}
	c.mu.Unlock()
}

// put stores r for k unless it is already expired at now or larger than
// maxBytes alone, reclaiming a few expired entries and then evicting
// arbitrary ones until r fits within max and maxBytes. Replacing k's entry
// with one no larger evicts nothing else. r is used from r.from on, or
// from now when it has none, and its times lose their monotonic readings
// (wall).
func (c *resultCache) put(k tokenKey, r result, now time.Time) {
	if r.from.IsZero() {
		r.from = now
	}
	r.from, r.until = wall(r.from), wall(r.until)
	if !now.Before(r.until) {
		return
	}
	c.store(k, r, now, true)
}

// keepEnded stores claims for k as an entry that has ended at now, in
// place of k's entry unless that one is live: never used (see live), it
// keeps the exp the claims give, for lookup to return, as an ended
// answer's is kept (see lookup). It evicts no other entry: without room,
// it keeps nothing (k's ended entry goes all the same).
func (c *resultCache) keepEnded(k tokenKey, claims verifier.Claims, now time.Time) {
	now = wall(now)
	c.store(k, result{claims: claims, from: now, until: now}, now, false)
}

// store stores r for k, in place of k's entry (unless evict is false and
// that entry is live at now), when r is no larger than maxBytes: evicting
// as put says when evict is set, and otherwise only when it fits beside
// the others.
func (c *resultCache) store(k tokenKey, r result, now time.Time, evict bool) {
	size := r.size()
	if size > c.maxBytes {
		if !evict {
			c.dropEnded(k, now)
		}
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		if !evict && old.live(now) {
			return
		}
		c.delete(k, old)
	}
	fits := func() bool { return len(c.m) < c.max && c.bytes+size <= c.maxBytes }
	if evict {
		makeRoom(c.m, now, func(r result) time.Time { return r.until }, fits, c.delete)
	} else if !fits() {
		return
	}
	c.m[k] = r
	c.bytes += size
}

// wall returns t without its monotonic reading, so that a cache's times
// compare with Config.Now by the wall clock, as exp does (and as the JWT
// verifier's cache does). Go compares two times that both have a
// monotonic reading (as time.Now's do) by that alone, and the monotonic
// clock stands still while the host is suspended (a sleeping laptop, a
// paused VM): a deadline computed from time.Now would be passed that much
// later by the wall clock. Then an answer cached before a suspend would
// outlive Cache.TTL, and a stream whose re-verification was due by the
// wall clock (RevalidateAt) would find it still cached. A wall clock set
// back is bounded by a result's from instead: set back past it, the
// result is not used.
func wall(t time.Time) time.Time { return t.Round(0) }

// makeRoom reclaims up to evictionSample entries of m that have ended at
// now (by their end), then evicts arbitrary ones until fits reports room
// for one more, removing each with del.
func makeRoom[V any](m map[tokenKey]V, now time.Time, end func(V) time.Time, fits func() bool, del func(tokenKey, V)) {
	sampled := 0
	for k, e := range m {
		if sampled == evictionSample {
			break
		}
		sampled++
		if !now.Before(end(e)) {
			del(k, e)
		}
	}
	for k, e := range m {
		if fits() {
			break
		}
		del(k, e)
	}
}

// delete removes k, whose entry is r. c.mu must be held for writing.
func (c *resultCache) delete(k tokenKey, r result) {
	delete(c.m, k)
	c.bytes -= r.size()
}

// len returns the number of entries, live or not yet reclaimed.
func (c *resultCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// stats returns the number of entries, live or not yet reclaimed, and
// their accounted bytes.
func (c *resultCache) stats() (entries int, bytes int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m), c.bytes
}

// clear empties the cache.
func (c *resultCache) clear() {
	c.mu.Lock()
	clear(c.m)
	c.bytes = 0
	c.mu.Unlock()
}
