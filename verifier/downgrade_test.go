package verifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// TestDiscovery_HTTPSIssuerNeverTakesItsKeysOverPlainHTTP: an https
// issuer's key set comes over https only (RFC 8414, section 2; OpenID
// Connect Discovery 1.0, section 3), even when plain http would reach a
// loopback host, which a configured URL may name: a discovery document
// that names a plain-http jwks_uri, and a discovery document that
// redirects to plain http, are refused; the plain-http server is never
// asked for keys, a token fails with ErrKeysUnavailable, and Ready names
// the refusal. With an https jwks_uri the same issuer's token verifies.
func TestDiscovery_HTTPSIssuerNeverTakesItsKeysOverPlainHTTP(t *testing.T) {
	keys := grpcauthtest.NewIssuer(t, grpcauthtest.Config{}) // signs; serves its keys over plain http on loopback
	for _, tc := range []struct {
		name string
		// serve answers the https issuer's discovery document; tls is its
		// URL, plain that of a plain-http server on loopback that serves
		// the same document.
		serve func(tls, plain string, w http.ResponseWriter, r *http.Request)
		want  string // in Ready's error; "" for a token that verifies
	}{
		{"jwks_uri over https", func(tls, _ string, w http.ResponseWriter, _ *http.Request) {
			writeDiscovery(t, w, tls, tls+"/keys")
		}, ""},
		{"jwks_uri over plain http", func(tls, _ string, w http.ResponseWriter, _ *http.Request) {
			writeDiscovery(t, w, tls, keys.JWKSURL())
		}, "downgrade from https to http"},
		{"discovery redirected to plain http", func(_, plain string, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, plain+r.URL.Path, http.StatusFound)
		}, "downgrade from https to http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var issuer string // the https issuer, set before any request
			var plainDiscovery atomic.Int64
			plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				plainDiscovery.Add(1)
				writeDiscovery(t, w, issuer, keys.JWKSURL())
			}))
			t.Cleanup(plain.Close)
			tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/keys" { // the key set, over https
					resp, err := http.Get(keys.JWKSURL())
					if err != nil {
						http.Error(w, err.Error(), http.StatusBadGateway)
						return
					}
					defer resp.Body.Close()
					io.Copy(w, resp.Body)
					return
				}
				tc.serve(issuer, plain.URL, w, r)
			}))
			t.Cleanup(tlsSrv.Close)
			issuer = tlsSrv.URL
			client := tlsSrv.Client() // trusts the test certificate
			t.Cleanup(client.CloseIdleConnections)
			v, tok := newVerifierAndToken(t, keys, verifier.Config{Issuer: issuer, HTTPClient: client})
			plainKeys := keys.JWKSRequests()

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := v.VerifyAccessToken(ctx, tok)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("token of an https issuer whose jwks_uri is https: %v", err)
				}
				return
			}
			if !errors.Is(err, verifier.ErrKeysUnavailable) {
				t.Fatalf("token = %v, want ErrKeysUnavailable", err)
			}
			if n := keys.JWKSRequests() - plainKeys; n != 0 {
				t.Errorf("the plain-http key set was requested %d times", n)
			}
			if n := plainDiscovery.Load(); n != 0 {
				t.Errorf("the plain-http discovery document was requested %d times", n)
			}
			// The first fetch has failed: Ready, at an ended context, names why.
			ended, cancel := context.WithCancel(context.Background())
			cancel()
			if err := v.Ready(ended); !errors.Is(err, verifier.ErrKeysUnavailable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Ready = %v, want ErrKeysUnavailable saying %q", err, tc.want)
			}
		})
	}
}

// writeDiscovery writes an OpenID Connect discovery document.
func writeDiscovery(t *testing.T, w http.ResponseWriter, issuer, jwksURI string) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": jwksURI}); err != nil {
		t.Error(err)
	}
}

// TestJWKSURL_ConfiguredLoopbackHTTPServesAnHTTPSIssuer: the downgrade
// rule is for what an https issuer's answers name, not for a JWKSURL the
// operator configures: plain http on a loopback host stays allowed there
// (a sidecar or test key server), and the issuer is never asked for
// discovery.
func TestJWKSURL_ConfiguredLoopbackHTTPServesAnHTTPSIssuer(t *testing.T) {
	keys := grpcauthtest.NewIssuer(t, grpcauthtest.Config{}) // serves its keys over plain http on loopback
	const issuer = "https://issuer.invalid"                  // never requested
	v, tok := newVerifierAndToken(t, keys, verifier.Config{Issuer: issuer, JWKSURL: keys.JWKSURL()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c, err := v.VerifyAccessToken(ctx, tok); err != nil || c.Issuer() != issuer {
		t.Fatalf("token of an https issuer, keys from a configured loopback http JWKSURL: %v, %v", c.Issuer(), err)
	}
}

// newVerifierAndToken returns a verifier made with cfg for keys' audience,
// closed at the test's end, and a token keys signed for cfg.Issuer.
func newVerifierAndToken(t *testing.T, keys *grpcauthtest.Issuer, cfg verifier.Config) (*verifier.Verifier, string) {
	t.Helper()
	cfg.Audiences = []string{keys.Audience()}
	cfg.Logger = slog.New(slog.DiscardHandler)
	v, err := verifier.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	tok, err := keys.Mint(map[string]any{"iss": cfg.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	return v, tok
}
