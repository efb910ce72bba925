package grpcauthtest

// Tests for checks of the opaque store's expiry sweep that a hand-run
// mutation test found no test held: each fails with the mutant named in
// its comment.

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"
)

// sec0 is the time, in Unix seconds, at which sweepIssuer's clock starts.
const sec0 = 1_900_000_000

// sweepIssuer is an issuer whose clock stands at sec, and mint stores an
// opaque token with claims.
func sweepIssuer(t *testing.T, sec *atomic.Int64) (*Issuer, func(claims map[string]any) string) {
	t.Helper()
	sec.Store(sec0)
	iss := NewIssuer(t, Config{Now: func() time.Time { return time.Unix(sec.Load(), 0) }, TokenLifetime: time.Minute, Algorithm: "ES256"})
	return iss, func(claims map[string]any) string {
		t.Helper()
		tok, err := iss.MintOpaqueClaims(claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

// storesOnly fails t unless the opaque tokens iss stores are want.
func storesOnly(t *testing.T, iss *Issuer, want ...string) {
	t.Helper()
	iss.intro.mu.Lock()
	defer iss.intro.mu.Unlock()
	for _, tok := range want {
		if _, ok := iss.intro.opaque[tok]; !ok {
			t.Errorf("a token that has not expired is not stored")
		}
	}
	if n := len(iss.intro.opaque); n != len(want) {
		t.Errorf("store holds %d tokens, want %d", n, len(want))
	}
}

// A mint forgets every stored opaque token that has expired, and those
// alone (each case names its mutant):
//   - the only expired token too (the sweep stopping with one token left
//     in the heap);
//   - past a revoked token, gone from the store but not from the heap of
//     expiries (the sweep stopping at a token no longer stored, which it
//     then never passes);
//   - a token whose exp no float64 holds (1e400), expired for the
//     endpoint, before unexpired tokens minted earlier (such an exp put
//     last in the heap, +Inf, behind every other).
func TestMintOpaque_SweepForgetsEveryExpiredToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		// stored mints and revokes tokens, moves the clock and returns
		// the tokens to be stored after the next mint.
		stored func(iss *Issuer, mint func(map[string]any) string, sec *atomic.Int64) []string
	}{
		{"the only expired token", func(_ *Issuer, mint func(map[string]any) string, sec *atomic.Int64) []string {
			mint(map[string]any{"exp": time.Unix(sec.Load()+10, 0)})
			sec.Add(20)
			return nil
		}},
		{"past a revoked token", func(iss *Issuer, mint func(map[string]any) string, sec *atomic.Int64) []string {
			revoked := mint(map[string]any{"exp": time.Unix(sec.Load()+10, 0)})
			mint(map[string]any{"exp": time.Unix(sec.Load()+20, 0)})
			iss.Revoke(revoked)
			sec.Add(30)
			return nil
		}},
		{"an exp beyond float64 first", func(_ *Issuer, mint func(map[string]any) string, _ *atomic.Int64) []string {
			lasting := mint(map[string]any{"exp": time.Unix(sec0+3600, 0)})
			mint(map[string]any{"exp": json.Number("1e400")})
			return []string{lasting}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sec atomic.Int64
			iss, mint := sweepIssuer(t, &sec)
			want := tc.stored(iss, mint, &sec)
			storesOnly(t, iss, append(want, mint(nil))...)
		})
	}
}
