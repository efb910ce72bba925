package verifier

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// TestMulti_OversizedTokenIsRefusedBeforeAnyCacheIsProbed: a token longer
// than every issuer's MaxTokenSize is refused for its size before the
// MultiVerifier looks it up in any issuer's cache. Each lookup hashes the
// whole token, and grpc-go admits metadata up to 16 MiB by default, so
// probing first cost one pass over such a token per configured issuer.
// No verification caches such a token, so the order is observed here with
// one put into an issuer's cache directly: probed first, it would be
// served from there.
func TestMulti_OversizedTokenIsRefusedBeforeAnyCacheIsProbed(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.MaxTokenSize = 4 << 10 })
	m, err := NewMulti(context.Background(), f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	v := m.list[0]
	ctx := context.Background()
	tok := f.mint(t, nil)
	c, key, err := v.verify(ctx, tok, nil, kindAccess, "", "")
	if err != nil {
		t.Fatal(err)
	}
	oversized := tok + strings.Repeat("A", m.maxSize)
	v.cache.put(oversized, c, key, v)
	if !v.cache.contains(oversized) {
		t.Fatal("the oversized token was not cached")
	}
	if claims, err := m.VerifyAccessToken(ctx, oversized); !errors.Is(err, ErrMalformed) {
		t.Fatalf("VerifyAccessToken of a token over every MaxTokenSize: %v, %v; want ErrMalformed", claims, err)
	}
	if _, err := m.VerifyIDToken(ctx, oversized, "app", ""); !errors.Is(err, ErrMalformed) {
		t.Fatalf("VerifyIDToken of a token over every MaxTokenSize: %v; want ErrMalformed", err)
	}
	if st := m.Stats(); st.Malformed != 2 || st.Issuers[0].Malformed != 0 {
		t.Fatalf("MultiStats.Malformed %d, the issuer's %d; want 2 and 0", st.Malformed, st.Issuers[0].Malformed)
	}
}

// TestMulti_EachIssuerAppliesItsOwnMaxTokenSize: with issuers of different
// MaxTokenSize, the MultiVerifier refuses only what is over the largest;
// a token under that goes to the issuer its iss names, which applies its
// own limit, inclusive: a token of exactly an issuer's MaxTokenSize is
// verified (and then served from the cache), one a byte over the smaller
// limit is refused by that issuer and counts in its Stats.Malformed, not
// in MultiStats.Malformed, though the other issuer would take its size.
func TestMulti_EachIssuerAppliesItsOwnMaxTokenSize(t *testing.T) {
	a := newFixture(t, grpcauthtest.Config{Path: "/a"}, nil)
	b := newFixture(t, grpcauthtest.Config{Path: "/b"}, nil)
	pad := map[string]any{"pad": strings.Repeat("x", 3000)}
	ta, tb := a.mint(t, pad), b.mint(t, pad)
	ca, cb := a.cfg, b.cfg
	ca.MaxTokenSize = len(ta) - 1 // A's own token is a byte too long for A
	cb.MaxTokenSize = len(tb)     // B's, exactly as long as B takes
	if len(ta) > cb.MaxTokenSize {
		t.Fatalf("A's token (%d bytes) is over B's MaxTokenSize (%d) too", len(ta), cb.MaxTokenSize)
	}
	m, err := NewMulti(context.Background(), ca, cb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ctx := context.Background()
	for _, what := range []string{"verified", "from the cache"} {
		if _, err := m.VerifyAccessToken(ctx, tb); err != nil {
			t.Fatalf("B's token of exactly B's MaxTokenSize, %s: %v", what, err)
		}
	}
	if _, err := m.VerifyAccessToken(ctx, ta); !errors.Is(err, errTooLarge) {
		t.Fatalf("A's token a byte over A's MaxTokenSize, under B's: %v; want %v", err, errTooLarge)
	}
	if _, err := m.VerifyAccessToken(ctx, tb+"A"); !errors.Is(err, errTooLarge) {
		t.Fatalf("a token a byte over every MaxTokenSize: %v; want %v", err, errTooLarge)
	}
	st := m.Stats()
	if st.Malformed != 1 || st.Issuers[0].Malformed != 1 || st.Issuers[1].Malformed != 0 || st.Issuers[1].CacheHits != 1 {
		t.Fatalf("Malformed: multi %d, A %d, B %d; B's cache hits %d; want 1, 1, 0; 1",
			st.Malformed, st.Issuers[0].Malformed, st.Issuers[1].Malformed, st.Issuers[1].CacheHits)
	}
}
