package introspect_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/grpcauth/grpcauth/introspect"
)

// TestVerify_OwnClientKeepsAConnectionPerConcurrentRequest checks that the
// Verifier's own client keeps as many idle connections as MaxConcurrent
// allows requests in flight: a second burst of MaxConcurrent requests reuses
// the first burst's connections instead of dialling (and, over https,
// handshaking) again. 128 is more than the 100 idle connections in all
// that http.DefaultTransport, which the client clones, keeps.
func TestVerify_OwnClientKeepsAConnectionPerConcurrentRequest(t *testing.T) {
	for _, n := range []int{2 * introspect.DefaultMaxConcurrent, 128} {
		t.Run(fmt.Sprintf("MaxConcurrent=%d", n), func(t *testing.T) { keepsAConnectionPerConcurrentRequest(t, n) })
	}
}

func keepsAConnectionPerConcurrentRequest(t *testing.T, n int) {
	var dialled atomic.Int64
	arrived, release := make(chan struct{}, n), make(chan struct{}, n)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-release
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
	v := newVerifier(t, introspect.Config{
		Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{"api://x"}, MaxConcurrent: n, Logger: slog.New(slog.DiscardHandler),
	})
	burst := func(round int) {
		errs := make(chan error, n)
		for i := range n {
			go func() {
				_, err := v.VerifyAccessToken(context.Background(), fmt.Sprintf("round%dtoken%d", round, i))
				errs <- err
			}()
		}
		for range n {
			<-arrived // all n in flight at once
		}
		for range n {
			release <- struct{}{}
		}
		for range n {
			if err := <-errs; err != introspect.ErrInactive {
				t.Fatalf("got %v, want ErrInactive", err)
			}
		}
	}
	burst(1)
	if got := dialled.Load(); got != int64(n) {
		t.Fatalf("first burst: %d connections, want %d", got, n)
	}
	burst(2)
	// net/http returns a connection to the idle pool only once its request
	// write is known to be done, waiting at most 50 ms for that
	// (maxWriteWaitBeforeConnReuse): on a loaded machine a few connections
	// of the first burst may be closed instead of kept. Dropped idle
	// connections (the default MaxIdleConnsPerHost keeps 2) dial nearly n.
	if got := dialled.Load() - int64(n); got > int64(n)/8 {
		t.Fatalf("second burst dialled %d new connections, want at most %d: idle ones were dropped", got, n/8)
	}
}
