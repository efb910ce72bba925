package jwks

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/goleak"
)

// connServer is an issuer (discovery and key set) that reports its
// connections' openings and closings.
type connServer struct {
	*httptest.Server
	opened, closed chan struct{}
}

func newConnServer(t *testing.T) *connServer {
	t.Helper()
	cs := &connServer{opened: make(chan struct{}, 100), closed: make(chan struct{}, 100)}
	mux := http.NewServeMux()
	keys := jwksDoc(t, rsaJWK(t, 0, "a"))
	mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) { w.Write(keys) })
	mux.HandleFunc(oidcPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Write(discoveryDoc(t, cs.URL, cs.URL+"/keys"))
	})
	cs.Server = httptest.NewUnstartedServer(mux)
	cs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			cs.opened <- struct{}{}
		case http.StateClosed, http.StateHijacked:
			cs.closed <- struct{}{}
		}
	}
	cs.Start()
	t.Cleanup(cs.Close)
	return cs
}

// pending counts what ch holds now.
func pending(ch chan struct{}) int {
	n := 0
	for {
		select {
		case <-ch:
			n++
		default:
			return n
		}
	}
}

// noConnGoroutines checks that no goroutine but the Set's own and the test
// server's is left: none of net/http's client connection (persistConn's
// readLoop and writeLoop).
func noConnGoroutines(t *testing.T, ignore goleak.Option) {
	t.Helper()
	goleak.VerifyNone(t, ignore,
		goleak.IgnoreAnyFunction("github.com/grpcauth/grpcauth/verifier/internal/jwks.(*Set).run"),
		goleak.IgnoreAnyFunction("net/http/httptest.(*Server).goServe.func1"))
}

// TestSet_ClosesItsOwnIdleConnectionAfterEachRefresh: a Set on its own
// client (one it made, or one given as its own: the verifier's default)
// holds no idle connection, and no net/http goroutine, between refreshes:
// the connection its discovery and JWKS requests shared is closed once the
// refresh is over, the first and each later one.
func TestSet_ClosesItsOwnIdleConnectionAfterEachRefresh(t *testing.T) {
	for name, own := range map[string]func() Config{
		"made":  func() Config { return Config{} },
		"given": func() Config { return Config{Client: &http.Client{Transport: &http.Transport{}}, OwnClient: true} },
	} {
		t.Run(name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			cs := newConnServer(t)
			cfg := own()
			cfg.Issuer = cs.URL
			s, ft := startSet(t, cfg)
			ready(t, s)
			receive(t, cs.closed, "the first refresh's connection to close")
			if n := pending(cs.opened); n != 1 {
				t.Fatalf("the first refresh (discovery, then the key set) opened %d connections, want 1", n)
			}
			noConnGoroutines(t, ignore)

			ft.refreshNow(t)
			receive(t, cs.closed, "the second refresh's connection to close")
			if n := pending(cs.opened); n != 1 {
				t.Fatalf("the second refresh opened %d connections, want 1", n)
			}
			noConnGoroutines(t, ignore)
		})
	}
}

// TestSet_LeavesACallersConnectionsOpen: the connections of a client the
// caller gave are the caller's: a refresh reuses the one the last left
// idle.
func TestSet_LeavesACallersConnectionsOpen(t *testing.T) {
	cs := newConnServer(t)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	s, ft := startSet(t, Config{Issuer: cs.URL, Client: &http.Client{Transport: tr}})
	ready(t, s)
	ft.refreshNow(t)
	if n := pending(cs.opened); n != 1 {
		t.Fatalf("two refreshes opened %d connections of the caller's client, want 1 (reused)", n)
	}
	if n := pending(cs.closed); n != 0 {
		t.Fatalf("%d of the caller's connections closed", n)
	}
}
