package introspect_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/introspect"
)

// TestVerify_RetryAfterPausesRequests: a 429 or 503 answer with a
// Retry-After (delta-seconds or an HTTP-date, read against Config.Now), or
// a 429 without one but with Okta's X-Rate-Limit-Reset (the Unix time its
// window resets), makes the Verifier send no request until it ends, at
// most a minute on: the tokens it would have asked about fail at once with
// ErrUnavailable, counted in Stats.RateLimited. Then requests go out
// again. A Retry-After on another status pauses nothing. A 429 or 503
// whose Retry-After is unparsable, zero or past, or whose
// X-Rate-Limit-Reset is unparsable or past, or next to such a Retry-After
// (which decides), or on a 503, backs off (see backoff_test.go): the
// first such answer pauses requests for a second (jitter is off).
func TestVerify_RetryAfterPausesRequests(t *testing.T) {
	unix := func(d time.Duration) func(time.Time) string {
		return func(now time.Time) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	}
	tests := []struct {
		name       string
		status     int
		retryAfter func(now time.Time) string // nil: none
		reset      func(now time.Time) string // X-Rate-Limit-Reset; nil: none
		pause      time.Duration              // 0: none
	}{
		{"429, seconds", http.StatusTooManyRequests, func(time.Time) string { return "30" }, nil, 30 * time.Second},
		{"503, seconds", http.StatusServiceUnavailable, func(time.Time) string { return " 7 " }, nil, 7 * time.Second},
		{"429, HTTP-date", http.StatusTooManyRequests, func(now time.Time) string {
			return now.Add(20 * time.Second).UTC().Format(http.TimeFormat)
		}, nil, 20 * time.Second},
		{"429, an hour: capped", http.StatusTooManyRequests, func(time.Time) string { return "3600" }, nil, time.Minute},
		{"429, overflowing seconds: capped", http.StatusTooManyRequests, func(time.Time) string { return "99999999999999999999" }, nil, time.Minute},
		{"429, a date next year: capped", http.StatusTooManyRequests, func(now time.Time) string {
			return now.AddDate(1, 0, 0).UTC().Format(http.TimeFormat)
		}, nil, time.Minute},
		{"429, zero", http.StatusTooManyRequests, func(time.Time) string { return "0" }, nil, time.Second},
		{"429, a past date", http.StatusTooManyRequests, func(now time.Time) string {
			return now.Add(-time.Hour).UTC().Format(http.TimeFormat)
		}, nil, time.Second},
		{"429, garbage", http.StatusTooManyRequests, func(time.Time) string { return "soon" }, nil, time.Second},
		{"429, negative", http.StatusTooManyRequests, func(time.Time) string { return "-5" }, nil, time.Second},
		{"500, seconds: not a pause", http.StatusInternalServerError, func(time.Time) string { return "30" }, nil, 0},
		{"429, reset in 30 s", http.StatusTooManyRequests, nil, unix(30 * time.Second), 30 * time.Second},
		{"429, reset in an hour: capped", http.StatusTooManyRequests, nil, unix(time.Hour), time.Minute},
		{"429, reset overflowing: capped", http.StatusTooManyRequests, nil, func(time.Time) string { return "99999999999999999999" }, time.Minute},
		{"429, reset past", http.StatusTooManyRequests, nil, unix(-time.Minute), time.Second},
		{"429, reset now", http.StatusTooManyRequests, nil, unix(0), time.Second},
		{"429, reset garbage", http.StatusTooManyRequests, nil, func(time.Time) string { return "soon" }, time.Second},
		{"429, Retry-After decides over reset", http.StatusTooManyRequests, func(time.Time) string { return "10" }, unix(40 * time.Second), 10 * time.Second},
		{"429, a zero Retry-After decides over reset: backs off", http.StatusTooManyRequests, func(time.Time) string { return "0" }, unix(40 * time.Second), time.Second},
		{"503, reset: backs off", http.StatusServiceUnavailable, nil, unix(30 * time.Second), time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var refuse atomic.Bool
			refuse.Store(true)
			var e *env
			e = newFrontedEnv(t, nil, func(w http.ResponseWriter) bool {
				if !refuse.Swap(false) { // the first request only
					return false
				}
				if tc.retryAfter != nil {
					w.Header().Set("Retry-After", tc.retryAfter(e.clk.Now()))
				}
				if tc.reset != nil {
					w.Header().Set("X-Rate-Limit-Reset", tc.reset(e.clk.Now()))
				}
				w.WriteHeader(tc.status)
				return true
			})
			checkPause(t, e, tc.status, tc.pause)
		})
	}
}

// checkPause checks that a token's first verification, which e's endpoint
// answers with status, fails with ErrUnavailable, and that the answer
// pauses requests for pause (none when 0): a second before it ends the
// token fails again without a request, counted in Stats.RateLimited, and
// once it has ended the token is verified, with a second request.
func checkPause(t *testing.T, e *env, status int, pause time.Duration) {
	t.Helper()
	tok := e.opaque(t, nil)
	if _, err := e.verify(t, tok); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("answered %d: %v, want ErrUnavailable", status, err)
	}
	if pause > 0 {
		e.advance(pause - time.Second)
		if _, err := e.verify(t, tok); !errors.Is(err, introspect.ErrUnavailable) {
			t.Fatalf("a second before the pause ends: %v, want ErrUnavailable", err)
		}
		if st := e.v.Stats(); st.Requests != 1 || st.RateLimited != 1 {
			t.Fatalf("within the pause: Requests %d, RateLimited %d, want 1 and 1 (no request sent)", st.Requests, st.RateLimited)
		}
		e.advance(time.Second)
	}
	if _, err := e.verify(t, tok); err != nil {
		t.Fatalf("once the pause has ended: %v, want the token verified", err)
	}
	if st := e.v.Stats(); st.Requests != 2 {
		t.Fatalf("Requests %d, want 2", st.Requests)
	}
}

// TestVerify_RefusedClientCredentialsPauseRequests: a 401 or 403 answer
// whose body is an RFC 6749 (5.2) error response saying "invalid_client"
// (the server refused this service's own client authentication, whatever
// the token) makes the Verifier send no request for Cache.NegativeTTL, at
// most a minute: every request would be refused alike. The tokens it would
// have asked about fail at once with ErrUnavailable, counted in
// Stats.RateLimited; then requests go out again. Before, every call sent
// its request. A 401 or 403 that does not say so (a proxy's or a web
// application firewall's refusal of one request, which a caller's token
// may provoke) pauses nothing, so that no token can stop the others'
// requests; nor does invalid_client on another status, under another
// member name ("Error"), or in an "error" member repeated with another
// value last.
func TestVerify_RefusedClientCredentialsPauseRequests(t *testing.T) {
	const invalidClient = `{"error":"invalid_client","error_description":"client authentication failed"}`
	tests := []struct {
		name        string
		status      int
		body        string
		negativeTTL time.Duration // 0: the default
		pause       time.Duration // 0: none
		cacheOff    bool
	}{
		{"401 invalid_client", http.StatusUnauthorized, invalidClient, 0, introspect.DefaultNegativeCacheTTL, false},
		{"403 invalid_client", http.StatusForbidden, invalidClient, 0, introspect.DefaultNegativeCacheTTL, false},
		{"401 invalid_client, NegativeTTL 3 s", http.StatusUnauthorized, invalidClient, 3 * time.Second, 3 * time.Second, false},
		{"401 invalid_client, NegativeTTL an hour: capped", http.StatusUnauthorized, invalidClient, time.Hour, time.Minute, false},
		{"401, no body", http.StatusUnauthorized, "", 0, 0, false},
		{"403, a firewall's page", http.StatusForbidden, "<html>Request blocked</html>", 0, 0, false},
		{"403, another error", http.StatusForbidden, `{"error":"access_denied"}`, 0, 0, false},
		{"401, invalid_client under another name", http.StatusUnauthorized, `{"error":"invalid_request","Error":"invalid_client"}`, 0, 0, false},
		{"401, invalid_client repeated, another last", http.StatusUnauthorized, `{"error":"invalid_client","error":"invalid_request"}`, 0, 0, false},
		{"401, invalid_client then null", http.StatusUnauthorized, `{"error":"invalid_client","error":null}`, 0, 0, false},
		{"401, invalid_client escaped", http.StatusUnauthorized, `{"error":"invalid\u005fclient"}`, 0, introspect.DefaultNegativeCacheTTL, false},
		{"401, the string invalid_client alone", http.StatusUnauthorized, `"invalid_client"`, 0, 0, false},
		{"401 invalid_client, caches off", http.StatusUnauthorized, invalidClient, 0, introspect.DefaultNegativeCacheTTL, true},
		{"400 invalid_client: not a pause", http.StatusBadRequest, invalidClient, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var refuse atomic.Bool
			refuse.Store(true)
			e := newFrontedEnv(t, func(c *introspect.Config) { c.Cache.NegativeTTL, c.Cache.Disabled = tc.negativeTTL, tc.cacheOff },
				func(w http.ResponseWriter) bool {
					if !refuse.Swap(false) { // the first request only
						return false
					}
					w.WriteHeader(tc.status)
					_, _ = io.WriteString(w, tc.body)
					return true
				})
			checkPause(t, e, tc.status, tc.pause)
		})
	}
}

// TestVerify_RetryAfterEndsWhenTheClockIsSetBack: a pause that would run
// longer than its cap at the current time (the clock was set back after
// it began) has ended: requests are not held back for longer than the
// cap, whatever the clock does.
func TestVerify_RetryAfterEndsWhenTheClockIsSetBack(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	e := newFrontedEnv(t, nil, func(w http.ResponseWriter) bool {
		if !refuse.Swap(false) {
			return false
		}
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	})
	tok := e.opaque(t, nil)
	if _, err := e.verify(t, tok); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("answered 429: %v, want ErrUnavailable", err)
	}
	e.advance(-time.Hour)
	if _, err := e.verify(t, e.opaque(t, nil)); err != nil {
		t.Fatalf("clock set back an hour: %v, want the token verified", err)
	}
}

// TestVerify_CachedTokensAreAcceptedDuringARetryAfter: the pause a 429's
// Retry-After makes holds back requests only: a token with a cached
// answer is still accepted from the cache, and counts in neither Requests
// nor RateLimited.
func TestVerify_CachedTokensAreAcceptedDuringARetryAfter(t *testing.T) {
	var refuse atomic.Bool
	e := newFrontedEnv(t, nil, func(w http.ResponseWriter) bool {
		if !refuse.Load() {
			return false
		}
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	})
	cached := e.opaque(t, nil)
	if _, err := e.verify(t, cached); err != nil {
		t.Fatal(err)
	}
	refuse.Store(true)
	if _, err := e.verify(t, e.opaque(t, nil)); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("answered 429: %v, want ErrUnavailable", err)
	}
	e.advance(10 * time.Second) // within both the pause and the cached answer's TTL
	if _, err := e.verify(t, cached); err != nil {
		t.Fatalf("a cached token within the Retry-After: %v, want it accepted", err)
	}
	if st := e.v.Stats(); st.Requests != 2 || st.RateLimited != 0 || st.CacheHits != 1 {
		t.Fatalf("Requests %d, RateLimited %d, CacheHits %d; want 2, 0 and 1", st.Requests, st.RateLimited, st.CacheHits)
	}
}

// newRetryAfterEnv returns an env whose endpoint answers its first
// requests 429, with retryAfters in turn, and the rest as the issuer does.
func newRetryAfterEnv(t *testing.T, retryAfters ...string) *env {
	t.Helper()
	queue := make(chan string, len(retryAfters))
	for _, s := range retryAfters {
		queue <- s
	}
	return newFrontedEnv(t, nil, func(w http.ResponseWriter) bool {
		select {
		case s := <-queue:
			w.Header().Set("Retry-After", s)
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		default:
			return false
		}
	})
}

// raceNextPause makes the next answer e.v records as a pause, once it has
// read the pause it may replace, first run before and then verify another
// token, whose error it sends on the channel returned.
func raceNextPause(t *testing.T, e *env, before func()) <-chan error {
	var armed atomic.Bool
	armed.Store(true)
	other := e.opaque(t, nil)
	racing := make(chan error, 1)
	introspect.SetPauseRead(e.v, func() {
		if armed.Swap(false) {
			before()
			_, err := e.verify(t, other)
			racing <- err
		}
	})
	return racing
}

// TestVerify_RacingRetryAftersAfterTheClockIsSetBackKeepTheLonger: once
// the clock is set back past a pause (which has then ended), two 429s
// answered at the same time record the longer of their Retry-Afters,
// whichever records first: a shorter one recorded while the other was
// deciding does not keep the longer one out.
func TestVerify_RacingRetryAftersAfterTheClockIsSetBackKeepTheLonger(t *testing.T) {
	e := newRetryAfterEnv(t, "60", "30", "10")
	if _, err := e.verify(t, e.opaque(t, nil)); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("answered 429, Retry-After 60: %v, want ErrUnavailable", err)
	}
	e.advance(-time.Hour) // the minute's pause has ended
	// While the answer asking for 30 s is being recorded, after it has
	// read the ended pause, another token's request is answered 429 with
	// 10 s, and records it.
	racing := raceNextPause(t, e, func() {})
	if _, err := e.verify(t, e.opaque(t, nil)); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("answered 429, Retry-After 30: %v, want ErrUnavailable", err)
	}
	if err := <-racing; !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("the racing request, answered 429, Retry-After 10: %v, want ErrUnavailable", err)
	}
	e.advance(15 * time.Second)
	if _, err := e.verify(t, e.opaque(t, nil)); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("15 s later, within the 30 s pause: %v, want ErrUnavailable", err)
	}
	if st := e.v.Stats(); st.Requests != 3 || st.RateLimited != 1 {
		t.Fatalf("Requests %d, RateLimited %d, want 3 and 1 (the last request not sent)", st.Requests, st.RateLimited)
	}
	e.advance(15 * time.Second)
	if _, err := e.verify(t, e.opaque(t, nil)); err != nil {
		t.Fatalf("once the 30 s pause has ended: %v, want the token verified", err)
	}
}

// TestVerify_AShorterRetryAfterReadEarlierDoesNotEndALongerPause: a 429
// asking for 10 s, whose answer was read before another asking for a
// minute, does not end that minute's pause when it is recorded after it:
// its clock reading, earlier by any time at all, made the minute look
// longer than maxRetryAfter, as if the clock had been set back.
func TestVerify_AShorterRetryAfterReadEarlierDoesNotEndALongerPause(t *testing.T) {
	e := newRetryAfterEnv(t, "10", "60")
	// While the answer asking for 10 s is being recorded, a millisecond
	// after it was read, another token's request is answered 429 with a
	// minute, and records it first.
	racing := raceNextPause(t, e, func() { e.advance(time.Millisecond) })
	if _, err := e.verify(t, e.opaque(t, nil)); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("answered 429, Retry-After 10: %v, want ErrUnavailable", err)
	}
	if err := <-racing; !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("the racing request, answered 429, Retry-After 60: %v, want ErrUnavailable", err)
	}
	e.advance(30 * time.Second)
	if _, err := e.verify(t, e.opaque(t, nil)); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("30 s later, within the minute's pause: %v, want ErrUnavailable", err)
	}
	if st := e.v.Stats(); st.Requests != 2 || st.RateLimited != 1 {
		t.Fatalf("Requests %d, RateLimited %d, want 2 and 1 (the last request not sent)", st.Requests, st.RateLimited)
	}
	e.advance(30 * time.Second)
	if _, err := e.verify(t, e.opaque(t, nil)); err != nil {
		t.Fatalf("once the minute's pause has ended: %v, want the token verified", err)
	}
}

// bodyReadSignal is a transport that closes reading when the body of the
// first response it returns is first read.
type bodyReadSignal struct {
	rt      http.RoundTripper
	first   atomic.Bool
	reading chan struct{}
}

func (b *bodyReadSignal) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.rt.RoundTrip(r)
	if err == nil && b.first.CompareAndSwap(false, true) {
		resp.Body = &signalledBody{ReadCloser: resp.Body, reading: b.reading}
	}
	return resp, err
}

type signalledBody struct {
	io.ReadCloser
	reading chan struct{}
	once    sync.Once
}

func (s *signalledBody) Read(p []byte) (int, error) {
	s.once.Do(func() { close(s.reading) })
	return s.ReadCloser.Read(p)
}

// TestVerify_ASlowRetryAfterBodyDoesNotLetRequestsOut: a 429's pause
// begins as soon as its status and Retry-After are in, not once its body
// has been read: while the body still comes, another token fails at once
// with ErrUnavailable and sends no request (before, it was sent, to a
// server that had said it would refuse it).
func TestVerify_ASlowRetryAfterBodyDoesNotLetRequestsOut(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			w.Header().Set("Retry-After", "30")
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, "slow down")
			w.(http.Flusher).Flush()
			select { // the rest of the body, once released
			case <-release:
			case <-r.Context().Done():
			}
			_, _ = io.WriteString(w, ", please")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"active":false}`)
	}))
	defer srv.Close()
	defer unblock() // runs first: the handler returns before srv.Close waits for it
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	signal := &bodyReadSignal{rt: transport, reading: make(chan struct{})}
	clk := newClock()
	v := newVerifier(t, introspect.Config{
		Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{"api://x"}, Logger: slog.New(slog.DiscardHandler), Now: clk.Now,
		HTTPClient: &http.Client{Transport: signal},
	})
	first := make(chan error, 1)
	go func() {
		_, err := v.VerifyAccessToken(context.Background(), "Zmlyc3Q")
		first <- err
	}()
	<-signal.reading // the 429's status and headers are in; its body is being read
	if _, err := v.VerifyAccessToken(t.Context(), "c2Vjb25k"); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("another token while the 429's body is read: %v, want ErrUnavailable (paused)", err)
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("%d requests while the 429's body was read, want 1", n)
	}
	if st := v.Stats(); st.RateLimited != 1 {
		t.Fatalf("Stats.RateLimited %d, want 1", st.RateLimited)
	}
	unblock()
	if err := <-first; !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("the 429's token: %v, want ErrUnavailable", err)
	}
}
