package verifier

import (
	"reflect"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier/internal/jwks"
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

func TestStats_KeyFieldsComeFromTheirKeySetCounters(t *testing.T) {
	ks := jwks.Stats{
		Fetches: 1, Failures: 2, LastSuccess: time.Unix(3, 0), LastFailure: time.Unix(4, 0), Keys: 5,
		SkippedKeys: 6, Discoveries: 7, URLChanges: 8, MissFetches: 9, MissesLimited: 10, MissWaits: 11,
	}
	want := Stats{
		KeyFetches: 1, KeyFetchFailures: 2, KeysFetched: time.Unix(3, 0), LastFetchFailure: time.Unix(4, 0), Keys: 5,
		SkippedKeys: 6, Discoveries: 7, JWKSURLChanges: 8, KeyMissFetches: 9, KeyMissesLimited: 10, KeyMissWaits: 11,
	}
	if got := keyStats(ks); got != want {
		t.Fatalf("keyStats(%+v)\n = %+v\nwant %+v", ks, got, want)
	}
	// Every counter of the key set reaches Stats, including any added later.
	typ := reflect.TypeFor[jwks.Stats]()
	for i := range typ.NumField() {
		var one jwks.Stats
		f := reflect.ValueOf(&one).Elem().Field(i)
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(1)
		case reflect.Struct:
			f.Set(reflect.ValueOf(time.Unix(1, 0)))
		default:
			t.Fatalf("jwks.Stats.%s has kind %v; teach this test about it", typ.Field(i).Name, f.Kind())
		}
		if keyStats(one) == (Stats{}) {
			t.Errorf("jwks.Stats.%s does not reach verifier.Stats", typ.Field(i).Name)
		}
	}
}
