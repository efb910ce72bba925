package grpcauthtest

import (
	"crypto/sha256"
	"sync/atomic"
	"testing"
	"time"
)

// revokedLen is the size of iss's revoked set.
func revokedLen(iss *Issuer) int {
	iss.intro.mu.Lock()
	defer iss.intro.mu.Unlock()
	return len(iss.intro.revoked)
}

// A long-running issuer forgets a revocation once the token has expired, so
// the revoked set stays bounded; a token still within its lifetime, one
// without exp and an opaque one stay revoked through every sweep.
func TestRevoke_SetForgetsExpiredTokensOnly(t *testing.T) {
	var sec atomic.Int64
	sec.Store(1_900_000_000)
	now := func() time.Time { return time.Unix(sec.Load(), 0) }
	iss := NewIssuer(t, Config{Now: now, TokenLifetime: time.Hour, Algorithm: "ES256"})
	mint := func(claims map[string]any) string {
		t.Helper()
		tok, err := iss.Mint(claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	longLived := mint(map[string]any{"exp": now().Add(100 * time.Hour)})
	noExp := mint(map[string]any{"exp": nil})
	opaque, err := iss.MintOpaqueClaims(map[string]any{"exp": now().Add(100 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{longLived, noExp, opaque} {
		if got := iss.introspect(tok); got["active"] != true {
			t.Fatalf("before Revoke: %v, want active", got)
		}
		iss.Revoke(tok)
	}
	// Ten hours of one-hour tokens, revoked a hundred a second-hour.
	const perHour = 100
	for h := 0; h < 10; h++ {
		for range perHour {
			iss.Revoke(mint(nil))
		}
		sec.Add(3600)
	}
	// Every token revoked more than an hour ago has expired: at most the
	// last hour's, the three long-lived ones and the sweep's slack remain.
	if n := revokedLen(iss); n > 2*(perHour+3)+minRevokedSweep {
		t.Errorf("revoked set holds %d entries after 10 hours, want at most %d", n, 2*(perHour+3)+minRevokedSweep)
	}
	for name, tok := range map[string]string{"a JWT not yet expired": longLived, "a JWT without exp": noExp, "an opaque token": opaque} {
		if got := iss.introspect(tok); got["active"] != false {
			t.Errorf("%s, revoked: %v after the sweeps, want inactive", name, got)
		}
	}
	// The one-hour tokens revoked last are still within their hour.
	last := mint(nil)
	iss.Revoke(last)
	if got := iss.introspect(last); got["active"] != false {
		t.Errorf("a token revoked within its lifetime: %v, want inactive", got)
	}
}

// A sweep that forgets a revocation between the endpoint's reading of its
// clock and its lookup of the token does not make the token active: the
// endpoint judges exp by a clock read after the lookup, so no later than
// the sweep's.
func TestRevoke_SweepDuringIntrospectionDoesNotReviveTheToken(t *testing.T) {
	var sec atomic.Int64
	sec.Store(1_900_000_000)
	var onRead atomic.Pointer[func()] // run once, inside the next clock read
	now := func() time.Time {
		at := time.Unix(sec.Load(), 0)
		if f := onRead.Swap(nil); f != nil {
			(*f)()
		}
		return at
	}
	iss := NewIssuer(t, Config{Now: now, TokenLifetime: time.Hour, Algorithm: "ES256"})
	mint := func() string {
		t.Helper()
		tok, err := iss.Mint(nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := mint()
	iss.Revoke(tok)
	// The token's hour ends and enough revocations follow for a sweep,
	// which forgets tok's revocation; all while the endpoint reads its
	// clock for tok, still within that hour.
	swept := make(chan struct{})
	sweep := func() {
		sec.Add(3600)
		for range minRevokedSweep {
			iss.Revoke(mint())
		}
		close(swept)
	}
	onRead.Store(&sweep)
	if got := iss.introspect(tok); got["active"] != false {
		t.Errorf("revoked token, its revocation swept during introspection: %v, want inactive", got)
	}
	if f := onRead.Swap(nil); f != nil { // the answer came without a clock read
		(*f)()
	}
	<-swept
	iss.intro.mu.Lock()
	_, kept := iss.intro.revoked[sha256.Sum256([]byte(tok))]
	iss.intro.mu.Unlock()
	if kept {
		t.Fatal("the sweep kept the expired token's revocation: this test no longer sweeps it")
	}
	if got := iss.introspect(tok); got["active"] != false {
		t.Errorf("revoked token after its exp: %v, want inactive", got)
	}
}
