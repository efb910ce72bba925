package grpcauthtest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

func TestDiscovery_DocumentsAreServedAndMatchURL(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{
		Algorithm: "ES256",
		Clients: []grpcauthtest.Client{
			{ID: "a", Secret: "x", Scopes: []string{"items:write", "items:read"}},
			{ID: "b", Secret: "y", Scopes: []string{"items:read", "admin"}},
		},
	})
	if !strings.HasPrefix(iss.URL(), "http://127.0.0.1:") || !strings.HasSuffix(iss.URL(), "/oauth2/default") {
		t.Fatalf("URL() = %q, want http://127.0.0.1:PORT/oauth2/default", iss.URL())
	}
	u, _ := url.Parse(iss.URL())
	for _, doc := range []string{
		iss.URL() + "/.well-known/openid-configuration",
		iss.URL() + "/.well-known/oauth-authorization-server",
		"http://" + u.Host + "/.well-known/oauth-authorization-server/oauth2/default", // RFC 8414 §3.1
	} {
		t.Run(doc, func(t *testing.T) {
			resp, body := get(t, doc)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"issuer":                                iss.URL(),
				"jwks_uri":                              iss.URL() + "/v1/keys",
				"token_endpoint":                        iss.URL() + "/v1/token",
				"grant_types_supported":                 []any{"client_credentials"},
				"token_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post"},
				"scopes_supported":                      []any{"admin", "items:read", "items:write"},
				"response_types_supported":              []any{},
				"subject_types_supported":               []any{"public"},
				"id_token_signing_alg_values_supported": []any{"ES256"},
			}
			for k, v := range want {
				got, _ := json.Marshal(m[k])
				exp, _ := json.Marshal(v)
				if string(got) != string(exp) {
					t.Errorf("%s = %s, want %s", k, got, exp)
				}
			}
			if m["jwks_uri"] != iss.JWKSURL() || m["token_endpoint"] != iss.TokenURL() {
				t.Errorf("document disagrees with JWKSURL()/TokenURL()")
			}
		})
	}
}

func TestDiscovery_SigningAlgorithmsFollowPublishedKeys(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	first := iss.KeyID()
	if _, err := iss.AddKey("EdDSA"); err != nil {
		t.Fatal(err)
	}
	if got := iss.Metadata().IDTokenSigningAlgValuesSupported; !slices.Equal(got, []string{"EdDSA", "RS256"}) {
		t.Fatalf("after AddKey: %v", got)
	}
	iss.RemoveKey(first)
	if got := iss.Metadata().IDTokenSigningAlgValuesSupported; !slices.Equal(got, []string{"EdDSA"}) {
		t.Fatalf("after RemoveKey: %v", got)
	}
}

func TestDiscovery_CustomAndRootPaths(t *testing.T) {
	for _, tc := range []struct{ path, suffix string }{
		{"/tenant-a", "/tenant-a"},
		{"/", ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: tc.path})
			u, _ := url.Parse(iss.URL())
			if u.Path != tc.suffix {
				t.Fatalf("URL() = %q, want path %q", iss.URL(), tc.suffix)
			}
			resp, body := get(t, iss.DiscoveryURL())
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var md grpcauthtest.Metadata
			if err := json.Unmarshal(body, &md); err != nil {
				t.Fatal(err)
			}
			if md.Issuer != iss.URL() {
				t.Fatalf("issuer %q, want %q", md.Issuer, iss.URL())
			}
		})
	}
}

func TestDiscovery_UnknownPathIs404AndPostIs405(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	if resp, _ := get(t, iss.URL()+"/v1/authorize"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: status %d, want 404", resp.StatusCode)
	}
	for _, u := range []string{iss.DiscoveryURL(), iss.JWKSURL()} {
		resp, _ := do(t, mustRequest(t, http.MethodPost, u, nil))
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: status %d, want 405", u, resp.StatusCode)
		}
	}
}
