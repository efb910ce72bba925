package verifier

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// BenchmarkRatios measures each ratio the verifier promises against its
// baseline by alternating the two in every iteration, in batches, so that
// load from other programs on the machine hits both alike (the separate
// sub-benchmarks of BenchmarkVerify run seconds apart). Run with:
//
//	go test -run='^$' -bench=BenchmarkRatios -count=3 ./verifier/
//
// Metrics: x-baseline (cold verification, cache off, against the bare
// signature check on the same token), x-map (cache hit against a plain map
// lookup of the same token string, batches of 1,000; cached/ with one token
// in the cache and the map, cached-256/ with 256 in each, see
// hitAgainstLookup), x-map+clock (the hit against that lookup plus one
// time.Now: the floor of a cache that reads time.Now on every hit, as this
// one did before its hit clock), x-cold (a rejection against a cold RS256
// verification, batches of 20 rejections).
// Every timed call's result is checked, the baselines' included, and each
// rejection's reason is checked once before its timing (which also keeps
// the unknown kid's one key-set fetch out of it).
func BenchmarkRatios(b *testing.B) {
	ctx := context.Background()
	for _, alg := range benchAlgs {
		f := benchFixture(b, alg, func(c *Config) { c.Cache.Disabled = true })
		tok := f.mint(b, oktaClaims(f.clk.Now()))
		check := signatureBaseline(b, f, tok)
		b.Run("cold/"+alg, func(b *testing.B) {
			var base, cold time.Duration
			for b.Loop() {
				base += timed(1, func() {
					if err := check(); err != nil {
						b.Fatal(err)
					}
				})
				cold += timed(1, func() {
					if _, err := f.v.VerifyAccessToken(ctx, tok); err != nil {
						b.Fatal(err)
					}
				})
			}
			b.ReportMetric(float64(cold)/float64(base), "x-baseline")
		})
	}

	f := benchFixture(b, "RS256", nil)
	tok := f.mint(b, oktaClaims(f.clk.Now()))
	if _, err := f.v.VerifyAccessToken(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.Run("cached/RS256", func(b *testing.B) {
		hitAgainstLookup(b, f.v, tok, []string{tok})
	})
	// Go's map compares a long key without hashing it while the map holds
	// 8 entries or fewer, and hashes it on every lookup beyond that. With
	// one token cached, cached/RS256 times that small-map path on both
	// sides, which a cache holding more than about a hundred tokens (16
	// shards) no longer takes; cached-256 times both sides holding 256
	// tokens, tok's shard more than 8 of them.
	many := []string{tok}
	jti := oktaClaims(f.clk.Now())["jti"].(string)
	for i := 1; len(many) < 256 || sharing(f.v.cache, tok) <= 8; i++ {
		c, id := oktaClaims(f.clk.Now()), fmt.Sprintf("%04d", i)
		c["jti"] = jti[:len(jti)-len(id)] + id // same length, another token
		t := f.mint(b, c)
		if _, err := f.v.VerifyAccessToken(ctx, t); err != nil {
			b.Fatal(err)
		}
		many = append(many, t)
	}
	b.Run("cached-256/RS256", func(b *testing.B) {
		hitAgainstLookup(b, f.v, tok, many)
	})

	coldV := newVerifier(b, func() Config { c := f.cfg; c.Cache.Disabled = true; return c }())
	if _, err := coldV.VerifyAccessToken(ctx, tok); err != nil { // loads its key set before the timing
		b.Fatal(err)
	}
	for _, r := range ratioRejections(b, f) {
		b.Run("reject/"+r.name, func(b *testing.B) {
			if _, err := f.v.VerifyAccessToken(ctx, r.token); !errors.Is(err, r.want) {
				b.Fatalf("got %v, want %v", err, r.want)
			}
			var cold, reject time.Duration
			for b.Loop() {
				cold += timed(1, func() {
					if _, err := coldV.VerifyAccessToken(ctx, tok); err != nil {
						b.Fatal(err)
					}
				})
				reject += timed(20, func() {
					if _, err := f.v.VerifyAccessToken(ctx, r.token); err == nil {
						b.Fatal("accepted")
					}
				}) / 20
			}
			b.ReportMetric(float64(reject)/float64(cold), "x-cold")
		})
	}
}

// hitAgainstLookup times v's cache hit on tok against a plain map lookup of
// tok in a map whose keys are copies of cached (tok among them), alternated
// in batches of 1,000, and reports x-map and x-map+clock.
func hitAgainstLookup(b *testing.B, v *Verifier, tok string, cached []string) {
	ctx := context.Background()
	m := make(map[string]*claimSet, len(cached))
	for _, t := range cached {
		m[string([]byte(t))] = &claimSet{}
	}
	var lookup, lookupNow, hit time.Duration
	var miss bool
	var now time.Time
	for b.Loop() {
		lookup += timed(1000, func() { miss = miss || m[tok] == nil })
		lookupNow += timed(1000, func() { miss, now = miss || m[tok] == nil, time.Now() })
		hit += timed(1000, func() {
			if _, err := v.VerifyAccessToken(ctx, tok); err != nil {
				b.Fatal(err)
			}
		})
	}
	if miss || now.IsZero() {
		b.Fatal("map miss")
	}
	b.ReportMetric(float64(hit)/float64(lookup), "x-map")
	b.ReportMetric(float64(hit)/float64(lookupNow), "x-map+clock")
}

// sharing is the number of tokens in token's cache shard.
func sharing(c *tokenCache, token string) int {
	sh := c.shard(token)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return len(sh.m)
}

// timed runs fn n times and returns the time taken.
func timed(n int, fn func()) time.Duration {
	start := time.Now()
	for range n {
		fn()
	}
	return time.Since(start)
}

// BenchmarkHitFloor times the two parts of a cache hit that reads time.Now
// on every hit: one time.Now, and a map lookup of the ~930-byte Okta-shaped
// token string in a map of one entry, which Go compares without hashing it
// (docs/verifier.md, Benchmarks):
//
//	go test -run='^$' -bench=BenchmarkHitFloor -count=3 ./verifier/
func BenchmarkHitFloor(b *testing.B) {
	f := benchFixture(b, "RS256", nil)
	tok := f.mint(b, oktaClaims(f.clk.Now()))
	b.Run("time.Now", func(b *testing.B) {
		var now time.Time
		for b.Loop() {
			now = time.Now()
		}
		if now.IsZero() {
			b.Fatal("no reading")
		}
	})
	b.Run("map-lookup", func(b *testing.B) {
		m := map[string]*claimSet{string([]byte(tok)): {}}
		for b.Loop() {
			if m[tok] == nil {
				b.Fatal("miss")
			}
		}
	})
}

// ratioRejection is a token BenchmarkRatios rejects and the error it must
// be rejected with.
type ratioRejection struct {
	name, token string
	want        error
}

// ratioRejections are the tokens BenchmarkRatios rejects: the Okta-shaped
// claims of the cold token it compares them with, one of them wrong, so a
// rejection decodes as much as the verification it is measured against.
func ratioRejections(t testing.TB, f *fixture) []ratioRejection {
	t.Helper()
	with := func(k string, v any) map[string]any {
		c := oktaClaims(f.clk.Now())
		c[k] = v
		return c
	}
	return []ratioRejection{
		{"wrong-issuer", f.mint(t, with("iss", "https://evil.example")), ErrIssuer},
		{"expired", f.mint(t, with("exp", f.clk.Now().Add(-time.Hour))), ErrExpired},
		{"unknown-kid", f.mint(t, oktaClaims(f.clk.Now()), grpcauthtest.WithKidHeader("unknown-kid")), ErrUnknownKey},
	}
}

// TestBenchmarkRatios_RejectionsAreTheColdTokensSize checks that each token
// BenchmarkRatios rejects is within 5 % of the size of the cold token its
// cost is divided by, so the x-cold ratio compares tokens of one shape.
func TestBenchmarkRatios_RejectionsAreTheColdTokensSize(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{Algorithm: "RS256"}, nil)
	cold := len(f.mint(t, oktaClaims(f.clk.Now())))
	for _, r := range ratioRejections(t, f) {
		if d := len(r.token) - cold; d*20 > cold || -d*20 > cold {
			t.Errorf("%s token is %d bytes, the cold token %d", r.name, len(r.token), cold)
		}
	}
}

// TestBenchmarkRatios_RejectionsFailForTheirReason checks that each token
// BenchmarkRatios rejects is refused with the error its row is named for
// (the benchmark checks it too, but only when benchmarks run).
func TestBenchmarkRatios_RejectionsFailForTheirReason(t *testing.T) {
	// MaxKeyWaiters -1: the unknown kid is refused at once rather than
	// waiting for the next key-set fetch the rate limit allows.
	f := newFixture(t, grpcauthtest.Config{Algorithm: "RS256"}, func(c *Config) { c.MaxKeyWaiters = -1 })
	for _, r := range ratioRejections(t, f) {
		if _, err := f.verify(t, r.token); !errors.Is(err, r.want) {
			t.Errorf("%s: got %v, want %v", r.name, err, r.want)
		}
	}
}
