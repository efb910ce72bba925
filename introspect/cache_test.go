package introspect

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
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

// The caches' deadlines are wall-clock times, compared with Config.Now by
// the wall clock. time.Now's readings carry a monotonic reading too, and Go
// compares two times that both have one by that alone; the monotonic clock
// stands still while the host is suspended (a sleeping laptop, a paused
// VM). With deadlines computed from time.Now, an answer cached just before
// a suspend outlived its Cache.TTL by the suspend's length: a token revoked
// meanwhile kept working for up to a TTL after the resume, and its
// stream's re-verification, due by the wall clock, found the answer still
// cached and was repeated every second until the monotonic clock caught
// up. No clock can stop the monotonic reading alone, so this checks that
// no deadline kept by the positive, negative and known-token caches
// carries one, with the default Config.Now.
func TestCaches_DeadlinesAreWallClockTimes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.FormValue("token") == "inactive" {
			io.WriteString(w, `{"active":false}`)
			return
		}
		fmt.Fprintf(w, `{"active":true,"aud":"api","exp":%d}`, time.Now().Add(time.Hour).Unix())
	}))
	defer srv.Close()
	v, err := New(Config{Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "c", ClientSecret: "s",
		Audiences: []string{"api"}, MaxRequestRate: 100, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if !hasMonotonic(time.Now()) {
		t.Fatal("time.Now has no monotonic reading here: nothing to check")
	}
	for _, tok := range []string{"active", "inactive"} {
		if _, err := v.VerifyAccessToken(context.Background(), tok); (err == nil) != (tok == "active") {
			t.Fatalf("%s: %v", tok, err)
		}
	}
	if n, m := v.pos.len(), v.neg.len(); n != 1 || m != 1 {
		t.Fatalf("%d positive and %d negative entries, want 1 and 1", n, m)
	}
	for name, c := range map[string]*resultCache{"positive": v.pos, "negative": v.neg} {
		for _, r := range c.m {
			if hasMonotonic(r.until) {
				t.Errorf("a %s entry ends at %v, a monotonic reading", name, r.until)
			}
		}
	}
	if v.known.len() != 1 {
		t.Fatalf("%d known tokens, want 1", v.known.len())
	}
	for _, e := range v.known.m {
		if hasMonotonic(e.from) || hasMonotonic(e.until) {
			t.Errorf("a known token's entry runs from %v until %v, monotonic readings", e.from, e.until)
		}
	}
}

// hasMonotonic reports whether t has a monotonic clock reading, which
// time.Time.String prints as a last field "m=±<seconds>".
func hasMonotonic(t time.Time) bool { return strings.Contains(t.String(), " m=") }
