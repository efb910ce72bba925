package jwks

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests hold checks that a hand-run mutation test found no other
// test holding: each fails when its check is removed or weakened.

// A lookup refused because every waiter slot is taken, while the only set
// it could be answered from is missing or older than MaxStaleness, is
// ErrUnavailable, never ErrUnknownKey: without a usable set the Set cannot
// tell a forged kid from a genuine one, so it must not blame the token
// (the verifier answers ErrKeysUnavailable, a retry, not ErrUnknownKey).
func TestSet_LookupRefusedForWantOfASlotWithoutAUsableSetIsUnavailable(t *testing.T) {
	check := func(t *testing.T, s *Set, joined <-chan struct{}, ts *testServer) {
		t.Helper()
		first := keyAsync(ctxT(t), s, "a")
		receive(t, joined, "the first lookup to join the fetch in flight")
		_, err := s.Key(ctxT(t), "a")
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnknownKey) {
			t.Errorf("Key(a) with the one waiter slot taken and no usable set = %v, want ErrUnavailable and not ErrUnknownKey", err)
		}
		ts.release()
		if err := receive(t, first, "the first lookup"); err != nil {
			t.Errorf("Key(a) that joined the fetch: %v, want the key", err)
		}
	}
	t.Run("no set loaded yet", func(t *testing.T) {
		ts := newTestServer(t)
		ts.setKeys(t, rsaJWK(t, 0, "a"))
		ts.holdRequests()
		clock := newFakeClock()
		s, _ := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now, MaxWaiters: 1})
		joined := make(chan struct{}, 1)
		s.onJoin = func() { joined <- struct{}{} }
		ts.waitEntered(t, "/keys") // the first fetch is in flight
		check(t, s, joined, ts)
	})
	t.Run("set older than MaxStaleness", func(t *testing.T) {
		s, ts, _, clock, joined := joinSetup(t, Config{MaxWaiters: 1}, 1)
		clock.Advance(DefaultMaxStaleness + time.Second)
		ts.holdRequests()
		started := keyAsync(ctxT(t), s, "a") // starts a fetch, holding no slot
		ts.waitEntered(t, "/keys")
		check(t, s, joined, ts)
		if err := receive(t, started, "the lookup that started the fetch"); err != nil {
			t.Errorf("Key(a) that started the fetch: %v, want the key", err)
		}
	})
}

// A key-set response larger than MaxResponseSize is refused as soon as its
// size is known: a declared Content-Length over the limit before any of the
// body is read, and a body without one once limit+1 bytes have arrived,
// without reading on. The server here then sends nothing more until the
// client goes away, so a fetch that waited for the rest would stall for
// its FetchTimeout (an hour) instead of failing.
func TestFetch_OversizeResponseIsRefusedWithoutReadingOn(t *testing.T) {
	const limit = 512
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter)
	}{
		{"Content-Length over the limit", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", strconv.Itoa(100*limit))
			w.WriteHeader(http.StatusOK)
		}},
		{"no Content-Length, limit+1 bytes sent", func(w http.ResponseWriter) {
			w.Write([]byte(`{"keys":[` + strings.Repeat(" ", limit) + `{`))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tc.write(w)
				w.(http.Flusher).Flush()
				<-r.Context().Done() // send nothing more until the client goes away
			}))
			t.Cleanup(srv.Close)
			s, err := firstFetchError(t, Config{URL: srv.URL, MaxResponseSize: limit, FetchTimeout: time.Hour})
			if err == nil || !strings.Contains(err.Error(), "limit") || s.Current("a") != nil {
				t.Fatalf("fetch error = %v; want a size-limit failure", err)
			}
		})
	}
}
