package introspect_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/grpcauth/grpcauth/internal/alloctest"
	"github.com/grpcauth/grpcauth/introspect"
)

// wantsMoreTransport closes wantsMore when the body of the first response
// it returns is asked for more once limit bytes have been read from it.
type wantsMoreTransport struct {
	rt        http.RoundTripper
	limit     int
	first     atomic.Bool
	wantsMore chan struct{}
}

func (w *wantsMoreTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := w.rt.RoundTrip(r)
	if err == nil && w.first.CompareAndSwap(false, true) {
		resp.Body = &countedBody{ReadCloser: resp.Body, limit: w.limit, wantsMore: w.wantsMore}
	}
	return resp, err
}

type countedBody struct {
	io.ReadCloser
	limit     int
	read      int
	wantsMore chan struct{}
	once      sync.Once
}

func (c *countedBody) Read(p []byte) (int, error) {
	if c.read >= c.limit {
		c.once.Do(func() { close(c.wantsMore) })
	}
	n, err := c.ReadCloser.Read(p)
	c.read += n
	return n, err
}

// TestVerify_AFailedAnswersBodyOfExactlyMaxResponseSizeKeepsTheConnection:
// the body of an answer that is not a 200 (here a 500, which pauses
// nothing), chunked and exactly MaxResponseSize bytes long, is read to
// its end, so that the next request reuses the connection. The server
// ends the body only once the Verifier asks for more than
// MaxResponseSize bytes: before, the body was read to MaxResponseSize
// bytes only, its end was never seen, and net/http closed the connection.
func TestVerify_AFailedAnswersBodyOfExactlyMaxResponseSizeKeepsTheConnection(t *testing.T) {
	const size = 4096
	wantsMore := make(chan struct{})
	var requests, dialled atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, strings.Repeat("x", size))
			w.(http.Flusher).Flush() // chunked: the end of the body is not sent yet
			select {
			case <-wantsMore:
			case <-r.Context().Done(): // the Verifier closed the connection
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"active":false}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	v := newVerifier(t, introspect.Config{
		Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{"api://x"}, Logger: slog.New(slog.DiscardHandler), MaxResponseSize: size,
		HTTPClient: &http.Client{Transport: &wantsMoreTransport{rt: transport, limit: size, wantsMore: wantsMore}},
	})
	if _, err := v.VerifyAccessToken(context.Background(), "Zmlyc3Q"); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("the 500: %v, want ErrUnavailable", err)
	}
	if _, err := v.VerifyAccessToken(context.Background(), "c2Vjb25k"); err != introspect.ErrInactive {
		t.Fatalf("the next token: %v, want ErrInactive", err)
	}
	if n := dialled.Load(); n != 1 {
		t.Fatalf("%d connections for two requests in turn, want 1 (reused)", n)
	}
}

// TestVerify_RejectionCostOfA200NotLabelledJSONIsNotItsBody: a 200 whose
// Content-Type is not application/json is refused (ErrUnavailable) by its
// headers, and its body, of no use, is discarded rather than kept in
// memory: refusing a megabyte's HTML page allocates far less than the page
// (before, the body was read into memory first, then refused for its
// label).
func TestVerify_RejectionCostOfA200NotLabelledJSONIsNotItsBody(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation measurement; run without -race")
	}
	page := []byte("<html>" + strings.Repeat("x", 1<<20) + "</html>")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write(page)
	}))
	defer srv.Close()
	v := newVerifier(t, introspect.Config{
		Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{"api://x"}, Logger: slog.New(slog.DiscardHandler), MaxResponseSize: 2 << 20,
	})
	var err error
	n := alloctest.Bytes(3, func() { _, err = v.VerifyAccessToken(context.Background(), "dG9rZW4") })
	if !errors.Is(err, introspect.ErrUnavailable) || !strings.Contains(err.Error(), "not application/json") {
		t.Fatalf("a 200 labelled text/html: %v, want ErrUnavailable saying it is not application/json", err)
	}
	if limit := uint64(len(page) / 4); n > limit {
		t.Fatalf("refusing a %d-byte page allocated %d bytes, want at most %d", len(page), n, limit)
	}
}

// TestVerify_A401WhoseCallersLeftWhileItsBodyCameIsNotLogged: when every
// caller has left (or Close came) while a 401's body was still being read,
// the request ends with their context's error, unlogged, as any request
// they abandon does; before, the cut-short body was judged as not saying
// invalid_client and an error-level record blamed the credentials of a
// request nobody waited for.
func TestVerify_A401WhoseCallersLeftWhileItsBodyCameIsNotLogged(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":`)
		w.(http.Flusher).Flush()
		hang(w, r) // the rest never comes
	}))
	defer srv.Close()
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	signal := &bodyReadSignal{rt: transport, reading: make(chan struct{})}
	var logged syncBuffer
	v, err := introspect.New(introspect.Config{
		Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{"api://x"}, Logger: slog.New(slog.NewTextHandler(&logged, nil)),
		HTTPClient: &http.Client{Transport: signal},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := v.VerifyAccessToken(ctx, "dG9rZW4")
		done <- err
	}()
	<-signal.reading // the 401's headers are in; its body is being read
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that left: %v, want context.Canceled", err)
	}
	v.Close() // waits for the request's goroutine: its log, if any, is written
	if out := logged.String(); out != "" {
		t.Fatalf("logged %q for a request every caller left, want nothing", out)
	}
}
