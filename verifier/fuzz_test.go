package verifier

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/jwxpanic/jwxpanictest"
)

// Seeds committed under testdata/fuzz/<FuzzName>/ add to the ones below.
// Run a fuzzer with, e.g.:
//
//	go test -run='^$' -fuzz='^FuzzVerifyAccessToken$' -fuzztime=20s ./verifier/

// fuzzSeeds returns valid and invalid tokens from f's issuer.
func fuzzSeeds(t testing.TB, f *fixture) []string {
	valid := f.mint(t, nil, grpcauthtest.WithScopes("items:read"))
	p := strings.Split(valid, ".")
	return []string{
		valid,
		f.mint(t, map[string]any{"aud": []string{"x", f.iss.Audience()}, "nbf": f.clk.Now()}),
		f.mint(t, map[string]any{"iss": "https://evil.example"}),
		f.mint(t, nil, grpcauthtest.WithKidHeader("")),
		f.mint(t, nil, grpcauthtest.Unsigned(), grpcauthtest.WithKidHeader(f.iss.KeyID())),
		f.mint(t, map[string]any{"exp": "soon"}),
		p[0] + "." + p[1],
		p[0] + "." + p[1] + ".",
		valid + ".x.y",
		"", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJSUzI1NiJ9.e30.AA", "eyJhbGciOiJFZDI1NTE5In0.e30.AA",
	}
}

// FuzzVerifyAccessToken feeds arbitrary strings to VerifyAccessToken: it must
// never panic, not even where the signature check recovers a panic into a
// refusal (jwxpanictest.FailOnRecovered), and whatever it accepts must have an allowed alg, a kid in
// the key set and the configured issuer.
func FuzzVerifyAccessToken(f *testing.F) {
	fx := newFixture(f, grpcauthtest.Config{}, nil)
	for _, s := range fuzzSeeds(f, fx) {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token string) {
		c, err := fx.v.VerifyAccessToken(ctx, token)
		if err != nil {
			jwxpanictest.FailOnRecovered(t, err)
			if !c.IsZero() {
				t.Fatal("claims returned with an error")
			}
			return
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token of %d parts", len(parts))
		}
		hb, err := base64.RawURLEncoding.Strict().DecodeString(parts[0])
		if err != nil {
			t.Fatalf("accepted a token with a bad header encoding: %v", err)
		}
		var h struct {
			Alg, Kid string
		}
		if err := json.Unmarshal(hb, &h); err != nil {
			t.Fatalf("accepted a token whose header is not JSON: %v", err)
		}
		if !slices.Contains(fx.v.s.Algorithms, h.Alg) {
			t.Fatalf("accepted alg %q", h.Alg)
		}
		if fx.v.set.Current(h.Kid) == nil {
			t.Fatalf("accepted kid %q that is not in the key set", h.Kid)
		}
		if c.Issuer() != fx.cfg.Issuer {
			t.Fatalf("accepted issuer %q", c.Issuer())
		}
	})
}

// FuzzTokenBitFlip changes one byte of a valid token: the result must never
// be accepted with claims other than the original's, nor make the
// signature check panic (a panic it recovers fails the target too).
func FuzzTokenBitFlip(f *testing.F) {
	// A flipped kid is unknown: without MaxKeyWaiters -1 the call would wait
	// up to MinRefreshInterval for the next permitted fetch (10 s, which the
	// fuzzing engine takes for a hung worker). Waiting is key_wait_test.go's
	// subject; this target checks what is accepted.
	fx := newFixture(f, grpcauthtest.Config{Algorithm: "ES256"}, func(c *Config) {
		c.Cache.Disabled = true
		c.MaxKeyWaiters = -1
	})
	valid := fx.mint(f, map[string]any{"sub": "alice"}, grpcauthtest.WithScopes("items:read"))
	orig, err := fx.verify(f, valid)
	if err != nil {
		f.Fatal(err)
	}
	for _, i := range []uint{0, 10, uint(strings.IndexByte(valid, '.')), uint(len(valid) / 2), uint(len(valid) - 1)} {
		f.Add(i, byte(1))
		f.Add(i, byte(0x20))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, i uint, x byte) {
		b := []byte(valid)
		b[i%uint(len(b))] ^= x
		c, err := fx.v.VerifyAccessToken(ctx, string(b))
		if err != nil {
			jwxpanictest.FailOnRecovered(t, err)
			return
		}
		if !sameClaims(c, orig) {
			t.Fatalf("flipping byte %d with %#x gave an accepted token with other claims", i%uint(len(b)), x)
		}
		if x != 0 {
			t.Logf("note: a changed token was accepted with identical claims (byte %d ^ %#x)", i%uint(len(b)), x)
		}
	})
}

func sameClaims(a, b Claims) bool {
	names := a.Names()
	if !slices.Equal(names, b.Names()) {
		return false
	}
	for _, n := range names {
		x, _ := a.Raw(n)
		y, _ := b.Raw(n)
		if !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}
