package jwks

import (
	"errors"
	"testing"
	"time"
)

// knownAbsentSet starts a Set whose first document has keys a and old, then
// has a lookup of "forged" fetch a document without old: forged is
// remembered as looked for and not found, old as withdrawn.
func knownAbsentSet(t *testing.T, maxStale time.Duration) (*Set, *testServer, *fakeClock) {
	t.Helper()
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "old"))
	clock := newFakeClock()
	s, _ := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now, MinRefreshInterval: 10 * time.Second, MaxStaleness: maxStale})
	ready(t, s)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	if _, err := s.Key(ctxT(t), "forged"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(forged) = %v, want ErrUnknownKey", err)
	}
	if s.Current("old") != nil {
		t.Fatal("the fetch for forged did not drop old")
	}
	return s, ts, clock
}

// KnownAbsent is true exactly for a kid a lookup's first step refuses
// (missLocked) because a fetch looked for it and did not find it: not for
// a kid in the set, one never looked for, one whose memory ended, one the
// set is too stale to judge, nor one the issuer withdrew (which the lookup
// refuses all the same). It never fetches, and counts each true answer
// once in MissesLimited.
func TestSet_KnownAbsentIsTrueOnlyForAKidAFetchLookedForAndDidNotFind(t *testing.T) {
	const maxStale = 24 * time.Hour
	tests := []struct {
		name     string
		kid      string
		advance  time.Duration
		maxStale time.Duration
		want     bool
	}{
		{"in the set", "a", 0, maxStale, false},
		{"looked for, not found", "forged", 0, maxStale, true},
		{"looked for, memory about to end", "forged", 6*10*time.Second - time.Nanosecond, maxStale, true},
		{"looked for, memory ended", "forged", 6 * 10 * time.Second, maxStale, false},
		{"looked for, set too stale to judge", "forged", 41 * time.Second, 40 * time.Second, false},
		{"withdrawn by the issuer", "old", 0, maxStale, false},
		{"never looked for", "new", 0, maxStale, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts, clock := knownAbsentSet(t, tt.maxStale)
			clock.Advance(tt.advance)
			fetches, limited := ts.count("/keys"), s.Stats().MissesLimited
			if got := s.KnownAbsent(tt.kid); got != tt.want {
				t.Fatalf("KnownAbsent(%q) = %v, want %v", tt.kid, got, tt.want)
			}
			if got := ts.count("/keys") - fetches; got != 0 {
				t.Fatalf("%d fetches, want none", got)
			}
			want := int64(0)
			if tt.want {
				want = 1
			}
			if got := s.Stats().MissesLimited - limited; got != want {
				t.Fatalf("MissesLimited grew by %d, want %d", got, want)
			}
		})
	}
}

// A withdrawn kid is still refused by a lookup at once, without a fetch,
// as before KnownAbsent existed; and it stays withdrawn when a later fetch
// looks for it (here because the set went stale) and does not find it: the
// tokens its key signed are the issuer's all the same.
func TestSet_AWithdrawnKidStaysWithdrawnWhenAFetchLooksForIt(t *testing.T) {
	s, ts, clock := knownAbsentSet(t, 40*time.Second)
	fetches := ts.count("/keys")
	if _, err := s.Key(ctxT(t), "old"); !errors.Is(err, ErrUnknownKey) || ts.count("/keys") != fetches {
		t.Fatalf("Key(old) = %v after %d fetches, want ErrUnknownKey from memory", err, ts.count("/keys")-fetches)
	}
	clock.Advance(41 * time.Second) // stale: the lookup fetches, looking for old
	if _, err := s.Key(ctxT(t), "old"); !errors.Is(err, ErrUnknownKey) || ts.count("/keys") != fetches+1 {
		t.Fatalf("Key(old), stale set = %v after %d fetches, want ErrUnknownKey from one", err, ts.count("/keys")-fetches)
	}
	if s.KnownAbsent("old") {
		t.Fatal("KnownAbsent(old) after a fetch looked for it: true, want false (withdrawn)")
	}
	if _, err := s.Key(ctxT(t), "old"); !errors.Is(err, ErrUnknownKey) || ts.count("/keys") != fetches+1 {
		t.Fatalf("Key(old) = %v, want ErrUnknownKey from memory", err)
	}
}

// KnownAbsent takes no lock for a kid in the set (the verifier asks it of
// every token it verifies in full): it answers while s.mu is held.
func TestSet_KnownAbsentTakesNoLockForAKidInTheSet(t *testing.T) {
	s, _, _ := knownAbsentSet(t, 24*time.Hour)
	s.mu.Lock()
	defer s.mu.Unlock()
	done := make(chan bool, 1)
	go func() { done <- s.KnownAbsent("a") }()
	select {
	case got := <-done:
		if got {
			t.Fatal("KnownAbsent(a) = true for a kid in the set")
		}
	case <-time.After(waitLimit):
		t.Fatal("KnownAbsent(a) waited for s.mu")
	}
}
