package verifier_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/endpoint/proxytest"
	"github.com/grpcauth/grpcauth/verifier"
)

// An issuer on http://LOCALHOST:<port> (plain http, which New accepts as
// loopback) is asked for its discovery document, the key set the document
// names (on LocalHost), a configured JWKSURL on LocalHost and the target
// of a redirect to LOCALHOST directly, by a given client whose transport
// uses the environment's proxy (proxytest): Go's proxy goes direct only
// for localhost in lower case, so before, every such request went to
// HTTP_PROXY in clear text, and the proxy could answer with a key set of
// its own. The token's iss and the document's issuer are still compared
// with the Issuer exactly as written: a token naming localhost in lower
// case is refused.
func TestVerifier_AnIssuerOnLOCALHOSTIsNotFetchedThroughAGivenClientsProxy(t *testing.T) {
	keys := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/keys-only"})
	resp, err := http.Get(keys.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	set, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("key set: %d, %v", resp.StatusCode, err)
	}
	var port string
	issuer := func(host string) string { return "http://" + host + ":" + port }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer("LOCALHOST"), "jwks_uri": issuer("LocalHost") + "/keys"})
		case "/keys":
			w.Write(set)
		case "/moved":
			http.Redirect(w, r, issuer("LOCALHOST")+"/keys", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	port = srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]

	for _, tc := range []struct{ name, jwksURL string }{
		{"discovered", ""},
		{"JWKSURL", issuer("LocalHost") + "/keys"},
		{"redirected", issuer("localhost") + "/moved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := proxytest.New(t)
			v := providerVerifier(t, verifier.Config{
				Issuer: issuer("LOCALHOST"), JWKSURL: tc.jwksURL, Audiences: []string{"api"},
				HTTPClient: &http.Client{Transport: proxy.Transport()}, Logger: slog.New(slog.DiscardHandler),
			})
			tok := mintOn(t, keys, map[string]any{"iss": issuer("LOCALHOST"), "aud": "api"})
			if _, err := verifyWith(t, v, tok); err != nil {
				t.Errorf("token of the issuer on LOCALHOST: %v, want it verified", err)
			}
			if u, ok := proxy.Proxied(); ok {
				t.Errorf("a request went to the proxy, for %s", u)
			}
			other := mintOn(t, keys, map[string]any{"iss": issuer("localhost"), "aud": "api"})
			if _, err := verifyWith(t, v, other); err == nil {
				t.Errorf("a token whose iss names localhost in lower case was accepted for the Issuer on LOCALHOST")
			}
		})
	}
}
