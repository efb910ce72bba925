package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// movingIssuer is an issuer whose discovery document names /old-keys (key
// a) and which then moves its keys to /new-keys (keys a and b) while
// /old-keys goes on answering with the frozen set, as an IdP migration or a
// CDN caching the old document does. Both URLs carry a query that must
// never be logged.
func movingIssuer(t *testing.T) *testServer {
	ts := newTestServer(t)
	ts.set("/old-keys", reply{body: jwksDoc(t, rsaJWK(t, 0, "a"))})
	ts.set("/new-keys", reply{body: jwksDoc(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))})
	ts.set(oidcPath, reply{body: discoveryDoc(t, ts.URL, ts.URL+"/old-keys?tenant=s3cret")})
	return ts
}

// startDiscovering starts a Set that discovers its keys from ts, with a fake
// clock and a captured log, and waits for its first set.
func startDiscovering(t *testing.T, ts *testServer, cfg Config) (*Set, *fakeTimers, *fakeClock, *syncBuffer) {
	clk := newFakeClock()
	logger, logs := capturingLogger()
	cfg.Issuer, cfg.Now, cfg.Logger = ts.URL, clk.Now, logger
	s, ft := startSet(t, cfg)
	ready(t, s)
	return s, ft, clk, logs
}

func (ts *testServer) moveKeys(t *testing.T) {
	ts.set(oidcPath, reply{body: discoveryDoc(t, ts.URL, ts.URL+"/new-keys?tenant=s3cret")})
}

func TestDiscovery_MovedJWKSURIPickedUpAtFirstScheduledRefreshAfterLifetime(t *testing.T) {
	ts := movingIssuer(t)
	s, ft, clk, logs := startDiscovering(t, ts, Config{})
	ts.moveKeys(t)

	// Within the lifetime (RefreshInterval) the discovered URL is used, and
	// an unknown kid's fetch does not rediscover.
	clk.Advance(DefaultRefreshInterval / 2)
	if _, err := s.Key(ctxT(t), "b"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(b) from the frozen old URL = %v, want ErrUnknownKey", err)
	}
	ft.refreshNow(t)
	if d, o, n := ts.count(oidcPath), ts.count("/old-keys"), ts.count("/new-keys"); d != 1 || o != 3 || n != 0 {
		t.Fatalf("within the lifetime: %d discovery, %d old-keys, %d new-keys requests; want 1, 3, 0", d, o, n)
	}

	// The first scheduled refresh after it rediscovers and follows the keys.
	clk.Advance(DefaultRefreshInterval / 2)
	ft.refreshNow(t)
	if d, o, n := ts.count(oidcPath), ts.count("/old-keys"), ts.count("/new-keys"); d != 2 || o != 3 || n != 1 {
		t.Fatalf("after the lifetime: %d discovery, %d old-keys, %d new-keys requests; want 2, 3, 1", d, o, n)
	}
	if _, err := s.Key(ctxT(t), "b"); err != nil {
		t.Fatalf("Key(b) after the keys moved: %v", err)
	}
	if st := s.Stats(); st.URLChanges != 1 || st.Failures != 0 {
		t.Fatalf("Stats = %+v, want 1 URL change and no failure", st)
	}
	out := logs.String()
	if !containsAll(out, "level=INFO", "discovered JWKS URL changed", "/old-keys", "/new-keys") {
		t.Fatalf("no info line naming the old and new URL:\n%s", out)
	}
	if strings.Contains(out, "s3cret") {
		t.Fatalf("log contains a URL query:\n%s", out)
	}
}

// A clock set back does not stretch a discovered URL's lifetime: on a
// Config.Now without a monotonic reading, the URL counted as fresh until the
// clock was back where it was, so after a step back of a day the scheduled
// refresh an hour later (it follows the timers too, see sleep) fetched the
// frozen old URL, and the keys the issuer moved were followed a day late.
func TestDiscovery_ClockSetBackDoesNotStretchTheURLLifetime(t *testing.T) {
	ts := movingIssuer(t)
	s, ft, clk, _ := startDiscovering(t, ts, Config{})
	ts.moveKeys(t)
	clk.Advance(-24 * time.Hour)
	ft.next(t).span(t, clk) // the scheduled refresh, an hour of timers later
	ft.peek(t)
	if d, o, n := ts.count(oidcPath), ts.count("/old-keys"), ts.count("/new-keys"); d != 2 || o != 1 || n != 1 {
		t.Fatalf("first scheduled refresh after the step back: %d discovery, %d old-keys, %d new-keys requests; want 2, 1, 1", d, o, n)
	}
	if _, err := s.Key(ctxT(t), "b"); err != nil {
		t.Fatalf("Key(b) after the keys moved: %v", err)
	}
}

// An issuer that moves its keys and signs with a new key at once: the
// first token of the new key comes before the scheduled refresh that would
// rediscover. Its fetch rediscovers the URL past its lifetime and follows
// the keys (before, it fetched the frozen old URL, and the token was
// refused until the scheduled refresh, up to about a RefreshInterval later
// when the discovery document's max-age is short).
func TestDiscovery_UnknownKidRediscoversAnAgedJWKSURL(t *testing.T) {
	ts := movingIssuer(t)
	ts.set(oidcPath, reply{body: discoveryDoc(t, ts.URL, ts.URL+"/old-keys?tenant=s3cret"), header: map[string]string{"Cache-Control": "max-age=300"}})
	s, _, clk, logs := startDiscovering(t, ts, Config{})
	ts.moveKeys(t)
	clk.Advance(5 * time.Minute) // the document's max-age; the next scheduled refresh is an hour away
	if _, err := s.Key(ctxT(t), "b"); err != nil {
		t.Fatalf("Key(b) after the keys moved: %v", err)
	}
	if d, o, n := ts.count(oidcPath), ts.count("/old-keys"), ts.count("/new-keys"); d != 2 || o != 1 || n != 1 {
		t.Fatalf("unknown kid: %d discovery, %d old-keys, %d new-keys requests; want 2, 1, 1", d, o, n)
	}
	if st := s.Stats(); st.URLChanges != 1 || st.MissFetches != 1 || st.Failures != 0 {
		t.Fatalf("Stats = %+v, want 1 URL change, 1 miss fetch and no failure", st)
	}
	if out := logs.String(); !containsAll(out, "discovered JWKS URL changed", "/new-keys") || strings.Contains(out, "s3cret") {
		t.Fatalf("want an info line naming the new URL without its query:\n%s", out)
	}
}

func TestDiscovery_LifetimeFollowsDiscoveryMaxAge(t *testing.T) {
	ts := movingIssuer(t)
	ts.set("/old-keys", reply{body: jwksDoc(t, rsaJWK(t, 0, "a")), header: map[string]string{"Cache-Control": "max-age=60"}})
	doc := reply{body: discoveryDoc(t, ts.URL, ts.URL+"/old-keys"), header: map[string]string{"Cache-Control": "public, max-age=120"}}
	ts.set(oidcPath, doc)
	s, ft, clk, _ := startDiscovering(t, ts, Config{})
	if got := ft.next(t).span(t, clk); got != time.Minute {
		t.Fatalf("refresh interval = %v, want the key set's max-age 1m", got)
	}
	ft.peek(t) // the refresh is done
	if got := ts.count(oidcPath); got != 1 {
		t.Fatalf("discovery requests within the document's max-age = %d, want 1", got)
	}
	clk.Advance(time.Minute)
	ft.refreshNow(t)
	if got := ts.count(oidcPath); got != 2 {
		t.Fatalf("discovery requests once the document's max-age passed = %d, want 2", got)
	}
	if got := s.Stats().URLChanges; got != 0 {
		t.Fatalf("URLChanges = %d after rediscovering the same URL, want 0", got)
	}
}

func TestDiscovery_FailedRediscoveryKeepsTheDiscoveredURL(t *testing.T) {
	for _, tt := range []struct {
		name    string
		doc     reply
		timeout time.Duration // FetchTimeout; 0 takes the default
	}{
		{"status 503", reply{status: 503}, 0},
		{"connection closed", reply{hang: true}, 0},
		// The round's deadline is its own: the kept URL's request after
		// it gets a whole FetchTimeout.
		{"no answer within FetchTimeout", reply{stall: true}, time.Second},
		{"another issuer", reply{body: []byte(`{"issuer":"https://evil.example","jwks_uri":"https://evil.example/keys"}`)}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := movingIssuer(t)
			s, ft, clk, logs := startDiscovering(t, ts, Config{FetchTimeout: tt.timeout})
			clk.Advance(DefaultRefreshInterval)
			ts.set(oidcPath, tt.doc)
			// The issuer publishes key b at the URL in use.
			ts.set("/old-keys", reply{body: jwksDoc(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))})
			ft.refreshNow(t)
			if s.Current("b") == nil {
				t.Fatal("key b not fetched from the kept URL while discovery fails")
			}
			if _, err := s.Key(ctxT(t), "a"); err != nil {
				t.Fatalf("Key(a): %v", err)
			}
			if st := s.Stats(); st.Failures != 0 || st.Fetches != 2 {
				t.Fatalf("Stats = %+v, want 2 fetches and no failure", st)
			}
			out := logs.String()
			if !containsAll(out, "level=WARN", "rediscovery failed; keeping the discovered JWKS URL", "/old-keys") || strings.Contains(out, "s3cret") {
				t.Fatalf("want a warn line naming the kept URL without its query:\n%s", out)
			}
			// Within its back-off (twice MinRefreshInterval after the
			// first failure) discovery is not retried: the kept URL serves.
			disc := ts.count(oidcPath)
			ts.moveKeys(t)
			clk.Advance(2*DefaultMinRefreshInterval - time.Second)
			ft.refreshNow(t)
			if ts.count(oidcPath) != disc || ts.count("/old-keys") != 3 {
				t.Fatalf("within the back-off: %d discovery, %d old-keys requests; want %d, 3", ts.count(oidcPath), ts.count("/old-keys"), disc)
			}
			// Past it, discovery is retried at the next scheduled refresh
			// and, once it answers, followed.
			clk.Advance(time.Second)
			ft.refreshNow(t)
			if ts.count(oidcPath) != disc+1 || ts.count("/new-keys") != 1 {
				t.Fatalf("after discovery recovered: %d discovery, %d new-keys requests; want %d, 1", ts.count(oidcPath), ts.count("/new-keys"), disc+1)
			}
		})
	}
}

// While the discovery endpoint hangs and the JWKS endpoint works, only the
// first fetch after the URL's lifetime waits for discovery (a whole
// FetchTimeout): the next fetch an unknown kid triggers, a
// MinRefreshInterval later, goes to the kept URL at once (before, every
// such fetch waited a FetchTimeout for discovery first, 10 s by default, so
// each genuine token of a newly published key took 10-20 s).
func TestDiscovery_HangingRediscoveryDoesNotDelayTheNextMissFetch(t *testing.T) {
	ts := movingIssuer(t)
	s, _, clk, _ := startDiscovering(t, ts, Config{FetchTimeout: 200 * time.Millisecond})
	clk.Advance(DefaultRefreshInterval)
	ts.set(oidcPath, reply{stall: true})
	publish := func(kids ...string) {
		entries := []json.RawMessage{rsaJWK(t, 0, "a")}
		for i, kid := range kids {
			entries = append(entries, rsaJWK(t, 1+i%2, kid))
		}
		ts.set("/old-keys", reply{body: jwksDoc(t, entries...)})
	}
	publish("b")
	if _, err := s.Key(ctxT(t), "b"); err != nil {
		t.Fatalf("Key(b) from the kept URL while discovery hangs: %v", err)
	}
	if got := ts.count(oidcPath); got != 2 {
		t.Fatalf("%d discovery requests after the first miss fetch, want 2 (start-up and one rediscovery)", got)
	}
	publish("b", "c")
	clk.Advance(DefaultMinRefreshInterval) // the next miss fetch is permitted
	if _, err := s.Key(ctxT(t), "c"); err != nil {
		t.Fatalf("Key(c) from the kept URL while discovery hangs: %v", err)
	}
	if d, k := ts.count(oidcPath), ts.count("/old-keys"); d != 2 || k != 3 {
		t.Fatalf("next miss fetch: %d discovery, %d key-set requests; want 2 (not asked again) and 3", d, k)
	}
	if st := s.Stats(); st.MissFetches != 2 || st.Failures != 0 {
		t.Fatalf("Stats = %+v, want 2 miss fetches and no failure", st)
	}
}

// Failed rediscoveries postpone the next one by a back-off that starts at
// twice MinRefreshInterval and doubles per failure; a failure of the kept
// URL itself still rediscovers at once, and a successful rediscovery
// resets the back-off.
func TestDiscovery_FailedRediscoveriesBackOffUntilOneSucceeds(t *testing.T) {
	ts := movingIssuer(t)
	s, ft, clk, _ := startDiscovering(t, ts, Config{})
	discoveries := func(want int, when string) {
		t.Helper()
		ft.refreshNow(t)
		if got := ts.count(oidcPath); got != want {
			t.Fatalf("%s: %d discovery requests, want %d", when, got, want)
		}
	}
	failRediscovery := func(failures int) {
		t.Helper()
		clk.Advance(DefaultRefreshInterval) // past the URL's lifetime
		ts.set(oidcPath, reply{status: 500})
		n := ts.count(oidcPath)
		discoveries(n+1, "past the lifetime")
		for i := range failures - 1 {
			clk.Advance(2 * DefaultMinRefreshInterval << i)
			discoveries(n+2+i, fmt.Sprintf("past back-off %d", i+1))
		}
	}
	failRediscovery(2)
	n := ts.count(oidcPath)
	clk.Advance(4*DefaultMinRefreshInterval - time.Second)
	discoveries(n, "within the second back-off")
	clk.Advance(time.Second)
	discoveries(n+1, "past the second back-off")

	// Within the third back-off the kept URL fails: rediscovered at once.
	ts.set("/old-keys", reply{status: 500})
	discoveries(n+1, "kept URL fails")
	discoveries(n+2, "after the kept URL failed")

	// Discovery recovers, and the next failure backs off from the start.
	ts.moveKeys(t)
	clk.Advance(time.Second)
	discoveries(n+3, "discovery recovers")
	if s.Current("b") == nil {
		t.Fatal("key b not fetched from the rediscovered URL")
	}
	failRediscovery(1)
	n = ts.count(oidcPath)
	clk.Advance(2 * DefaultMinRefreshInterval)
	discoveries(n+1, "past the first back-off after a success")
}

// TestDiscovery_UnknownKidFloodCostsOneDiscoveryRoundPerFetchAtMost: with
// the discovered URL past its lifetime, a flood of forged kids costs the
// fetches it costs with a configured URL (the first miss's and the one the
// waiters share, at most one per MinRefreshInterval) and at most one
// discovery round each: one in all, whether the rediscovery succeeds (the
// URL then has a new lifetime) or fails (it is then postponed by its
// back-off, at least twice MinRefreshInterval, or by its Retry-After).
func TestDiscovery_UnknownKidFloodCostsOneDiscoveryRoundPerFetchAtMost(t *testing.T) {
	for _, tt := range []struct {
		name            string
		doc             *reply // the discovery document during the flood; nil: the keys moved
		keysPath        string // where the flood's fetches go
		discoveryRounds int
	}{
		{"rediscovery succeeds", nil, "/new-keys", 1},
		{"rediscovery fails", &reply{status: 503}, "/old-keys", 1},
		// The issuer asked not to be asked again so soon.
		{"rediscovery fails with Retry-After", &reply{status: 503, header: map[string]string{"Retry-After": "3600"}}, "/old-keys", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := movingIssuer(t)
			const maxWaiters = 4
			s, ft, clk, _ := startDiscovering(t, ts, Config{MaxWaiters: maxWaiters})
			if tt.doc != nil {
				ts.set(oidcPath, *tt.doc)
			} else {
				ts.moveKeys(t)
			}
			clk.Advance(DefaultRefreshInterval)
			keys := ts.count(tt.keysPath)
			floodForgedKids(t, s, ft, maxWaiters)
			if d, k := ts.count(oidcPath)-1, ts.count(tt.keysPath)-keys; d != tt.discoveryRounds || k != 2 {
				t.Fatalf("flood: %d discovery requests, %d key-set requests; want %d and 2", d, k, tt.discoveryRounds)
			}
		})
	}
}

// floodForgedKids makes 400 lookups of 100 forged kids from 16 workers,
// fires the refresh the maxWaiters waiting ones share once they all wait,
// and checks that each lookup was refused with ErrUnknownKey.
func floodForgedKids(t *testing.T, s *Set, ft *fakeTimers, maxWaiters int) {
	t.Helper()
	waits := make(chan struct{}, maxWaiters)
	s.onWait = func() { waits <- struct{}{} }
	const lookups, workers = 400, 16
	jobs := make(chan string)
	errc := make(chan error, lookups)
	finished := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for kid := range jobs {
				_, err := s.Key(context.Background(), kid)
				errc <- err
			}
			finished <- struct{}{}
		}()
	}
	for i := range lookups {
		jobs <- fmt.Sprintf("forged-%d", i%100)
	}
	close(jobs)
	// The waiters hold their workers; every other worker finishes. Those
	// that joined the first fetch wait for the next one once it is done.
	for range workers - maxWaiters {
		receive(t, finished, "a worker that was never made to wait")
	}
	for range maxWaiters {
		receive(t, waits, "a lookup to wait for the next permitted fetch")
	}
	if !ft.nextAfter(t).fire() {
		t.Fatal("the shared refresh was stopped before it fired")
	}
	wg.Wait()
	for range lookups {
		if err := <-errc; !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("forged kid: %v, want ErrUnknownKey", err)
		}
	}
}

// A re-discovery the issuer answers with 429 or 503 and a Retry-After, or
// with Okta's 429 and X-Rate-Limit-Reset instead, is not asked again
// before it: the kept URL serves meanwhile, and fetches unknown kids
// trigger (one per MinRefreshInterval) do not re-read the document the
// issuer asked to be left alone, also once the back-off alone (twice
// MinRefreshInterval) has passed.
func TestDiscovery_FailedRediscoveryWaitsForItsRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		name   string
		header func(now time.Time) map[string]string
	}{
		{"Retry-After", func(time.Time) map[string]string { return map[string]string{"Retry-After": "120"} }},
		{"X-Rate-Limit-Reset", func(now time.Time) map[string]string {
			return map[string]string{"X-Rate-Limit-Reset": strconv.FormatInt(now.Add(2*time.Minute).Unix(), 10)}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := movingIssuer(t)
			s, _, clk, _ := startDiscovering(t, ts, Config{})
			clk.Advance(DefaultRefreshInterval)
			ts.set(oidcPath, reply{status: 429, header: tt.header(clk.Now())})
			lookup := func(kid string, wantDiscoveries int) {
				t.Helper()
				if _, err := s.Key(ctxT(t), kid); !errors.Is(err, ErrUnknownKey) {
					t.Fatalf("Key(%s) = %v, want ErrUnknownKey from the kept URL", kid, err)
				}
				if got := ts.count(oidcPath); got != wantDiscoveries {
					t.Fatalf("after Key(%s): %d discovery requests, want %d", kid, got, wantDiscoveries)
				}
			}
			lookup("forged-1", 2) // the URL is past its lifetime: rediscovered, 429
			clk.Advance(3 * DefaultMinRefreshInterval)
			lookup("forged-2", 2) // past the back-off, within the pause: not asked
			clk.Advance(90 * time.Second)
			lookup("forged-3", 3) // past it: asked again
			if got := ts.count("/old-keys"); got != 4 {
				t.Fatalf("%d key-set requests, want 4 (start-up and one per unknown kid)", got)
			}
		})
	}
}

func TestDiscovery_CloseDuringRediscoveryEndsEveryGoroutine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	ts := movingIssuer(t)
	s, ft, clk, logs := startDiscovering(t, ts, Config{})
	clk.Advance(DefaultRefreshInterval)
	ts.holdRequests()
	ft.next(t).span(t, nil)
	ts.waitEntered(t, oidcPath)
	s.Close()
	if st := s.Stats(); st.Failures != 0 || st.Fetches != 1 {
		t.Fatalf("Stats = %+v, want 1 fetch (start-up) and no failure", st)
	}
	if out := logs.String(); strings.Contains(out, "level=WARN") {
		t.Fatalf("Close during rediscovery was logged as a failure:\n%s", out)
	}
	ts.release()
	ts.Close()
	goleak.VerifyNone(t, ignore)
}
