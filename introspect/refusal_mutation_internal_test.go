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
	c.put(tokenKey{1}, result{claims: small, until: now.Add(time.Second)}, now)
	now = now.Add(time.Second) // the entry has ended, and is kept
	if r, ok := c.lookup(tokenKey{1}, now); ok || r.until.IsZero() {
		t.Fatalf("lookup at the entry's end: ok %v, until %v; want the ended entry", ok, r.until)
	}
	c.keepEnded(tokenKey{1}, large, now)
	if r, _ := c.lookup(tokenKey{1}, now); !r.until.IsZero() || c.len() != 0 {
		t.Fatalf("after keepEnded too large: %d entries, until %v; want none", c.len(), r.until)
	}
}
