package grpcauthtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
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

// A revocation of a string that can never be active at the introspection
// endpoint (no token, a JWT under a key the issuer does not publish,
// unsigned or of another issuer) is ignored, and one of an opaque token
// only takes it out of the store: the revoked set holds the issuer's own
// JWTs alone, bounded by what it minted, whatever strings a test or a
// client of the development server revokes. A JWT of the issuer's own
// that is not yet valid stays revoked once it is.
func TestRevoke_StringsNeverActiveAreNotRemembered(t *testing.T) {
	var sec atomic.Int64
	sec.Store(1_900_000_000)
	now := func() time.Time { return time.Unix(sec.Load(), 0) }
	iss := NewIssuer(t, Config{Now: now, TokenLifetime: time.Hour, Algorithm: "ES256"})
	foreign, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mint := func(claims map[string]any, opts ...MintOption) string {
		t.Helper()
		tok, err := iss.Mint(claims, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	removedKid := iss.KeyID()
	if _, err := iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	iss.RemoveKey(removedKid)
	const n = 200
	for k := range n {
		noExp := map[string]any{"exp": nil}
		opaque, err := iss.MintOpaqueClaims(noExp)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{
			fmt.Sprintf("not-a-token-%d", k),
			fmt.Sprintf("a.b.c%d", k),
			mint(noExp, WithSigningKey(foreign, "ES256")),
			mint(noExp, WithIssuerKey(removedKid)),
			mint(noExp, Unsigned()),
			mint(map[string]any{"exp": nil, "iss": "https://other.example"}),
			opaque,
		} {
			iss.Revoke(s)
			if got := iss.introspect(s); got["active"] != false {
				t.Fatalf("%q revoked: %v, want inactive", s, got)
			}
		}
	}
	if got := revokedLen(iss); got != 0 {
		t.Errorf("revoked set holds %d entries after %d revocations of strings never active, want 0", got, 7*n)
	}
	notYet := mint(map[string]any{"exp": nil, "nbf": now().Add(time.Hour)})
	iss.Revoke(notYet)
	sec.Add(7200)
	if got := iss.introspect(notYet); got["active"] != false {
		t.Errorf("own JWT revoked before its nbf: %v after it, want inactive", got)
	}
	if got := revokedLen(iss); got != 1 {
		t.Errorf("revoked set holds %d entries, want the own JWT's alone", got)
	}
}

// A JWT signed by a key that a rotation has made the old one, still
// published, is revoked whether Revoke comes before the rotation or after
// it: the issuer remembers every one of its JWTs the endpoint could still
// report active, not only those of its signing key.
func TestRevoke_TokenOfARotatedKeyStaysRevokedWhileTheKeyIsPublished(t *testing.T) {
	iss := NewIssuer(t, Config{Algorithm: "ES256"})
	before, err := iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	after, err := iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	iss.Revoke(before)
	if _, err := iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	iss.Revoke(after)
	for name, tok := range map[string]string{"revoked before the rotation": before, "revoked after it": after} {
		if got := iss.introspect(tok); got["active"] != false {
			t.Errorf("%s: %v, want inactive", name, got)
		}
	}
	current, err := iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	if got := iss.introspect(current); got["active"] != true {
		t.Errorf("control, a token of the new key: %v, want active", got)
	}
}
