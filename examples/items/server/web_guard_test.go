package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// The transcoder reads a whole body before the interceptors see the call:
// an unauthenticated request of 64 MiB is refused after at most about the
// 4 MiB the gRPC port itself accepts, not read in full.
func TestWeb_UnauthenticatedBodyIsReadNoFurtherThanTheGRPCLimit(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	s, err := newServer(v, iss.URL(), iss.Audience(), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := webHandler(s.grpc, webConfig(iss.URL(), &devIssuer{iss}, "http://127.0.0.1:1/"), origin(iss.URL()))
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	body := &countingReader{r: io.MultiReader(strings.NewReader(`{"name":"`), io.LimitReader(repeatA{}, size), strings.NewReader(`"}`))}
	req := httptest.NewRequest(http.MethodPost, "/items.v1.ItemService/CreateItem", body) // no token
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	t.Logf("status %d: %s", rec.Code, strings.TrimSpace(rec.Body.String()))
	if rec.Code == http.StatusOK {
		t.Fatalf("a 64 MiB unauthenticated call succeeded")
	}
	if got := body.n.Load(); got > 5<<20 {
		t.Errorf("the web handler read %d MiB of an unauthenticated request body before refusing it; the gRPC port stops at 4 MiB", got>>20)
	}
}

type repeatA struct{}

func (repeatA) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// On a loopback listener the web server answers loopback host names only:
// a foreign Host (DNS rebinding: a remote site's name resolving to this
// machine) gets 421, so a page on that site cannot call the API as a
// loopback caller.
func TestWeb_LoopbackServerRefusesForeignHostNames(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	stop := serveWeb(t.Context(), ln, ok, slog.New(slog.DiscardHandler))
	t.Cleanup(stop)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for host, want := range map[string]int{
		"127.0.0.1:" + port:                  http.StatusNoContent,
		"localhost:" + port:                  http.StatusNoContent,
		"[::1]:" + port:                      http.StatusNoContent,
		"rebind.attacker.example:" + port:    http.StatusMisdirectedRequest,
		"127.0.0.1.attacker.example:" + port: http.StatusMisdirectedRequest,
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: status %d, want %d", host, resp.StatusCode, want)
		}
	}
}
