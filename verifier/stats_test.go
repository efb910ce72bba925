package verifier

import (
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

func TestStats_CountsCacheHitsMissesAndKeyFetches(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	if st := f.v.Stats(); st.Issuer != f.iss.URL() || st.CacheHits != 0 || st.CacheMisses != 0 || st.CacheEntries != 0 {
		t.Fatalf("fresh Stats = %+v, want the issuer and no cache activity", st)
	}
	a, b := f.mint(t, map[string]any{"sub": "a"}), f.mint(t, map[string]any{"sub": "b"})
	for _, tok := range []string{a, a, a, b, b} {
		if _, err := f.verify(t, tok); err != nil {
			t.Fatal(err)
		}
	}
	st := f.v.Stats()
	if st.CacheHits != 3 || st.CacheMisses != 2 || st.CacheEntries != 2 || st.CacheBytes <= 0 {
		t.Errorf("cache Stats = hits %d misses %d entries %d bytes %d; want 3, 2, 2, >0",
			st.CacheHits, st.CacheMisses, st.CacheEntries, st.CacheBytes)
	}
	if st.KeyFetches != 1 || st.KeyFetchFailures != 0 || st.Keys != 1 || !st.KeysFetched.Equal(f.clk.Now()) ||
		!st.LastFetchFailure.IsZero() {
		t.Errorf("key Stats = %+v, want one successful fetch at %v", st, f.clk.Now())
	}

	// A failed verification is a miss and is not cached.
	if _, err := f.verify(t, a[:len(a)-2]+"AA"); err == nil {
		t.Fatal("a token with a changed signature verified")
	}
	if st := f.v.Stats(); st.CacheMisses != 3 || st.CacheEntries != 2 {
		t.Errorf("after a forgery: misses %d entries %d; want 3, 2", st.CacheMisses, st.CacheEntries)
	}
}

func TestStats_CountsKeyFetchFailures(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.MinRefreshInterval = time.Second })
	if _, err := f.verify(t, f.mint(t, nil)); err != nil {
		t.Fatal(err)
	}
	f.iss.Close()
	// An unknown kid forces a refresh, which fails: the issuer is gone.
	f.clk.Advance(2 * time.Second)
	if _, err := f.verify(t, f.mint(t, nil, grpcauthtest.WithKidHeader("rotated"))); err == nil {
		t.Fatal("a token with an unknown kid verified")
	}
	st := f.v.Stats()
	if st.KeyFetches < 2 || st.KeyFetchFailures < 1 || !st.LastFetchFailure.Equal(f.clk.Now()) || st.Keys != 1 {
		t.Errorf("Stats = %+v, want a second fetch that failed at %v and the key kept", st, f.clk.Now())
	}
}

func TestStats_DisabledCacheCountsNothing(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.Cache.Disabled = true })
	tok := f.mint(t, nil)
	for range 3 {
		if _, err := f.verify(t, tok); err != nil {
			t.Fatal(err)
		}
	}
	if st := f.v.Stats(); st.CacheHits != 0 || st.CacheMisses != 0 || st.CacheEntries != 0 || st.KeyFetches != 1 {
		t.Errorf("Stats = %+v, want no cache figures and one fetch", st)
	}
}
