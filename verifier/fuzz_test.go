package verifier

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
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
		"", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJSUzI1NiJ9.e30.AA",
	}
}

// FuzzVerifyAccessToken feeds arbitrary strings to VerifyAccessToken: it must
// never panic, and whatever it accepts must have an allowed alg, a kid in
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
			if !c.IsZero() {
				t.Fatal("claims returned with an error")
			}
			return
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token of %d parts", len(parts))
		}
		hb, err := b64.DecodeString(parts[0])
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
// be accepted with claims other than the original's.
func FuzzTokenBitFlip(f *testing.F) {
	fx := newFixture(f, grpcauthtest.Config{Algorithm: "ES256"}, func(c *Config) { c.Cache.Disabled = true })
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

// FuzzJSONFastPaths checks the hand-written JSON fast paths against
// encoding/json: whatever they accept, encoding/json accepts with the same
// result.
func FuzzJSONFastPaths(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":1,"a":2}`, `{"iss":"x","aud":["a","b"],"exp":1.5e9}`,
		`{"a":"\u00e9\n"}`, `{"\u0061":1}`, `{"a":{"b":[1,2,{"c":null}]}}`, `{"a":1}}`, `{"a":01}`,
		`{"a":-0.5E+3}`, `{"a":tru}`, `["a","b"]`, `"plain"`, `"esc\"aped"`, "{\"a\":\"\x01\"}", `{"a":"\ud800"}`,
		`{"é":1}`, "{\"a\":\"\xff\"}", `[[[[[[]]]]]]`, `{"a" : [ "x" , "y" ] }`, `null`, `1`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// scanValue validates exactly JSON (within its depth limit).
		valid := json.Valid(b)
		end := scanValue(b, skipSpace(b, 0), 0)
		scanned := end >= 0 && skipSpace(b, end) == len(b)
		if scanned && !valid {
			t.Fatalf("scanValue accepted invalid JSON %q", b)
		}
		if valid && !scanned && len(b) < 2*maxScanDepth {
			t.Fatalf("scanValue rejected valid JSON %q", b)
		}

		// decodeObject equals json.Unmarshal into a map.
		var want map[string]json.RawMessage
		werr := json.Unmarshal(b, &want)
		got, ok := decodeObject(bytes.Clone(b))
		if ok != (werr == nil && want != nil) {
			t.Fatalf("decodeObject ok=%v, json.Unmarshal err=%v map=%v for %q", ok, werr, want != nil, b)
		}
		if ok {
			m := make(map[string]json.RawMessage, len(got))
			for _, x := range got {
				m[x.name] = x.value
			}
			if !maps.EqualFunc(m, want, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) }) {
				t.Fatalf("decodeObject(%q) = %q, want %q", b, m, want)
			}
		}

		if !valid {
			return
		}
		// decodeString equals json.Unmarshal into a string.
		var ws string
		serr := json.Unmarshal(b, &ws)
		if s, ok := decodeString(bytes.Clone(b)); ok != (serr == nil) || ok && s != ws {
			t.Fatalf("decodeString(%q) = %q, %v; json: %q, %v", b, s, ok, ws, serr)
		}
		// plainStringArray agrees with json.Unmarshal into []string.
		if ss, ok := plainStringArray(bytes.Clone(b)); ok {
			var wss []string
			if err := json.Unmarshal(b, &wss); err != nil || !slices.Equal(ss, wss) {
				t.Fatalf("plainStringArray(%q) = %q; json: %q, %v", b, ss, wss, err)
			}
		}
	})
}
