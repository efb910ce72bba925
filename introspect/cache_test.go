package introspect

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/verifier"
)

// Replacing an entry of a full cache keeps every other entry: only a new
// key needs room.
func TestResultCache_ReplacingAnEntryOfAFullCacheEvictsNothing(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newResultCache(3, math.MaxInt64)
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

// The positive cache stays within its byte bound, counting each entry's
// claims' footprint: a larger replacement evicts to fit, an entry larger
// than the bound is not stored, and deletions give their bytes back.
func TestResultCache_StaysWithinMaxBytes(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	claims := func(n int) verifier.Claims {
		c, err := verifier.ParseClaims([]byte(`{"groups":"` + strings.Repeat("g", n) + `"}`))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	small, large := claims(1000), claims(3000)
	size := func(c verifier.Claims) int64 { return entryOverhead + c.Footprint() }
	c := newResultCache(100, 3*size(small))
	check := func(what string, entries int, bytes int64) {
		t.Helper()
		if n, b := c.stats(); n != entries || b != bytes {
			t.Fatalf("%s: %d entries of %d bytes, want %d of %d", what, n, b, entries, bytes)
		}
	}
	for i := range 5 {
		c.put(tokenKey{byte(i)}, result{claims: small, until: now.Add(time.Minute)}, now)
	}
	check("5 small entries", 3, 3*size(small)) // evicting the first two
	c.put(tokenKey{9}, result{claims: large, until: now.Add(time.Minute)}, now)
	check("a large entry (fitting alone)", 1, size(large))
	c.put(tokenKey{10}, result{claims: claims(10000), until: now.Add(time.Minute)}, now)
	if _, ok := c.get(tokenKey{10}, now); ok {
		t.Fatal("an entry larger than maxBytes was stored")
	}
	check("an entry larger than maxBytes", 1, size(large))
	c.put(tokenKey{9}, result{claims: small, until: now.Add(time.Minute)}, now)
	check("the large entry replaced by a small one", 1, size(small))
	c.get(tokenKey{9}, now.Add(time.Minute))
	check("the entry expired", 0, 0)
	c.put(tokenKey{1}, result{claims: small, until: now.Add(time.Minute)}, now)
	c.clear()
	check("cleared", 0, 0)
}
