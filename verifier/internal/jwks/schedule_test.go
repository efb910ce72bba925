package jwks

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// scheduledSet is a set on a fake clock, loaded from an issuer serving
// entries; scheduled is the background refresh's pending wait.
func scheduledSet(t *testing.T, cfg Config, entries ...json.RawMessage) (s *Set, ts *testServer, clock *fakeClock, ft *fakeTimers, scheduled *fakeTimer) {
	t.Helper()
	clock = newFakeClock()
	ts = newTestServer(t)
	ts.setKeys(t, entries...)
	cfg.URL, cfg.Now = ts.URL+"/keys", clock.Now
	s, ft = startSet(t, cfg)
	ready(t, s)
	return s, ts, clock, ft, ft.next(t)
}

func TestNextInterval_CacheControlMaxAgeWithinBounds(t *testing.T) {
	const lo, hi = 10 * time.Second, time.Hour
	tests := []struct {
		name         string
		cacheControl []string
		age          string
		want         time.Duration
	}{
		{"no header: RefreshInterval", nil, "", hi},
		{"max-age shortens", []string{"public, max-age=300"}, "", 5 * time.Minute},
		{"max-age never lengthens", []string{"max-age=86400"}, "", hi},
		{"max-age never below MinRefreshInterval", []string{"max-age=1"}, "", lo},
		{"max-age=0 floors at MinRefreshInterval", []string{"max-age=0"}, "", lo},
		{"Age is subtracted", []string{"max-age=300"}, "100", 200 * time.Second},
		{"Age beyond max-age floors", []string{"max-age=300"}, "1000", lo},
		{"overflowing Age is past any max-age (RFC 9111 1.2.2)", []string{"max-age=300"}, "99999999999999999999", lo},
		{"case-insensitive and spaced", []string{"Public , MAX-AGE = 120 "}, "", 2 * time.Minute},
		{"quoted value", []string{`max-age="120"`}, "", 2 * time.Minute},
		{"second header line", []string{"public", "max-age=60"}, "", time.Minute},
		{"no-cache alone is ignored", []string{"no-cache"}, "", hi},
		{"no-store alone is ignored", []string{"no-store, must-revalidate"}, "", hi},
		{"s-maxage is not max-age", []string{"s-maxage=60"}, "", hi},
		{"negative max-age ignored", []string{"max-age=-5"}, "", hi},
		{"garbage max-age ignored", []string{"max-age=soon"}, "", hi},
		{"signed max-age ignored (1*DIGIT)", []string{"max-age=+30"}, "", hi},
		{"max-age=-0 ignored", []string{"max-age=-0"}, "", hi},
		{"signed Age not subtracted", []string{"max-age=300"}, "+100", 5 * time.Minute},
		{"overflowing max-age capped", []string{"max-age=99999999999999999999"}, "", hi},
		{"huge max-age capped", []string{"max-age=9223372036854775807"}, "", hi},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.cacheControl {
				h.Add("Cache-Control", v)
			}
			if tt.age != "" {
				h.Set("Age", tt.age)
			}
			if got := nextInterval(h, lo, hi); got != tt.want {
				t.Fatalf("nextInterval(%v) = %v, want %v", h, got, tt.want)
			}
		})
	}
}

func TestBackoff_DoublesFromOneSecondAndIsCapped(t *testing.T) {
	tests := []struct {
		n       int
		ceiling time.Duration
		want    time.Duration
	}{
		{1, time.Hour, time.Second},
		{2, time.Hour, 2 * time.Second},
		{3, time.Hour, 4 * time.Second},
		{9, time.Hour, 256 * time.Second},
		{10, time.Hour, backoffMax},
		{64, time.Hour, backoffMax},
		{1 << 30, time.Hour, backoffMax},
		{9, time.Minute, time.Minute}, // never above RefreshInterval
	}
	for _, tt := range tests {
		if got := backoff(backoffBase, tt.n, tt.ceiling); got != tt.want {
			t.Errorf("backoff(%v, %d, %v) = %v, want %v", backoffBase, tt.n, tt.ceiling, got, tt.want)
		}
	}
}

func TestJitter_SpreadsByTenPercent(t *testing.T) {
	d := time.Hour
	tests := []struct {
		r    float64
		want time.Duration
	}{
		{0, 54 * time.Minute},
		{0.5, time.Hour},
		{0.75, 63 * time.Minute},
	}
	for _, tt := range tests {
		if got := jitter(d, tt.r); got != tt.want {
			t.Errorf("jitter(1h, %v) = %v, want %v", tt.r, got, tt.want)
		}
	}
	if got := jitter(d, 0.9999999); got >= 66*time.Minute || got < 65*time.Minute {
		t.Errorf("jitter(1h, ~1) = %v, want just under 66m", got)
	}
}

func TestSet_ScheduledRefreshHonoursCacheControl(t *testing.T) {
	ts := newTestServer(t)
	ts.set("/keys", reply{body: jwksDoc(t, rsaJWK(t, 0, "a")), header: map[string]string{"Cache-Control": "public, max-age=120"}})
	_, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	if got := ft.next(t).span(t, nil); got != 2*time.Minute {
		t.Fatalf("wait after a max-age=120 response = %v, want 2m", got)
	}
}

func TestSet_BackgroundWaitsAreJittered(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ft := newFakeTimers()
	s := newSet(Config{URL: ts.URL + "/keys", Logger: testLogger(t)}, ft.newTimer, ft.afterFunc, func() float64 { return 0 })
	defer s.Close()
	if got := ft.next(t).span(t, nil); got != 54*time.Minute {
		t.Fatalf("wait with random 0 = %v, want RefreshInterval-10%% = 54m", got)
	}
}

// An issuer that answers 429 or 503 with Retry-After (RFC 9110, 10.2.3;
// RFC 6585, 4) is not asked again before it said (up to the back-off cap):
// the doubling back-off alone would retry after 1 s, 2 s, 4 s, ..., which
// can prolong a rate limit the issuer is enforcing.
func TestSet_BackOffHonoursRetryAfter(t *testing.T) {
	clock := newFakeClock()
	tests := []struct {
		name, status, retryAfter string
		code                     int
		want                     time.Duration
	}{
		{"429 seconds", "429", "120", 429, 2 * time.Minute},
		{"503 HTTP-date", "503", clock.Now().Add(90 * time.Second).Format(http.TimeFormat), 503, 90 * time.Second},
		{"capped at the back-off cap", "429", "86400", 429, backoffMax},
		{"overflowing seconds capped too (RFC 9111 1.2.2)", "503", "99999999999999999999", 503, backoffMax},
		{"shorter than the back-off", "429", "0", 429, backoffBase},
		{"unparsable", "503", "soon", 503, backoffBase},
		{"500 ignores it", "500", "120", 500, backoffBase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.set("/keys", reply{status: tt.code, header: map[string]string{"Retry-After": tt.retryAfter}})
			_, ft := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now})
			if got := ft.next(t).span(t, nil); got != tt.want {
				t.Fatalf("wait after %s with Retry-After %q = %v, want %v", tt.status, tt.retryAfter, got, tt.want)
			}
		})
	}
}

// Okta answers a 429 with X-Rate-Limit-Reset (the Unix time its rate-limit
// window resets) instead of a Retry-After: the background refresh does not
// ask again before that time, read against Config.Now, within the cap a
// Retry-After has, so that a reset a year away, or beyond int64, holds the
// refresh (and a rotation) back no longer than backoffMax. A Retry-After
// that is there decides, a zero one too; a reset on a 503, past or
// unparsable asks for nothing.
func TestSet_BackOffHonoursOktasRateLimitReset(t *testing.T) {
	clock := newFakeClock()
	unix := func(d time.Duration) string { return strconv.FormatInt(clock.Now().Add(d).Unix(), 10) }
	tests := []struct {
		name   string
		code   int
		header map[string]string
		want   time.Duration
	}{
		{"429, reset in 2 min", 429, map[string]string{"X-Rate-Limit-Reset": unix(2 * time.Minute)}, 2 * time.Minute},
		{"429, blank Retry-After", 429, map[string]string{"Retry-After": " ", "X-Rate-Limit-Reset": unix(90 * time.Second)}, 90 * time.Second},
		{"429, reset a year away: capped", 429, map[string]string{"X-Rate-Limit-Reset": unix(365 * 24 * time.Hour)}, backoffMax},
		{"429, reset beyond int64: capped", 429, map[string]string{"X-Rate-Limit-Reset": "99999999999999999999"}, backoffMax},
		{"429, Retry-After decides", 429, map[string]string{"Retry-After": "30", "X-Rate-Limit-Reset": unix(2 * time.Minute)}, 30 * time.Second},
		{"429, a zero Retry-After decides", 429, map[string]string{"Retry-After": "0", "X-Rate-Limit-Reset": unix(2 * time.Minute)}, backoffBase},
		{"429, reset past", 429, map[string]string{"X-Rate-Limit-Reset": unix(-time.Minute)}, backoffBase},
		{"429, reset unparsable", 429, map[string]string{"X-Rate-Limit-Reset": "soon"}, backoffBase},
		{"503 ignores it", 503, map[string]string{"X-Rate-Limit-Reset": unix(2 * time.Minute)}, backoffBase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.set("/keys", reply{status: tt.code, header: tt.header})
			_, ft := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now})
			if got := ft.next(t).span(t, nil); got != tt.want {
				t.Fatalf("wait after %d with %v = %v, want %v", tt.code, tt.header, got, tt.want)
			}
		})
	}
}

// The back-off's jitter spreads retries, but never to before the
// Retry-After the issuer gave: a wait jittered short is raised to it.
func TestSet_JitterNeverRetriesBeforeRetryAfter(t *testing.T) {
	ts := newTestServer(t)
	ts.set("/keys", reply{status: 429, header: map[string]string{"Retry-After": "120"}})
	ft := newFakeTimers()
	s := newSet(Config{URL: ts.URL + "/keys", Logger: testLogger(t)}, ft.newTimer, ft.afterFunc, func() float64 { return 0 })
	defer s.Close()
	if got := ft.next(t).span(t, nil); got != 2*time.Minute {
		t.Fatalf("wait after 429 with Retry-After 120 and random 0 = %v, want 2m", got)
	}
}

// A Retry-After the issuer gave an unknown kid's fetch binds the background
// refresh too: a scheduled refresh due within it waits until it has passed
// (docs/key-set.md: the issuer "is not asked sooner by the background
// refresh"). Unknown-kid fetches keep their own limit.
func TestSet_ScheduledRefreshWaitsForTheRetryAfterAMissFetchGot(t *testing.T) {
	s, ts, clock, ft, scheduled := scheduledSet(t, Config{}, rsaJWK(t, 0, "a")) // the refresh an hour away

	ts.set("/keys", reply{status: 429, header: map[string]string{"Retry-After": "120"}})
	if _, err := s.Key(ctxT(t), "new"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Key(new) = %v, want ErrUnavailable", err)
	}
	clock.Advance(30 * time.Second)
	scheduled.span(t, nil) // due 30 s into the issuer's 120 s
	w := ft.next(t)
	if n := ts.count("/keys"); n != 2 {
		t.Fatalf("scheduled refresh: %d fetches, want a wait before fetching again (2 fetches)", n)
	}
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	if got := w.span(t, clock); got != 90*time.Second {
		t.Fatalf("scheduled refresh waits %v for the Retry-After, want its remaining 90s", got)
	}
	w = ft.next(t)
	if n := ts.count("/keys"); n != 3 {
		t.Fatalf("after the Retry-After: %d fetches, want the refresh done (3 fetches)", n)
	}
	if got := w.span(t, nil); got != DefaultRefreshInterval {
		t.Fatalf("after the Retry-After: the next refresh in %v, want %v", got, DefaultRefreshInterval)
	}
}

// A clock set back after an unknown kid's fetch got a Retry-After does not
// stretch the scheduled refresh's wait for it past the cap, as it does not
// stretch the unknown kids' (retryingLocked): a Config.Now an hour back
// would otherwise hold the refresh, and with it a removed key's withdrawal,
// for an hour and the Retry-After.
func TestSet_ScheduledRefreshIgnoresARetryAfterStretchedByTheClockSetBack(t *testing.T) {
	_, ts, clock, ft, scheduled := pausedSet(t, Config{}, 429, "120")
	clock.Advance(-time.Hour)
	scheduled.span(t, nil)
	w := ft.next(t)
	if n := ts.count("/keys"); n != 3 {
		t.Fatalf("clock an hour back: %d fetches, want the refresh done at once (3 fetches)", n)
	}
	if got := w.span(t, nil); got != DefaultRefreshInterval {
		t.Fatalf("clock an hour back: the next refresh in %v, want %v", got, DefaultRefreshInterval)
	}
}

// Go's timers run on the monotonic clock, which stands still while the
// host is suspended (a paused VM, a sleeping laptop), but the scheduled
// refresh is due by the wall clock: a host that slept past it refreshes
// when the timer running at the suspend fires, within maxTimerWait, not
// after the rest of RefreshInterval of awake time, during which a key the
// issuer withdrew meanwhile would stay trusted.
func TestSet_ScheduledRefreshAfterASuspendComesWithinAMinute(t *testing.T) {
	s, ts, clock, ft, w := scheduledSet(t, Config{}, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
	if w.d > maxTimerWait {
		t.Fatalf("timer set for %v, want at most %v: the refresh is due in %v by the wall clock", w.d, maxTimerWait, DefaultRefreshInterval)
	}
	for i := range 10 { // ten minutes awake
		clock.Advance(w.d)
		if !w.fire(t) {
			t.Fatalf("the wait ended after %d steps, %v in all, want %v", i+1, clock.Now().Sub(s.Stats().LastSuccess), DefaultRefreshInterval)
		}
	}
	ts.setKeys(t, rsaJWK(t, 0, "a")) // the issuer withdraws b while the host sleeps
	clock.Advance(10 * time.Hour)
	if w.fire(t) {
		t.Fatalf("timer fired 10h past the refresh by the wall clock: set again for %v, want the refresh", w.d)
	}
	ft.next(t) // the refresh is done
	if n := ts.count("/keys"); n != 2 || s.Current("b") != nil {
		t.Fatalf("after the suspend: %d fetches, key b still served: %v; want the refresh (2 fetches) to have removed b", n, s.Current("b") != nil)
	}
}

// A wall clock set back while the refresh waits does not delay it: the
// wait ends by the wall clock or once its timers add up to it, whichever
// comes first, so a clock set back a day refreshes when the monotonic
// clock says, not a day later.
func TestSet_ScheduledRefreshIsNotDelayedByTheClockSetBack(t *testing.T) {
	_, ts, clock, ft, w := scheduledSet(t, Config{}, rsaJWK(t, 0, "a"))
	clock.Advance(-24 * time.Hour)
	if got := w.span(t, clock); got != DefaultRefreshInterval {
		t.Fatalf("clock set back a day: the refresh came after %v, want %v", got, DefaultRefreshInterval)
	}
	ft.next(t) // the refresh is done
	if n := ts.count("/keys"); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}
