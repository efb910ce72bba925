package introspect_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/internal/alloctest"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// answerServer is an introspection endpoint answering token "t<i>" with
// answer(i), active, for tokens it is asked about; it keeps no state, so
// the live heap of a test measures the Verifier's alone.
func answerServer(t *testing.T, answer func(i int) string) *introspect.Verifier {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(strings.TrimPrefix(r.PostFormValue("token"), "t"))
		if err != nil {
			http.Error(w, "bad token", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, answer(i))
	}))
	t.Cleanup(srv.Close)
	return newVerifier(t, introspect.Config{
		Endpoint: srv.URL, Issuer: "https://as.example", ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{"api://default"}, Logger: slog.New(slog.DiscardHandler),
	})
}

// fill verifies tokens t<from>..t<to-1>, building each one's member index as
// a handler reading a claim outside the registered ones does.
func fill(t *testing.T, v *introspect.Verifier, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		c, err := v.VerifyAccessToken(context.Background(), "t"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		c.Has("uid")
	}
}

// oktaAnswer is a typical answer of Okta's introspection endpoint for a
// user's access token: about 0.5 KB.
func oktaAnswer(i int) string {
	return fmt.Sprintf(`{"active":true,"scope":"openid profile email items:read","username":"alice.example@example.com",`+
		`"exp":4102444800,"iat":1700000000,"sub":"alice.example@example.com","aud":"api://default",`+
		`"iss":"https://as.example","jti":"AT.fTrW1XvFq3c6Qk6e7m1bBOhxRFRR0R8Sx2-ZvtFcz1s.%020d",`+
		`"token_type":"Bearer","client_id":"0oa1abcdefGHIJKLM5d7","uid":"00u1abcdefGHIJKLM5d7",`+
		`"groups":["Everyone","items-users"],"device_id":"guid:0f1e2d3c4b5a69788796a5b4c3d2e1f0"}`, i)
}

// manyMembersAnswer is an answer within the default MaxResponseSize (64
// KiB) of about 12,000 members: the entry that keeps the most alive once
// its member index is built (32 bytes a member).
func manyMembersAnswer(i int) string {
	return fmt.Sprintf(`{"active":true,"iss":"https://as.example","aud":"api://default","exp":4102444800,"jti":"%d"%s}`, i, strings.Repeat(`,"":0`, 12000))
}

// TestCache_AccountsWhatItKeepsAlive checks that the positive cache's byte
// count (Stats.CacheBytes) is the memory its entries keep alive, member
// index built: within 25% of the live-heap growth of filling it, for
// answers of four shapes.
func TestCache_AccountsWhatItKeepsAlive(t *testing.T) {
	if raceEnabled {
		t.Skip("heap measurement; run without -race")
	}
	shapes := []struct {
		name   string
		n      int
		answer func(i int) string
	}{
		{"okta-like", 2000, oktaAnswer},
		{"escaped strings", 2000, func(i int) string {
			return fmt.Sprintf(`{"active":true,"iss":"https://as.example","aud":"api://default","exp":4102444800,"jti":"\u00e9-%d","sub":"<user&\"x\">","scope":"a b c","uid":"\u00e9\u00e9"}`, i)
		}},
		{"large claims", 500, func(i int) string {
			return fmt.Sprintf(`{"active":true,"iss":"https://as.example","aud":"api://default","exp":4102444800,"jti":"%d","groups":[%s"g"]}`, i, strings.Repeat(`"group-name",`, 100))
		}},
		{"many members", 40, manyMembersAnswer},
	}
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			v := answerServer(t, sh.answer)
			fill(t, v, -10, 0) // warm up: the connection and one-time allocations are no growth
			before := alloctest.LiveHeap()
			base := v.Stats().CacheBytes
			fill(t, v, 0, sh.n)
			live := float64(alloctest.LiveHeap() - before)
			st := v.Stats()
			runtime.KeepAlive(v)
			if st.CacheEntries != sh.n+10 {
				t.Fatalf("%d entries, want %d", st.CacheEntries, sh.n+10)
			}
			accounted := st.CacheBytes - base
			ratio := float64(accounted) / live
			t.Logf("%s: %d B per entry accounted, %.0f B live (ratio %.2f), answer %d B",
				sh.name, accounted/int64(sh.n), live/float64(sh.n), ratio, len(sh.answer(0)))
			if ratio < 0.75 || ratio > 1.25 {
				t.Fatalf("accounted %d bytes for %.0f live (ratio %.2f)", accounted, live, ratio)
			}
		})
	}
}

// TestCache_FloodOfLargeAnswersKeepsAliveAtMostMaxBytes has an endpoint
// answer every token with ~64 KiB of ~12,000 members, and reads a custom
// claim of each (building the member index): the positive cache must stay
// within the default MaxBytes, in accounting and in live heap. Bounded only
// in entries, it kept ~450 KB an entry alive: about 4 GiB at 10,000.
func TestCache_FloodOfLargeAnswersKeepsAliveAtMostMaxBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("floods the cache with 48 MiB of answers")
	}
	v := answerServer(t, manyMembersAnswer)
	fill(t, v, -1, 0)
	before := alloctest.LiveHeap()
	const n = 150 // ~70 MB of entries: twice what fits
	fill(t, v, 0, n)
	st := v.Stats()
	if st.CacheBytes > introspect.DefaultCacheMaxBytes {
		t.Fatalf("cache accounts %d bytes, more than DefaultCacheMaxBytes (%d)", st.CacheBytes, introspect.DefaultCacheMaxBytes)
	}
	if st.CacheEntries >= n {
		t.Fatalf("%d entries after %d large answers: nothing evicted", st.CacheEntries, n)
	}
	if raceEnabled {
		return // heap measurement
	}
	live := alloctest.LiveHeap() - before
	runtime.KeepAlive(v)
	t.Logf("%d answers of %d B: %d entries, %d B accounted, %d B live", n, len(manyMembersAnswer(0)), st.CacheEntries, st.CacheBytes, live)
	if limit := uint64(introspect.DefaultCacheMaxBytes) * 5 / 4; live > limit {
		t.Fatalf("the cache keeps %d bytes alive, more than DefaultCacheMaxBytes + 25%% (%d)", live, limit)
	}
}

// TestCache_DefaultsHoldTypicalOktaAnswers checks that the byte limit does
// not bind before the entry limit for typical Okta answers (~0.5 KB).
func TestCache_DefaultsHoldTypicalOktaAnswers(t *testing.T) {
	c, err := verifier.ParseClaims([]byte(oktaAnswer(0)))
	if err != nil {
		t.Fatal(err)
	}
	perEntry := introspect.EntryOverhead + c.Footprint()
	t.Logf("a typical Okta answer of %d B accounts for %d B: the defaults (%d entries, %d MiB) hold %d by bytes",
		len(oktaAnswer(0)), perEntry, introspect.DefaultCacheMaxEntries, introspect.DefaultCacheMaxBytes>>20, introspect.DefaultCacheMaxBytes/perEntry)
	if introspect.DefaultCacheMaxBytes/perEntry < introspect.DefaultCacheMaxEntries {
		t.Fatalf("DefaultCacheMaxBytes holds only %d typical Okta answers, fewer than DefaultCacheMaxEntries (%d)",
			introspect.DefaultCacheMaxBytes/perEntry, introspect.DefaultCacheMaxEntries)
	}
}
