package introspect

// Tests for settle, the one introspect check the first mutation run left
// unheld, and one more a second run found.

import (
	"errors"
	"testing"
	"time"
)

// TestFlight_AbandonedBypassLandingAfterANewerAnswerLeavesItsKnownEntry: a
// known token's request that passed MaxRequestRate, abandoned by its
// callers and landing after a newer request has been answered "active",
// leaves the newer answer's known entry as it is: the token passes the
// rate limit again as soon as that answer ends, not only NegativeTTL (here
// longer than TTL) after the abandoned request landed. (Mutant: settle
// without its check that the entry is still the one take marked taken.)
func TestFlight_AbandonedBypassLandingAfterANewerAnswerLeavesItsKnownEntry(t *testing.T) {
	r, release, tok := abandonHeldBypass(t, nil, func(c *Config) { c.Cache.NegativeTTL = 2 * DefaultCacheTTL })
	// A newer request, through the rate limit, is answered "active" and
	// makes the token known anew, from the end of its answer on.
	if err := r.verify(tok); err != nil {
		t.Fatalf("newer request: %v", err)
	}
	release()
	<-r.ran                    // the abandoned request lands
	r.advance(DefaultCacheTTL) // the newer answer has ended
	if err := r.verify("made-up"); !errors.Is(err, ErrInactive) {
		t.Fatalf("made-up token spending the budget: %v", err)
	}
	if err := r.verify(tok); err != nil {
		t.Fatalf("the known token, budget spent, its answer ended: %v, want accepted (known)", err)
	}
}

// TestKnownSet_SettleFromPastTheEntrysEndForgetsIt: a request settled with
// a next use (from) at or past the entry's end forgets the entry, which
// could never be used again, rather than keep it until it is reclaimed.
// (Mutant: settle without its check of from against the entry's end.)
func TestKnownSet_SettleFromPastTheEntrysEndForgetsIt(t *testing.T) {
	now := time.Now()
	s := newKnownSet(10)
	var k tokenKey
	s.put(k, knownEntry{from: now, until: now.Add(time.Minute)}, now)
	if !s.take(k, now) {
		t.Fatal("take of a usable entry = false")
	}
	s.settle(k, true, now.Add(time.Minute), now)
	if n := s.len(); n != 0 {
		t.Fatalf("%d entries after a settle whose next use is the entry's end, want 0", n)
	}
}
