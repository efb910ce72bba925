package main

import (
	"context"
	"strings"
	"testing"

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
