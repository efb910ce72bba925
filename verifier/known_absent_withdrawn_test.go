package verifier

import (
	"errors"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// A kid the issuer withdrew keeps an expired token of its key ErrExpired
// (ACCESS_TOKEN_EXPIRED, which clients refresh on) only while the
// withdrawal is remembered (6 × MinRefreshInterval). Once it is forgotten,
// a token under that kid whose claims pass (a holder of an unexpired one,
// or anyone forging one: no signature is needed to reach the lookup) makes
// a fetch look for it, and for as long as that is remembered the expired
// token is ErrUnknownKey (ACCESS_TOKEN_INVALID), as an unexpired one of
// the withdrawn key always is: the documented limit (docs/verifier.md,
// "What is checked, in order"; the s28-rkid review).
func TestVerify_WithdrawnKidLookedForAfterItsMemoryEndedIsTreatedAsLookedFor(t *testing.T) {
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
	if _, err := f.verify(t, expiredOld); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("expired token of the withdrawn kid, after a fetch looked for it = %v, want ErrUnknownKey (the documented limit)", err)
	}
}
