package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// plainAS is a plain-http authorization server on loopback that counts
// the requests reaching it: what an https issuer names or redirects to
// must never get there.
func plainAS(t *testing.T, issuer *string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/openid-configuration") {
			fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q}`, *issuer, *issuer+"/token")
			return
		}
		fmt.Fprint(w, `{"access_token":"at","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// An https issuer whose discovery document names a plain-http token
// endpoint, even on loopback, would have the client secret sent there in
// clear text: discovery fails instead.
func TestTokenURL_HTTPSIssuerNamingPlainHTTPTokenEndpointIsRefused(t *testing.T) {
	var issuer string
	plain, hits := plainAS(t, &issuer)
	tlsAS := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q}`, issuer, plain.URL+"/token")
	}))
	defer tlsAS.Close()
	issuer = tlsAS.URL

	got, err := tokenURL(context.Background(), newHTTPClient(tlsAS.Client().Transport), issuer)
	if err == nil || !strings.Contains(err.Error(), "downgrade from https to http") {
		t.Fatalf("tokenURL = %q, %v; want the downgrade refused", got, err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the plain-http server got %d requests", n)
	}
}

// A redirect from https to plain http, even to loopback, is followed
// neither for the discovery document (which names where the secret goes)
// nor for the token request (which carries the secret).
func TestHTTPClient_RedirectFromHTTPSToPlainHTTPIsRefused(t *testing.T) {
	var issuer string
	plain, hits := plainAS(t, &issuer)
	tlsAS := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer tlsAS.Close()
	issuer = tlsAS.URL
	hc := newHTTPClient(tlsAS.Client().Transport)

	t.Run("discovery", func(t *testing.T) {
		got, err := tokenURL(context.Background(), hc, issuer)
		if err == nil || !strings.Contains(err.Error(), "downgrade from https to http") {
			t.Errorf("tokenURL = %q, %v; want the redirect refused", got, err)
		}
	})
	t.Run("token request", func(t *testing.T) {
		cc := clientcredentials.Config{ClientID: "0oa1", ClientSecret: "real-secret", TokenURL: issuer + "/token", AuthStyle: oauth2.AuthStyleInParams}
		if _, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, hc)); err == nil {
			t.Error("got a token through the redirect to plain http")
		}
	})
	if n := hits.Load(); n != 0 {
		t.Errorf("the plain-http server got %d requests", n)
	}
}
