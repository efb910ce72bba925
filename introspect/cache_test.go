package introspect

import (
	"testing"
	"time"
)

// Replacing an entry of a full cache keeps every other entry: only a new
// key needs room.
func TestResultCache_ReplacingAnEntryOfAFullCacheEvictsNothing(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newResultCache(3)
	keys := []tokenKey{{1}, {2}, {3}}
	for _, k := range keys {
		c.put(k, result{until: now.Add(time.Minute)}, now)
	}
	// Eviction picks an arbitrary entry, possibly the one replaced: replace
	// it many times so that a wrong eviction cannot go unnoticed by luck.
	for range 20 {
		c.put(keys[1], result{until: now.Add(2 * time.Minute)}, now)
		for _, k := range keys {
			if _, ok := c.get(k, now); !ok {
				t.Fatalf("entry %v evicted by replacing %v", k[0], keys[1][0])
			}
		}
	}
	if r, _ := c.get(keys[1], now); !r.until.Equal(now.Add(2 * time.Minute)) {
		t.Fatalf("replaced entry until %v, want the new one", r.until)
	}
	c.put(tokenKey{4}, result{until: now.Add(time.Minute)}, now)
	if n := c.len(); n != 3 {
		t.Fatalf("%d entries after a new key, want the bound 3", n)
	}
}
