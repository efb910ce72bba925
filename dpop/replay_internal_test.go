package dpop

import (
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
