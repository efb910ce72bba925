package introspect

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/verifier"
)

// A known token whose cached answer was evicted early, answered active by
// a request MaxRequestRate let through but with an iat an hour ahead (a
// refusal here, ErrNotYetValid), is forgotten, as one found inactive is
// (TestFlight_KnownTokenFoundInactiveBeforeItsTurnIsForgotten): it does
// not pass the rate limit later, when its answer would have ended.
func TestFlight_KnownTokenAnsweredNotYetValidBeforeItsTurnIsForgotten(t *testing.T) {
	late := &issuedLater{base: &http.Transport{DisableKeepAlives: true}}
	late.n.Store(-1) // the third request, tok's second, is answered late
	r := newRateLimited(t, &http.Client{Transport: late}, 2)
	late.iat.Store(r.Now().Add(time.Hour).Unix())
	tok := r.knownThenEvicted(t)
	r.advance(time.Second)
	if err := r.verify(tok); !errors.Is(err, verifier.ErrNotYetValid) {
		t.Fatalf("answered with iat an hour ahead: %v, want verifier.ErrNotYetValid", err)
	}
	r.advance(DefaultCacheTTL) // when tok's answer would have ended
	r.checkForgotten(t, tok)
}

// keepEnded with claims too large for the cache keeps nothing, and drops
// the token's ended entry all the same: the exp that entry gave is no
// longer the server's word, and must not make a later inactive answer
// read as an expiry.
func TestResultCache_KeepEndedTooLargeDropsTheEndedEntry(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	small, err := verifier.NewClaims(map[string]any{"sub": "a"})
	if err != nil {
		t.Fatal(err)
	}
	large, err := verifier.NewClaims(map[string]any{"sub": "a", "x": strings.Repeat("x", 4096)})
	if err != nil {
		t.Fatal(err)
	}
	c := newResultCache(4, result{claims: small}.size()*2)
	c.put(tokenKey{1}, result{claims: small, from: now.Add(-2 * time.Hour), until: now.Add(time.Second)}, now)
	now = now.Add(time.Second) // the entry has ended, and is kept
	if r, ok := c.lookup(tokenKey{1}, now); ok || r.until.IsZero() {
		t.Fatalf("lookup at the entry's end: ok %v, until %v; want the ended entry", ok, r.until)
	}
	c.keepEnded(tokenKey{1}, large, now)
	if r, _ := c.lookup(tokenKey{1}, now); !r.until.IsZero() || c.len() != 0 {
		t.Fatalf("after keepEnded too large: %d entries, until %v; want none", c.len(), r.until)
	}
}

// An entry of exactly maxBytes fits: the bound is inclusive, for put and
// for keepEnded alike.
func TestResultCache_AnEntryOfExactlyMaxBytesIsKept(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	claims, err := verifier.NewClaims(map[string]any{"sub": "a"})
	if err != nil {
		t.Fatal(err)
	}
	c := newResultCache(4, result{claims: claims}.size())
	c.put(tokenKey{1}, result{claims: claims, until: now.Add(time.Minute)}, now)
	if _, ok := c.lookup(tokenKey{1}, now); !ok {
		t.Fatal("put of an entry of exactly maxBytes kept nothing")
	}
	c.keepEnded(tokenKey{2}, claims, now)
	if c.len() != 1 {
		t.Fatalf("%d entries, want 1", c.len())
	}
	c = newResultCache(4, result{claims: claims}.size())
	c.keepEnded(tokenKey{2}, claims, now)
	if r, _ := c.lookup(tokenKey{2}, now); r.until.IsZero() {
		t.Fatal("keepEnded of an entry of exactly maxBytes kept nothing")
	}
}
