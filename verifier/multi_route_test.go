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
