package introspect_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/introspect"
)

// testTimer is a timer a test fires: the bound on reading a refused
// answer's body, which SetAfterFunc hands over instead of starting.
type testTimer struct {
	d     time.Duration
	state atomic.Int32 // 0 armed, 1 fired, 2 stopped
	f     func()
}

// fire runs the timer's function, unless it was stopped.
func (tt *testTimer) fire() {
	if tt.state.CompareAndSwap(0, 1) {
		tt.f()
	}
}

// stop is the timer's Stop: it reports whether it stopped the timer.
func (tt *testTimer) stop() bool { return tt.state.CompareAndSwap(0, 2) }

// handTimers makes v send each timer bounding the reading of a refused
// body on the channel returned, for the test to fire, instead of starting
// it.
func handTimers(v *introspect.Verifier) <-chan *testTimer {
	timers := make(chan *testTimer, 8)
	introspect.SetAfterFunc(v, func(d time.Duration, f func()) func() bool {
		tt := &testTimer{d: d, f: f}
		timers <- tt
		return tt.stop
	})
	return timers
}

// trickle is a handler whose answer has status and headers, then the start
// of a body whose rest never comes: it returns when the client closes the
// connection, closing gone, or when release is closed.
func trickle(status int, header http.Header, start string, gone, release chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a closed connection only after
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, start)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(gone)
		case <-release:
		}
	}
}

// requestContexts is a transport that hands the context of each request
// it sends (up to 8) on ctxs, so that a test can tell whether that
// request was ended, and how.
type requestContexts struct {
	rt   http.RoundTripper
	ctxs chan context.Context
}

func newRequestContexts() *requestContexts {
	return &requestContexts{rt: &http.Transport{}, ctxs: make(chan context.Context, 8)}
}

func (rc *requestContexts) RoundTrip(r *http.Request) (*http.Response, error) {
	select {
	case rc.ctxs <- r.Context():
	default:
	}
	return rc.rt.RoundTrip(r)
}

// endedByTheBound fails t unless ctx, the context of the request whose
// body's bound has just fired, was ended by it (cancelled), not by
// Timeout (a minute in these tests) or not at all: without the bound's
// cancel, the read would go on, and the call end, at Timeout all the same.
func endedByTheBound(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := ctx.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("once the bound has fired, the request's context is %v, want it cancelled", err)
	}
}

// refusedAnswers are answers the Verifier refuses by their status or
// their Content-Type, whose bodies are of no use but a 401's or 403's
// invalid_client.
var refusedAnswers = []struct {
	name   string
	status int
	header http.Header
}{
	{"429 with Retry-After", http.StatusTooManyRequests, http.Header{"Retry-After": {"30"}}},
	{"503", http.StatusServiceUnavailable, nil},
	{"401", http.StatusUnauthorized, http.Header{"Content-Type": {"application/json"}}},
	{"200 text/html", http.StatusOK, http.Header{"Content-Type": {"text/html"}}},
}

// TestVerify_ASlowBodyOfARefusedAnswerIsReadForAtMostASecond: the body of
// an answer refused by its status (a 429, a 503, a 401) or its
// Content-Type is read for at most a second from its headers: then the
// request ends (its context is cancelled when the bound fires, not at
// Timeout), with ErrUnavailable, and its connection is closed. Before,
// a body that trickled held its caller, a MaxConcurrent slot and a
// connection for all of Timeout (here a minute). The second is a timer the
// test fires.
func TestVerify_ASlowBodyOfARefusedAnswerIsReadForAtMostASecond(t *testing.T) {
	for _, tc := range refusedAnswers {
		t.Run(tc.name, func(t *testing.T) {
			gone, release := make(chan struct{}), make(chan struct{})
			sent := newRequestContexts()
			srv := httptest.NewServer(trickle(tc.status, tc.header, `{"error":`, gone, release))
			defer srv.Close()
			defer close(release) // runs first: the handler returns before srv.Close waits for it
			v := newVerifier(t, introspect.Config{
				Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
				Audiences: []string{"api://x"}, Logger: slog.New(slog.DiscardHandler), Timeout: time.Minute,
				HTTPClient: &http.Client{Transport: sent},
			})
			timers := handTimers(v)
			done := make(chan error, 1)
			go func() {
				_, err := v.VerifyAccessToken(context.Background(), "dG9rZW4")
				done <- err
			}()
			var tt *testTimer
			select {
			case tt = <-timers:
			case err := <-done:
				t.Fatalf("the call ended (%v) with no bound set on reading the body", err)
			}
			if tt.d != time.Second {
				t.Fatalf("the body is read for %v, want a second", tt.d)
			}
			tt.fire()
			endedByTheBound(t, <-sent.ctxs)
			if err := <-done; !errors.Is(err, introspect.ErrUnavailable) {
				t.Fatalf("once the bound has passed: %v, want ErrUnavailable", err)
			}
			<-gone // the connection was closed: the handler saw it
		})
	}
}

// bodyBytesTransport counts the bytes read from the bodies of the
// responses it returns.
type bodyBytesTransport struct {
	rt   http.RoundTripper
	read atomic.Int64
}

func (b *bodyBytesTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.rt.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &b.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestVerify_TheBodyOfARefusedAnswerIsReadUpTo64KiB: with MaxResponseSize
// raised to a megabyte, the body of an answer refused by its status or its
// Content-Type is still read up to 64 KiB (and the one byte that shows its
// end) only, and the token fails with ErrUnavailable. Before, a 429's
// body was read up to MaxResponseSize.
func TestVerify_TheBodyOfARefusedAnswerIsReadUpTo64KiB(t *testing.T) {
	body := strings.Repeat("x", 256<<10)
	for _, tc := range refusedAnswers {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				for k, vs := range tc.header {
					w.Header()[k] = vs
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, body)
			}))
			defer srv.Close()
			counted := &bodyBytesTransport{rt: &http.Transport{}}
			v := newVerifier(t, introspect.Config{
				Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
				Audiences: []string{"api://x"}, Logger: slog.New(slog.DiscardHandler), MaxResponseSize: 1 << 20,
				HTTPClient: &http.Client{Transport: counted},
			})
			if _, err := v.VerifyAccessToken(context.Background(), "dG9rZW4"); !errors.Is(err, introspect.ErrUnavailable) {
				t.Fatalf("%v, want ErrUnavailable", err)
			}
			if n, limit := counted.read.Load(), int64(64<<10+1); n > limit {
				t.Fatalf("read %d bytes of a %d-byte body, want at most %d", n, len(body), limit)
			}
		})
	}
}

// TestVerify_A401WhoseBodyDidNotComeIsLoggedAsUnknown: a 401 whose body
// is cut short, by its second (a timer the test fires) or a connection the
// server breaks, is logged, at error level, as a body that did not come,
// whose invalid_client is unknown, and pauses nothing: the next token's
// request goes out. Before, the log said the 401 came without
// invalid_client, which sent the operator away from the credentials it may
// have refused.
func TestVerify_A401WhoseBodyDidNotComeIsLoggedAsUnknown(t *testing.T) {
	tests := []struct {
		name string
		fire bool // the bound's timer; otherwise the server breaks the connection
		want string
	}{
		{"its second passed", true, "its body did not come within 1s"},
		{"its connection broke", false, "its body could not be read: unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gone, release := make(chan struct{}), make(chan struct{})
			refuse := trickle(http.StatusUnauthorized, http.Header{"Content-Type": {"application/json"}}, `{"error":`, gone, release)
			if !tc.fire {
				refuse = func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Length", "100")
					w.WriteHeader(http.StatusUnauthorized)
					_, _ = io.WriteString(w, `{"error":`) // and no more: the server closes the connection
					close(gone)
				}
			}
			var requests atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if requests.Add(1) == 1 {
					refuse(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"active":false}`)
			}))
			defer srv.Close()
			defer close(release) // runs first: the handler returns before srv.Close waits for it
			var logged syncBuffer
			sent := newRequestContexts()
			v := newVerifier(t, introspect.Config{
				Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
				Audiences: []string{"api://x"}, Logger: slog.New(slog.NewTextHandler(&logged, nil)), Timeout: time.Minute,
				HTTPClient: &http.Client{Transport: sent},
			})
			timers := handTimers(v)
			done := make(chan error, 1)
			go func() {
				_, err := v.VerifyAccessToken(context.Background(), "Zmlyc3Q")
				done <- err
			}()
			if tc.fire {
				(<-timers).fire()
				endedByTheBound(t, <-sent.ctxs)
			}
			if err := <-done; !errors.Is(err, introspect.ErrUnavailable) {
				t.Fatalf("the 401 cut short: %v, want ErrUnavailable", err)
			}
			<-gone
			out := logged.String()
			if !strings.Contains(out, tc.want) || !strings.Contains(out, "whether it said invalid_client is unknown") ||
				strings.Contains(out, "without invalid_client") || !strings.Contains(out, "level=ERROR") {
				t.Fatalf("logged %q, want an error saying %q and that invalid_client is unknown", out, tc.want)
			}
			if _, err := v.VerifyAccessToken(context.Background(), "c2Vjb25k"); err != introspect.ErrInactive {
				t.Fatalf("the next token: %v, want ErrInactive (its request sent: no pause)", err)
			}
		})
	}
}
