package introspect

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestVerify_ConfigNowIsNeverCalledWithTheBackoffLockHeld: Config.Now is
// user code (it may block, or take a lock of its own), and every request
// about to be sent takes the backoff's lock (backoff.sent): no call of it,
// recording a backoff step's pause included, finds that lock held. Before,
// the step's pause was recorded, Config.Now read, under the lock, so a
// Config.Now that blocked held back every request about to be sent.
func TestVerify_ConfigNowIsNeverCalledWithTheBackoffLockHeld(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests) // neither Retry-After nor X-Rate-Limit-Reset
	}))
	t.Cleanup(srv.Close)
	var (
		vp    atomic.Pointer[Verifier]
		calls atomic.Int64
		held  atomic.Int64 // calls that found the lock held
	)
	now := time.Now()
	_, v := newGated(t, nil, func(c *Config) {
		c.Endpoint, c.HTTPClient = srv.URL, nil
		c.Now = func() time.Time {
			if v := vp.Load(); v != nil {
				calls.Add(1)
				// One request at a time: nothing else holds the lock.
				if !v.backoff.mu.TryLock() {
					held.Add(1)
				} else {
					v.backoff.mu.Unlock()
				}
			}
			return now
		}
	})
	vp.Store(v)
	for _, tok := range []string{"first", "second"} { // a step, and one of its pause
		if _, err := v.VerifyAccessToken(t.Context(), tok); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s: %v, want ErrUnavailable", tok, err)
		}
	}
	if st := v.Stats(); st.Requests != 1 || st.RateLimited != 1 {
		t.Fatalf("Requests %d, RateLimited %d, want 1 and 1: the 429 did not pause", st.Requests, st.RateLimited)
	}
	if n := held.Load(); n > 0 {
		t.Fatalf("%d of %d calls of Config.Now found the backoff's lock held", n, calls.Load())
	}
}

// TestStatusError_ReadsConfigNowOnceAnAnswer: an answer whose status backs
// off or pauses (a 429, 503, 502 or 504 without a usable wait, a 429 with
// a Retry-After) or does neither (a 500) reads Config.Now once, outside
// the reading each round of recording a pause makes after the pause it
// may replace (see pause): its headers are judged and its backoff step
// taken at one time. Before, the step read the clock again, so a clock
// that moved between the two readings judged one answer at two times.
func TestStatusError_ReadsConfigNowOnceAnAnswer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
	}{
		{"429", http.StatusTooManyRequests, nil},
		{"503", http.StatusServiceUnavailable, nil},
		{"502", http.StatusBadGateway, nil},
		{"504", http.StatusGatewayTimeout, nil},
		{"429 with a Retry-After", http.StatusTooManyRequests, http.Header{"Retry-After": {"5"}}},
		{"500", http.StatusInternalServerError, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reads, pauseReads atomic.Int64
			start := time.Now()
			_, v := newGated(t, nil, func(c *Config) {
				c.Now = func() time.Time {
					// A clock that moves at each reading.
					return start.Add(time.Duration(reads.Add(1)) * time.Millisecond)
				}
			})
			v.pauseRead = func() { pauseReads.Add(1) }
			reads.Store(0)
			resp := &http.Response{StatusCode: tc.status, Header: tc.header}
			if resp.Header == nil {
				resp.Header = http.Header{}
			}
			if err := v.statusError(resp, v.backoff.sent()); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("statusError: %v, want ErrUnavailable", err)
			}
			if n := reads.Load() - pauseReads.Load(); n != 1 {
				t.Fatalf("Config.Now read %d times for one answer (%d more to record its pause), want once", n, pauseReads.Load())
			}
		})
	}
}
