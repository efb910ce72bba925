package jwks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
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

// An EC or Ed25519 entry that holds "d" but lacks the public members (or
// carries those of another key) is no JWK jwx parses, yet it publishes a
// private key: the public key its "d" makes is exposed, and dropped under
// whatever kid it appears, like any other exposed key.
func TestParseJWKS_PrivateScalarWithoutItsPublicMembersExposesItsKey(t *testing.T) {
	testKeys(t)
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	other, err := jwk.FromRaw(&otherEC.PublicKey)
	must(t, err)
	otherX, otherY := other.(jwk.ECDSAPublicKey).X(), other.(jwk.ECDSAPublicKey).Y()
	b64 := base64.RawURLEncoding.EncodeToString
	// A d whose big-endian encoding lost its leading zero byte (an
	// encoder that writes big.Int.Bytes()) names the same key.
	var shortD *ecdsa.PrivateKey
	for shortD == nil || shortD.D.BitLen() > 248 {
		shortD, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
	}
	// A d in standard base64 (jwx reads either alphabet).
	var stdD *ecdsa.PrivateKey
	for stdD == nil || !strings.ContainsAny(b64(stdD.D.FillBytes(make([]byte, 32))), "-_") {
		stdD, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
	}
	tests := []struct {
		name    string
		public  json.RawMessage // the exposed key's public entry, kid "pub"
		private json.RawMessage
	}{
		{"EC d alone", jwkJSON(t, &ecKey.PublicKey, "pub", "ES256", nil), jwkJSON(t, ecKey, "priv", "", map[string]any{"x": nil, "y": nil})},
		{"EC d and x, no y", jwkJSON(t, &ecKey.PublicKey, "pub", "ES256", nil), jwkJSON(t, ecKey, "", "", map[string]any{"y": nil})},
		{"EC d beside another key's x and y", jwkJSON(t, &ecKey.PublicKey, "pub", "ES256", nil), jwkJSON(t, ecKey, "priv", "", map[string]any{"x": b64(otherX), "y": b64(otherY)})},
		{"EC d without its leading zero byte", jwkJSON(t, &shortD.PublicKey, "pub", "ES256", nil), jwkJSON(t, shortD, "priv", "", map[string]any{"x": nil, "y": nil, "d": b64(shortD.D.Bytes())})},
		{"Ed25519 d alone", jwkJSON(t, edPriv.Public(), "pub", "EdDSA", nil), jwkJSON(t, edPriv, "priv", "", map[string]any{"x": nil})},
		{"Ed25519 d beside another key's x", jwkJSON(t, edPriv.Public(), "pub", "EdDSA", nil), jwkJSON(t, edPriv, "priv", "", map[string]any{"x": b64(edPub)})},
		{"EC d in standard base64", jwkJSON(t, &stdD.PublicKey, "pub", "ES256", nil), jwkJSON(t, stdD, "priv", "", map[string]any{"x": nil, "y": nil, "d": base64.StdEncoding.EncodeToString(stdD.D.FillBytes(make([]byte, 32)))})},
		// crypto/ed25519's PrivateKey (the seed, then the public key)
		// written whole, as a program encoding it by hand might.
		{"Ed25519 d of 64 bytes", jwkJSON(t, edPriv.Public(), "pub", "EdDSA", nil), jwkJSON(t, edPriv, "priv", "", map[string]any{"x": nil, "d": b64(edPriv)})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "ok"), tt.public, tt.private))
			must(t, err)
			if len(keys) != 1 || keys[0].ID != "ok" {
				t.Fatalf("kept %v, want only ok: the key of pub is exposed by the private entry", kids(keys))
			}
			for _, sk := range skipped {
				if !sk.Warn || !strings.Contains(sk.Reason, "private key") {
					t.Errorf("entry %d skipped as %q (warn %v), want a private-key exposure at warn", sk.Index, sk.Reason, sk.Warn)
				}
			}
			if len(skipped) != 2 {
				t.Fatalf("skipped %+v, want the private entry and the public key it exposes", skipped)
			}
		})
	}
}

// Deriving a public key from a private scalar costs a scalar
// multiplication (half a millisecond on P-521), so a hostile document of
// thousands of scalars could make every fetch burn seconds: only the first
// maxDerivedKeys of a document are derived. Each later one is still a
// private-key exposure, refusing the key its own public members name, and
// every key of its curve (see
// TestParseJWKS_ScalarPastTheDerivationBudgetExposesEveryKeyOfItsCurve).
func TestParseJWKS_DerivesAtMostMaxDerivedKeysPublicKeysPerDocument(t *testing.T) {
	testKeys(t)
	var doc []json.RawMessage
	for range maxDerivedKeys {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
		doc = append(doc, jwkJSON(t, k, "", "", map[string]any{"x": nil, "y": nil}))
	}
	doc = append(doc,
		jwkJSON(t, ecKey, "", "", map[string]any{"x": nil, "y": nil}), // past the budget
		jwkJSON(t, &ecKey.PublicKey, "pub", "ES256", nil))
	keys, skipped, err := parseJWKS(jwksDoc(t, doc...))
	must(t, err)
	if len(keys) != 0 {
		t.Fatalf("kept %v, want none: a P-256 scalar past the derivation budget exposes every P-256 key", kids(keys))
	}
	if len(skipped) != maxDerivedKeys+2 || !skipped[maxDerivedKeys].Warn || !strings.Contains(skipped[maxDerivedKeys].Reason, "private key") ||
		!slices.Equal(skipped[maxDerivedKeys].Curves, []string{"P-256"}) || len(skipped[maxDerivedKeys-1].Curves) != 0 {
		t.Fatalf("skipped %+v, want every scalar as a private-key exposure at warn, the last past the budget", skipped[maxDerivedKeys-1:])
	}
	// Within the budget the same entry exposes pub.
	keys, _, err = parseJWKS(jwksDoc(t, doc[maxDerivedKeys-1:]...))
	must(t, err)
	if len(keys) != 0 {
		t.Fatalf("kept %v, want none", kids(keys))
	}
}

// Only an entry whose "d" makes a public key spends the document's budget
// of maxDerivedKeys derivations: an entry whose "d" can make none (no
// crv, as here beside no kty or an RSA one, an unsupported curve, a "d"
// that does not decode) costs no scalar multiplication and spends nothing, so that no
// number of them stops a later EC scalar from exposing its key. Before,
// each such entry spent one, and 32 of them left the key of a published
// EC scalar usable.
func TestParseJWKS_EntriesWhoseDMakesNoKeySpendNoDerivation(t *testing.T) {
	testKeys(t)
	d := base64.RawURLEncoding.EncodeToString(ecKey.D.FillBytes(make([]byte, 32)))
	for name, junk := range map[string]string{
		"no kty":             `{"d":"AQ"}`,
		"kty rsa":            `{"kty":"rsa","d":"AQ"}`,
		"an unknown curve":   `{"kty":"EC","crv":"P-224","d":"AQ"}`,
		"a d that is no key": `{"kty":"EC","crv":"P-256","d":"!"}`,
	} {
		t.Run(name, func(t *testing.T) {
			entries := []json.RawMessage{ecJWK(t, "ec")}
			for range 2 * maxDerivedKeys {
				entries = append(entries, json.RawMessage(junk))
			}
			entries = append(entries, json.RawMessage(`{"kty":"EC","crv":"P-256","d":"`+d+`"}`), rsaJWK(t, 1, "ok"))
			keys, skipped, err := parseJWKS(jwksDoc(t, entries...))
			if err != nil {
				t.Fatal(err)
			}
			if got := kids(keys); len(got) != 1 || got[0] != "ok" {
				t.Fatalf("kept %v (%d skipped); want only \"ok\": the last entry publishes the private scalar of \"ec\"", got, len(skipped))
			}
		})
	}
}

// jwx computes an EC key's thumbprint by writing x and y into buffers of
// the curve's size, and panics when one is a larger number; only Validate
// refuses such a key, and an entry with private material is never
// validated. Such an entry in a fetched document must be a skipped
// exposure, not a panic in the fetch goroutine, which would end the
// process.
func TestParseJWKS_PrivateEntryWithAnOversizedCoordinateIsSkippedWithoutPanic(t *testing.T) {
	testKeys(t)
	big := base64.RawURLEncoding.EncodeToString(append([]byte{1}, make([]byte, 32)...)) // 2^256: no P-256 coordinate
	for _, entry := range []map[string]any{
		{"kty": "EC", "crv": "P-256", "x": big, "d": "0"},                                                     // jwx refuses it: exposedByInvalid
		{"kty": "EC", "crv": "P-256", "x": big, "y": big, "d": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"}, // jwx parses it
	} {
		b, err := json.Marshal(entry)
		must(t, err)
		keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "ok"), b))
		must(t, err)
		if len(keys) != 1 || len(skipped) != 1 || !skipped[0].Warn || !strings.Contains(skipped[0].Reason, "private key") {
			t.Fatalf("kept %v, skipped %+v; want ok kept and the entry skipped as private key material", kids(keys), skipped)
		}
	}
}

// eofHook is a transport that calls the function in onEOF (when set) as a
// response body reports its end, before the reader sees it: the moment the
// document has been read and its parse is about to begin.
type eofHook struct {
	tr    http.RoundTripper
	onEOF atomic.Pointer[func()]
}

func (h *eofHook) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.tr.RoundTrip(r)
	if err == nil {
		resp.Body = &eofHookBody{ReadCloser: resp.Body, h: h}
	}
	return resp, err
}

type eofHookBody struct {
	io.ReadCloser
	h *eofHook
}

func (b *eofHookBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		if f := b.h.onEOF.Swap(nil); f != nil {
			(*f)()
		}
	}
	return n, err
}

// A document that publishes a key's private half drops that key from the
// last good set even when Close cancels the Set while the document is
// parsed: lookups after Close still answer from the last snapshot, which
// must not hold a key anyone can sign with. Before, a failed fetch that
// Close overtook returned no snapshot, so the exposed key stayed served.
func TestSet_CloseDuringAFetchThatExposesAKeyStillDropsTheKey(t *testing.T) {
	testKeys(t)
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	hook := &eofHook{tr: tr}
	s, ft := startSet(t, Config{URL: ts.URL + "/keys", Client: &http.Client{Transport: hook}})
	ready(t, s)

	// The next document is a's private half alone: no usable key, and a
	// exposed. Close runs once it has been read, before it is parsed.
	ts.setKeys(t, jwkJSON(t, rsaKeys[0], "a", "RS256", nil))
	closed := make(chan struct{})
	closeNow := func() {
		go func() {
			s.Close()
			close(closed)
		}()
		<-s.ctx.Done() // Close has cancelled the fetch's context
	}
	hook.onEOF.Store(&closeNow)
	ft.next(t).span(t, nil) // the scheduled refresh starts
	receive(t, closed, "Close to end, the fetch included")

	if hook.onEOF.Load() != nil {
		t.Fatal("the refresh read no document before Close")
	}
	if s.Current("a") != nil {
		t.Fatal("key a served after Close: the document that published its private half was read")
	}
	if s.Current("b") == nil {
		t.Fatal("key b, never exposed, not served from the last good set after Close")
	}
	if _, err := s.Key(ctxT(t), "a"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(a) after Close = %v, want ErrUnknownKey: the issuer exposed it, so it is remembered as withdrawn", err)
	}
	if st := s.Stats(); st.Failures != 0 {
		t.Fatalf("Stats.Failures = %d, want 0: a fetch Close cancelled is no failure of the issuer's", st.Failures)
	}
}

// Past the document's maxDerivedKeys derivations, a "d" that would make a
// key of a curve (one that decodes, in range) exposes every key of that
// curve, of the document and of the last good set: the budget bounds the
// scalar multiplications, and the key the scalar makes is unknown, so it
// may be any of them. Before, such a scalar exposed nothing: 32 real
// private keys of no use ahead of it left the key of the published scalar
// usable. A "d" of zero or not below the group order makes no key, and
// now spends no derivation either; before, each spent one, so 32 of them,
// a few bytes each, did the same.
func TestParseJWKS_ScalarPastTheDerivationBudgetExposesEveryKeyOfItsCurve(t *testing.T) {
	testKeys(t)
	order := base64.RawURLEncoding.EncodeToString(elliptic.P256().Params().N.Bytes())
	for name, c := range map[string]struct {
		filler func() json.RawMessage
		want   []string // the kids kept
	}{
		// Each spends a derivation: past them, every P-256 key goes.
		"real keys of no use": {func() json.RawMessage {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			must(t, err)
			return jwkJSON(t, k, "", "", nil)
		}, []string{"ok"}},
		// None makes a key, so none spends a derivation: the scalar of
		// ecKey is derived, and "ec" alone is exposed.
		"scalars of zero":            {func() json.RawMessage { return json.RawMessage(`{"kty":"EC","crv":"P-256","d":"AA"}`) }, []string{"other", "ok"}},
		"scalars of the group order": {func() json.RawMessage { return json.RawMessage(`{"kty":"EC","crv":"P-256","d":"` + order + `"}`) }, []string{"other", "ok"}},
	} {
		t.Run(name, func(t *testing.T) {
			var doc []json.RawMessage
			for range maxDerivedKeys {
				doc = append(doc, c.filler())
			}
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			must(t, err)
			doc = append(doc,
				jwkJSON(t, ecKey, "", "", map[string]any{"x": nil, "y": nil}), // ecKey's scalar, after the fillers
				jwkJSON(t, &ecKey.PublicKey, "ec", "ES256", nil),
				jwkJSON(t, &other.PublicKey, "other", "ES256", nil),
				rsaJWK(t, 1, "ok"))
			keys, skipped, err := parseJWKS(jwksDoc(t, doc...))
			must(t, err)
			if got := kids(keys); !slices.Equal(got, c.want) {
				t.Fatalf("kept %v; want %v: the entry after the %d fillers publishes the private scalar of \"ec\"", got, c.want, maxDerivedKeys)
			}
			var exposes []string
			for _, sk := range skipped {
				exposes = append(exposes, sk.Exposes...)
			}
			if !slices.Contains(exposes, keyOf(t, &ecKey.PublicKey, "").thumb) ||
				len(c.want) == 1 && !slices.Contains(exposes, keyOf(t, &other.PublicKey, "").thumb) {
				t.Errorf("an exposed key of the document is in no skipped entry's Exposes: a later document could bring it back")
			}
			// The last good set's keys of the curve are exposed too, its
			// others not.
			last := newSnapshot([]*Key{keyOf(t, &ecKey.PublicKey, "ec"), keyOf(t, &rsaKeys[0].PublicKey, "rsa")}, 0, nil, time.Now())
			_, skipped, _ = parseJWKS(jwksDoc(t, doc[:maxDerivedKeys+1]...))
			exposeFactored(skipped, last)
			if next := last.withoutExposed(skipped); next == nil || len(next.keys) != 1 || next.keys["rsa"] == nil {
				t.Fatalf("last good set after the document: %v; want only \"rsa\"", next)
			}
		})
	}
}

// keyOf returns the Key parseKey makes of pub under kid.
func keyOf(t *testing.T, pub any, kid string) *Key {
	t.Helper()
	k, r := parseKey(jwkJSON(t, pub, kid+"x", "", nil))
	if r != nil {
		t.Fatal(r)
	}
	k.ID = kid
	return k
}

// An entry keeps at most maxPublishedFactors earlier values of a repeated
// "d"; one that repeats it more, with the scalar of a key after them,
// exposes every key of its curve, as a scalar past the document's
// derivations does. Before, the values past the first maxPublishedFactors
// were dropped unread: 33 distinct zeros ("AA", "AAA", ...) ahead of the
// scalar of "ec" left "ec" usable.
func TestParseJWKS_DRepeatedPastTheKeptValuesExposesEveryKeyOfItsCurve(t *testing.T) {
	testKeys(t)
	d := base64.RawURLEncoding.EncodeToString(ecKey.D.FillBytes(make([]byte, 32)))
	var entry strings.Builder
	entry.WriteString(`{"kty":"EC","crv":"P-256"`)
	for i := range maxPublishedFactors + 1 {
		entry.WriteString(`,"d":"` + strings.Repeat("A", 2+i%2) + `"`)
	}
	entry.WriteString(`,"d":"` + d + `","d":"AQ"}`)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	keys, _, err := parseJWKS(jwksDoc(t, json.RawMessage(entry.String()), ecJWK(t, "ec"), jwkJSON(t, &other.PublicKey, "other", "ES256", nil), rsaJWK(t, 1, "ok")))
	must(t, err)
	if got := kids(keys); !slices.Equal(got, []string{"ok"}) {
		t.Fatalf("kept %v; want [ok]: the entry's earlier values of \"d\" include the scalar of \"ec\"", got)
	}
}

// holdsNothing reads a member's bytes where it once decoded them: for
// every JSON shape it must say what decoding says (null, "" and [] hold
// nothing, anything else holds something), so that no member that
// publishes something is dropped as empty. Each shape is also published as
// the "p" of an RSA entry of key "a": only the empty ones leave it usable.
func TestHoldsNothing_AgreesWithDecodingForEveryJSONShape(t *testing.T) {
	testKeys(t)
	decoded := func(v json.RawMessage) bool { // holdsNothing before 3c43d25
		var x any
		if json.Unmarshal(v, &x) != nil {
			return false
		}
		switch x := x.(type) {
		case nil:
			return true
		case string:
			return x == ""
		case []any:
			return len(x) == 0
		}
		return false
	}
	public := strings.TrimSuffix(string(rsaJWK(t, 0, "a")), "}")
	for _, shape := range []string{
		`null`, `""`, `[]`, `[ ]`, "[\n\t\r ]", ` null `, "\t\"\"\n",
		`"\u0000"`, `"\""`, `"\\"`, `"\/"`, `" "`, `"\ufeff"`, "\"\xff\"", `"null"`, `"[]"`,
		`[null]`, `[""]`, `[[]]`, `[ [ ] ]`, `[{}]`, `{}`, `{ }`, `{"r":null}`,
		`0`, `-0`, `false`, `true`, `"AA"`, `"Aw"`,
	} {
		want := decoded(json.RawMessage(shape))
		if got := holdsNothing(json.RawMessage(shape)); got != want {
			t.Errorf("holdsNothing(%q) = %v; decoding says %v", shape, got, want)
		}
		doc := `{"keys":[` + public + `,"p":` + shape + `},` + string(rsaJWK(t, 1, "ok")) + `]}`
		keys, _, err := parseJWKS([]byte(doc))
		must(t, err)
		if usable := slices.Contains(kids(keys), "a"); usable != want {
			t.Errorf(`"p": %s beside the key of "a": "a" usable %v, want %v`, shape, usable, want)
		}
	}
}

// Every "r" of a member of an "oth" publishes a prime factor, also one the
// member repeats or names in another case: a later "r" (or "R", which
// encoding/json reads as "r") must not hide it. Before, each member of
// "oth" was decoded with encoding/json, which keeps the last match only,
// so "r": prime, "r": "Aw" left the key the prime factors usable.
func TestParseJWKS_OthMemberRepeatingRStillPublishesEachPrime(t *testing.T) {
	testKeys(t)
	prime := `"` + base64.RawURLEncoding.EncodeToString(rsaKeys[0].Primes[0].Bytes()) + `"`
	for name, oth := range map[string]string{
		"once":                        `[{"r":` + prime + `}]`,
		"after an element of no oth":  `[1,null,"r",[],{"r":` + prime + `}]`,
		"repeated":                    `[{"r":` + prime + `,"r":"Aw"}]`,
		"repeated in another case":    `[{"r":` + prime + `,"R":"Aw"}]`,
		"in another case":             `[{"R":` + prime + `}]`,
		"beside the other members":    `[{"d":"AQ","r":` + prime + `,"t":"AQ"},{"r":5}]`,
		"repeated as null":            `[{"r":` + prime + `,"r":null}]`,
		"after members that are no r": `[{"rr":"Aw","":"Aw","r ":"Aw","r":` + prime + `}]`,
	} {
		t.Run(name, func(t *testing.T) {
			doc := `{"keys":[` + string(rsaJWK(t, 0, "a")) + `,` + string(rsaJWK(t, 1, "ok")) + `,{"kty":"EC","oth":` + oth + `}]}`
			keys, _, err := parseJWKS([]byte(doc))
			must(t, err)
			if got := kids(keys); !slices.Equal(got, []string{"ok"}) {
				t.Fatalf("kept %v; want [ok]: the oth publishes a prime factor of \"a\"", got)
			}
		})
	}
}

// Past the document's maxPublishedFactors prime factors, a factor is not
// tried on any key, and may factor any: every RSA key is exposed, of the
// document and of the last good set, as a scalar past the derivations
// exposes every key of its curve. Before, it exposed none, so 32 factors
// of no key ahead of it ("Aw", 3, a few bytes each), in other entries, in
// the entry's "oth" or as earlier values of its "p" (or 33 earlier values
// that are no number, past those an entry keeps), left usable the key
// whose modulus it divides.
func TestParseJWKS_PrimeFactorPastTheBoundExposesEveryRSAKey(t *testing.T) {
	testKeys(t)
	prime := `"` + base64.RawURLEncoding.EncodeToString(rsaKeys[0].Primes[0].Bytes()) + `"`
	repeat := func(values ...string) string {
		var b strings.Builder
		for i := range maxPublishedFactors + 1 {
			b.WriteString(`"p":"` + values[i%2] + `",`)
		}
		return b.String()
	}
	for name, entries := range map[string]string{
		"in other entries":       strings.Repeat(`{"p":"Aw"},`, maxPublishedFactors) + `{"p":` + prime + `}`,
		"in the entry's oth":     `{"oth":[` + strings.Repeat(`{"r":"Aw"},`, maxPublishedFactors) + `{"r":` + prime + `}]}`,
		"as earlier values of p": `{` + repeat("Aw", "AAM") + `"p":` + prime + `,"p":"Aw"}`,
		// More earlier values than the entry keeps, none a number: the
		// prime is not read, and may factor any key.
		"as earlier values of p, after values that are no number": `{` + repeat("!", "!!") + `"p":` + prime + `,"p":"Aw"}`,
	} {
		t.Run(name, func(t *testing.T) {
			doc := `{"keys":[` + entries + `,` + string(rsaJWK(t, 0, "a")) + `,` + string(rsaJWK(t, 1, "b")) + `,` + string(ecJWK(t, "ec")) + `]}`
			keys, skipped, err := parseJWKS([]byte(doc))
			must(t, err)
			if got := kids(keys); !slices.Equal(got, []string{"ec"}) {
				t.Fatalf("kept %v; want [ec]: a prime factor of \"a\" is published past the bound", got)
			}
			last := newSnapshot([]*Key{keyOf(t, &rsaKeys[0].PublicKey, "a"), keyOf(t, &rsaKeys[2].PublicKey, "c"), keyOf(t, &ecKey.PublicKey, "ec")}, 0, nil, time.Now())
			exposeFactored(skipped, last)
			if next := last.withoutExposed(skipped); next == nil || len(next.keys) != 1 || next.keys["ec"] == nil {
				t.Fatalf("last good set after the document: %v; want only \"ec\"", next)
			}
		})
	}
}

// A document whose only private material lies past what the exposed-key
// rule checks per document (a scalar past the derivations, a prime
// factor past the bound) has no usable key: the fetch fails, and the
// last good set stops serving every key of that curve (or every RSA key),
// which stay refused when a later document publishes them again.
func TestSet_MaterialPastThePerDocumentBoundsStopsTheLastGoodSetKeysOfItsKind(t *testing.T) {
	testKeys(t)
	var scalars []string
	for range maxDerivedKeys {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
		scalars = append(scalars, string(jwkJSON(t, k, "", "", nil)))
	}
	scalars = append(scalars, string(jwkJSON(t, ecKey, "", "", map[string]any{"x": nil, "y": nil})))
	s, ts, ft := lastGoodSetLosesKeyEC(t, `{"keys":[`+strings.Join(scalars, ",")+`]}`)
	// The rule holds for that document only: a new key of the curve in a
	// clean document is served, the remembered one is not.
	fresh, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	ts.setKeys(t, ecJWK(t, "ec"), rsaJWK(t, 1, "b"), jwkJSON(t, &fresh.PublicKey, "ec2", "ES256", nil))
	ft.refreshNow(t)
	if s.Current("ec") != nil || s.Current("b") == nil || s.Current("ec2") == nil {
		t.Fatalf("after a document publishing only public keys: ec served %v, b served %v, ec2 served %v; want b and ec2", s.Current("ec") != nil, s.Current("b") != nil, s.Current("ec2") != nil)
	}

	ts = newTestServer(t)
	ts.setKeys(t, ecJWK(t, "ec"), rsaJWK(t, 1, "b"))
	s, ft = startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	prime := base64.RawURLEncoding.EncodeToString(rsaKeys[1].Primes[0].Bytes())
	ts.set("/keys", reply{body: []byte(`{"keys":[` + strings.Repeat(`{"p":"Aw"},`, maxPublishedFactors) + `{"p":"` + prime + `"}]}`)})
	ft.refreshNow(t)
	if s.Current("b") != nil || s.Current("ec") == nil {
		t.Fatalf("after a document publishing a prime factor of b past the bound: b served %v, ec served %v; want ec only", s.Current("b") != nil, s.Current("ec") != nil)
	}
}
