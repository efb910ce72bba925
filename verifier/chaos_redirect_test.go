package verifier_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/verifier"
)

// Redirects of the key-set URL. The policy (verifier/internal/jwks,
// checkRedirect): at most 3 redirects, each target must itself be an
// acceptable key URL (https, or plain http on a loopback host), and never
// from https down to http. A redirect to another acceptable origin is
// followed: identity providers and CDNs do move key URLs, and whoever can
// redirect the key URL could equally answer it with any key set, so
// following grants an attacker nothing. The refusals are tested as faults
// in chaos_test.go (non-loopback http, endless redirects) and below
// (https to http).

// TestChaos_RedirectsWithinPolicyAreFollowed checks that a rotated key is
// picked up through redirects the policy allows: a path on the same host,
// another loopback origin, and a chain of exactly three hops.
func TestChaos_RedirectsWithinPolicyAreFollowed(t *testing.T) {
	cases := []struct {
		name string
		// redirect answers keysPath on the chaos server; other is another
		// loopback origin serving the key set.
		redirect func(other string, w http.ResponseWriter, r *http.Request)
	}{
		{"same host, another path", func(_ string, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/moved/keys", http.StatusMovedPermanently)
		}},
		{"another loopback origin", func(other string, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other+"/keys", http.StatusTemporaryRedirect)
		}},
		{"three hops", func(_ string, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/hop1", http.StatusFound)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newChaosFixture(t, nil)
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { f.cs.writeJSON(w, f.cs.JWKS()) }))
			t.Cleanup(other.Close)
			if _, err := f.iss.RotateKey(); err != nil {
				t.Fatal(err)
			}
			newTok := f.mint(t, nil)
			f.cs.Fail(func(cs *chaosServer, w http.ResponseWriter, r *http.Request) bool {
				switch r.URL.Path {
				case keysPath:
					tc.redirect(other.URL, w, r)
				case "/hop1":
					http.Redirect(w, r, "/hop2", http.StatusFound)
				case "/hop2":
					http.Redirect(w, r, "/moved/keys", http.StatusFound)
				case "/moved/keys":
					cs.writeJSON(w, cs.JWKS())
				default:
					return false
				}
				return true
			})
			f.clk.Advance(chaosMinRefresh)
			if err := f.verify(newTok, 30*time.Second); err != nil {
				t.Fatalf("new key behind an allowed redirect: %v", err)
			}
			if !f.rt.Requested(other.URL) && f.cs.Hits("/moved/keys") != 1 {
				t.Fatal("the key set was not fetched from the redirect target")
			}
			f.knownKeysStillVerify(t, f.kid1)
		})
	}
}

// TestChaos_RedirectFromHTTPSToHTTPIsRefused checks that a key set fetched
// over https is never replaced through a redirect to plain http, even to a
// loopback host (which plain http would otherwise be allowed to reach):
// the http target is never requested, known keys keep verifying, and the
// new key verifies once the https endpoint answers again.
func TestChaos_RedirectFromHTTPSToHTTPIsRefused(t *testing.T) {
	var tlsSrv *httptest.Server
	var redirect atomic.Bool // true: the https endpoint redirects to plain http
	f := newChaosFixture(t, func(f *chaosFixture, c *verifier.Config) {
		tlsSrv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if redirect.Load() {
				http.Redirect(w, r, f.cs.URL()+keysPath, http.StatusFound)
				return
			}
			f.cs.writeJSON(w, f.cs.JWKS())
		}))
		t.Cleanup(tlsSrv.Close)
		var client *http.Client
		client, f.rt = newRecordingClient(t, tlsSrv.Client().Transport) // trusts the test certificate
		c.HTTPClient = client
		c.JWKSURL = tlsSrv.URL + keysPath
	})
	if !strings.HasPrefix(tlsSrv.URL, "https://127.0.0.1:") {
		t.Fatalf("TLS test server at %s, want https on loopback", tlsSrv.URL)
	}
	if _, err := f.iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	newTok := f.mint(t, nil)
	redirect.Store(true)

	f.clk.Advance(chaosMinRefresh)
	if err := f.verify(newTok, 30*time.Second); !errors.Is(err, verifier.ErrKeysUnavailable) {
		t.Fatalf("new key behind an https-to-http redirect = %v, want ErrKeysUnavailable (the refresh failed)", err)
	}
	if f.cs.Hits(keysPath) != 0 || f.rt.Requested(f.cs.URL()) {
		t.Fatal("the plain-http redirect target was requested")
	}
	f.knownKeysStillVerify(t, f.kid1)

	redirect.Store(false)
	f.clk.Advance(chaosMinRefresh)
	if err := f.verify(newTok, 30*time.Second); err != nil {
		t.Fatalf("after the https endpoint recovered: %v", err)
	}
}
