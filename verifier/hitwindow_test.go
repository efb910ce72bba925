package verifier

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier/internal/jwks"
)

// TestCache_HitWindowAgreesWithCheckTime checks the window a cache entry
// keeps for its hit clock against checkTime, the full verification's and
// the exact hit path's decision: at every instant the window contains,
// checkTime accepts the token, and where neither the instant nor a bound
// is clamped to the int64 range (years 1678-2262) and the instant is not
// before the entry was stored (the window starts no earlier), the two
// agree. Times run
// from NumericDate's 0 to its year-9999 bound, with and without nbf and iat,
// with no skew, 1 ns, the default and the most New accepts.
func TestCache_HitWindowAgreesWithCheckTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dates := []time.Time{
		time.Unix(0, 0), time.Unix(1, 500), time.Unix(1_800_000_000, 0), time.Unix(1_800_000_000, 999_999_999),
		time.Unix(0, math.MaxInt64), time.Unix(0, math.MaxInt64).Add(-time.Hour), time.Unix(253402300799, 0),
	}
	date := func() time.Time {
		if rng.IntN(2) == 0 {
			return dates[rng.IntN(len(dates))]
		}
		return time.Unix(rng.Int64N(253402300799), rng.Int64N(1e9))
	}
	for _, skew := range []time.Duration{-1, time.Nanosecond, DefaultClockSkew, time.Hour} {
		f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.ClockSkew = skew })
		v := f.v
		key := &jwks.Key{ID: "k"}
		stored := unixNano(f.clk.Now())
		for i := range 2000 {
			c := &claimSet{expiry: date()}
			if rng.IntN(2) == 0 {
				c.notBefore = date()
			}
			if rng.IntN(2) == 0 {
				c.issuedAt = date()
			}
			tok := "token" + strconv.Itoa(i)
			v.cache.put(tok, c, key, v)
			sh := v.cache.shard(tok)
			e := sh.m[tok]
			if e == nil {
				t.Fatal("not cached")
			}
			for _, n := range []int64{e.from - 1, e.from, e.until - 1, e.until, rng.Int64(), -rng.Int64(), 0, math.MinInt64, math.MaxInt64} {
				now := time.Unix(0, n)
				inWindow := e.from <= n && n < e.until
				ok := v.checkCachedTime(c, now) == nil
				if inWindow && !ok {
					t.Fatalf("skew %v, exp %v nbf %v iat %v: window [%d, %d) serves %v, checkTime refuses it", skew, c.expiry, c.notBefore, c.issuedAt, e.from, e.until, now)
				}
				if e.from < stored {
					t.Fatalf("window [%d, %d) starts before the entry was stored (%d)", e.from, e.until, stored)
				}
				exact := n >= stored && e.until != math.MaxInt64 && n != math.MaxInt64
				if exact && ok && !inWindow {
					t.Fatalf("skew %v, exp %v nbf %v iat %v: checkTime accepts %v, window [%d, %d) does not", skew, c.expiry, c.notBefore, c.issuedAt, now, e.from, e.until)
				}
			}
			sh.remove(tok, e)
		}
	}
}
