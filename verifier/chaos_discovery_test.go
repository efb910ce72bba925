package verifier_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/verifier"
)

// TestChaos_DiscoveryRefusesAnotherIssuerAndFollowsMovedKeys runs a verifier
// that discovers its key set from the chaos server (its Issuer) through two
// faults: the discovery document suddenly naming another issuer (with a
// jwks_uri serving the new key), and naming a plain-http jwks_uri off
// loopback. Neither key set may ever be requested; known keys keep
// verifying; each burst of unknown kids costs at most one fetch (one
// key-set request, or one discovery round); and when discovery names the
// right issuer again, with the keys moved to a new URL, the new key
// verifies.
func TestChaos_DiscoveryRefusesAnotherIssuerAndFollowsMovedKeys(t *testing.T) {
	f := newDiscoveringChaosFixture(t)
	if got := f.cs.Hits(discoveryPath); got != 1 {
		t.Fatalf("discovery requests at start = %d, want 1", got)
	}
	if _, err := f.iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	newTok := f.mint(t, nil)

	const evilKeys, movedKeys = "/evil/keys", "/keys2"
	f.cs.Fail(func(cs *chaosServer, w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case keysPath: // the keys have left the old URL
			http.NotFound(w, r)
		case evilKeys, movedKeys:
			cs.writeJSON(w, cs.JWKS())
		default:
			return false
		}
		return true
	})
	stages := []struct {
		name             string
		issuer, jwksURI  string
		forbiddenRequest string // a URL prefix that must never be requested
	}{
		{"discovery names another issuer", f.cs.URL() + "/evil", f.cs.URL() + evilKeys, f.cs.URL() + evilKeys},
		{"discovery names a plain-http jwks_uri off loopback", f.cs.URL(), nonLoopbackKeys, "http://192.0.2.1"},
	}
	for _, st := range stages {
		f.cs.SetDiscovery(st.issuer, st.jwksURI)
		for window := range 3 {
			keys, disc := f.cs.Hits(keysPath), f.cs.Hits(discoveryPath)
			for i, err := range f.burst(t, burstSize, newTok, 30*time.Second) {
				if !errors.Is(err, verifier.ErrKeysUnavailable) {
					t.Fatalf("%s, window %d, caller %d: %v, want ErrKeysUnavailable (the refresh failed)", st.name, window, i, err)
				}
			}
			f.knownKeysStillVerify(t, f.kid1)
			// One fetch: the cached jwks_uri (404, which forgets it), or
			// one discovery round (the refused document, then the RFC 8414
			// document, which this server does not have).
			if dk, dd := f.cs.Hits(keysPath)-keys, f.cs.Hits(discoveryPath)-disc; dk+dd != 1 {
				t.Fatalf("%s, window %d: %d key-set and %d discovery requests, want one fetch", st.name, window, dk, dd)
			}
			f.clk.Advance(chaosMinRefresh)
		}
		if f.cs.Hits(evilKeys) != 0 || f.rt.Requested(st.forbiddenRequest) {
			t.Fatalf("%s: the refused key set was requested", st.name)
		}
	}

	// Discovery is right again and names the keys' new home.
	f.cs.SetDiscovery(f.cs.URL(), f.cs.URL()+movedKeys)
	if err := f.verify(newTok, 30*time.Second); err != nil {
		t.Fatalf("after discovery recovered: %v", err)
	}
	if got := f.cs.Hits(movedKeys); got != 1 {
		t.Fatalf("requests to the moved key set = %d, want 1", got)
	}
	f.knownKeysStillVerify(t, f.kid1)
}
