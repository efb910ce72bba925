package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "google.golang.org/grpc/encoding/gzip" // as a server that accepts gzip has it: the transcoder then always inflates

	"github.com/grpcauth/grpcauth/grpcauthtest"
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
	h := newTestWebHandler(t)
	const size = 64 << 20
	body := &countingReader{r: io.MultiReader(strings.NewReader(`{"name":"`), io.LimitReader(repeatA{}, size), strings.NewReader(`"}`))}
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/items.v1.ItemService/CreateItem", body) // no token
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

// A gzip body is bounded after decompression too: 64 KiB that inflate to
// 64 MiB, without a token, cost the server about the 4 MiB the gRPC port
// accepts, not the whole inflated message (and its copies).
func TestWeb_CompressedUnauthenticatedBodyIsInflatedNoFurtherThanTheGRPCLimit(t *testing.T) {
	h := newTestWebHandler(t)
	const size = 64 << 20
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := io.Copy(zw, io.MultiReader(strings.NewReader(`{"name":"`), io.LimitReader(repeatA{}, size), strings.NewReader(`"}`))); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	compressed := gz.Len()
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/items.v1.ItemService/CreateItem", &gz) // no token
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Connect-Protocol-Version", "1")
	rec := httptest.NewRecorder()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	h.ServeHTTP(rec, req)
	runtime.ReadMemStats(&after)
	t.Logf("status %d: %s", rec.Code, strings.TrimSpace(rec.Body.String()))
	if rec.Code != http.StatusTooManyRequests { // Connect's resource_exhausted
		t.Errorf("status %d, want %d (resource_exhausted)", rec.Code, http.StatusTooManyRequests)
	}
	// Buffers grown by doubling to 4 MiB and a few copies stay far below
	// the inflated size; without the bound it is several times over.
	if got := after.TotalAlloc - before.TotalAlloc; got >= size {
		t.Errorf("the web handler allocated %d MiB for a %d KiB gzip body inflating to %d MiB, without a token; want it stopped near the gRPC port's 4 MiB",
			got>>20, compressed>>10, size>>20)
	}

	// A small gzip body still reaches the interceptors, which refuse it
	// for want of a token.
	gz.Reset()
	zw.Reset(&gz)
	if _, err := io.WriteString(zw, `{"name":"x"}`); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	req = httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/items.v1.ItemService/CreateItem", &gz)
	req.Header = http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}, "Connect-Protocol-Version": {"1"}}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "CREDENTIALS_MISSING") {
		t.Errorf("small gzip CreateItem without a token: %d %s, want 401 CREDENTIALS_MISSING", rec.Code, rec.Body)
	}
}

// newTestWebHandler returns the web handler of a server that trusts a
// fresh development issuer, for a listener on 127.0.0.1:1.
func newTestWebHandler(t *testing.T) http.Handler {
	t.Helper()
	return newWebHandler(t, grpcauthtest.NewIssuer(t, grpcauthtest.Config{}), "http://127.0.0.1:1/")
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
// loopback caller. The refusal carries the page's security headers, as
// every other answer of the port does.
func TestWeb_LoopbackServerRefusesForeignHostNames(t *testing.T) {
	base := startWeb(t, grpcauthtest.NewIssuer(t, grpcauthtest.Config{}))
	addr := strings.TrimPrefix(base, "http://")
	checkLoopbackHostsOnly(t, addr, "/config.json", http.StatusOK)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "rebind.attacker.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("Host %s: status %d, want %d", req.Host, resp.StatusCode, http.StatusMisdirectedRequest)
	}
	checkSecurityHeaders(t, "the 421 refusal of Host "+req.Host, resp.Header)
}

// checkLoopbackHostsOnly checks that the server on addr, a loopback
// address, answers path with status ok under loopback host names and 421
// under any other (DNS rebinding).
func checkLoopbackHostsOnly(t *testing.T, addr, path string, ok int) {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	for host, want := range map[string]int{
		"127.0.0.1:" + port:                  ok,
		"localhost:" + port:                  ok,
		"[::1]:" + port:                      ok,
		"rebind.attacker.example:" + port:    http.StatusMisdirectedRequest,
		"127.0.0.1.attacker.example:" + port: http.StatusMisdirectedRequest,
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
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

// The web port cuts off a client that holds a connection without finishing
// a request (see checkSlowClientsCutOff), at webTimeouts scaled down.
func TestWeb_SlowClientsAreCutOff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := serveWeb(t.Context(), ln, newTestWebHandler(t), scaled(webTimeouts), slog.New(slog.DiscardHandler))
	t.Cleanup(stop)
	checkSlowClientsCutOff(t, ln.Addr().String(), "/config.json", "/items.v1.ItemService/CreateItem")
}

// scaled returns tm with every timeout a hundredth as long, short enough
// for a test to wait out; a zero (none) stays zero.
func scaled(tm httpTimeouts) httpTimeouts {
	return httpTimeouts{header: tm.header / 100, request: tm.request / 100, idle: tm.idle / 100, write: tm.write / 100}
}

// checkSlowClientsCutOff checks that the server on addr closes, of its own
// accord, the connection of a client that sends a header line and never
// ends it (slowloris), one that sends part of a request body to postPath
// and then nothing, and one that leaves a kept-alive connection idle after
// a GET of getPath. Without a timeout each would hold its connection, and
// a server goroutine, for ever.
func checkSlowClientsCutOff(t *testing.T, addr, getPath, postPath string) {
	t.Helper()
	for name, send := range map[string]string{
		"partial header line": "GET " + getPath + " HTTP/1.1\r\nHost: " + addr + "\r\nX-Slow: aaaa",
		"partial body": "POST " + postPath + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\n" +
			"Connect-Protocol-Version: 1\r\nContent-Length: 1000\r\n\r\n{\"name\":\"aaaa",
		"idle keep-alive connection": "GET " + getPath + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, send); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // watchdog only
			// Read any answer, up to the server closing the connection.
			if _, err := io.Copy(io.Discard, conn); err != nil {
				t.Fatalf("the server did not close the connection: %v", err)
			}
		})
	}
}
