package endpoint

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// proxyChildPort, when set, makes TestNewClient_UsesTheEnvironmentsProxyButNeverForLoopback
// the child process that sends the requests, to a server on this port.
const proxyChildPort = "GRPCAUTH_ENDPOINT_TEST_PORT"

// The proxy the environment names is used, as by http.DefaultTransport:
// server-side egress often has to go through one. But a loopback host is
// never proxied: Check lets plain http reach it because the request stays
// on this machine, and through a proxy it would cross the network in clear
// text (a token, the client's credentials) to the proxy's own loopback.
// That holds for the name localhost in any case: net/http's environment
// proxy skips it only in lower case, and sent http://LOCALHOST/ to
// HTTP_PROXY. net/http reads the environment once per process, so a child
// process sends the requests, with HTTP_PROXY set.
func TestNewClient_UsesTheEnvironmentsProxyButNeverForLoopback(t *testing.T) {
	hosts := []string{"localhost", "LOCALHOST", "LocalHost", "127.0.0.1"}
	if port := os.Getenv(proxyChildPort); port != "" {
		c := NewClient(5*time.Second, 2)
		defer c.CloseIdleConnections()
		for _, host := range append(hosts, "remote.example") {
			resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/")
			if err != nil {
				t.Fatalf("%s: %v", host, err)
			}
			resp.Body.Close()
		}
		return
	}
	var mu sync.Mutex
	var direct, proxied []string
	record := func(to *[]string) http.Handler {
		return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			host, _, _ := net.SplitHostPort(r.Host)
			*to = append(*to, host)
		})
	}
	srv := httptest.NewServer(record(&direct))
	defer srv.Close()
	proxy := httptest.NewServer(record(&proxied))
	defer proxy.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), proxyChildPort+"="+port, "HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL,
		"NO_PROXY=", "no_proxy=", "REQUEST_METHOD=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(direct, hosts) || !slices.Equal(proxied, []string{"remote.example"}) {
		t.Errorf("reached directly: %q, through HTTP_PROXY: %q; want %q directly and only remote.example proxied", direct, proxied, hosts)
	}
}

// LowerLocalhost writes the name localhost in lower case, the one case in
// which Go's environment proxy goes direct, so that a client of the
// caller's, whose transport is its own, does not send a request for
// http://LOCALHOST/ (which Check accepts as loopback plain http) to
// HTTP_PROXY in clear text; so is any other spelling IsLoopback takes
// for it ("localhoſt", U+017F folding to s), so that the URL requested,
// and a DPoP proof's htu, say localhost in ASCII. Nothing else changes:
// not another host, nor "localhost." (not loopback, refused for plain
// http), nor the path, query or port. The proxy function is the one http.ProxyFromEnvironment
// uses, given HTTP_PROXY, which that reads once per process.
func TestLowerLocalhost_NamesLocalhostAsTheEnvironmentsProxyBypassesIt(t *testing.T) {
	fromEnv := (&httpproxy.Config{HTTPProxy: "http://proxy.example:3128"}).ProxyFunc()
	for _, tc := range []struct{ raw, want string }{
		{"http://LOCALHOST:8080/keys?a=B#F", "http://localhost:8080/keys?a=B#F"},
		{"http://LocalHost/x", "http://localhost/x"},
		{"https://lOcAlHoSt:8443/.well-known/openid-configuration", "https://localhost:8443/.well-known/openid-configuration"},
		{"http://LOCALHOST:/x", "http://localhost/x"},
		{"http://localho\u017ft:8080/x", "http://localhost:8080/x"}, // U+017F folds to s: IsLoopback takes it
		{"http://LOCALHO\u017fT/x", "http://localhost/x"},
		{"http://localhost:8080/x", "http://localhost:8080/x"},
		{"http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x"},
		{"http://[::1]:8080/x", "http://[::1]:8080/x"},
		{"http://LOCALHOST.:8080/x", "http://LOCALHOST.:8080/x"},
		{"https://LOCALHOST.EXAMPLE/x", "https://LOCALHOST.EXAMPLE/x"},
	} {
		u, err := url.Parse(tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		changed := LowerLocalhost(u)
		if got := u.String(); got != tc.want || changed != (tc.raw != tc.want) {
			t.Errorf("LowerLocalhost(%s) = %s, %v; want %s, %v", tc.raw, got, changed, tc.want, tc.raw != tc.want)
		}
		if Check(u) != nil {
			continue // never requested
		}
		if p, err := fromEnv(u); IsLoopback(u.Hostname()) && (p != nil || err != nil) {
			t.Errorf("%s (loopback) goes to the proxy %v (%v), want direct", u, p, err)
		}
	}
}
