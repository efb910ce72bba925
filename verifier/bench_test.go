package verifier

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// Run with:
//
//	go test -run='^$' -bench=. -benchmem ./verifier/
//
// BenchmarkVerify/<alg>/baseline is the bare signature check on the same
// token (jws.NewVerifier(alg).Verify with the raw public key, the signature
// decoded outside the loop): the crypto floor. BenchmarkVerify/<alg>
// (cache disabled) reports x-baseline, its time divided by the baseline's
// from the same run; /cached is the verified-token cache's hit path, and
// reports x-map, its time divided by /map-baseline's, a plain map lookup of
// the same token string. The rejections report x-cold, their time divided
// by the cold RS256 verification's.

var benchAlgs = []string{"RS256", "ES256", "EdDSA"}

// benchFixture starts an issuer of alg and a ready verifier for it.
//
// The verifier reads the production clock (Config.Now nil: time.Now), as
// a server's would: a test clock behind a mutex costs differently, and the
// cache hit reads the clock. The fixture's clock, which mints the tokens,
// starts at the real time.
func benchFixture(b *testing.B, alg string, mutate func(*Config)) *fixture {
	b.Helper()
	f := newFixture(b, grpcauthtest.Config{Algorithm: alg}, func(c *Config) {
		c.Now = nil
		if mutate != nil {
			mutate(c)
		}
	})
	f.clk.Advance(time.Until(f.clk.Now()) * -1)
	if err := f.v.Ready(context.Background()); err != nil {
		b.Fatal(err)
	}
	return f
}

// signatureBaseline returns the bare jwx signature check of token.
func signatureBaseline(b *testing.B, f *fixture, token string) func() error {
	b.Helper()
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	input := []byte(token[:i])
	ver, err := jws.NewVerifier(jwa.SignatureAlgorithm(f.iss.Algorithm()))
	if err != nil {
		b.Fatal(err)
	}
	pub := f.iss.PublicKey(f.iss.KeyID())
	return func() error { return ver.Verify(input, sig, pub) }
}

func nsPerOp(b *testing.B) float64 { return float64(b.Elapsed().Nanoseconds()) / float64(b.N) }

func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	var coldRS256 float64
	for _, alg := range benchAlgs {
		cold := benchFixture(b, alg, func(c *Config) { c.Cache.Disabled = true })
		warm := &fixture{clk: cold.clk, iss: cold.iss, cfg: cold.cfg}
		warm.cfg.Cache.Disabled = false
		warm.v = newVerifier(b, warm.cfg)
		tok := cold.mint(b, nil, grpcauthtest.WithScopes("items:read", "items:write"))
		check := signatureBaseline(b, cold, tok)

		var baseNs float64
		b.Run(alg+"/baseline", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := check(); err != nil {
					b.Fatal(err)
				}
			}
			baseNs = nsPerOp(b)
		})
		// loop times v on tok and reports the ratio to the baseline.
		loop := func(b *testing.B, v *Verifier) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.VerifyAccessToken(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
			if baseNs > 0 {
				b.ReportMetric(nsPerOp(b)/baseNs, "x-baseline")
			}
		}
		b.Run(alg, func(b *testing.B) {
			loop(b, cold.v)
			if alg == "RS256" {
				coldRS256 = nsPerOp(b)
			}
		})
		var mapNs float64
		b.Run(alg+"/map-baseline", func(b *testing.B) {
			m := map[string]*claimSet{string([]byte(tok)): {}}
			key := string([]byte(tok)) // not the map's own string
			b.ReportAllocs()
			for b.Loop() {
				if m[key] == nil {
					b.Fatal("miss")
				}
			}
			mapNs = nsPerOp(b)
		})
		b.Run(alg+"/cached", func(b *testing.B) {
			if _, err := warm.v.VerifyAccessToken(ctx, tok); err != nil { // fill the cache
				b.Fatal(err)
			}
			loop(b, warm.v)
			if mapNs > 0 {
				b.ReportMetric(nsPerOp(b)/mapNs, "x-map")
			}
		})
		b.Run(alg+"/cached-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := warm.v.VerifyAccessToken(ctx, tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}

	// Rejections, cheapest first; the cache is on, as in production, and
	// must not help a forger.
	f := benchFixture(b, "RS256", nil)
	rejections := []struct {
		name  string
		token string
		want  error
	}{
		{"garbage", "not-a-token", ErrMalformed},
		{"alg-none", f.mint(b, nil, grpcauthtest.Unsigned(), grpcauthtest.WithKidHeader(f.iss.KeyID())), ErrAlgorithm},
		{"wrong-issuer", f.mint(b, map[string]any{"iss": "https://evil.example"}), ErrIssuer},
		{"expired", f.mint(b, map[string]any{"exp": f.clk.Now().Add(-time.Hour)}), ErrExpired},
		{"unknown-kid", f.mint(b, nil, grpcauthtest.WithKidHeader("unknown-kid")), ErrUnknownKey},
		{"bad-signature", flipSignatureLowBit(b, f.mint(b, nil)), ErrBadSignature},
	}
	for _, r := range rejections {
		b.Run("reject/"+r.name, func(b *testing.B) {
			// The reason is checked once, outside the timing; the key-set
			// fetch an unknown kid causes still counts in jwks-fetches.
			fetches := f.iss.JWKSRequests()
			if _, err := f.v.VerifyAccessToken(ctx, r.token); !errors.Is(err, r.want) {
				b.Fatalf("got %v, want %v", err, r.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.v.VerifyAccessToken(ctx, r.token); err == nil {
					b.Fatal("accepted")
				}
			}
			b.ReportMetric(float64(f.iss.JWKSRequests()-fetches), "jwks-fetches")
			if coldRS256 > 0 {
				b.ReportMetric(nsPerOp(b)/coldRS256, "x-cold")
			}
		})
	}
}

// flipSignatureLowBit returns token with the lowest bit of its decoded
// signature flipped. For RS256 the value stays below the key's modulus (the
// valid one is, and the modulus is odd), so the rejection costs a whole RSA
// check; a signature changed in its first bytes can be at least the modulus,
// and crypto/rsa then rejects it at a range check for a fraction of the cost.
func flipSignatureLowBit(b *testing.B, token string) string {
	b.Helper()
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	sig[len(sig)-1] ^= 1
	return token[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// BenchmarkJWXStrategies compares, on one RS256 token, the ways jwx v2 can
// check a signature: the low-level jws.Verifier the verifier uses (with the
// verifier's own parsing and checks), jws.Verify on the compact token, and
// jwt.Parse with validation. It is the measurement behind using the
// primitive (see docs/verifier.md and docs/benchmarks.md).
func BenchmarkJWXStrategies(b *testing.B) {
	ctx := context.Background()
	for _, alg := range benchAlgs {
		f := benchFixture(b, alg, func(c *Config) { c.Cache.Disabled = true })
		tok := f.mint(b, nil)
		pub := f.iss.PublicKey(f.iss.KeyID())
		key, err := jwk.FromRaw(pub)
		if err != nil {
			b.Fatal(err)
		}
		_ = key.Set(jwk.KeyIDKey, f.iss.KeyID())
		_ = key.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(alg))
		set := jwk.NewSet()
		_ = set.AddKey(key)
		now := f.clk.Now()

		b.Run(alg+"/verifier", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.v.VerifyAccessToken(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/jws.Verify", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jws.Verify([]byte(tok), jws.WithKeySet(set)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/jwt.Parse", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set), jwt.WithValidate(true),
					jwt.WithIssuer(f.iss.URL()), jwt.WithAudience(f.iss.Audience()),
					jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })))
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCacheFlood verifies 100,000 distinct valid tokens through a
// default-sized cache and reports the heap growth while doing so (peak-heap:
// sampled HeapAlloc, including garbage not yet collected; peak-live: after a
// collection every 10,000 tokens), the heap the cache retains afterwards and
// its final entry count and accounted size: a flood of tokens cannot grow
// memory past the cache's bounds. The 100,000 tokens themselves (~65 MB)
// are allocated before the base measurement.
func BenchmarkCacheFlood(b *testing.B) {
	const n = 100_000
	f := benchFixture(b, "EdDSA", nil)
	toks := make([]string, n)
	for i := range toks {
		toks[i] = f.mint(b, nil, grpcauthtest.WithScopes("items:read"))
	}
	ctx := context.Background()
	var ms runtime.MemStats
	for b.Loop() {
		b.StopTimer()
		v := newVerifier(b, f.cfg)
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base, peak, peakLive := ms.HeapAlloc, ms.HeapAlloc, ms.HeapAlloc
		b.StartTimer()
		for i, tok := range toks {
			if _, err := v.VerifyAccessToken(ctx, tok); err != nil {
				b.Fatal(err)
			}
			if i%2000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
			if i%10000 == 9999 { // live heap: after a collection
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&ms)
				peakLive = max(peakLive, ms.HeapAlloc)
				b.StartTimer()
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		entries, bytes := v.cache.stats()
		b.ReportMetric(float64(peak-base)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(peakLive-base)/(1<<20), "peak-live-MB")
		b.ReportMetric(float64(int64(ms.HeapAlloc)-int64(base))/(1<<20), "retained-MB")
		b.ReportMetric(float64(bytes)/(1<<20), "accounted-MB")
		b.ReportMetric(float64(entries), "entries")
		_ = v.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/token")
}

// TestVerify_RejectionsReuseNoAcceptedMemory checks that later rejected
// tokens of the same size never change an accepted token's Claims.
//
// Its setup needs every unknown kid refused at once: a lookup that waited
// for the rate limit would wait MinRefreshInterval (10 s) in real time, and
// 50 of them would hang the test for minutes. So the test fails at once
// when the valid token is refused (the key set did not load) or a refusal
// waited (KeyMissWaits), and all its verifications share one deadline,
// which bounds it whatever else keeps them waiting.
func TestVerify_RejectionsReuseNoAcceptedMemory(t *testing.T) {
	// MaxKeyWaiters -1: the 50 distinct unknown kids below would otherwise
	// each wait for the next key-set fetch the rate limit allows.
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.Cache.Disabled = true; c.MaxKeyWaiters = -1 })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	verify := func(what, token string) (Claims, error) {
		t.Helper()
		c, err := f.v.VerifyAccessToken(ctx, token)
		if ctx.Err() != nil {
			t.Fatalf("%s: the test's verifications outlived their shared deadline (%v): something waited", what, err)
		}
		return c, err
	}
	good := f.mint(t, map[string]any{"sub": "alice-000", "jti": "jti-000"}, grpcauthtest.WithScopes("items:read"))
	c, err := verify("valid token", good)
	if err != nil {
		t.Fatalf("setup: valid token: %v (did the key set load?)", err)
	}
	wrongIss := f.iss.URL()[:len(f.iss.URL())-1] + "X" // same length
	for i := range 50 {
		n := fmt.Sprintf("%03d", i+1)
		for _, r := range []struct {
			token string
			want  error
		}{
			{f.mint(t, map[string]any{"iss": wrongIss, "sub": "bobby-" + n, "jti": "xxx-" + n}, grpcauthtest.WithScopes("items:wipe")), ErrIssuer},
			{f.mint(t, map[string]any{"sub": "bobby-" + n, "jti": "xxx-" + n}, grpcauthtest.WithScopes("items:wipe"), grpcauthtest.WithKidHeader("kid-"+n)), ErrUnknownKey},
		} {
			if _, err := verify(fmt.Sprintf("token %d", i), r.token); !errors.Is(err, r.want) {
				t.Fatalf("token %d: got %v, want %v", i, err, r.want)
			}
		}
		if w := f.v.Stats().KeyMissWaits; w != 0 {
			t.Fatalf("setup: %d unknown-kid refusals waited for the rate limit; MaxKeyWaiters -1 refuses them at once", w)
		}
	}
	if c.Subject() != "alice-000" || c.ID() != "jti-000" || c.Issuer() != f.iss.URL() ||
		!slices.Equal(c.Audience(), []string{f.iss.Audience()}) || !slices.Equal(c.Scopes(), []string{"items:read"}) {
		t.Errorf("accepted claims changed: sub %q jti %q iss %q aud %q scopes %q", c.Subject(), c.ID(), c.Issuer(), c.Audience(), c.Scopes())
	}
}
