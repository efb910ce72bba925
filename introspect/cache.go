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
	until  time.Time // not used at or after this instant
}

// evictionSample is how many entries a put inspects for expiry before
// inserting, so that expired entries are reclaimed without a goroutine.
const evictionSample = 2

// resultCache is a bounded map of results with per-entry lifetimes.
type resultCache struct {
	mu  sync.RWMutex
	m   map[tokenKey]result
	max int
}

func newResultCache(maxEntries int) *resultCache {
	return &resultCache{m: make(map[tokenKey]result), max: maxEntries}
}

// get returns the entry for k and whether it is live at now. An entry that
// is no longer live is deleted, and returned with ok false (a zero result
// when there was none).
func (c *resultCache) get(k tokenKey, now time.Time) (r result, ok bool) {
	c.mu.RLock()
	r, found := c.m[k]
	c.mu.RUnlock()
	if !found {
		return result{}, false
	}
	if !now.Before(r.until) {
		c.mu.Lock()
		if cur, ok := c.m[k]; ok && !now.Before(cur.until) {
			delete(c.m, k)
		}
		c.mu.Unlock()
		return r, false
	}
	return r, true
}

// put stores r for k unless it is already expired at now, reclaiming a few
// expired entries and then, unless it replaces k's entry, evicting
// arbitrary ones to stay within max.
func (c *resultCache) put(k tokenKey, r result, now time.Time) {
	if !now.Before(r.until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sampled := 0
	for key, old := range c.m {
		if sampled == evictionSample {
			break
		}
		sampled++
		if !now.Before(old.until) {
			delete(c.m, key)
		}
	}
	if _, replace := c.m[k]; !replace {
		for key := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = r
}

// len returns the number of entries, live or not yet reclaimed.
func (c *resultCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// clear empties the cache.
func (c *resultCache) clear() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}
