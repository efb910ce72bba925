package endpoint

import (
	"bufio"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// stallServer accepts TCP connections on loopback and, for each, runs
// serve (which may write a partial answer) and then holds the connection
// open without another byte until the test ends.
func stallServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				serve(conn)
				<-done
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		close(done)
		wg.Wait()
	})
	return ln.Addr().String()
}

// A fetch from a server that accepts the connection and never answers,
// answers the TLS handshake never, sends its headers a line at a time
// without end, or trickles its body, ends with an error within the timeout
// given to NewClient (plus scheduling slack), and leaves no goroutine
// behind (TestMain runs goleak).
func TestNewClient_HostileServerCostsAtMostTheTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	silent := stallServer(t, func(net.Conn) {})
	slowHeaders := stallServer(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			if _, err := io.WriteString(c, "X-Slow: 1\r\n"); err != nil {
				return // the client gave up
			}
		}
	})
	trickle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
	}))
	defer trickle.Close()

	for _, tc := range []struct{ name, url string }{
		{"no answer", "http://" + silent + "/keys"},
		{"no TLS handshake", "https://" + silent + "/keys"},
		{"headers without end", "http://" + slowHeaders + "/keys"},
		{"body trickled", trickle.URL + "/keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClient(timeout, 2)
			defer c.CloseIdleConnections()
			start := time.Now()
			resp, err := c.Get(tc.url)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("fetch succeeded, want a timeout")
			}
			if elapsed > timeout+2*time.Second {
				t.Fatalf("fetch took %v with a timeout of %v", elapsed, timeout)
			}
		})
	}
}

// A server that offers nothing above TLS 1.1 is refused (Go's client
// default minimum, TLS 1.2, which NewClient keeps; RFC 8996 deprecates
// 1.0 and 1.1), while TLS 1.2 works.
func TestNewClient_RefusesTLSBelow1_2(t *testing.T) {
	for _, tc := range []struct {
		max uint16
		ok  bool
	}{{tls.VersionTLS11, false}, {tls.VersionTLS12, true}} {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		srv.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tc.max}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
		srv.StartTLS()
		resp, err := tlsClient(t, srv, 5*time.Second).Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("server with TLS up to %s: err = %v, want ok=%v", tls.VersionName(tc.max), err, tc.ok)
		}
		srv.Close()
	}
}
