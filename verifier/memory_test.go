package verifier

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/alloctest"
)

// junkToken returns the token of issue #10, defect 1: just under 64 KiB, a
// payload of ~9,000 members and a wrong iss, and a garbage signature.
func junkToken() string {
	payload := `{"iss":"x"` + strings.Repeat(`,"":0`, 9000) + `}`
	return b64raw(`{"alg":"RS256","kid":"k"}`) + "." + b64raw(payload) + ".c2ln"
}

// TestCache_RejectedJunkDoesNotInflateCachedTokens is the regression test
// of issue #10, defect 1: rejected junk interleaved with 2,000 legitimate
// tokens must not change the live-heap growth of caching them by 1.5x or
// more (it was ~350x: each cached token kept a pooled 350 KB array).
func TestCache_RejectedJunkDoesNotInflateCachedTokens(t *testing.T) {
	if raceEnabled {
		t.Skip("heap measurement; run without -race")
	}
	if len(junkToken()) >= 64<<10 {
		t.Fatalf("junk token of %d bytes exceeds MaxTokenSize", len(junkToken()))
	}
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, nil)
	toks := make([]string, 2000)
	for i := range toks {
		toks[i] = f.mint(t, map[string]any{"jti": fmt.Sprintf("jti-%d", i)}, grpcauthtest.WithScopes("items:read", "items:write"))
	}
	junk := junkToken()
	ctx := context.Background()
	growth := func(withJunk bool) (uint64, int64) {
		v := newVerifier(t, f.cfg)
		if err := v.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		before := alloctest.LiveHeap()
		for _, tok := range toks {
			if withJunk {
				if _, err := v.VerifyAccessToken(ctx, junk); !errors.Is(err, ErrIssuer) {
					t.Fatalf("junk: got %v, want ErrIssuer", err)
				}
			}
			if _, err := v.VerifyAccessToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		after := alloctest.LiveHeap()
		entries, accounted := v.cache.stats()
		if entries != len(toks) {
			t.Fatalf("%d entries cached, want %d", entries, len(toks))
		}
		runtime.KeepAlive(v)
		return after - before, accounted
	}
	growth(false) // warm up: one-time allocations (type caches, key set) are no growth
	plain, accounted := growth(false)
	junky, _ := growth(true)
	t.Logf("live heap growth for %d cached tokens: %d B without junk, %d B with; accounted %d B", len(toks), plain, junky, accounted)
	if float64(junky) >= 1.5*float64(plain) {
		t.Fatalf("junk grew the live heap of %d cached tokens from %d to %d bytes", len(toks), plain, junky)
	}
}

// TestCache_AccountsWhatItKeepsAlive checks that the cache's byte count is
// the memory its entries keep alive, member index built: within 25% of the
// live-heap growth of filling it, for tokens of three shapes. (Before the
// index is built an entry keeps less than it is counted for.)
func TestCache_AccountsWhatItKeepsAlive(t *testing.T) {
	if raceEnabled {
		t.Skip("heap measurement; run without -race")
	}
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, nil)
	ctx := context.Background()
	shapes := map[string]func(i int) map[string]any{
		"okta-like": func(i int) map[string]any {
			return map[string]any{"jti": fmt.Sprintf("AT.%040d", i), "uid": "00u1abcdefghijk2345", "scp": []string{"openid", "profile", "email", "items:read"}}
		},
		"escaped strings": func(i int) map[string]any {
			return map[string]any{"jti": fmt.Sprintf("é-%d", i), "sub": "<user&\"x\">", "scp": "a b c"}
		},
		"large claims": func(i int) map[string]any {
			return map[string]any{"jti": fmt.Sprint(i), "groups": strings.Split(strings.Repeat("group-name,", 100), ",")}
		},
		// encoding/json writes < as \u003c: 200 long names the member
		// index unescapes into strings of their own.
		"escaped names": func(i int) map[string]any {
			m := map[string]any{"jti": fmt.Sprint(i)}
			for j := range 200 {
				m[fmt.Sprintf("<%03d-%s", j, strings.Repeat("n", 120))] = j
			}
			return m
		},
	}
	for name, claims := range shapes {
		t.Run(name, func(t *testing.T) {
			const n = 1000
			toks := make([]string, n)
			for i := range toks {
				toks[i] = f.mint(t, claims(i))
			}
			cfg := f.cfg
			cfg.Cache.MaxBytes = 1 << 30 // room for every shape's n entries
			v := newVerifier(t, cfg)
			if err := v.Ready(ctx); err != nil {
				t.Fatal(err)
			}
			before := alloctest.LiveHeap()
			for _, tok := range toks {
				c, err := v.VerifyAccessToken(ctx, tok)
				if err != nil {
					t.Fatal(err)
				}
				// Build the member index, counted in advance, as a
				// handler asking for any unregistered claim does. (The
				// interceptors' Has("cnf") does not: the presence of
				// registered names is recorded while decoding.)
				c.Has("uid")
			}
			live := float64(alloctest.LiveHeap() - before)
			entries, accounted := v.cache.stats()
			runtime.KeepAlive(v)
			if entries != n {
				t.Fatalf("%d entries, want %d", entries, n)
			}
			ratio := float64(accounted) / live
			t.Logf("%s: %d B per entry accounted, %.0f B live (ratio %.2f), token %d B", name, accounted/n, live/n, ratio, len(toks[0]))
			if ratio < 0.75 || ratio > 1.25 {
				t.Fatalf("accounted %d bytes for %.0f live (ratio %.2f)", accounted, live, ratio)
			}
		})
	}
}

// TestClaimSetSizes keeps the size constants footprint uses in step with
// the types.
func TestClaimSetSizes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are for 64-bit platforms")
	}
	if got := unsafe.Sizeof(claimSet{}); got != claimSetSize {
		t.Errorf("claimSet is %d bytes, claimSetSize says %d", got, claimSetSize)
	}
	if got := unsafe.Sizeof(member{}); got != memberSize {
		t.Errorf("member is %d bytes, memberSize says %d", got, memberSize)
	}
	if got := unsafe.Sizeof(""); got != stringSize {
		t.Errorf("string is %d bytes, stringSize says %d", got, stringSize)
	}
}

// oktaClaims are the claims of a typical Okta access token (custom
// authorization server, user login): with the RS256 header and signature
// the token is about 1 KB.
func oktaClaims(now time.Time) map[string]any {
	return map[string]any{
		"ver": 1, "jti": "AT.fTrW1XvFq3c6Qk6e7m1bBOhxRFRR0R8Sx2-ZvtFcz1s.oar1k2l3m4n5o6p7q8r9s0t", "cid": "0oa1abcdefGHIJKLM5d7",
		"uid": "00u1abcdefGHIJKLM5d7", "sub": "alice.example@example.com", "groups": []string{"Everyone", "items-users"}, "auth_time": now.Unix(),
		"scp": []string{"openid", "profile", "email", "items:read"},
	}
}

// TestCache_DefaultsHoldTypicalOktaTokens measures how many typical Okta
// access tokens (~1 KB, RS256, scp of 4 scopes) a cache with the default
// limits holds: the byte limit must not bind before the entry limit. It
// inserts 10,000 distinct token strings carrying one verified token's
// claims (the accounting counts the same bytes for each), so no 10,000
// RSA signatures are needed.
func TestCache_DefaultsHoldTypicalOktaTokens(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{Algorithm: "RS256"}, nil)
	tok := f.mint(t, oktaClaims(f.clk.Now()))
	if len(tok) < 900 || len(tok) > 1200 {
		t.Fatalf("typical Okta token is %d bytes, want about 1 KB", len(tok))
	}
	c, key, err := f.v.verify(context.Background(), tok, nil, kindAccess, "", "")
	if err != nil {
		t.Fatal(err)
	}
	cache := newTokenCache(DefaultCacheMaxEntries, DefaultCacheMaxBytes)
	for i := range DefaultCacheMaxEntries {
		cache.put(fmt.Sprintf("%s%06d", tok[:len(tok)-6], i), c, key, f.v)
	}
	entries, accounted := cache.stats()
	perEntry := int64(len(tok)) + c.size + entryOverhead
	t.Logf("defaults (%d entries, %d MiB) hold %d of %d typical Okta tokens of %d B: %d B accounted each, %.1f MiB in all; the bytes alone would hold %d",
		DefaultCacheMaxEntries, DefaultCacheMaxBytes>>20, entries, DefaultCacheMaxEntries, len(tok), perEntry,
		float64(accounted)/(1<<20), DefaultCacheMaxBytes/perEntry)
	if DefaultCacheMaxBytes/perEntry < DefaultCacheMaxEntries {
		t.Fatalf("DefaultCacheMaxBytes holds only %d typical Okta tokens, fewer than DefaultCacheMaxEntries (%d)",
			DefaultCacheMaxBytes/perEntry, DefaultCacheMaxEntries)
	}
	if entries < DefaultCacheMaxEntries*9/10 {
		t.Fatalf("defaults hold %d typical Okta tokens, want at least 90%% of %d", entries, DefaultCacheMaxEntries)
	}
}

// TestClaims_FootprintCountsTheProfilesClientID: under
// RequireAccessTokenProfile a token's client is its client_id even when a
// cid names another, and the claims keep that string, not the cid: their
// footprint, which bounds the cache's bytes, must count it. It counted the
// cid's length instead, so a token with a one-byte cid and a long
// client_id kept more than the cache accounted for it. A client_id written
// without escapes is a substring of the claims' payload copy (counted with
// it); one written with escapes (encoding/json writes "<" as \u003c) is a
// string of its own, which the footprint must count apart.
func TestClaims_FootprintCountsTheProfilesClientID(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{Shape: grpcauthtest.ShapeRFC9068}, func(c *Config) { c.RequireAccessTokenProfile = true })
	long := strings.Repeat("<", 150) // 900 bytes of JSON text, under the 1 KiB bound on escaped strings
	tok := f.mint(t, map[string]any{"cid": "x", "client_id": long})
	c, err := f.verify(t, tok)
	if err != nil || c.ClientID() != long {
		t.Fatalf("got client id of %d bytes, %v; want the client_id", len(c.ClientID()), err)
	}
	// The claims keep the payload copy and, apart, the client_id string.
	if want := int64(len(c.s.data) + len(long)); c.Footprint() < want {
		t.Fatalf("footprint %d bytes, under the %d the payload copy and the client_id keep", c.Footprint(), want)
	}
	if _, accounted := cacheStats(f.v); accounted < int64(len(tok))+c.Footprint() {
		t.Fatalf("cache accounts %d bytes for a %d-byte token with a footprint of %d", accounted, len(tok), c.Footprint())
	}
}

// TestClaims_UnescapedStringsShareThePayloadCopy: a registered string, aud
// element or scope element written without escapes is a substring of the
// claims' own payload copy, not a second copy, and the footprint counts
// only the strings that are not (written with escapes), exactly. The
// claims never alias the caller's payload.
func TestClaims_UnescapedStringsShareThePayloadCopy(t *testing.T) {
	inside := func(s, data string) bool {
		if s == "" {
			return true
		}
		p, d := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(data)))
		return p >= d && p+uintptr(len(s)) <= d+uintptr(len(data))
	}
	for _, tc := range []struct {
		name, payload string
		apart         int64 // bytes of the strings kept apart from data
	}{
		{"plain", `{"iss":"https://issuer.example","sub":"alice","jti":"id-1","client_id":"app","aud":["api","other"],"scp":["items:read","items:write"],"scope":"a b","x":1}`, 0},
		{"aud string", `{"iss":"i","aud":"api","scope":"  a b"}`, 0},
		// "https://issuer" (14 bytes), "alice" (5) and the escaped array's
		// elements "a/b" and "c" (4) appear nowhere in data as decoded.
		{"escaped", `{"iss":"https:\/\/issuer","sub":"\u0061lice","client_id":"app","aud":"api","scp":["a\/b","c"],"scope":"d e"}`, 14 + 5 + 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := []byte(tc.payload)
			c, err := ParseClaims(payload)
			if err != nil {
				t.Fatal(err)
			}
			s := c.s
			if inside(s.data, string(payload)) {
				t.Fatal("the claims alias the caller's payload")
			}
			strs := append([]string{s.issuer, s.subject, s.clientID, s.tokenID}, s.audience...)
			strs = append(strs, s.scopes...)
			var apart int64
			for _, str := range strs {
				if !inside(str, s.data) {
					apart += int64(len(str))
				}
			}
			if apart != tc.apart {
				t.Errorf("%d bytes of strings kept apart from the payload copy, want %d (claims %q)", apart, tc.apart, strs)
			}
			want := claimSetSize + int64(len(s.data)) + int64(s.nMembers)*memberSize + int64(cap(s.audience)+cap(s.scopes))*stringSize + tc.apart
			if c.Footprint() != want {
				t.Errorf("footprint %d, want %d", c.Footprint(), want)
			}
		})
	}
}
