package jwks

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// panickyKid is the kid of an entry on which panicOnKid's parseJWK panics.
const panickyKid = "jwx-bug"

// panicOnKid makes parseJWK panic, as a jwx bug would, on an entry whose
// kid is panickyKid, with a value whose text is longer than any log line
// should quote; other entries parse as ever. The seam is restored when t
// ends.
func panicOnKid(t *testing.T) {
	t.Helper()
	orig := parseJWK
	parseJWK = func(b []byte, opts ...jwk.ParseOption) (jwk.Key, error) {
		if bytes.Contains(b, []byte(`"`+panickyKid+`"`)) {
			panic("jwx bug: " + strings.Repeat("x", 5000))
		}
		return orig(b, opts...)
	}
	t.Cleanup(func() { parseJWK = orig })
}

func panickyJWK(t *testing.T) json.RawMessage {
	return ecJWK(t, panickyKid)
}

func TestParseJWKS_JWXPanicIsAClippedErrorWithoutKeys(t *testing.T) {
	testKeys(t)
	panicOnKid(t)
	keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "a"), panickyJWK(t)))
	if !errors.Is(err, errJWXPanicked) || keys != nil || skipped != nil {
		t.Fatalf("parseJWKS = %d keys, %d skipped, %v; want no keys and errJWXPanicked", len(keys), len(skipped), err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "jwks: ") || !strings.Contains(msg, "jwx bug: xxx") || len(msg) > 1200 {
		t.Fatalf("error = %.200q… (%d bytes); want jwks:-prefixed, the panic's text clipped", msg, len(msg))
	}
}

func TestSet_JWXPanicOnTheFirstFetchIsUnavailableAndTheSetGoesOn(t *testing.T) {
	testKeys(t)
	panicOnKid(t)
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), panickyJWK(t))
	log, buf := capturingLogger()
	s, ft := startSet(t, Config{URL: ts.URL + "/keys", Logger: log})
	if w := ft.peek(t); w.d != backoffBase { // the fetch goroutine ended, and the Set backs off
		t.Fatalf("wait after a fetch whose parsing panicked = %v, want back-off %v", w.d, backoffBase)
	}
	if _, err := s.Key(ctxT(t), "a"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "panicked in jwx") {
		t.Fatalf("Key(a) after a fetch whose parsing panicked = %v, want ErrUnavailable naming the panic", err)
	}
	if out := buf.String(); !containsAll(out, "level=WARN", "key set refresh failed", "panicked in jwx", "jwx bug: xxx") {
		t.Fatalf("log = %s; want the failed refresh, naming the panic", out)
	}
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ft.refreshNow(t)
	if s.Current("a") == nil {
		t.Fatal("key not loaded by the refresh after the panic")
	}
}

func TestSet_JWXPanicAfterWarmUpKeepsTheLastGoodSet(t *testing.T) {
	testKeys(t)
	panicOnKid(t)
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	ts.setKeys(t, rsaJWK(t, 0, "a"), panickyJWK(t))
	if w := ft.refreshNow(t); w.d != backoffBase {
		t.Fatalf("wait after a refresh whose parsing panicked = %v, want back-off %v", w.d, backoffBase)
	}
	if k, err := s.Key(ctxT(t), "a"); err != nil || k == nil {
		t.Fatalf("Key(a) after a refresh whose parsing panicked = %v, %v; want the last good key", k, err)
	}
	if st := s.Stats(); st.Failures != 1 || st.Keys != 1 {
		t.Fatalf("Stats = %+v; want one failure and the key kept", st)
	}
}

// A document whose parsing panics is refused whole, but a key that an
// entry before the panic published the private material of is exposed all
// the same: it leaves the last good set, and stays refused.
func TestSet_JWXPanicAfterAnEntryExposingAKeyStillDropsTheKey(t *testing.T) {
	testKeys(t)
	panicOnKid(t)
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
	s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	b := s.Current("b")
	ts.setKeys(t, jwkJSON(t, rsaKeys[0], "a", "RS256", nil), panickyJWK(t))
	if w := ft.refreshNow(t); w.d != backoffBase {
		t.Fatalf("wait after a refresh whose parsing panicked = %v, want back-off %v", w.d, backoffBase)
	}
	if s.Current("a") != nil {
		t.Fatal("key a still served after a document published its private key before jwx panicked")
	}
	if s.Current("b") != b || b == nil {
		t.Fatal("key b, not exposed, no longer served from the last good set")
	}
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
	ft.refreshNow(t)
	if s.Current("a") != nil {
		t.Fatal("key a served again after its exposure")
	}
}
