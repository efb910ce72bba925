package verifier

import (
	"errors"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// A kid the issuer withdrew keeps an expired token of its key ErrExpired
// (ACCESS_TOKEN_EXPIRED, which clients refresh on) also once the memory of
// its refusal (6 × MinRefreshInterval) has ended and a token under that
// kid whose claims pass (a holder of an unexpired one, or anyone forging
// one: no signature is needed to reach the lookup) has made a fetch look
// for it: the key set keeps the kids refreshes dropped (the last 64) and
// remembers such a kid as withdrawn, not as looked for. Before, the
// expired token was ErrUnknownKey (ACCESS_TOKEN_INVALID) for the minute
// that miss was remembered (the s28-rkid review's limit).
func TestVerify_WithdrawnKidStaysWithdrawnAfterItsMemoryEndedAndAFetchLookedForIt(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	old := f.iss.KeyID()
	expiredOld := f.mint(t, map[string]any{"exp": f.clk.Now().Add(-2 * time.Minute)}) // signed before the rotation
	f.withdrawKey(t)
	if _, err := f.verify(t, expiredOld); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired token of the withdrawn kid, just withdrawn = %v, want ErrExpired", err)
	}
	f.clk.Advance(6*DefaultMinRefreshInterval + time.Second) // the withdrawal's memory ends
	fetches := f.iss.JWKSRequests()
	if _, err := f.verify(t, f.mint(t, nil, grpcauthtest.WithIssuerKey(old))); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unexpired token of the withdrawn kid = %v, want ErrUnknownKey", err)
	}
	if f.iss.JWKSRequests() == fetches {
		t.Fatal("no fetch looked for the withdrawn kid")
	}
	if _, err := f.verify(t, expiredOld); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired token of the withdrawn kid, after a fetch looked for it = %v, want ErrExpired", err)
	}
}
