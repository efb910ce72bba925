package tokencreds_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/endpoint/proxytest"
	"github.com/grpcauth/grpcauth/tokencreds"
)

// A token URL naming localhost in another case (plain http, which the
// transport accepts as loopback) is requested directly through a base
// transport that uses the environment's proxy, as http.DefaultTransport
// does (proxytest), the nonce retry included, and the test issuer, which
// checks the proof against the request, grants a DPoP token. Before, only the name in lower case went
// direct, and the token request, the client's secret with it, went to the
// proxy in clear text.
func TestDPoPTransport_ATokenURLOnLOCALHOSTIsNotSentThroughTheBasesProxy(t *testing.T) {
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	proxy := proxytest.New(t)
	for _, host := range []string{"LOCALHOST", "LocalHost"} {
		t.Run(host, func(t *testing.T) {
			f := newDPoPFixtureOf(t, grpcauthtest.Config{DPoPNonces: nonces}, nil)
			f.base = proxy.Transport()
			tokenURL := strings.Replace(f.iss.TokenURL(), "127.0.0.1", host, 1)
			if tokenURL == f.iss.TokenURL() {
				t.Fatalf("the issuer's token URL %q is not on 127.0.0.1", tokenURL)
			}
			ts, _, _ := f.tokenSource(tokenURL)
			tok, err := ts.Token()
			if err != nil {
				t.Errorf("token from %s: %v", tokenURL, err)
			} else if tok.Type() != "DPoP" {
				t.Errorf("token of type %q, want DPoP", tok.Type())
			}
			if u, ok := proxy.Proxied(); ok {
				t.Errorf("a token request went to the proxy, for %s", u)
			}
		})
	}
}

// DPoPTransport requests a token URL naming localhost in another case as
// localhost without changing the caller's request (an http.RoundTripper
// must not): its URL still names the host as the caller wrote it.
func TestDPoPTransport_LocalhostInAnotherCaseLeavesTheCallersRequestAsItWas(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"at","token_type":"DPoP","expires_in":3600}`)
	}))
	defer srv.Close()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := dpop.NewSigner(priv, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(srv.URL, "127.0.0.1", "LOCALHOST", 1) + "/token"
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := tokencreds.NewDPoPTransport(signer, nil).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := req.URL.String(); got != url {
		t.Errorf("the caller's request URL became %q, want %q as given", got, url)
	}
}
