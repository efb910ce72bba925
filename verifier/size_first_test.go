package verifier

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// TestVerify_OversizedTokenIsRefusedBeforeTheCacheIsLookedUp: a lone
// Verifier refuses an empty token, or one longer than its MaxTokenSize,
// for its size before looking it up in its verified-token cache. A lookup
// hashes the whole token, and grpc-go admits metadata up to 16 MiB by
// default, so looking first cost a pass over such a token. No verification
// caches such a token, so the order is observed with ones put into the
// cache directly: looked up first, they would be served from there.
func TestVerify_OversizedTokenIsRefusedBeforeTheCacheIsLookedUp(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.MaxTokenSize = 4 << 10 })
	tok := f.mint(t, nil)
	bad := []string{tok + strings.Repeat("A", f.v.s.MaxTokenSize), ""}
	cacheVerifiedAs(t, f.v, tok, bad...)
	for _, b := range bad {
		if claims, err := f.v.VerifyAccessToken(t.Context(), b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("VerifyAccessToken of a %d-byte token: %v, %v; want ErrMalformed", len(b), claims, err)
		}
		if _, err := f.v.VerifyIDToken(t.Context(), b, "app", ""); !errors.Is(err, ErrMalformed) {
			t.Fatalf("VerifyIDToken of a %d-byte token: %v; want ErrMalformed", len(b), err)
		}
	}
	if st := f.v.Stats(); st.CacheHits != 0 || st.CacheMisses != 0 || st.Malformed != 4 {
		t.Fatalf("Stats: %d hits, %d misses, %d malformed; want 0, 0 and 4", st.CacheHits, st.CacheMisses, st.Malformed)
	}
}

// cacheVerifiedAs verifies tok with v and puts the result in v's cache
// under each of names, as if each had verified.
func cacheVerifiedAs(t *testing.T, v *Verifier, tok string, names ...string) {
	t.Helper()
	c, key, err := v.verify(context.Background(), tok, nil, kindAccess, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if v.cache.put(name, c, key, v); !v.cache.contains(name) {
			t.Fatalf("the %d-byte token was not cached", len(name))
		}
	}
}
