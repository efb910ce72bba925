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
	c.Retain(time.Minute, c.now)
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
	c.Retain(time.Hour, c.now) // the entries above are lengthened by 59 min
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

// FuzzMemoryReplayCache_SharedByVerifiersAcceptsEachProofOnce drives a
// MemoryReplayCache as Verifiers of different MaxAge sharing it would,
// on one clock that only goes forward: Verifiers built at any time (each
// telling the cache its window), proofs (one fixed iat per key) checked
// for their age and recorded by any Verifier, entries of AddIfAbsent in
// between. Whatever the interleaving, no proof is accepted twice; a
// proof issued no earlier than the last Verifier was built, within its
// Verifier's MaxAge and never accepted, is accepted; and a day later the
// cache holds nothing of it all.
//
//	go test -run '^$' -fuzz FuzzMemoryReplayCache_SharedByVerifiersAcceptsEachProofOnce ./dpop
func FuzzMemoryReplayCache_SharedByVerifiersAcceptsEachProofOnce(f *testing.F) {
	// A Verifier with an 11 s window accepts proof 1 (iat 7 s) at 10 s and
	// drops its entry recording proof 2 at 20 s; one with a 101 s window
	// built then is shown proof 1 again.
	f.Add([]byte{0, 0, 0, 1, 10, 0, 2, 1, 0, 1, 10, 0, 2, 2, 0, 0, 9, 0, 2, 1, 1})
	// The same with a 51 s window built at 20 s and a 101 s one at 30 s,
	// shown proof 1 first.
	f.Add([]byte{0, 0, 0, 1, 10, 0, 2, 1, 0, 1, 10, 0, 2, 2, 0, 0, 4, 0, 1, 10, 0, 0, 9, 0, 2, 1, 2})
	// The same, with the 101 s window built at 10 s, once proof 1 was
	// recorded and before its entry expired.
	f.Add([]byte{0, 0, 0, 1, 10, 0, 2, 1, 0, 0, 9, 0, 1, 10, 0, 2, 2, 0, 2, 1, 1})
	// The Verifier with the 11 s window records proof 1 once one with a
	// 101 s window exists, an entry of AddIfAbsent in between, and
	// drops what expired at 20 s; the other is shown proof 1 then.
	f.Add([]byte{0, 0, 0, 0, 9, 0, 1, 10, 0, 2, 1, 0, 3, 1, 50, 1, 10, 0, 2, 2, 0, 2, 1, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		now := t0
		c := NewMemoryReplayCache(10000, func() time.Time { return now })
		c.SetMaxPerHolder(10000)
		var windows []time.Duration // of the Verifiers built
		var lastBuild time.Time
		accepted := map[int]bool{}
		iat := func(k int) time.Time { return t0.Add(time.Duration(k) * 7 * time.Second) }
		for len(ops) >= 3 {
			op, a, b := ops[0]%4, int(ops[1]), int(ops[2])
			ops = ops[3:]
			switch {
			case op == 0: // build a Verifier with a MaxAge of 10 s to 100 s
				w := time.Duration(a%10+1)*10*time.Second + time.Second
				c.Retain(w, func() time.Time { return now })
				windows = append(windows, w)
				lastBuild = now
			case op == 1:
				now = now.Add(time.Duration(a) * time.Second)
			case op == 2 && len(windows) > 0: // Verify proof a at Verifier b
				k, w := a%40, windows[b%len(windows)]
				if iat(k).After(now) || iat(k).Before(now.Add(-(w - time.Second))) {
					continue // Verify refuses it for its age
				}
				ok, err := c.record("holder", "proof"+strconv.Itoa(k), iat(k).Add(w), w, now)
				switch {
				case err != nil:
					t.Fatal(err)
				case ok && accepted[k]:
					t.Fatalf("proof %d (iat %s) accepted again at %s by a Verifier with window %s", k, iat(k).Sub(t0), now.Sub(t0), w)
				case !ok && !accepted[k] && !iat(k).Before(lastBuild):
					t.Fatalf("proof %d (iat %s), never accepted, refused at %s", k, iat(k).Sub(t0), now.Sub(t0))
				}
				accepted[k] = accepted[k] || ok
			case op == 3:
				if _, err := c.AddIfAbsent(t.Context(), "other"+strconv.Itoa(a%8), now.Add(time.Duration(b)*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
		}
		now = now.Add(24 * time.Hour)
		if _, err := c.AddIfAbsent(t.Context(), "last", now); err != nil {
			t.Fatal(err)
		}
		if n := c.Len(); n != 1 {
			t.Fatalf("a day later the cache holds %d entries, want 1", n)
		}
	})
}
