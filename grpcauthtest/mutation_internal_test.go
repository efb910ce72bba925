package grpcauthtest

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Revoking an opaque token drops the claims the issuer stored for it, and
// once the token has expired a sweep forgets its revocation too, as for a
// JWT: a long-running issuer that revokes opaque tokens does not grow.
func TestRevoke_OpaqueTokensLeaveNothingBehindOnceExpired(t *testing.T) {
	var sec atomic.Int64
	sec.Store(1_900_000_000)
	now := func() time.Time { return time.Unix(sec.Load(), 0) }
	iss := NewIssuer(t, Config{Now: now, TokenLifetime: time.Hour, Algorithm: "ES256"})
	const perHour = 100
	for h := 0; h < 10; h++ {
		for range perHour {
			tok, err := iss.MintOpaqueClaims(nil)
			if err != nil {
				t.Fatal(err)
			}
			iss.Revoke(tok)
			if got := iss.introspect(tok); got["active"] != false {
				t.Fatalf("revoked opaque token: %v, want inactive", got)
			}
		}
		sec.Add(3600)
	}
	iss.intro.mu.Lock()
	stored, revoked := len(iss.intro.opaque), len(iss.intro.revoked)
	iss.intro.mu.Unlock()
	if stored != 0 {
		t.Errorf("the issuer still stores the claims of %d revoked opaque tokens", stored)
	}
	if limit := 2*perHour + minRevokedSweep; revoked > limit {
		t.Errorf("revoked set holds %d entries after 10 hours of revoked opaque tokens, want at most %d", revoked, limit)
	}
}

// errorDescription keeps exactly the characters RFC 6749 §5.2 allows in an
// error_description (%x20-21 / %x23-5B / %x5D-7E), a double quote becoming
// an apostrophe and any other character a question mark: the edges of
// each range included. (The endpoints' descriptions quote what a client
// sent with %q, so a control character reaches it escaped; this holds the
// guard itself.)
func TestErrorDescription_KeepsExactlyTheRFC6749Characters(t *testing.T) {
	for r := rune(0); r <= 0x100; r++ {
		want := '?'
		switch {
		case r == '"':
			want = '\''
		case r == 0x20 || r == 0x21 || r >= 0x23 && r <= 0x5b || r >= 0x5d && r <= 0x7e:
			want = r
		}
		if got := errorDescription(string(r)); got != string(want) {
			t.Errorf("errorDescription(%q) = %q, want %q", r, got, want)
		}
	}
}

// Each MintOpaqueClaims drops the expired opaque tokens, so a
// long-running issuer minting opaque tokens does not keep every one.
func TestMintOpaque_ExpiredTokensArePruned(t *testing.T) {
	var sec atomic.Int64
	sec.Store(1_900_000_000)
	iss := NewIssuer(t, Config{Now: func() time.Time { return time.Unix(sec.Load(), 0) }, TokenLifetime: time.Minute, Algorithm: "ES256"})
	const n = 200
	for range n {
		if _, err := iss.MintOpaqueClaims(nil); err != nil {
			t.Fatal(err)
		}
	}
	sec.Add(3600)
	for range n {
		if _, err := iss.MintOpaqueClaims(nil); err != nil {
			t.Fatal(err)
		}
	}
	iss.intro.mu.Lock()
	stored := len(iss.intro.opaque)
	iss.intro.mu.Unlock()
	if stored > n+n/2 {
		t.Errorf("the issuer stores %d opaque tokens, %d of them expired an hour ago; want the expired ones pruned", stored, n)
	}
}

// Under a flood of opaque tokens that expire a minute after they are
// minted, beside a thousand that never expire, every mint forgets all
// the tokens that have expired: the store holds the unexpired ones alone,
// however the expired are spread among them, and a token still within
// its lifetime stays active.
func TestMintOpaque_StoreHoldsOnlyUnexpiredTokensUnderAFlood(t *testing.T) {
	var sec atomic.Int64
	sec.Store(1_900_000_000)
	iss := NewIssuer(t, Config{Now: func() time.Time { return time.Unix(sec.Load(), 0) }, TokenLifetime: time.Minute, Algorithm: "ES256"})
	mint := func(claims map[string]any) string {
		t.Helper()
		tok, err := iss.MintOpaqueClaims(claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	const lasting = 1000
	for range lasting {
		mint(map[string]any{"exp": nil})
	}
	var last string
	for k := range 5000 {
		sec.Add(1)
		last = mint(nil)
		if k%2 == 0 { // a slower, longer-lived token now and then
			mint(map[string]any{"exp": time.Unix(sec.Load()+600, 0)})
		}
	}
	iss.intro.mu.Lock()
	stored := len(iss.intro.opaque)
	iss.intro.mu.Unlock()
	// Unexpired: the lasting ones, those of the last 59 seconds and this
	// one (an exp not after now has passed) and the longer-lived ones of
	// the last ten minutes, one every two seconds.
	if want := lasting + 60 + 300; stored != want {
		t.Errorf("the store holds %d opaque tokens, want the %d unexpired ones", stored, want)
	}
	if got := iss.introspect(last); got["active"] != true {
		t.Errorf("the token minted last: %v, want active", got)
	}
}

// A JWT signed by a published key under another algorithm than the key's
// own (PS256 with an RS256 key, whose signature the same RSA key does
// verify) is inactive: the endpoint accepts only the key's alg.
func TestIntrospect_JWTUnderAnotherAlgOfItsKeyIsInactive(t *testing.T) {
	iss := NewIssuer(t, Config{Algorithm: "RS256"})
	iss.mu.RLock()
	key := iss.published[0]
	iss.mu.RUnlock()
	payload, err := json.Marshal(map[string]any{"iss": iss.URL(), "sub": "x", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(alg jwa.SignatureAlgorithm) string {
		t.Helper()
		hdr := jws.NewHeaders()
		if err := hdr.Set(jws.KeyIDKey, key.kid); err != nil {
			t.Fatal(err)
		}
		tok, err := jws.Sign(payload, jws.WithKey(alg, key.private, jws.WithProtectedHeaders(hdr)))
		if err != nil {
			t.Fatal(err)
		}
		return string(tok)
	}
	if got := iss.introspect(sign(jwa.RS256)); got["active"] != true {
		t.Fatalf("RS256 JWT of the RS256 key: %v, want active (the test signs as the issuer does)", got)
	}
	if got := iss.introspect(sign(jwa.PS256)); got["active"] != false {
		t.Errorf("PS256 JWT of the RS256 key: %v, want inactive", got)
	}
}
