package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/grpcauth/grpcauth/internal/endpoint/proxytest"
)

// An issuer on http://LOCALHOST:port (loopback, which checkURL accepts as
// plain http) is reached directly, its discovery document and its token
// endpoint, never through the environment's proxy: net/http's proxy
// function goes direct only for "localhost" in lower case, and the token
// request carries the client secret.
func TestClient_AnIssuerOnLOCALHOSTIsNotReachedThroughTheEnvironmentsProxy(t *testing.T) {
	var issuer string
	as, hits := plainAS(t, &issuer)
	issuer = strings.Replace(as.URL, "127.0.0.1", "LOCALHOST", 1)

	// The setup leaks without loopbackDirect: the proxy gets the request.
	p := proxytest.New(t)
	if _, err := tokenURL(context.Background(), newHTTPClient(p.Transport()), issuer); err == nil {
		t.Fatal("discovery through the proxy succeeded; want the proxy's 502")
	}
	if _, ok := p.Proxied(); !ok {
		t.Fatal("the proxy got no request: the test cannot tell a leak")
	}

	tr := newTransport(p.Transport().Proxy)
	tr.DisableKeepAlives = true // leave no idle connection behind
	hc := newHTTPClient(tr)
	tu, err := tokenURL(context.Background(), hc, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	cc := clientcredentials.Config{ClientID: "c", ClientSecret: "secret", TokenURL: tu}
	if _, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, hc)); err != nil {
		t.Fatalf("token request: %v", err)
	}
	if u, ok := p.Proxied(); ok {
		t.Errorf("a request went to the proxy, for %s", u)
	}
	if got := hits.Load(); got != 2 {
		t.Errorf("the authorization server got %d requests, want 2 (discovery, token)", got)
	}
}

// runProxyChildIssuer, when set, makes
// TestRun_AnIssuerOnLOCALHOSTIsNotReachedThroughHTTPProxy the child process
// that runs the client, for the issuer it names, with HTTP_PROXY set.
const runProxyChildIssuer = "ITEMS_CLIENT_TEST_PROXY_ISSUER"

// run itself, not only the transport it is given, reaches an ISSUER of
// http://LOCALHOST:port directly under HTTP_PROXY, for a bearer token and
// a DPoP one: the discovery document and the token request, which carries
// the client secret, never go to the proxy. net/http reads the
// environment once per process, so a child process runs the client, with
// HTTP_PROXY naming a proxy that answers 502; the proxy test above passes
// whatever transport run builds, so that a run sending through
// http.DefaultTransport (whose proxy lets only lower-case localhost go
// direct) failed here only.
func TestRun_AnIssuerOnLOCALHOSTIsNotReachedThroughHTTPProxy(t *testing.T) {
	if issuer := os.Getenv(runProxyChildIssuer); issuer != "" {
		for _, typ := range []string{"bearer", "dpop"} {
			cfg, err := loadConfig(nil, env(map[string]string{
				"ISSUER": issuer, "CLIENT_ID": "0oa1", "CLIENT_SECRET": "s3", "TOKEN_TYPE": typ, "ADDR": "127.0.0.1:1",
			}), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var out strings.Builder
			err = run(ctx, cfg, &out, io.Discard) // the server at ADDR is not there: only the token matters
			cancel()
			if !strings.HasPrefix(out.String(), "token:") {
				t.Errorf("%s: no token (%v)", typ, err)
			}
		}
		return
	}
	var issuer string
	var hits atomic.Int32
	as := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/openid-configuration") {
			fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q}`, issuer, issuer+"/token")
			return
		}
		typ := "Bearer"
		if r.Header.Get("DPoP") != "" {
			typ = "DPoP"
		}
		fmt.Fprintf(w, `{"access_token":"at","token_type":%q,"expires_in":3600}`, typ)
	}))
	as.Config.SetKeepAlivesEnabled(false) // the child leaves no connection open
	_, port, _ := net.SplitHostPort(as.Listener.Addr().String())
	issuer = "http://LOCALHOST:" + port // before the handler runs
	as.Start()
	defer as.Close()
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer proxy.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), runProxyChildIssuer+"="+issuer, "HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL,
		"NO_PROXY=", "no_proxy=", "REQUEST_METHOD=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("child: %v\n%s", err, out)
	}
	if n := proxied.Load(); n != 0 {
		t.Errorf("the proxy got %d requests, want none", n)
	}
	if n := hits.Load(); n != 4 {
		t.Errorf("the authorization server got %d requests, want 4 (discovery and token, bearer and DPoP)", n)
	}
}
