package jwks

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestSet_KnownKidServedWithoutNetwork(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), ecJWK(t, "b"), edJWK(t, "c"))
	s, _ := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	for i := 0; i < 100; i++ {
		for _, kid := range []string{"a", "b", "c"} {
			k, err := s.Key(ctxT(t), kid)
			if err != nil || k.ID != kid {
				t.Fatalf("Key(%q) = %v, %v", kid, k, err)
			}
		}
	}
	if got := ts.count("/keys"); got != 1 {
		t.Fatalf("JWKS fetched %d times for 300 lookups of known kids, want 1", got)
	}
	if st := s.Stats(); st.Keys != 3 || st.Fetches != 1 || st.Failures != 0 || st.LastSuccess.IsZero() {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestSet_RotationPickedUpOnFirstLookup(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "old"))
	s, _ := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	ts.setKeys(t, rsaJWK(t, 0, "old"), rsaJWK(t, 1, "new"))
	k, err := s.Key(ctxT(t), "new")
	if err != nil || k.ID != "new" {
		t.Fatalf("Key(new) after rotation = %v, %v; want the new key", k, err)
	}
	if st := s.Stats(); st.MissFetches != 1 || ts.count("/keys") != 2 {
		t.Fatalf("Stats = %+v, server fetches %d; want one miss fetch", st, ts.count("/keys"))
	}
}

func TestSet_RemovedKidGoneAfterRefresh(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
	s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	ts.setKeys(t, rsaJWK(t, 1, "b"))
	ft.refreshNow(t)
	if s.Current("a") != nil {
		t.Fatal("removed kid a still served after refresh")
	}
	if _, err := s.Key(ctxT(t), "a"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(a) = %v, want ErrUnknownKey", err)
	}
	if s.Current("b") == nil {
		t.Fatal("kid b lost")
	}
}

func TestSet_IssuerDownAfterWarmUpKeepsServingThenRecovers(t *testing.T) {
	failures := []struct {
		name string
		r    reply
	}{
		{"500", reply{status: 500, body: []byte("oops")}},
		{"garbage", reply{body: []byte("<html>maintenance</html>")}},
		{"connection dropped", reply{hang: true}},
		{"valid JSON, no keys member", reply{body: []byte(`{"error":"x"}`)}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.setKeys(t, rsaJWK(t, 0, "a"))
			clock := newFakeClock()
			s, ft := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now})
			ready(t, s)
			ts.set("/keys", f.r)
			clock.Advance(2 * time.Hour)
			if w := ft.refreshNow(t); w.d != backoffBase {
				t.Fatalf("wait after failure = %v, want back-off %v", w.d, backoffBase)
			}
			if w := ft.refreshNow(t); w.d != 2*backoffBase {
				t.Fatalf("wait after second failure = %v, want %v", w.d, 2*backoffBase)
			}
			if k, err := s.Key(ctxT(t), "a"); err != nil || k == nil {
				t.Fatalf("Key(a) while issuer is down = %v, %v; want the cached key", k, err)
			}
			st := s.Stats()
			if st.Failures < 2 || !st.LastFailure.Equal(clock.Now()) || st.Keys != 1 {
				t.Fatalf("Stats = %+v, want >=2 failures and the key kept", st)
			}
			ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
			ft.refreshNow(t)
			if s.Current("b") == nil {
				t.Fatal("key added after recovery not loaded")
			}
			if got := s.Stats().LastSuccess; !got.Equal(clock.Now()) {
				t.Fatalf("LastSuccess = %v, want %v", got, clock.Now())
			}
			if got := ft.next(t).span(t, nil); got != DefaultRefreshInterval {
				t.Fatalf("wait after recovery = %v, want %v", got, DefaultRefreshInterval)
			}
		})
	}
}

func TestSet_MaxStalenessExceededIsUnavailable(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	clock := newFakeClock()
	s, _ := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now, MaxStaleness: 24 * time.Hour})
	ready(t, s)
	ts.set("/keys", reply{status: 503})

	clock.Advance(24 * time.Hour) // exactly MaxStaleness: still served
	if k, err := s.Key(ctxT(t), "a"); err != nil || k == nil {
		t.Fatalf("Key(a) at MaxStaleness = %v, %v; want served", k, err)
	}
	clock.Advance(time.Second)
	if s.Current("a") != nil {
		t.Fatal("Current served a key older than MaxStaleness")
	}
	_, err := s.Key(ctxT(t), "a")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "MaxStaleness") {
		t.Fatalf("Key(a) beyond MaxStaleness = %v, want ErrUnavailable", err)
	}
	if errors.Is(err, ErrUnknownKey) {
		t.Fatal("stale set reported as unknown key")
	}
	// The lookup tried one refresh; a second lookup inside MinRefreshInterval does not.
	if _, err := s.Key(ctxT(t), "a"); !errors.Is(err, ErrUnavailable) || ts.count("/keys") != 2 {
		t.Fatalf("second stale lookup = %v with %d fetches, want ErrUnavailable and 2", err, ts.count("/keys"))
	}
	// The issuer comes back: the next allowed lookup refreshes and serves.
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	clock.Advance(DefaultMinRefreshInterval)
	if k, err := s.Key(ctxT(t), "a"); err != nil || k == nil {
		t.Fatalf("Key(a) after the issuer recovered = %v, %v", k, err)
	}
}

func TestSet_UnsupportedOctAndEncKeysBesideGoodOnes(t *testing.T) {
	testKeys(t)
	log, buf := capturingLogger()
	ts := newTestServer(t)
	ts.setKeys(t,
		jwkJSON(t, []byte("hmac-secret-hmac-secret-hmac-sec"), "hs", "HS256", nil),
		rsaJWK(t, 0, "good-rsa"),
		jwkJSON(t, &rsaKeys[1].PublicKey, "enc", "RSA-OAEP", map[string]any{"use": "enc"}),
		[]byte(`{"kty":"ML-DSA","kid":"pq","pub":"AAAA"}`),
		edJWK(t, "good-ed"),
	)
	// MaxWaiters -1: the lookups below are about parsing, not about the
	// rate limit, so a rate-limited one is refused rather than made to wait.
	s, _ := startSet(t, Config{URL: ts.URL + "/keys", Logger: log, MaxWaiters: -1})
	ready(t, s)
	for _, kid := range []string{"good-rsa", "good-ed"} {
		if s.Current(kid) == nil {
			t.Errorf("good key %q lost beside unsupported ones", kid)
		}
	}
	for _, kid := range []string{"hs", "enc", "pq"} {
		if _, err := s.Key(ctxT(t), kid); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("Key(%q) = %v, want ErrUnknownKey", kid, err)
		}
	}
	if st := s.Stats(); st.Keys != 2 || st.SkippedKeys != 3 {
		t.Errorf("Stats = %+v, want 2 keys and 3 skipped", st)
	}
	logs := buf.String()
	if !containsAll(logs, `level=WARN msg="jwks: key skipped"`, "kid=hs", `kty \"oct\"`, "kid=enc", "kid=pq") {
		t.Errorf("skipped keys not logged:\n%s", logs)
	}
	if strings.Contains(logs, "hmac-secret") || strings.Contains(logs, "aG1hYy1zZWNyZXQ") {
		t.Errorf("log leaks the HMAC secret:\n%s", logs)
	}
}

func TestSet_ZeroUsableKeysKeepsOldSet(t *testing.T) {
	testKeys(t)
	bad := []struct {
		name string
		body []byte
	}{
		{"empty keys", jwksDoc(t)},
		{"only oct and enc", jwksDoc(t,
			jwkJSON(t, []byte("0123456789abcdef0123456789abcdef"), "a", "HS256", nil),
			jwkJSON(t, &rsaKeys[0].PublicKey, "a2", "", map[string]any{"use": "enc"}))},
		{"only an ambiguous kid", jwksDoc(t, rsaJWK(t, 1, "x"), rsaJWK(t, 2, "x"))},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.setKeys(t, rsaJWK(t, 0, "a"))
			s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
			ready(t, s)
			before := s.Current("a")
			ts.set("/keys", reply{body: b.body})
			if w := ft.refreshNow(t); w.d != backoffBase {
				t.Fatalf("wait = %v, want back-off (the fetch counts as failed)", w.d)
			}
			if s.Current("a") != before || before == nil {
				t.Fatal("old set replaced by one without usable keys")
			}
			if st := s.Stats(); st.Failures != 1 || st.Keys != 1 {
				t.Fatalf("Stats = %+v, want 1 failure, 1 key", st)
			}
			if e := s.lastErr.Load(); e == nil || !errors.Is(e.err, errNoUsableKeys) {
				t.Fatalf("last error = %v, want errNoUsableKeys", e)
			}
		})
	}
}

// An issuer that starts publishing its private keys (the set's file served
// by mistake) has exposed them: the document has no usable key, so it is a
// failed fetch and the last good set keeps serving, but not the keys the
// document exposes, which anyone can now sign with. The other keys and the
// set's age are those of the last good fetch.
func TestSet_KeysExposedByADocumentWithoutUsableKeysStopVerifying(t *testing.T) {
	testKeys(t)
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
	s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	fetched := s.Stats().LastSuccess
	b := s.Current("b")
	ts.setKeys(t, jwkJSON(t, rsaKeys[0], "a", "RS256", nil))
	if w := ft.refreshNow(t); w.d != backoffBase {
		t.Fatalf("wait = %v, want back-off (the fetch counts as failed)", w.d)
	}
	if s.Current("a") != nil {
		t.Fatal("key a still served after the issuer published its private key")
	}
	if _, err := s.Key(ctxT(t), "a"); err == nil {
		t.Fatal("Key(a) succeeded after the issuer published its private key")
	}
	if s.Current("b") != b || b == nil {
		t.Fatal("key b, not exposed, no longer served from the last good set")
	}
	if st := s.Stats(); st.Failures != 1 || st.Keys != 1 || !st.LastSuccess.Equal(fetched) {
		t.Fatalf("Stats = %+v, want 1 failure, 1 key, LastSuccess unchanged", st)
	}
}

// A key that a failed fetch drops because the document exposes it is
// remembered as withdrawn from that moment, however long ago the last good
// set was fetched: a token under its kid is refused at once, without a
// fetch.
func TestSet_KeyExposedLongAfterTheLastGoodFetchIsRememberedAsWithdrawn(t *testing.T) {
	testKeys(t)
	clock := newFakeClock()
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
	s, ft := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now})
	ready(t, s)
	clock.Advance(time.Hour) // past the miss memory's lifetime since the fetch
	ts.setKeys(t, jwkJSON(t, rsaKeys[0], "a", "RS256", nil))
	ft.refreshNow(t)
	before := ts.count("/keys")
	if _, err := s.Key(ctxT(t), "a"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(a) = %v, want ErrUnknownKey: the issuer exposed it", err)
	}
	if n := ts.count("/keys") - before; n != 0 {
		t.Fatalf("Key(a) fetched the key set %d time(s); the exposed kid is known to be withdrawn", n)
	}
}

// TestSet_UnknownKidFloodCausesTwoFetches floods the set with 10,000 lookups
// over 1,000 forged kids from 64 workers while the rate limit allows one
// fetch an hour. The first miss fetches; MaxWaiters (16) lookups join it
// or, once it is done, wait for the next permitted fetch, and every other
// one is refused at once, so the flood costs exactly two fetches: the first
// miss's and the one the waiters share, which the test fires once all 16
// wait for it.
func TestSet_UnknownKidFloodCausesTwoFetches(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	const maxWaiters = 16
	s, ft := startSet(t, Config{URL: ts.URL + "/keys", MinRefreshInterval: time.Hour, RefreshInterval: 24 * time.Hour, MaxWaiters: maxWaiters})
	ready(t, s)
	waits := make(chan struct{}, maxWaiters)
	s.onWait = func() { waits <- struct{}{} }
	before := ts.count("/keys")

	const lookups, workers, distinct = 10000, 64, 1000
	jobs := make(chan string)
	finished := make(chan struct{}, workers)
	var (
		wg                     sync.WaitGroup
		mu                     sync.Mutex
		unknown, found, others int
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for kid := range jobs {
				k, err := s.Key(context.Background(), kid)
				mu.Lock()
				switch {
				case errors.Is(err, ErrUnknownKey):
					unknown++
				case err == nil && k != nil && kid == "a":
					found++
				default:
					others++
				}
				mu.Unlock()
			}
			finished <- struct{}{}
		}()
	}
	for i := 0; i < lookups; i++ {
		if i%100 == 0 {
			jobs <- "a" // real lookups interleaved with the flood
		} else {
			jobs <- fmt.Sprintf("forged-%d", i%distinct)
		}
	}
	close(jobs)
	// The waiters hold their workers; every other worker finishes.
	for i := 0; i < workers-maxWaiters; i++ {
		receive(t, finished, "a worker that was never made to wait")
	}
	// Those that joined the first fetch wait for the next one once it is
	// done.
	for range maxWaiters {
		receive(t, waits, "a lookup to wait for the next permitted fetch")
	}
	s.mu.Lock()
	waiting := s.waiters
	s.mu.Unlock()
	if waiting != maxWaiters {
		t.Fatalf("%d lookups waiting, want the cap %d", waiting, maxWaiters)
	}
	if got := ts.count("/keys") - before; got != 1 {
		t.Fatalf("%d fetches before the rate limit allowed another, want 1", got)
	}
	if !ft.nextAfter(t).fire() {
		t.Fatal("the shared refresh was stopped before it fired")
	}
	wg.Wait()

	if got := ts.count("/keys") - before; got != 2 {
		t.Fatalf("flood of %d lookups over %d unknown kids caused %d fetches, want exactly 2", lookups, distinct, got)
	}
	if found != lookups/100 || unknown != lookups-lookups/100 || others != 0 {
		t.Fatalf("results: %d found, %d unknown, %d other", found, unknown, others)
	}
	if st := s.Stats(); st.MissFetches != 2 || st.MissWaits != maxWaiters || st.MissesLimited == 0 {
		t.Fatalf("Stats = %+v, want 2 miss fetches, %d waits and limited misses", st, maxWaiters)
	}
}

func TestSet_MissFetchAtMostOncePerMinRefreshInterval(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	clock := newFakeClock()
	// MaxWaiters -1: this is the rate limit alone; waiting for the next
	// permitted fetch has tests of its own (wait_test.go).
	s, _ := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now, MinRefreshInterval: 10 * time.Second, MaxWaiters: -1})
	ready(t, s)
	lookup := func(kid string, wantFetches int) {
		t.Helper()
		if _, err := s.Key(ctxT(t), kid); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Key(%q) = %v, want ErrUnknownKey", kid, err)
		}
		if got := ts.count("/keys"); got != wantFetches {
			t.Fatalf("after Key(%q): %d fetches, want %d", kid, got, wantFetches)
		}
	}
	lookup("x1", 2) // first miss fetches
	clock.Advance(9 * time.Second)
	lookup("x2", 2) // inside MinRefreshInterval: answered at once
	clock.Advance(time.Second)
	lookup("x2", 3) // window open again
	clock.Advance(10 * time.Second)
	lookup("x2", 3) // x2 was confirmed absent moments ago: remembered
	lookup("x3", 4) // another kid may fetch
	clock.Advance(10 * time.Second)
	lookup("x2", 4) // still remembered: that fetch did not publish it
	lookup("x4", 5)
}

// A successful fetch forgets only the remembered kids it publishes, and
// those whose memory expired: a flood repeating a few forged kids must not
// be let back into fetching and waiting by every scheduled refresh.
func TestSet_SuccessfulFetchKeepsRememberingKidsItLacks(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	clock := newFakeClock()
	s, ft := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now, MinRefreshInterval: 10 * time.Second})
	ready(t, s)
	for _, kid := range []string{"forged", "late", "old"} {
		if _, err := s.Key(ctxT(t), kid); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Key(%q) = %v, want ErrUnknownKey", kid, err)
		}
		clock.Advance(10 * time.Second) // each miss fetches once
	}
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "late"))
	clock.Advance(s.missTTL() - 30*time.Second) // missTTL since "forged" was remembered, 40 s since "old"
	ft.refreshNow(t)                            // a scheduled refresh
	s.mu.Lock()
	_, forged := s.missed["forged"]
	_, late := s.missed["late"]
	_, old := s.missed["old"]
	s.mu.Unlock()
	if forged || late || !old {
		t.Fatalf("remembered after the fetch: forged %v (expired), late %v (published), old %v (still absent); want false, false, true", forged, late, old)
	}
	fetches := ts.count("/keys")
	if _, err := s.Key(ctxT(t), "old"); !errors.Is(err, ErrUnknownKey) || ts.count("/keys") != fetches {
		t.Fatalf("Key(old) = %v after %d more fetches, want ErrUnknownKey from memory", err, ts.count("/keys")-fetches)
	}
}

// A failed fetch remembers none of the kids it looked for: it cannot tell a
// forged kid from a key published since the last good set, also when it
// publishes a snapshot (the last good set without a key the document
// exposed). The kid is looked for again once the rate limit allows, and a
// key the issuer publishes by then is accepted.
func TestSet_FailedFetchRemembersNoKidItLookedFor(t *testing.T) {
	testKeys(t)
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
	clock := newFakeClock()
	s, _ := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now, MinRefreshInterval: 10 * time.Second})
	ready(t, s)
	ts.setKeys(t, jwkJSON(t, rsaKeys[0], "a", "RS256", nil)) // no usable key; exposes a
	if _, err := s.Key(ctxT(t), "new"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Key(new), failed fetch = %v, want ErrUnavailable", err)
	}
	if s.Current("a") != nil || s.Current("b") == nil {
		t.Fatal("the failed fetch did not publish the last good set without the exposed key a")
	}
	ts.setKeys(t, rsaJWK(t, 1, "b"), rsaJWK(t, 2, "new"))
	clock.Advance(10 * time.Second)
	if k, err := s.Key(ctxT(t), "new"); err != nil || k == nil {
		t.Fatalf("Key(new) once the rate limit allows a fetch = %v, %v; want the key", k, err)
	}
}

func TestSet_RememberedMissExpires(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	clock := newFakeClock()
	s, _ := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now, MinRefreshInterval: 10 * time.Second})
	ready(t, s)
	if _, err := s.Key(ctxT(t), "late"); !errors.Is(err, ErrUnknownKey) {
		t.Fatal(err)
	}
	// The issuer publishes the kid a little after the first token arrived.
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "late"))
	clock.Advance(s.missTTL() - time.Second)
	if _, err := s.Key(ctxT(t), "late"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("remembered miss = %v, want ErrUnknownKey without fetch", err)
	}
	clock.Advance(time.Second)
	if k, err := s.Key(ctxT(t), "late"); err != nil || k == nil {
		t.Fatalf("Key(late) after the memory expired = %v, %v", k, err)
	}
}

// A clock set back does not stretch the memory of a kid confirmed absent:
// measured on a Config.Now without a monotonic reading, the kid's age is
// negative until the clock is back where it was, and the kid stayed refused
// without a fetch all that time (after a step back of a day, a key the
// issuer published meanwhile was refused for a day, unless another fetch
// brought it). A clock set back ends the memory, as it ends a Retry-After.
func TestSet_RememberedMissEndsWhenTheClockIsSetBack(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	clock := newFakeClock()
	s, _ := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now, MinRefreshInterval: 10 * time.Second})
	ready(t, s)
	for _, kid := range []string{"forged", "late"} {
		if _, err := s.Key(ctxT(t), kid); !errors.Is(err, ErrUnknownKey) {
			t.Fatal(err)
		}
		clock.Advance(10 * time.Second) // the rate limit
	}
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "late"))
	clock.Advance(-24 * time.Hour)
	if k, err := s.Key(ctxT(t), "late"); err != nil || k == nil {
		t.Fatalf("Key(late) after the clock was set back a day = %v, %v; want the published key", k, err)
	}
	s.mu.Lock()
	n := len(s.missed)
	s.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d kids still remembered after the fetch, want 0: forged's memory ended with the step back too", n)
	}
}

// A MinRefreshInterval of decades (refetch on unknown kids almost never)
// still remembers a forged kid: 6 × MinRefreshInterval must not overflow
// into a negative memory that forgets every kid at once, which would make
// each repeat of a forged kid wait for a refresh decades away.
func TestSet_RememberedMissWithHugeMinRefreshInterval(t *testing.T) {
	const decades = 60 * 365 * 24 * time.Hour
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	clock := newFakeClock()
	s, _ := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now,
		MinRefreshInterval: decades, RefreshInterval: decades, MaxStaleness: 2 * decades})
	ready(t, s)
	if _, err := s.Key(ctxT(t), "forged"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(forged) = %v, want ErrUnknownKey", err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	s.onWait = cancel // a wait would last decades: end it, and fail below
	clock.Advance(time.Hour)
	if _, err := s.Key(ctx, "forged"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(forged) again = %v, want ErrUnknownKey at once, from memory", err)
	}
}

func TestSet_RememberedMissesAreBounded(t *testing.T) {
	s, _ := startSet(t, Config{URL: "http://127.0.0.1:1/keys"})
	now := time.Now()
	s.mu.Lock()
	for i := 0; i < 3*maxMissedKids; i++ {
		s.rememberMissLocked(fmt.Sprintf("kid-%d", i), now, i%2 == 0)
	}
	s.rememberMissLocked(strings.Repeat("k", maxMissedKidLen+1), now, false)
	n := len(s.missed)
	s.mu.Unlock()
	if n != maxMissedKids {
		t.Fatalf("remembered %d kids, want the bound %d", n, maxMissedKids)
	}
}

func TestSet_StartupWithIssuerDownThenUp(t *testing.T) {
	ts := newTestServer(t)
	ts.set("/keys", reply{status: 503})
	s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	if w := ft.peek(t); w.d != backoffBase {
		t.Fatalf("wait after failed first fetch = %v, want %v", w.d, backoffBase)
	}
	if _, err := s.Key(ctxT(t), "a"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Key before any set = %v, want ErrUnavailable naming the failure", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Ready(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ready with a done ctx while down = %v, want context.Canceled", err)
	}
	readyErr := make(chan error, 1)
	go func() { readyErr <- s.Ready(context.Background()) }()
	if w := ft.refreshNow(t); w.d != 2*backoffBase {
		t.Fatalf("second back-off = %v, want %v", w.d, 2*backoffBase)
	}
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ft.refreshNow(t)
	if err := receive(t, readyErr, "Ready once the issuer was up"); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	if s.Current("a") == nil {
		t.Fatal("key not served after start-up recovery")
	}
}

func TestSet_CallerCancelDuringSlowFetchReturnsPromptly(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ts.holdRequests()
	s, _ := startSet(t, Config{URL: ts.URL + "/keys"})
	ts.waitEntered(t, "/keys") // the first fetch is stuck at the server

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.Key(ctx, "a")
		errc <- err
	}()
	patient := make(chan error, 1)
	go func() {
		_, err := s.Key(context.Background(), "a")
		patient <- err
	}()
	cancel()
	if err := receive(t, errc, "Key to return after its ctx was cancelled"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Key with cancelled ctx = %v, want context.Canceled", err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer dcancel()
	if err := s.Ready(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ready = %v, want DeadlineExceeded", err)
	}
	// One caller's cancel did not fail the shared fetch for the others.
	ts.release()
	if err := receive(t, patient, "the patient Key"); err != nil {
		t.Fatalf("patient Key = %v, want the key", err)
	}
	if st := s.Stats(); st.Fetches != 1 || st.Failures != 0 {
		t.Fatalf("Stats = %+v, want one successful fetch", st)
	}
}

func TestSet_FetchTimeoutEndsHungFetch(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ts.holdRequests()
	s, ft := startSet(t, Config{URL: ts.URL + "/keys", FetchTimeout: 50 * time.Millisecond})
	w := ft.peek(t) // the fetch ended by itself
	if w.d != backoffBase {
		t.Fatalf("wait = %v, want back-off", w.d)
	}
	e := s.lastErr.Load()
	if e == nil || !errors.Is(e.err, context.DeadlineExceeded) {
		t.Fatalf("last error = %v, want a deadline", e)
	}
	_, err := s.Key(ctxT(t), "a")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Key = %v, want ErrUnavailable", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("a fetch timeout must not look like the caller's deadline")
	}
}

func TestSet_PointerStableAcrossRefresh(t *testing.T) {
	testKeys(t)
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), ecJWK(t, "b"))
	s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	a1, b1 := s.Current("a"), s.Current("b")

	ts.setKeys(t, ecJWK(t, "b"), rsaJWK(t, 0, "a"), edJWK(t, "c")) // reordered, one added
	ft.refreshNow(t)
	if s.Current("a") != a1 || s.Current("b") != b1 || s.Current("c") == nil {
		t.Fatal("unchanged keys got new pointers across a refresh")
	}

	ts.setKeys(t, rsaJWK(t, 1, "a"), jwkJSON(t, &ecKey.PublicKey, "b", "", nil)) // a: new material, b: alg dropped
	ft.refreshNow(t)
	a2, b2 := s.Current("a"), s.Current("b")
	if a2 == a1 || a2 == nil || b2 == b1 || b2 == nil || b2.Algorithm != "" {
		t.Fatal("changed keys kept their old pointers")
	}
	if s.Current("c") != nil {
		t.Fatal("removed key c still present")
	}
}

func TestSet_CloseEndsEveryGoroutine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	s := New(Config{URL: ts.URL + "/keys", Logger: testLogger(t)})
	ready(t, s)
	// Leave a miss fetch stuck at the server while closing.
	ts.holdRequests()
	errc := make(chan error, 1)
	go func() {
		_, err := s.Key(context.Background(), "unknown")
		errc <- err
	}()
	ts.waitEntered(t, "/keys")
	s.Close()
	if err := receive(t, errc, "Key during Close"); !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrClosed) {
		t.Fatalf("Key during Close = %v, want ErrUnavailable wrapping ErrClosed", err)
	}
	s.Close() // idempotent
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); s.Close() }()
	}
	wg.Wait()
	if err := s.Ready(context.Background()); err != nil {
		t.Fatalf("Ready after Close on a loaded set = %v, want nil", err)
	}
	ts.release()
	ts.Close()
	goleak.VerifyNone(t, ignore)
}

func TestSet_AfterCloseNoFetchAndReadyReportsClosed(t *testing.T) {
	ts := newTestServer(t)
	ts.set("/keys", reply{status: 500})
	s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	ft.peek(t)
	s.Close()
	if err := s.Ready(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ready after Close = %v, want ErrClosed", err)
	}
	n := ts.count("/keys")
	if _, err := s.Key(ctxT(t), "a"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Key after Close = %v, want ErrUnavailable", err)
	}
	if ts.count("/keys") != n {
		t.Fatal("Key after Close fetched")
	}
}

func TestSet_EmptyKidNeverFetches(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	s, _ := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	if _, err := s.Key(ctxT(t), ""); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(\"\") = %v, want ErrUnknownKey", err)
	}
	if ts.count("/keys") != 1 {
		t.Fatal("empty kid triggered a fetch")
	}
}

func TestConfig_Defaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.RefreshInterval != time.Hour || c.MinRefreshInterval != 10*time.Second || c.MaxStaleness != 24*time.Hour ||
		c.FetchTimeout != 10*time.Second || c.MaxResponseSize != 1<<20 || c.Now == nil || c.Logger == nil ||
		c.MaxWaiters != DefaultMaxWaiters {
		t.Fatalf("defaults = %+v", c)
	}
	if c = (Config{MaxWaiters: -1}).withDefaults(); c.MaxWaiters != 0 || c.maxJoiners != DefaultMaxWaiters {
		t.Fatalf("MaxWaiters -1 became %d and %d joiners, want 0 (never wait) and %d", c.MaxWaiters, c.maxJoiners, DefaultMaxWaiters)
	}
	if c = (Config{MaxWaiters: 3}).withDefaults(); c.MaxWaiters != 3 || c.maxJoiners != 3 {
		t.Fatalf("MaxWaiters 3 became %d and %d joiners, want 3 and 3", c.MaxWaiters, c.maxJoiners)
	}
	c = Config{RefreshInterval: time.Second, MinRefreshInterval: time.Minute, FetchTimeout: -1}.withDefaults()
	if c.MinRefreshInterval != time.Second || c.FetchTimeout != DefaultFetchTimeout {
		t.Fatalf("MinRefreshInterval %v > RefreshInterval, FetchTimeout %v; want clamped/defaulted", c.MinRefreshInterval, c.FetchTimeout)
	}
	c = Config{RefreshInterval: 2 * time.Hour, MaxStaleness: time.Hour}.withDefaults()
	if c.RefreshInterval != 30*time.Minute || c.MinRefreshInterval != DefaultMinRefreshInterval {
		t.Fatalf("RefreshInterval %v with MaxStaleness 1h; want 30m", c.RefreshInterval)
	}
}

// The verifier accepts MinRefreshInterval = RefreshInterval = MaxStaleness.
// Refreshing at MaxStaleness/2 keeps the set fresh; it must not also halve
// the rate limit on unknown-kid fetches the caller set.
func TestConfig_RefreshLoweredForStalenessKeepsTheMissRateLimit(t *testing.T) {
	c := Config{RefreshInterval: time.Minute, MinRefreshInterval: time.Minute, MaxStaleness: time.Minute}.withDefaults()
	if c.RefreshInterval != 30*time.Second || c.MinRefreshInterval != time.Minute {
		t.Fatalf("RefreshInterval %v, MinRefreshInterval %v; want 30s and 1m (as configured)", c.RefreshInterval, c.MinRefreshInterval)
	}
	if got := nextInterval(http.Header{"Cache-Control": {"max-age=3600"}}, c.MinRefreshInterval, c.RefreshInterval); got != 30*time.Second {
		t.Fatalf("next scheduled refresh %v, want 30s (before the set goes stale)", got)
	}
}

func TestSet_FailureLoggedWithoutSecrets(t *testing.T) {
	log, buf := capturingLogger()
	ts := newTestServer(t)
	ts.set("/keys", reply{status: 500, body: []byte("internal detail s3cret")})
	_, ft := startSet(t, Config{URL: ts.URL + "/keys?api_key=s3cret", Logger: log})
	ft.peek(t)
	logs := buf.String()
	if !containsAll(logs, "level=WARN", "refresh failed", "HTTP status 500", ts.URL+"/keys") {
		t.Fatalf("failure not logged:\n%s", logs)
	}
	if strings.Contains(logs, "s3cret") {
		t.Fatalf("log leaks the URL query or response body:\n%s", logs)
	}
}

// TestSet_FailureLogClipsWhatTheServerSent: a key-set server answering a
// malformed 32 KiB header line, which net/http quotes whole in its error,
// gets a failure logged in a line of bounded length.
func TestSet_FailureLogClipsWhatTheServerSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for { // the request's head
					line, err := r.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\n"+strings.Repeat("a", 32<<10)+"\r\n\r\n")
			}()
		}
	}()
	log, buf := capturingLogger()
	_, ft := startSet(t, Config{URL: "http://" + ln.Addr().String() + "/keys", Logger: log})
	ft.peek(t)
	logs := buf.String()
	if !containsAll(logs, "level=WARN", "refresh failed") {
		t.Fatalf("failure not logged:\n%.2000s", logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if len(line) > 2048 {
			t.Errorf("a log line is %d bytes, want at most 2 KiB: %.200s…", len(line), line)
		}
	}
}

func TestSet_ConcurrentMissesShareOneFetch(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ts.holdRequests()
	s, _ := startSet(t, Config{URL: ts.URL + "/keys"})
	ts.waitEntered(t, "/keys")
	const callers = 50
	errc := make(chan error, callers)
	for i := 0; i < callers; i++ {
		go func() {
			_, err := s.Key(context.Background(), "a")
			errc <- err
		}()
	}
	ts.release()
	for i := 0; i < callers; i++ {
		if err := receive(t, errc, "a waiting caller"); err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	if got := ts.count("/keys"); got != 1 {
		t.Fatalf("%d concurrent lookups during the first fetch caused %d fetches, want 1", callers, got)
	}
}

// A lookup that joins a fetch started before its kid was published must not
// be answered by it, nor remember the kid as missing: it waits for the next
// fetch the rate limit allows, which finds the new key.
func TestSet_LookupJoiningAStaleFetchWaitsForAFreshOne(t *testing.T) {
	s, ts, ft, _, joined := joinSetup(t, Config{}, 1)

	ts.holdRequests()
	first := make(chan error, 1)
	go func() {
		_, err := s.Key(ctxT(t), "x") // starts a fetch that will answer the old set
		first <- err
	}()
	ts.waitEntered(t, "/keys")
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "new")) // published while that fetch is under way
	second := make(chan error, 1)
	go func() {
		_, err := s.Key(ctxT(t), "new")
		second <- err
	}()
	receive(t, joined, "the lookup of the new kid to join the fetch")
	ts.release()
	if err := receive(t, first, "Key(x)"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(x) = %v, want ErrUnknownKey", err)
	}
	next := ft.nextAfter(t) // Key(new) found the stale answer wanting and waits
	if next.d != 10*time.Second {
		t.Fatalf("wait scheduled for %v, want the rest of the rate-limit window, 10s", next.d)
	}
	if !next.fire() {
		t.Fatal("the shared refresh was stopped before it fired")
	}
	if err := receive(t, second, "Key(new)"); err != nil {
		t.Fatalf("Key(new) after the next permitted fetch = %v, want the key", err)
	}
	if got := ts.count("/keys"); got != 3 {
		t.Fatalf("%d fetches, want 3 (first, stale miss, shared refresh)", got)
	}
}

// A document of many unusable entries (as many as maxEntries allows)
// costs a bounded number of log lines per fetch: the first entries one by
// one, the rest in one summary line, so a broken or hostile issuer cannot
// turn each fetch into a log flood.
func TestSet_ManySkippedEntriesLogABoundedNumberOfLines(t *testing.T) {
	log, buf := capturingLogger()
	entries := []json.RawMessage{rsaJWK(t, 0, "good")}
	junk := maxEntries - 1
	for range junk {
		entries = append(entries, json.RawMessage(`0`))
	}
	ts := newTestServer(t)
	ts.setKeys(t, entries...)
	s, _ := startSet(t, Config{URL: ts.URL + "/keys", Logger: log})
	ready(t, s)
	if st := s.Stats(); st.Keys != 1 || st.SkippedKeys != junk {
		t.Fatalf("Stats = %+v, want 1 key and %d skipped", st, junk)
	}
	logs := buf.String()
	if n := strings.Count(logs, `msg="jwks: key skipped"`); n != maxLoggedSkips {
		t.Errorf("%d entries logged one by one, want %d", n, maxLoggedSkips)
	}
	if !containsAll(logs, `msg="jwks: more keys skipped, not logged one by one"`, fmt.Sprintf("count=%d", junk-maxLoggedSkips)) {
		t.Errorf("no summary line for the entries not logged:\n%.2000s", logs)
	}
}

// A discovery document names the jwks_uri: whoever controls the issuer's
// answers (a compromised or misconfigured issuer, a CDN in between) can
// make it as long as a discovery response may be. Every log line and every
// lookup error that names it stays bounded.
func TestSet_DiscoveredJWKSURIIsClippedInLogsAndErrors(t *testing.T) {
	log, buf := capturingLogger()
	ts := newTestServer(t)
	long := "/keys/" + strings.Repeat("a", 32<<10)
	ts.set(long, reply{body: jwksDoc(t, rsaJWK(t, 0, "a"), []byte(`{"kty":"oct","k":"c2VjcmV0"}`))})
	ts.set(oidcPath, reply{body: discoveryDoc(t, ts.URL, ts.URL+long)})
	s, ft := startSet(t, Config{Issuer: ts.URL, Logger: log})
	ready(t, s)

	ts.set(long, reply{status: 500})
	ft.refreshNow(t) // fails on the discovered URL
	_, err := s.Key(ctxT(t), "b")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Key = %v, want ErrUnavailable", err)
	}
	if len(err.Error()) > 2048 {
		t.Errorf("lookup error is %d bytes, want at most 2 KiB: %.200s…", len(err.Error()), err)
	}
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ts.set(oidcPath, reply{body: discoveryDoc(t, ts.URL, ts.URL+"/keys")})
	ft.refreshNow(t) // rediscovers: the URL changed

	logs := buf.String()
	if !containsAll(logs, "key skipped", "refresh failed", "discovered JWKS URL changed") {
		t.Fatalf("expected log lines missing:\n%.3000s", logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if len(line) > 2048 {
			t.Errorf("a log line is %d bytes, want at most 2 KiB: %.200s…", len(line), line)
		}
	}
}

func TestSet_HoldsAgreesWithCurrentAt(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), ecJWK(t, "b"))
	clock := newFakeClock()
	s, ft := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now, MaxStaleness: time.Hour})
	if holdsAt(s, &Key{ID: "a"}, clock.Now(), new(atomic.Uint64)) {
		t.Fatal("Holds true before any key set loaded")
	}
	ready(t, s)
	a, b := s.Current("a"), s.Current("b")
	for _, tc := range []struct {
		name    string
		key     *Key
		advance time.Duration
		want    bool
	}{
		{"the current key", a, 0, true},
		{"another kid's key", b, 0, true},
		{"a copy of the current key", &Key{ID: "a", Algorithm: a.Algorithm}, 0, false},
		{"at MaxStaleness", a, time.Hour, true},
		{"past MaxStaleness", a, time.Nanosecond, false},
	} {
		clock.Advance(tc.advance)
		now := clock.Now()
		if got := holdsAt(s, tc.key, now, new(atomic.Uint64)); got != tc.want || got != (s.CurrentAt(tc.key.ID, now) == tc.key) {
			t.Errorf("%s: Holds = %v, CurrentAt matches = %v; want both %v", tc.name, got, s.CurrentAt(tc.key.ID, now) == tc.key, tc.want)
		}
	}

	// A refresh that replaces a's material: the old *Key no longer holds,
	// although it held in the snapshot its seen remembers.
	clock.Advance(-time.Hour)
	var seenA, seenB atomic.Uint64
	if now := clock.Now(); !holdsAt(s, a, now, &seenA) || !holdsAt(s, b, now, &seenB) || !holdsAt(s, a, now, &seenA) {
		t.Fatal("before the refresh: want a and b to hold, again with seen set")
	}
	ts.setKeys(t, rsaJWK(t, 1, "a"), ecJWK(t, "b"))
	ft.refreshNow(t)
	now := clock.Now()
	if holdsAt(s, a, now, &seenA) || !holdsAt(s, s.Current("a"), now, new(atomic.Uint64)) || !holdsAt(s, b, now, &seenB) {
		t.Fatal("after a's key changed: want the old a not to hold, the new a and the unchanged b to hold")
	}
	if !holdsAt(s, b, now.Add(time.Hour), &seenB) || holdsAt(s, b, now.Add(time.Hour+1), &seenB) {
		t.Fatal("b with seen set: want it to hold up to MaxStaleness and not past it")
	}
}

// Elapsed saturates for a reading more than 292 years from the process's
// start, as Config.Now may return (a test's clock set in 2500, or in year
// 1): Holds must not take two saturated readings for the same instant and
// hold a key that CurrentAt, which measures the set's age between the two
// readings, finds stale, nor let the difference of two exact readings
// overflow into a small age. It is false for such readings: the hit misses.
func TestSet_HoldsNothingStaleFarFromTheProcessStart(t *testing.T) {
	const years175 = 175 * 365 * 24 * time.Hour
	for _, start := range []time.Time{
		time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1850, 1, 1, 0, 0, 0, 0, time.UTC), // 350 years on, the difference of two exact values overflows
	} {
		ts := newTestServer(t)
		ts.setKeys(t, rsaJWK(t, 0, "a"))
		clock := &fakeClock{now: start}
		s, _ := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now, MaxStaleness: time.Hour})
		ready(t, s)
		a := s.Current("a")
		var seen atomic.Uint64
		for _, advance := range []time.Duration{0, 2 * time.Hour, years175, years175} {
			clock.Advance(advance)
			now := clock.Now()
			if holdsAt(s, a, now, &seen) && s.CurrentAt("a", now) != a {
				t.Errorf("set fetched at %v, %v later: Holds true, CurrentAt finds the set stale", start, advance)
			}
		}
	}
}

// holdsAt is Set.Holds at the reading now, as the verifier's cache hits
// keep it.
func holdsAt(s *Set, k *Key, now time.Time, seen *atomic.Uint64) bool {
	return s.Holds(k, Elapsed(now), UnixNano(now), seen)
}

// shiftWall stands in for a host suspend of d after the current set was
// fetched (or, for a negative d, the wall clock set back by -d): it
// replaces the set with a copy whose fetch's wall-clock reading is d
// earlier, so that every later reading of Now is d further from the fetch
// on the wall clock than on the monotonic clock, as after a suspend of d.
// No reading of time.Now in a test can have the two diverge, and Add
// moves both alike; this is the smallest seam that can.
func shiftWall(s *Set, d time.Duration) {
	snap := *s.cur.Load()
	snap.wall -= int64(d)
	s.cur.Store(&snap)
}

// The monotonic clock stands still while the host is suspended: a set
// fetched a minute of awake time ago, but two hours ago by the wall clock,
// is older than a MaxStaleness of one hour, and the refresh after resume
// failing must not keep serving it (a key withdrawn meanwhile would stay
// trusted). The next successful refresh serves again.
func TestSet_HostSuspendAgesTheSetPastMaxStaleness(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	clock := &fakeClock{now: time.Now()} // readings with a monotonic clock, as in production
	s, ft := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now, MaxStaleness: time.Hour})
	ready(t, s)
	a := s.Current("a")

	ts.set("/keys", reply{status: 503})
	shiftWall(s, 2*time.Hour) // the host sleeps for two hours
	clock.Advance(time.Minute)
	ft.refreshNow(t) // the refresh after resume fails
	now := clock.Now()
	if s.CurrentAt("a", now) != nil || holdsAt(s, a, now, new(atomic.Uint64)) {
		t.Fatal("after a 2h suspend, a set 1 min old on the monotonic clock is still served with MaxStaleness 1h")
	}
	if _, err := s.Key(ctxT(t), "a"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "MaxStaleness") {
		t.Fatalf("Key(a) after the suspend = %v, want ErrUnavailable past MaxStaleness", err)
	}
	if st := s.Stats(); st.Keys != 0 {
		t.Fatalf("Stats.Keys after the suspend = %d, want 0", st.Keys)
	}

	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ft.refreshNow(t)
	if s.Current("a") != a {
		t.Fatal("a successful refresh after the suspend does not serve the set again")
	}
}

// Holds takes the hit clock's two readings as integers: a wall reading
// past MaxStaleness makes it false whatever the monotonic one says, and a
// monotonic one past it whatever the wall one says (the wall clock set
// back). No seam is needed: the cache passes what its reading holds.
func TestSet_HoldsIsFalseWhenEitherClockIsPastMaxStaleness(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	clock := &fakeClock{now: time.Now()}
	s, _ := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now, MaxStaleness: time.Hour})
	ready(t, s)
	a, fetched := s.Current("a"), clock.Now()
	for _, tc := range []struct {
		name       string
		mono, wall time.Duration // each clock's advance since the fetch
		want       bool
	}{
		{"both at MaxStaleness", time.Hour, time.Hour, true},
		{"after a suspend (or the wall clock set forward)", time.Minute, 2 * time.Hour, false},
		{"after the wall clock was set back", 2 * time.Hour, -time.Hour, false},
		{"the wall clock set back, the set fresh", time.Minute, -time.Hour, true},
	} {
		got := s.Holds(a, Elapsed(fetched.Add(tc.mono)), UnixNano(fetched.Add(tc.wall)), new(atomic.Uint64))
		if got != tc.want {
			t.Errorf("%s: Holds = %v, want %v", tc.name, got, tc.want)
		}
	}

	// The wall clock set back by more than the set's monotonic age: the
	// set is as stale as the monotonic clock says.
	shiftWall(s, -3*time.Hour)
	clock.Advance(2 * time.Hour)
	if s.Current("a") != nil {
		t.Fatal("a set 2h old on the monotonic clock is served with MaxStaleness 1h after the wall clock was set back 3h")
	}
}
