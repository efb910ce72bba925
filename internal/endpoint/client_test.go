package endpoint

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// tlsClient returns NewClient's client, trusting srv's certificate.
func tlsClient(t *testing.T, srv *httptest.Server, timeout time.Duration) *http.Client {
	t.Helper()
	c := NewClient(timeout, 2)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	tr := c.Transport.(*http.Transport)
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.RootCAs = roots
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// A hostile or broken authorization server (or anyone who can answer for it
// on plain-http loopback) that sends megabytes of response headers gets an
// error once MaxResponseHeaderBytes are read, over HTTP/1.1 and HTTP/2,
// instead of making every fetch hold net/http's default of 10 MiB.
func TestNewClient_RefusesResponseHeadersLargerThanTheLimit(t *testing.T) {
	big := strings.Repeat("a", 4<<10)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := MaxResponseHeaderBytes / len(big) // just under the limit
		if r.URL.Path == "/big" {
			n = 4 * n
		}
		for i := range n - 1 {
			w.Header().Set("X-Pad-"+string(rune('A'+i%26))+strings.Repeat("x", i/26), big)
		}
		w.Write([]byte("{}"))
	})
	plain := httptest.NewServer(h)
	defer plain.Close()
	h2 := httptest.NewUnstartedServer(h)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	defer h2.Close()

	for _, tc := range []struct {
		name  string
		url   string
		proto string
		c     *http.Client
	}{
		{"HTTP/1.1", plain.URL, "HTTP/1.1", NewClient(5*time.Second, 2)},
		{"HTTP/2", h2.URL, "HTTP/2.0", tlsClient(t, h2, 5*time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.c.Get(tc.url + "/fits")
			if err != nil {
				t.Fatalf("headers under the limit: %v", err)
			}
			resp.Body.Close()
			if resp.Proto != tc.proto {
				t.Fatalf("protocol %s, want %s", resp.Proto, tc.proto)
			}
			resp, err = tc.c.Get(tc.url + "/big")
			if err == nil {
				resp.Body.Close()
				t.Fatalf("headers of about %d bytes accepted, want an error past %d", 4*MaxResponseHeaderBytes, MaxResponseHeaderBytes)
			}
		})
	}
}
