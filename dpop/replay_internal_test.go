package dpop

import (
	"math"
	"strconv"
	"testing"
	"time"
)

// The per-holder counts are bounded by the entries: a holder is dropped
// when its last entry expires, so keys that come and go leave nothing
// behind.
func TestMemoryReplayCache_HoldersAreDroppedWithTheirEntries(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	now := t0
	c := NewMemoryReplayCache(100, func() time.Time { return now })
	for i := range 50 {
		h := "holder" + strconv.Itoa(i%10)
		if ok, err := c.addIfAbsentFor(h, strconv.Itoa(i), t0.Add(time.Duration(i%10)*time.Second), now); !ok || err != nil {
			t.Fatalf("add %d = %v, %v", i, ok, err)
		}
	}
	if len(c.holders) != 10 || c.holders["holder3"].n != 5 {
		t.Fatalf("%d holders, holder3 has %v; want 10 holders of 5 entries", len(c.holders), c.holders["holder3"])
	}
	now = t0.Add(4*time.Second + time.Nanosecond) // holders 0 to 4 expire
	if ok, err := c.addIfAbsentFor("", "x", now.Add(time.Hour), now); !ok || err != nil {
		t.Fatalf("add = %v, %v", ok, err)
	}
	if len(c.holders) != 5 || c.holders["holder4"] != nil || len(c.entries) != 26 {
		t.Fatalf("%d holders and %d entries after expiry, want 5 and 26", len(c.holders), len(c.entries))
	}
	now = t0.Add(time.Hour)
	if _, err := c.addIfAbsentFor("", "y", now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if len(c.holders) != 0 || len(c.entries) != 2 {
		t.Fatalf("%d holders and %d entries at the end, want 0 and 2", len(c.holders), len(c.entries))
	}
}

// Expiries near the ends of the int64 nanosecond range (years 1678 and
// 2262) and beyond it stay where they are when a longer window lengthens
// the entries: one that far in the future is still refused after the
// window grew (its expiry plus the growth used to wrap around to the
// past, and the key was accepted again), and one that far in the past
// is still dropped (its stored expiry used to wrap around to the far
// future, and the entry held its place in the cache for good).
func TestMemoryReplayCache_ExpiriesAtTheEdgesOfTimeSurviveALongerWindow(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := NewMemoryReplayCache(100, func() time.Time { return now })
	c.retain(time.Minute, c.now)
	add := func(key string, expires time.Time) bool {
		t.Helper()
		ok, err := c.AddIfAbsent(t.Context(), key, expires)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	future := map[string]time.Time{
		"2262": time.Unix(0, math.MaxInt64-1),
		"2300": time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for key, exp := range future {
		if !add(key, exp) {
			t.Fatalf("first add of %s refused", key)
		}
	}
	c.retain(time.Hour, c.now) // the entries above are lengthened by 59 min
	for key, exp := range future {
		if add(key, exp) {
			t.Errorf("add of %s accepted again after the window grew", key)
		}
	}
	for _, key := range []string{"1677", "1600"} {
		exp := time.Unix(0, math.MinInt64+1)
		if key == "1600" {
			exp = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		if !add(key, exp) {
			t.Fatalf("add of %s refused", key)
		}
	}
	add("next", now.Add(time.Minute)) // drops what expired
	for _, key := range []string{"1677", "1600"} {
		if _, held := c.entries[key]; held {
			t.Errorf("entry expiring in %s still held", key)
		}
	}
}
