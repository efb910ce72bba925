package endpoint

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"testing"
	"time"
)

// Check lets plain http reach the name localhost because it is loopback;
// the client must then reach a loopback address whatever the hosts file or
// DNS would answer, so it dials 127.0.0.1 and ::1 without a lookup (RFC
// 6761, section 6.3). httptrace reports any lookup the dial makes.
func TestNewClient_LocalhostIsDialledOnLoopbackWithoutALookup(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(listen, func(t *testing.T) {
			l, err := net.Listen("tcp", listen)
			if err != nil {
				t.Skipf("no %s here: %v", listen, err)
			}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			srv.Listener.Close()
			srv.Listener = l
			srv.Start()
			defer srv.Close()
			_, port, _ := net.SplitHostPort(l.Addr().String())

			var lookups []string
			trace := &httptrace.ClientTrace{DNSStart: func(i httptrace.DNSStartInfo) { lookups = append(lookups, i.Host) }}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, "http://localhost:"+port+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			c := NewClient(5*time.Second, 2)
			defer c.CloseIdleConnections()
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("GET http://localhost:%s/ (server on %s): %v", port, listen, err)
			}
			resp.Body.Close()
			if len(lookups) != 0 {
				t.Errorf("the dial looked up %q; localhost must be dialled on loopback addresses only", lookups)
			}
		})
	}
}

// A program may have replaced http.DefaultTransport with a RoundTripper of
// another type (instrumentation, an HTTP mock in its tests), which cannot
// be cloned: NewClient, which verifier.New and introspect.New call without
// a client of the caller's, starts from net/http's default settings then,
// instead of panicking.
func TestNewClient_DefaultTransportOfAnotherTypeIsNoPanic(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	orig := http.DefaultTransport
	http.DefaultTransport = struct{ http.RoundTripper }{orig}
	t.Cleanup(func() { http.DefaultTransport = orig })
	c := NewClient(5*time.Second, 2)
	defer c.CloseIdleConnections()
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if tr := c.Transport.(*http.Transport); tr.Proxy == nil || tr.MaxResponseHeaderBytes != MaxResponseHeaderBytes {
		t.Errorf("transport without net/http's default proxy (%v) or this package's header limit (%d)", tr.Proxy != nil, tr.MaxResponseHeaderBytes)
	}
}
