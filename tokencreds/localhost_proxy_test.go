package tokencreds_test

import (
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/endpoint/proxytest"
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
