package jwks

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/grpcauth/grpcauth/internal/jwxpanic"
	"github.com/grpcauth/grpcauth/internal/jwxpanic/jwxpanictest"
)

// panickyKid is the kid of an entry on which panicOnKid's parseJWK panics.
const panickyKid = "jwx-bug"

// panicOnKid makes jwx panic in parseJWK (jwxpanictest.Panic), as a jwx
// bug would, on an entry whose kid is panickyKid; other entries parse as
// ever. The seam is restored when t ends.
func panicOnKid(t *testing.T) {
	t.Helper()
	panicOnKidWith(t, jwxpanictest.Panic)
}

// panicOnKidWith makes parseJWK call p, which panics, on an entry whose
// kid is panickyKid.
func panicOnKidWith(t *testing.T, p func()) {
	t.Helper()
	orig := parseJWK
	parseJWK = func(b []byte, opts ...jwk.ParseOption) (jwk.Key, error) {
		if bytes.Contains(b, []byte(`"`+panickyKid+`"`)) {
			p()
		}
		return orig(b, opts...)
	}
	t.Cleanup(func() { parseJWK = orig })
}

// wantPanicked checks that err is parseJWKS's refusal of a document whose
// parsing panicked, raised in jwx or not as inJWX says.
func wantPanicked(t *testing.T, err error, inJWX bool) *jwxpanic.Error {
	t.Helper()
	e, ok := jwxpanic.Find(err)
	if !ok || e.InJWX != inJWX {
		t.Fatalf("parseJWKS error = %v; want a recovered panic (in jwx: %v)", err, inJWX)
	}
	return e
}

func panickyJWK(t *testing.T) json.RawMessage {
	return ecJWK(t, panickyKid)
}

func TestParseJWKS_JWXPanicIsAnErrorWithoutKeys(t *testing.T) {
	testKeys(t)
	panicOnKid(t)
	keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "a"), panickyJWK(t)))
	if keys != nil || skipped != nil {
		t.Fatalf("parseJWKS = %d keys, %d skipped, %v; want no keys", len(keys), len(skipped), err)
	}
	wantPanicked(t, err, true)
	if want := `jwks: parsing the key set panicked in jwx: "` + jwxpanictest.Text + `"`; err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
}

// A panic of this package's own code while the document is parsed is
// recovered alike, its value clipped, but not blamed on jwx.
func TestParseJWKS_OwnPanicIsAClippedErrorNotBlamedOnJWX(t *testing.T) {
	testKeys(t)
	panicOnKidWith(t, func() { panic("our bug: " + strings.Repeat("x", 5000)) })
	keys, _, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "a"), panickyJWK(t)))
	if keys != nil {
		t.Fatalf("parseJWKS = %d keys, %v; want none", len(keys), err)
	}
	wantPanicked(t, err, false)
	if msg := err.Error(); !strings.HasPrefix(msg, `jwks: parsing the key set panicked outside jwx, in grpcauth's code: "our bug: xxx`) || len(msg) > 300 {
		t.Fatalf("error = %.200q… (%d bytes); want a panic outside jwx, its text clipped", msg, len(msg))
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
	if out := buf.String(); !containsAll(out, "level=WARN", "key set refresh failed", "panicked in jwx", jwxpanictest.Text,
		"level=ERROR", "parsing the key set panicked", "jwxpanictest.Panic") {
		t.Fatalf("log = %s; want the failed refresh, naming the panic, and the panic with its stack", out)
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
	wantExposedDespiteThePanic(t, "a", "b", jwkJSON(t, rsaKeys[0], "a", "RS256", nil), panickyJWK(t))
}

// The entry on which jwx panics may itself publish private material (jwx's
// bugs sit in odd members): the key its public members make is exposed
// all the same, leaves the last good set and stays refused.
func TestSet_JWXPanicOnAnEntryPublishingAPrivateKeyStillDropsTheKey(t *testing.T) {
	testKeys(t)
	panicOnKid(t)
	wantExposedDespiteThePanic(t, "b", "a", rsaJWK(t, 0, "a"), jwkJSON(t, rsaKeys[1], panickyKid, "RS256", nil))
}

// wantExposedDespiteThePanic loads a set of the keys a and b, then refreshes
// it from a document of entries whose parsing panics, and checks that the
// key gone leaves the last good set and stays refused once served again,
// while kept stays.
func wantExposedDespiteThePanic(t *testing.T, gone, kept string, entries ...json.RawMessage) {
	t.Helper()
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
	s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	k := s.Current(kept)
	ts.setKeys(t, entries...)
	if w := ft.refreshNow(t); w.d != backoffBase {
		t.Fatalf("wait after a refresh whose parsing panicked = %v, want back-off %v", w.d, backoffBase)
	}
	if s.Current(gone) != nil {
		t.Fatalf("key %s still served after the document whose parsing panicked published its private key", gone)
	}
	if s.Current(kept) != k || k == nil {
		t.Fatalf("key %s, not exposed, no longer served from the last good set", kept)
	}
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
	ft.refreshNow(t)
	if s.Current(gone) != nil {
		t.Fatalf("key %s served again after its exposure", gone)
	}
}

// jwx may panic again on the members of the entry it panicked on, while
// parseJWKS looks for the keys that entry exposes: that panic too is
// recovered, and the document is refused as for the first.
func TestParseJWKS_JWXPanickingAgainOnThePanickedEntryIsRecovered(t *testing.T) {
	testKeys(t)
	orig := parseJWK
	parseJWK = func([]byte, ...jwk.ParseOption) (jwk.Key, error) { jwxpanictest.Panic(); return nil, nil }
	t.Cleanup(func() { parseJWK = orig })
	for _, entry := range []json.RawMessage{jwkJSON(t, rsaKeys[0], "a", "RS256", nil), jwkJSON(t, ecKey, "e", "ES256", nil)} {
		keys, _, err := parseJWKS(jwksDoc(t, entry))
		if keys != nil {
			t.Fatalf("parseJWKS = %d keys, %v; want none", len(keys), err)
		}
		wantPanicked(t, err, true)
	}
}
