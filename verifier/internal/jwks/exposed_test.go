package jwks

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// An issuer that published a key's private half and then publishes only
// its public half (its key set "fixed" without rotating the key) still has
// an exposed key. It stays out of the set under any kid, in a document with
// other keys and in one without any other, and each fetch logs it in one
// warn line however many entries name it.
func TestSet_KeyExposedByAnEarlierDocumentIsRefusedInLaterOnes(t *testing.T) {
	testKeys(t)
	log, buf := capturingLogger()
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
	s, ft := startSet(t, Config{URL: ts.URL + "/keys", Logger: log})
	ready(t, s)
	ts.setKeys(t, jwkJSON(t, rsaKeys[0], "a", "RS256", nil), rsaJWK(t, 1, "b"))
	ft.refreshNow(t)

	republished := []json.RawMessage{rsaJWK(t, 1, "b"), rsaJWK(t, 0, "a")}
	for i := range 20 {
		republished = append(republished, rsaJWK(t, 0, fmt.Sprintf("a%d", i)))
	}
	ts.setKeys(t, republished...)
	before := strings.Count(buf.String(), "an earlier document published")
	ft.refreshNow(t)
	for _, kid := range []string{"a", "a0", "a19"} {
		if s.Current(kid) != nil {
			t.Errorf("key %q served: its private half was published by an earlier document", kid)
		}
	}
	if s.Current("b") == nil {
		t.Fatal("key b, never exposed, not served")
	}
	if st := s.Stats(); st.Keys != 1 || st.SkippedKeys != 21 || st.Failures != 0 {
		t.Fatalf("Stats = %+v, want 1 key, the 21 entries of the exposed key skipped, no failure", st)
	}
	logs := buf.String()
	if n := strings.Count(logs, "an earlier document published") - before; n != 1 {
		t.Fatalf("the refused entries of one document were logged in %d lines, want 1:\n%s", n, logs)
	}
	if !containsAll(logs, "level=WARN", "count=21", "a14") {
		t.Fatalf("refused entries not logged at warn with their count:\n%s", logs)
	}

	// A document whose only key is the exposed one has no usable key.
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	if w := ft.refreshNow(t); w.d != backoffBase {
		t.Fatalf("wait = %v, want back-off: a document of only the exposed key is a failed fetch", w.d)
	}
	if s.Current("a") != nil || s.Current("b") == nil {
		t.Fatal("a document of only the exposed key changed the last good set")
	}
	if e := s.lastErr.Load(); e == nil || !errors.Is(e.err, errNoUsableKeys) {
		t.Fatalf("last error = %v, want errNoUsableKeys", e)
	}
}

// The memory of exposed keys is bounded: past maxExposedKeys the oldest is
// forgotten, the others stay refused.
func TestExposedKeys_RemembersAtMostMaxExposedKeysForgettingTheOldest(t *testing.T) {
	keys := make([]*Key, maxExposedKeys+2)
	var doc []json.RawMessage
	for i := range keys {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		must(t, err)
		doc = append(doc, jwkJSON(t, priv, fmt.Sprintf("k%d", i), "EdDSA", nil))
		keys[i], _ = parseKey(jwkJSON(t, pub, fmt.Sprintf("k%d", i), "EdDSA", nil))
	}
	_, skipped, err := parseJWKS(jwksDoc(t, doc...))
	must(t, err)
	var e exposedKeys
	e.add(skipped[:maxExposedKeys])
	e.add(skipped) // the first maxExposedKeys again: no change; then 2 more, evicting k0 and k1
	if len(e.ring) != maxExposedKeys || len(e.has) != maxExposedKeys {
		t.Fatalf("remembers %d (%d in the index), want at most %d", len(e.ring), len(e.has), maxExposedKeys)
	}
	kept, refused := e.refuse(keys)
	if len(kept) != 2 || kept[0] != keys[0] || kept[1] != keys[1] {
		t.Fatalf("kept %v, want the two oldest exposures (k0, k1), forgotten", kids(kept))
	}
	if len(refused) != maxExposedKeys {
		t.Fatalf("refused %d keys, want %d", len(refused), maxExposedKeys)
	}
}
