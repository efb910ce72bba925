package verifier

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// withdrawKey has the issuer rotate its key and withdraw the old one, and
// makes f's verifier refresh its key set by verifying a token under the new
// kid. It first waits for the verifier's first key set (New does not), so
// that the old key is in it to be withdrawn: else the first fetch may come
// after the rotation, and the old kid is never seen, not withdrawn.
func (f *fixture) withdrawKey(t *testing.T) {
	t.Helper()
	if err := f.v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	oldKid := f.iss.KeyID()
	if _, err := f.iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	f.iss.RemoveKey(oldKid)
	f.clk.Advance(DefaultMinRefreshInterval + time.Second)
	if _, err := f.verify(t, f.mint(t, nil)); err != nil {
		t.Fatalf("token under the new key: %v", err)
	}
	if f.v.set.Current(oldKid) != nil {
		t.Fatal("the key set still has the removed key after the refresh")
	}
}

// cached reports whether the cache answers for token, and with what.
func cached(v *Verifier, token string) (Claims, bool, error) {
	c, hit, err := v.cache.get(token, v)
	if c == nil {
		return Claims{}, hit, err
	}
	return Claims{c}, hit, err
}

func TestCache_HitServesTheVerifiedClaims(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	tok := f.mint(t, map[string]any{"sub": "alice"}, grpcauthtest.WithScopes("items:read"))
	if _, hit, _ := cached(f.v, tok); hit {
		t.Fatal("token cached before it was verified")
	}
	first, err := f.verify(t, tok)
	if err != nil {
		t.Fatal(err)
	}
	c, hit, err := cached(f.v, tok)
	if !hit || err != nil || c != first {
		t.Fatalf("cache.get = %p, %v, %v; want the verified claims %p", c, hit, err, first)
	}
	second, err := f.verify(t, tok)
	if err != nil || second != first {
		t.Fatalf("second VerifyAccessToken = %p, %v; want the cached %p", second, err, first)
	}
}

func TestCache_ExpiryIsRecheckedOnHit(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	tok := f.mint(t, map[string]any{"exp": f.clk.Now().Add(10 * time.Minute)})
	if _, err := f.verify(t, tok); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(10*time.Minute + DefaultClockSkew - time.Second) // still within the skew
	if _, hit, err := cached(f.v, tok); !hit || err != nil {
		t.Fatalf("within skew: hit=%v err=%v, want a hit", hit, err)
	}
	f.clk.Advance(time.Second)
	_, hit, err := cached(f.v, tok)
	if !hit || !errors.Is(err, ErrExpired) {
		t.Fatalf("past exp+skew: hit=%v err=%v, want ErrExpired from the cache", hit, err)
	}
	var te *TokenExpiredError
	if !errors.As(err, &te) || !te.Expiry.Equal(f.clk.Now().Add(-DefaultClockSkew)) {
		t.Fatalf("error %v is not a TokenExpiredError with the token's exp", err)
	}
	if n, _ := cacheStats(f.v); n != 0 {
		t.Fatalf("expired entry kept: %d entries", n)
	}
	if _, err := f.verify(t, tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("VerifyAccessToken = %v, want ErrExpired", err)
	}
}

func TestCache_NotBeforeIsRecheckedOnHit(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	tok := f.mint(t, map[string]any{"nbf": f.clk.Now()})
	if _, err := f.verify(t, tok); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(-time.Hour) // the clock stepped back
	if _, hit, err := cached(f.v, tok); !hit || !errors.Is(err, ErrNotYetValid) {
		t.Fatalf("hit=%v err=%v, want ErrNotYetValid from the cache", hit, err)
	}
}

func TestCache_EntryIsDroppedWhenItsKeyLeavesTheSet(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	tok := f.mint(t, nil)
	if _, err := f.verify(t, tok); err != nil {
		t.Fatal(err)
	}
	if _, hit, err := cached(f.v, tok); !hit || err != nil {
		t.Fatalf("hit=%v err=%v before rotation", hit, err)
	}

	f.withdrawKey(t)

	if _, hit, _ := cached(f.v, tok); hit {
		t.Fatal("cache served a token whose key left the key set")
	}
	if _, err := f.verify(t, tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("VerifyAccessToken = %v, want ErrUnknownKey", err)
	}
}

func TestCache_IsBoundedByMaxEntries(t *testing.T) {
	const maxEntries = 40
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, func(c *Config) { c.Cache.MaxEntries = maxEntries })
	for i := range 10 * maxEntries {
		if _, err := f.verify(t, f.mint(t, nil)); err != nil {
			t.Fatal(err)
		}
		if n, _ := cacheStats(f.v); n > maxEntries {
			t.Fatalf("after %d tokens the cache holds %d entries, bound %d", i+1, n, maxEntries)
		}
	}
	if n, _ := cacheStats(f.v); n < maxEntries/2 {
		t.Fatalf("cache holds %d entries; eviction is too eager", n)
	}
}

func TestCache_IsBoundedByMaxBytes(t *testing.T) {
	const maxBytes = 32 << 10
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, func(c *Config) { c.Cache.MaxBytes = maxBytes })
	pad := strings.Repeat("p", 1500)
	for i := range 200 {
		if _, err := f.verify(t, f.mint(t, map[string]any{"pad": pad})); err != nil {
			t.Fatal(err)
		}
		if n, b := cacheStats(f.v); b > maxBytes {
			t.Fatalf("after %d tokens the cache accounts %d bytes (%d entries), bound %d", i+1, b, n, maxBytes)
		}
	}
	if n, _ := cacheStats(f.v); n == 0 {
		t.Fatal("nothing cached")
	}
	// A token larger than a shard's share is verified but not cached.
	big := f.mint(t, map[string]any{"pad": strings.Repeat("p", maxBytes)})
	if _, err := f.verify(t, big); err != nil {
		t.Fatal(err)
	}
	if _, hit, _ := cached(f.v, big); hit {
		t.Fatal("token larger than the byte bound was cached")
	}
}

func TestCache_ClaimsCannotBeMutatedByCallers(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	tok := f.mint(t, map[string]any{"aud": []string{"api://default", "api://x"}}, grpcauthtest.WithScopes("a:read", "b:read"))
	c, err := f.verify(t, tok)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Scopes()
	s[0] = "admin"
	a := c.Audience()
	a[0] = "api://evil"
	raw, _ := c.Raw("scp")
	raw[0] = '{'
	names := c.Names()
	names[0] = "zzz"

	again, err := f.verify(t, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Scopes(); !slices.Equal(got, []string{"a:read", "b:read"}) || again.HasScope("admin") {
		t.Errorf("cached scopes changed: %q", got)
	}
	if got := again.Audience(); got[0] != "api://default" {
		t.Errorf("cached audience changed: %q", got)
	}
	if raw, _ := again.Raw("scp"); raw[0] != '[' {
		t.Errorf("cached raw claim changed: %s", raw)
	}
	if again.Names()[0] == "zzz" {
		t.Error("cached claim names changed")
	}
}

func TestCache_TokensNeverShareAnEntry(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	alice := f.mint(t, map[string]any{"sub": "alice"})
	bob := f.mint(t, map[string]any{"sub": "bob"})
	for range 3 {
		for tok, want := range map[string]string{alice: "alice", bob: "bob"} {
			c, err := f.verify(t, tok)
			if err != nil || c.Subject() != want {
				t.Fatalf("Subject() = %v, %v; want %q", c, err, want)
			}
		}
	}
	// A token differing from a cached one in one byte misses the cache and
	// fails full verification.
	i := strings.LastIndexByte(alice, '.') + 1
	forged := alice[:i] + string(flipB64(alice[i])) + alice[i+1:]
	if _, hit, _ := cached(f.v, forged); hit {
		t.Fatal("a one-byte variant of a cached token hit the cache")
	}
	if _, err := f.verify(t, forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("VerifyAccessToken(forged) = %v, want ErrBadSignature", err)
	}
	// The same claims with a different signature: the payload of alice
	// under bob's signature.
	pa, pb := strings.Split(alice, "."), strings.Split(bob, ".")
	if _, err := f.verify(t, pa[0]+"."+pa[1]+"."+pb[2]); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("spliced token = %v, want ErrBadSignature", err)
	}
}

func TestCache_FailuresAreNotCached(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	toks := []string{
		f.mint(t, map[string]any{"exp": f.clk.Now().Add(-time.Hour)}),
		f.mint(t, map[string]any{"iss": "https://evil.example"}),
		f.mint(t, nil, grpcauthtest.WithKidHeader("nope")),
	}
	for _, tok := range toks {
		if _, err := f.verify(t, tok); err == nil {
			t.Fatal("bad token accepted")
		}
	}
	if n, _ := cacheStats(f.v); n != 0 {
		t.Fatalf("%d failed verifications cached", n)
	}
}

func TestCache_DisabledVerifiesEveryTime(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.Cache.Disabled = true })
	if f.v.cache != nil {
		t.Fatal("cache allocated though disabled")
	}
	tok := f.mint(t, map[string]any{"exp": f.clk.Now().Add(5 * time.Minute)})
	a, err := f.verify(t, tok)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.verify(t, tok)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("disabled cache returned the same *Claims twice")
	}
	f.clk.Advance(10 * time.Minute)
	if _, err := f.verify(t, tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("VerifyAccessToken = %v, want ErrExpired", err)
	}
}

func TestCache_SmallBoundsUseFewerShards(t *testing.T) {
	c := newTokenCache(3, 1<<20)
	if len(c.shards)*c.maxEntries > 3 {
		t.Fatalf("%d shards × %d entries exceeds the bound 3", len(c.shards), c.maxEntries)
	}
}

func TestCache_CloseEmptiesIt(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	if _, err := f.v.VerifyAccessToken(context.Background(), f.mint(t, nil)); err != nil {
		t.Fatal(err)
	}
	_ = f.v.Close()
	if n, _ := cacheStats(f.v); n != 0 {
		t.Fatalf("%d entries after Close", n)
	}
}

// A verification that finishes after Close (it passed the closed check
// before Close ran) does not refill the emptied cache.
func TestCache_VerificationFinishingAfterCloseIsNotCached(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	tok := f.mint(t, nil)
	c, key, err := f.v.verify(context.Background(), tok, nil, kindAccess, "", "")
	if err != nil {
		t.Fatal(err)
	}
	_ = f.v.Close()
	f.v.cache.put(tok, c, key, f.v) // what VerifyAccessToken does next
	if n, _ := cacheStats(f.v); n != 0 {
		t.Fatalf("%d entries after a put that followed Close", n)
	}
}

// TestCache_FullShardReclaimsAnExpiredEntryBeforeEvictingAValidOne fills a
// one-shard cache with valid long-lived tokens and one token that has
// expired, unlooked-up since, and caches a new token: the expired entry
// makes the room, and every valid one stays. Repeated, as the entries a
// put looks at follow the map's random order.
func TestCache_FullShardReclaimsAnExpiredEntryBeforeEvictingAValidOne(t *testing.T) {
	const maxEntries = 10
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, func(c *Config) {
		c.Cache.MaxEntries = maxEntries
		c.Cache.MaxBytes = minShardBytes // one shard
	})
	if n := len(f.v.cache.shards); n != 1 {
		t.Fatalf("%d shards, want 1", n)
	}
	var valid []string
	for range maxEntries - 1 {
		tok := f.mint(t, map[string]any{"exp": f.clk.Now().Add(24 * time.Hour)})
		if _, err := f.verify(t, tok); err != nil {
			t.Fatal(err)
		}
		valid = append(valid, tok)
	}
	for round := range 20 {
		// From round 1 on the shard is full: the valid tokens and the
		// previous round's token, expired.
		short := f.mint(t, map[string]any{"exp": f.clk.Now().Add(time.Minute)})
		if _, err := f.verify(t, short); err != nil {
			t.Fatal(err)
		}
		for i, tok := range valid {
			if !f.v.cache.contains(tok) {
				t.Fatalf("round %d: valid token %d evicted while an expired entry was cached", round, i)
			}
		}
		if !f.v.cache.contains(short) {
			t.Fatalf("round %d: the new token was not cached", round)
		}
		f.clk.Advance(time.Minute + DefaultClockSkew)
	}
}

// TestCache_ShardSpreadsSignaturesOverEveryShard checks the shard choice
// (the last 8 bytes of a token, Fibonacci-hashed and scaled without a
// division) on base64url signature tails, for every shard count a cache
// can have: every shard is used, none gets more than twice its share, and
// a token shorter than 8 bytes (never cached, but looked up) picks a shard
// in range.
func TestCache_ShardSpreadsSignaturesOverEveryShard(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= maxCacheShards; n++ {
		c := newTokenCache(n, int64(n)*minShardBytes)
		if len(c.shards) != n {
			t.Fatalf("newTokenCache(%d, ...) has %d shards", n, len(c.shards))
		}
		const tokens = 16000
		counts := make(map[*cacheShard]int)
		for range tokens {
			tail := make([]byte, 43) // an RS256 signature's last 43 of 342 characters
			for i := range tail {
				tail[i] = alphabet[rng.IntN(len(alphabet))]
			}
			counts[c.shard("eyJhbGciOiJSUzI1NiJ9.e30."+string(tail))]++
		}
		for _, s := range []string{"", "a", "short"} {
			counts[c.shard(s)] += 0 // in range: indexing out of range would panic
		}
		if len(counts) != n {
			t.Errorf("%d shards: %d used", n, len(counts))
		}
		for sh, k := range counts {
			if k > 2*tokens/n {
				t.Errorf("%d shards: shard %p got %d of %d tokens", n, sh, k, tokens)
			}
		}
	}
}
