package verifier

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/alloctest"
)

// rememberForgedKid has f's verifier look for kid in a fetch that does not
// find it, with a token whose claims all pass, so that the key set
// remembers kid as absent.
func (f *fixture) rememberForgedKid(t *testing.T, kid string) {
	t.Helper()
	f.clk.Advance(DefaultMinRefreshInterval + time.Second) // the rate limit allows a fetch
	fetches := f.iss.JWKSRequests()
	if _, err := f.verify(t, f.mint(t, nil, grpcauthtest.WithKidHeader(kid))); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("first token under kid %q = %v, want ErrUnknownKey", kid, err)
	}
	if f.iss.JWKSRequests() == fetches {
		t.Fatalf("kid %q was not looked for by a fetch", kid)
	}
}

// withRawPayload returns token with its payload part replaced by part, as
// is: it need not be base64url, nor decode to JSON.
func withRawPayload(token, part string) string {
	parts := strings.Split(token, ".")
	parts[1] = part
	return strings.Join(parts, ".")
}

// A kid that a fetch looked for and did not find cannot verify, whatever
// the token claims: it is refused with ErrUnknownKey right after the
// header, before the payload is decoded (a payload that is not base64url
// or not JSON is not even noticed), counted once in KeyMissesLimited,
// without a fetch. Only that kid changes the order of the checks: the
// issuer's withdrawn kid and a kid seen for the first time are answered
// for the claims first, as before (an expired token: ErrExpired, which
// tells a client to refresh). Before, every token's claims were read
// before its kid was looked up: the malformed payloads were ErrMalformed,
// and the expired, misaddressed tokens ErrExpired, ErrIssuer, ErrAudience.
func TestVerify_KidKnownAbsentIsRefusedBeforeTheClaimsAreRead(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	now := f.clk.Now()
	old := f.iss.KeyID()
	expiredOld := f.mint(t, map[string]any{"exp": now.Add(-2 * time.Minute)}) // signed before the rotation
	f.withdrawKey(t)                                                          // old: dropped by a refresh
	f.rememberForgedKid(t, "forged")
	now = f.clk.Now()

	forged := func(claims map[string]any) string {
		return f.mint(t, claims, grpcauthtest.WithKidHeader("forged"))
	}
	access := func(tok string) error { _, err := f.verify(t, tok); return err }
	id := func(tok string) error {
		_, err := f.v.VerifyIDToken(context.Background(), tok, "client", "")
		return err
	}
	tests := []struct {
		name        string
		verify      func(string) error
		token       string
		want        error
		wantLimited int64 // KeyMissesLimited's growth
	}{
		{"payload not base64url", access, withRawPayload(forged(nil), "!!not-base64url!!"), ErrUnknownKey, 1},
		{"payload not JSON", access, withRawPayload(forged(nil), b64raw("not JSON")), ErrUnknownKey, 1},
		{"payload not JSON, ID token", id, withRawPayload(forged(nil), b64raw("not JSON")), ErrUnknownKey, 1},
		{"expired", access, forged(map[string]any{"exp": now.Add(-2 * time.Minute)}), ErrUnknownKey, 1},
		{"wrong issuer", access, forged(map[string]any{"iss": "https://evil.example"}), ErrUnknownKey, 1},
		{"wrong audience", access, forged(map[string]any{"aud": "another-api"}), ErrUnknownKey, 1},
		{"valid claims", access, forged(nil), ErrUnknownKey, 1},
		{"withdrawn kid, expired", access, expiredOld, ErrExpired, 0},
		{"withdrawn kid, valid claims", access, f.mint(t, nil, grpcauthtest.WithIssuerKey(old)), ErrUnknownKey, 1}, // remembered: refused by the key lookup
		{"withdrawn kid, payload not JSON", access, withRawPayload(expiredOld, b64raw("not JSON")), ErrMalformed, 0},
		{"first sight, expired", access, f.mint(t, map[string]any{"exp": now.Add(-2 * time.Minute)}, grpcauthtest.WithKidHeader("new")), ErrExpired, 0},
		{"first sight, payload not JSON", access, withRawPayload(f.mint(t, nil, grpcauthtest.WithKidHeader("new")), b64raw("not JSON")), ErrMalformed, 0},
	}
	if f.v.set.Current(old) != nil {
		t.Fatal("the withdrawn key is still in the set")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fetches, limited := f.iss.JWKSRequests(), f.v.Stats().KeyMissesLimited
			err := tt.verify(tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want == ErrUnknownKey && err != errUnknownKid {
				t.Fatalf("got %v, want the key lookup's own error %v", err, errUnknownKid)
			}
			if got := f.iss.JWKSRequests() - fetches; got != 0 {
				t.Fatalf("%d key-set fetches, want none", got)
			}
			if got := f.v.Stats().KeyMissesLimited - limited; got != tt.wantLimited {
				t.Fatalf("KeyMissesLimited grew by %d, want %d", got, tt.wantLimited)
			}
		})
	}
}

// Refusing a kid known absent reads the header only: it allocates the
// token's buffer (jwt.Parts.Buffer, which the header is decoded into) and
// nothing for the payload, however long. Before, the payload was decoded
// and its registered claims copied out (a long sub) before the kid was
// looked up: about twice the token's length.
func TestVerify_KidKnownAbsentRejectionCostIsTheTokensBufferAlone(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation measurement; run without -race (see the README's test command)")
	}
	f := newFixture(t, grpcauthtest.Config{}, nil)
	f.rememberForgedKid(t, "forged")
	ctx := context.Background()
	for _, n := range []int{100, 10 << 10, 40 << 10} {
		token := f.mint(t, map[string]any{"sub": strings.Repeat("s", n)}, grpcauthtest.WithKidHeader("forged"))
		t.Run(fmt.Sprintf("%d B", len(token)), func(t *testing.T) {
			var err error
			got := alloctest.Bytes(5, func() { _, err = f.v.VerifyAccessToken(ctx, token) })
			if err != errUnknownKid {
				t.Fatalf("got %v, want %v", err, errUnknownKid)
			}
			t.Logf("%d B token: %d B allocated", len(token), got)
			if limit := uint64(len(token)) + knownAbsentAllowance; got > limit {
				t.Fatalf("refusing a %d-byte token for its kid allocated %d bytes, over %d (the token's buffer)", len(token), got, limit)
			}
		})
	}
}

// knownAbsentAllowance is what refusing a kid known absent may allocate
// beyond the token's buffer: the allocator's rounding of it, up to whole
// 8 KiB pages past 32 KiB.
const knownAbsentAllowance = 8 << 10

// Behind a MultiVerifier, which reads a token's payload to route it by
// iss, a kid the issuer's key set knows is absent is refused all the same
// before the claims are checked: an expired token naming it is
// ErrUnknownKey. What routing refuses (a payload that does not parse, an
// iss not configured) it refuses first, as before.
func TestMulti_KidKnownAbsentIsRefusedBeforeTheClaimsAreChecked(t *testing.T) {
	f, m := newMultiFixture(t)
	ctx := context.Background()
	f.clk.Advance(DefaultMinRefreshInterval + time.Second)
	forged := func(claims map[string]any) string {
		return f.mint(t, claims, grpcauthtest.WithKidHeader("forged"))
	}
	if _, err := m.VerifyAccessToken(ctx, forged(nil)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("first token under kid forged = %v, want ErrUnknownKey", err)
	}
	tests := []struct {
		name                       string
		token                      string
		want                       error
		wantLimited, wantMalformed int64
	}{
		{"expired", forged(map[string]any{"exp": f.clk.Now().Add(-2 * time.Minute)}), ErrUnknownKey, 1, 0},
		{"wrong audience", forged(map[string]any{"aud": "another-api"}), ErrUnknownKey, 1, 0},
		{"iss not configured", forged(map[string]any{"iss": "https://evil.example"}), ErrIssuer, 0, 0},
		{"payload not JSON", withRawPayload(forged(nil), b64raw("not JSON")), ErrMalformed, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := m.Stats()
			if _, err := m.VerifyAccessToken(ctx, tt.token); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			after := m.Stats()
			if got := after.Total.KeyMissesLimited - before.Total.KeyMissesLimited; got != tt.wantLimited {
				t.Fatalf("KeyMissesLimited grew by %d, want %d", got, tt.wantLimited)
			}
			if got := after.Malformed - before.Malformed; got != tt.wantMalformed {
				t.Fatalf("MultiStats.Malformed grew by %d, want %d", got, tt.wantMalformed)
			}
			if after.Total.KeyFetches != before.Total.KeyFetches {
				t.Fatal("a key-set fetch")
			}
		})
	}
}

// A token refused for a kid known absent is a cache miss whatever its iss:
// its payload is not read, so it is not known to be misaddressed (a token
// refused for its iss is no miss). Before, the wrong-iss token was
// ErrIssuer, and no miss.
func TestVerify_KidKnownAbsentRefusalIsACacheMissWhateverItsIss(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	f.rememberForgedKid(t, "forged")
	for _, iss := range []string{f.iss.URL(), "https://evil.example"} {
		misses := f.v.Stats().CacheMisses
		tok := f.mint(t, map[string]any{"iss": iss}, grpcauthtest.WithKidHeader("forged"))
		if _, err := f.verify(t, tok); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("iss %q: got %v, want ErrUnknownKey", iss, err)
		}
		if got := f.v.Stats().CacheMisses - misses; got != 1 {
			t.Fatalf("iss %q: CacheMisses grew by %d, want 1", iss, got)
		}
	}
}
