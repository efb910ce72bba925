package verifier_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/verifier"
)

// A verifier that discovers its keys follows them when the issuer moves
// them, and Stats says so: the discovery requests, the JWKS URL change, the
// unknown-kid refreshes that led to it (the first one failing at the old
// URL) and the entry of the new document that was skipped.
func TestStats_CountRediscoveryThatFollowsMovedKeys(t *testing.T) {
	f := newDiscoveringChaosFixture(t)
	if st := f.v.Stats(); st.Discoveries != 1 || st.JWKSURLChanges != 0 || st.KeyFetches != 1 || st.KeyMissFetches != 0 {
		t.Fatalf("Stats at start = %+v, want 1 discovery and 1 fetch", st)
	}
	if _, err := f.iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	newTok := f.mint(t, nil)

	// The keys move to /keys2, next to an HMAC secret the verifier skips;
	// the old URL is gone.
	const movedKeys = "/keys2"
	f.cs.Fail(func(cs *chaosServer, w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case keysPath:
			http.NotFound(w, r)
		case movedKeys:
			cs.writeJSON(w, withEntry(t, cs.JWKS(), map[string]string{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}))
		default:
			return false
		}
		return true
	})
	f.cs.SetDiscovery(f.cs.URL(), f.cs.URL()+movedKeys)

	// The new kid's refresh still asks the old URL, and fails.
	failedAt := f.clk.Now()
	if err := f.verify(newTok, 30*time.Second); !errors.Is(err, verifier.ErrKeysUnavailable) {
		t.Fatalf("new kid while the old URL is gone = %v, want ErrKeysUnavailable", err)
	}
	// The next refresh the rate limit allows rediscovers and follows.
	f.clk.Advance(chaosMinRefresh)
	if err := f.verify(newTok, 30*time.Second); err != nil {
		t.Fatalf("new kid after the rediscovery: %v", err)
	}
	st := f.v.Stats()
	if st.Discoveries != 2 || st.JWKSURLChanges != 1 || st.KeyMissFetches != 2 || st.KeyFetches != 3 ||
		st.KeyFetchFailures != 1 || !st.LastFetchFailure.Equal(failedAt) || !st.KeysFetched.Equal(f.clk.Now()) ||
		st.Keys != 2 || st.SkippedKeys != 1 {
		t.Fatalf("Stats = %+v, want 2 discoveries, 1 URL change, 2 miss refreshes of which 1 failed, "+
			"3 fetches, 2 keys and 1 skipped", st)
	}
	if d := f.cs.Hits(discoveryPath); int64(d) != st.Discoveries {
		t.Fatalf("the server saw %d discovery requests, Stats says %d", d, st.Discoveries)
	}
}

// withEntry returns the JWKS document doc with entry appended to its keys.
func withEntry(t testing.TB, doc []byte, entry any) []byte {
	t.Helper()
	var set struct {
		Keys []any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Error(err)
		return doc
	}
	set.Keys = append(set.Keys, entry)
	b, err := json.Marshal(set)
	if err != nil {
		t.Error(err)
		return doc
	}
	return b
}
