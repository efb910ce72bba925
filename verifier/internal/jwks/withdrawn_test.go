package jwks

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// withdrawnSet starts a Set (MinRefreshInterval 10 s, so the unknown-kid
// memory lasts 1 min) on the first document, and returns it with publish,
// which has a lookup of a new kid fetch the next one.
func withdrawnSet(t *testing.T, first ...json.RawMessage) (*Set, *testServer, *fakeClock, func(...json.RawMessage)) {
	t.Helper()
	ts := newTestServer(t)
	ts.setKeys(t, first...)
	clock := newFakeClock()
	s, _ := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now, MinRefreshInterval: 10 * time.Second, MaxStaleness: 24 * time.Hour})
	ready(t, s)
	probes := 0
	publish := func(entries ...json.RawMessage) {
		t.Helper()
		ts.setKeys(t, entries...)
		clock.Advance(10 * time.Second)
		probes++
		fetches := ts.count("/keys")
		if _, err := s.Key(ctxT(t), fmt.Sprintf("probe-%d", probes)); !errors.Is(err, ErrUnknownKey) || ts.count("/keys") != fetches+1 {
			t.Fatalf("Key(probe-%d) = %v after %d fetches, want ErrUnknownKey from one", probes, err, ts.count("/keys")-fetches)
		}
	}
	return s, ts, clock, publish
}

// lookFor has a fetch look for kid, once the unknown-kid memory of its
// withdrawal has ended: the lookup fetches and does not find it.
func lookFor(t *testing.T, s *Set, ts *testServer, clock *fakeClock, kid string) {
	t.Helper()
	clock.Advance(10 * time.Second)
	fetches := ts.count("/keys")
	if _, err := s.Key(ctxT(t), kid); !errors.Is(err, ErrUnknownKey) || ts.count("/keys") != fetches+1 {
		t.Fatalf("Key(%s) = %v after %d fetches, want ErrUnknownKey from one", kid, err, ts.count("/keys")-fetches)
	}
}

// numberedKids is n entries named prefix0 to prefix<n-1>, over the test RSA keys.
func numberedKids(t *testing.T, prefix string, n int) []json.RawMessage {
	var entries []json.RawMessage
	for i := range n {
		entries = append(entries, rsaJWK(t, i%len(rsaKeys), fmt.Sprintf("%s%d", prefix, i)))
	}
	return entries
}

// A kid a refresh dropped stays withdrawn (KnownAbsent false) after the
// memory of its refusal ended and a fetch looked for it, while the memory
// of that fetch's miss still lasts 6 × MinRefreshInterval: refused from
// memory within it, fetched for again after it. Only the last 64 kids
// dropped are kept: the oldest is forgotten, and once a fetch has looked
// for it, it is known absent as any kid looked for.
func TestSet_TheLast64WithdrawnKidsStayWithdrawnPastTheMemoryOfTheirRefusal(t *testing.T) {
	a := rsaJWK(t, 0, "a")
	s, ts, clock, publish := withdrawnSet(t, append([]json.RawMessage{a, rsaJWK(t, 1, "first")}, numberedKids(t, "k", 64)...)...)
	publish(append([]json.RawMessage{a}, numberedKids(t, "k", 64)...)...) // drops first
	publish(a)                                                            // drops k0 to k63: first is the 65th, forgotten
	clock.Advance(time.Minute)                                            // the withdrawals' memory ends
	lookFor(t, s, ts, clock, "first")
	lookFor(t, s, ts, clock, "k0")
	if !s.KnownAbsent("first") {
		t.Fatal("KnownAbsent(first) = false; the oldest of 65 withdrawn kids should be forgotten, then known absent once looked for")
	}
	if s.KnownAbsent("k0") {
		t.Fatal("KnownAbsent(k0) = true after a fetch looked for it past its memory, want false (withdrawn)")
	}
	fetches := ts.count("/keys")
	clock.Advance(6*10*time.Second - time.Nanosecond) // the miss's memory about to end
	if _, err := s.Key(ctxT(t), "k0"); !errors.Is(err, ErrUnknownKey) || ts.count("/keys") != fetches {
		t.Fatalf("Key(k0) = %v after %d fetches, want ErrUnknownKey from memory", err, ts.count("/keys")-fetches)
	}
	clock.Advance(time.Nanosecond) // the miss's memory ends: no longer than before
	if _, err := s.Key(ctxT(t), "k0"); !errors.Is(err, ErrUnknownKey) || ts.count("/keys") != fetches+1 {
		t.Fatalf("Key(k0) = %v after %d fetches, want ErrUnknownKey from a fetch", err, ts.count("/keys")-fetches)
	}
	if s.KnownAbsent("k0") {
		t.Fatal("KnownAbsent(k0) = true after a second fetch looked for it, want false (withdrawn)")
	}
}

// A withdrawn kid a later snapshot publishes again leaves the list of
// withdrawn kids, so it holds none of the 64 places: the oldest withdrawn
// kid is kept when 64 others follow it, one of them republished.
func TestSet_ARepublishedKidLeavesTheWithdrawnList(t *testing.T) {
	a, r, x := rsaJWK(t, 0, "a"), rsaJWK(t, 1, "r"), rsaJWK(t, 2, "x")
	s, ts, clock, publish := withdrawnSet(t, append([]json.RawMessage{a, rsaJWK(t, 1, "w0"), r, x}, numberedKids(t, "k", 62)...)...)
	publish(append([]json.RawMessage{a, r, x}, numberedKids(t, "k", 62)...)...) // drops w0
	publish(a, x)                                                               // drops r and k0 to k61: 64 withdrawn
	publish(a, x, r)                                                            // publishes r again
	s.mu.Lock()
	listed := slices.Contains(s.withdrawn, "r")
	s.mu.Unlock()
	if listed {
		t.Fatal("r is still listed as withdrawn after a snapshot published it again")
	}
	publish(a, r)              // drops x: the 64th listed, so w0 stays
	clock.Advance(time.Minute) // the withdrawals' memory ends
	lookFor(t, s, ts, clock, "w0")
	if s.KnownAbsent("w0") {
		t.Fatal("KnownAbsent(w0) = true, want false: the republished r should have left its place")
	}
}
