package jwks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// These tests hold checks of the exposed-key rule and the entry cap that a
// hand-run mutation test (docs/security.md, mutation runs) found no other
// test holding: each fails when its check is removed or weakened.

// An RSA prime factor published by an entry that names no key of its own
// (no "n", a kty that is no RSA, or none) still exposes the key whose
// modulus it divides: the document then exposes no thumbprint, but it
// publishes a factor, and the kept keys are still tried against it.
func TestParseJWKS_PrimeInAnEntryThatNamesNoKeyStillExposesTheKeyItDivides(t *testing.T) {
	testKeys(t)
	prime := base64.RawURLEncoding.EncodeToString(rsaKeys[0].Primes[0].Bytes())
	for name, entry := range map[string]string{
		`"p" in an EC entry without a curve`: `{"kty":"EC","p":"` + prime + `"}`,
		`"q" in an entry without kty`:        `{"q":"` + prime + `"}`,
		`"oth" in an oct entry`:              `{"kty":"oct","oth":[{"r":"` + prime + `"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			keys, skipped, err := parseJWKS([]byte(`{"keys":[` + string(rsaJWK(t, 0, "a")) + `,` + entry + `,` + string(rsaJWK(t, 1, "ok")) + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := kids(keys); len(got) != 1 || got[0] != "ok" {
				t.Fatalf("kept %v, skipped %+v; want only \"ok\": entry 1 publishes a prime factor of \"a\"", got, skipped)
			}
		})
	}
}

// A "kty" written with the Kelvin sign (U+212A, which folds to "k") after
// an EC entry's own "kty" is no JWK member, and is dropped: encoding/json
// would read it as the entry's kty ("RSA"), and an RSA entry's "d" makes
// no EC key, so the key of the published scalar would stay usable.
func TestParseJWKS_KelvinSignKtyVariantHidesNoDerivedKey(t *testing.T) {
	testKeys(t)
	d := base64.RawURLEncoding.EncodeToString(ecKey.D.FillBytes(make([]byte, 32)))
	entry := `{"kty":"EC","crv":"P-256","d":"` + d + `","` + "\u212a" + `ty":"RSA"}`
	keys, skipped, err := parseJWKS(jwksDoc(t, ecJWK(t, "ec"), json.RawMessage(entry), rsaJWK(t, 1, "ok")))
	if err != nil {
		t.Fatal(err)
	}
	if got := kids(keys); len(got) != 1 || got[0] != "ok" {
		t.Fatalf("kept %v, skipped %+v; want only \"ok\": entry 1 publishes the private scalar of \"ec\"", got, skipped)
	}
}

// An "oth" repeated with another value publishes the primes of both: the
// earlier one's "r" exposes the key whose modulus it divides, though
// every reader keeps the last "oth".
func TestParseJWKS_RepeatedOthExposesTheKeyOfItsEarlierPrime(t *testing.T) {
	testKeys(t)
	b64 := base64.RawURLEncoding.EncodeToString
	entry := strings.TrimSuffix(string(jwkJSON(t, &rsaKeys[2].PublicKey, "c", "", nil)), "}") +
		`,"oth":[{"r":"` + b64(rsaKeys[0].Primes[0].Bytes()) + `","d":"AQ","t":"AQ"}],"oth":[{"r":"Aw","d":"AQ","t":"AQ"}]}`
	keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "a"), json.RawMessage(entry), rsaJWK(t, 1, "ok")))
	if err != nil {
		t.Fatal(err)
	}
	if got := kids(keys); len(got) != 1 || got[0] != "ok" {
		t.Fatalf("kept %v, skipped %+v; want only \"ok\": the first \"oth\" publishes a prime factor of \"a\"", got, skipped)
	}
}

// The RSA prime factors a document publishes are tried on its keys up to
// maxPublishedFactors of them, in document order, each counted once: the
// last within the bound still exposes its key alone, one past it is not
// tried (a hostile document of thousands of factors must not make a fetch
// divide each key by each) and exposes every RSA key instead, and a prime
// an entry repeats with the same value uses no more of the bound than
// one. The bound is the one docs/key-set.md names: 32.
func TestParseJWKS_TriesAtMostMaxPublishedFactorsPerDocument(t *testing.T) {
	testKeys(t)
	const bound = 32
	prime := `{"kty":"EC","p":"` + base64.RawURLEncoding.EncodeToString(rsaKeys[0].Primes[0].Bytes()) + `"}`
	junk := func(n int) string { return strings.Repeat(`{"kty":"EC","p":"Aw"},`, n) } // 3, a factor of no key
	keys := `,` + string(rsaJWK(t, 0, "a")) + `,` + string(rsaJWK(t, 1, "b")) + `,` + string(ecJWK(t, "ec")) + `]}`
	for name, tc := range map[string]struct {
		doc  string
		kept []string
	}{
		"the last factor within the bound":               {`{"keys":[` + junk(bound-1) + prime + keys, []string{"b", "ec"}},
		"one factor past the bound":                      {`{"keys":[` + junk(bound) + prime + keys, []string{"ec"}},
		"after an entry repeating one factor many times": {`{"keys":[{"kty":"EC"` + strings.Repeat(`,"p":"Aw"`, 2*bound) + `},` + prime + keys, []string{"b", "ec"}},
	} {
		t.Run(name, func(t *testing.T) {
			keys, skipped, err := parseJWKS([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if got := kids(keys); !slices.Equal(got, tc.kept) {
				t.Fatalf("kept %v, skipped %d entries; want %v", got, len(skipped), tc.kept)
			}
		})
	}
}

// A key that one document exposes many times over (its private JWK
// repeated in more entries than the exposed-key memory holds) is
// remembered once: it does not push out of that memory a key an earlier
// document exposed, which a later document that publishes only its public
// half must not bring back.
func TestSet_KeyExposedManyTimesOverPushesNoOtherOutOfTheMemory(t *testing.T) {
	testKeys(t)
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
	s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	ts.setKeys(t, ecJWK(t, "a"), rsaJWK(t, 1, "b"), jwkJSON(t, rsaKeys[0], "a0", "", nil)) // exposes rsaKeys[0]
	ft.refreshNow(t)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	entries := []json.RawMessage{rsaJWK(t, 1, "b")}
	for range maxExposedKeys + 1 {
		entries = append(entries, jwkJSON(t, other, "", "", nil))
	}
	ts.setKeys(t, entries...)
	ft.refreshNow(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
	ft.refreshNow(t)
	if s.Current("a") != nil {
		t.Fatal("key a served again: the memory of its exposure was pushed out by one other key exposed many times")
	}
	if s.Current("b") == nil {
		t.Fatal("key b, never exposed, not served")
	}
}

// An EC private key (which publishes no RSA prime for the last good set's
// keys to be tried on) in a "keys" member that gives no keys still exposes
// its key: in a repeated "keys" member, in a document that is no key set,
// and among the first entries of a document over the cap, and the last
// good set stops serving it.
func TestSet_ECPrivateEntryOfAMemberNotReadForKeysStopsItsKey(t *testing.T) {
	testKeys(t)
	private := string(jwkJSON(t, ecKey, "x", "", nil))
	for name, doc := range map[string]string{
		"a repeated keys member": `{"keys":[` + private + `],"keys":[` + string(rsaJWK(t, 1, "b")) + `]}`,
		"no key set":             `{"keys":[` + private + `],"keys":null}`,
		"over the entry cap":     `{"keys":[` + private + strings.Repeat(`,{}`, maxEntries) + `]}`,
	} {
		t.Run(name, func(t *testing.T) {
			s, ts, ft := lastGoodSetLosesKeyEC(t, doc)
			ts.setKeys(t, ecJWK(t, "ec"), rsaJWK(t, 1, "b"))
			ft.refreshNow(t)
			if s.Current("ec") != nil {
				t.Fatal("key ec served again by a later document: its exposure was not remembered")
			}
		})
	}
}

// An EC "d" written with a leading zero byte more than its curve's size
// (as a signed big-endian encoder, Java's BigInteger.toByteArray for one,
// writes a scalar whose top bit is set) is still the scalar: the key it
// makes is exposed.
func TestParseJWKS_PrivateScalarWithAnExtraLeadingZeroByteExposesItsKey(t *testing.T) {
	testKeys(t)
	d := base64.RawURLEncoding.EncodeToString(append([]byte{0}, ecKey.D.FillBytes(make([]byte, 32))...))
	keys, skipped, err := parseJWKS(jwksDoc(t, ecJWK(t, "ec"), json.RawMessage(`{"kty":"EC","crv":"P-256","d":"`+d+`"}`), rsaJWK(t, 1, "ok")))
	if err != nil {
		t.Fatal(err)
	}
	if got := kids(keys); len(got) != 1 || got[0] != "ok" {
		t.Fatalf("kept %v, skipped %+v; want only \"ok\": entry 1 publishes the private scalar of \"ec\"", got, skipped)
	}
}

// A prime factor repeated three times with three values publishes each of
// them: the first two, which every reader's last value hides, still
// expose the keys whose moduli they divide.
func TestParseJWKS_PrimeRepeatedWithThreeValuesExposesEachKey(t *testing.T) {
	testKeys(t)
	b64 := base64.RawURLEncoding.EncodeToString
	entry := `{"kty":"EC","p":"` + b64(rsaKeys[0].Primes[0].Bytes()) + `","p":"` + b64(rsaKeys[1].Primes[1].Bytes()) + `","p":"Aw"}`
	keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"), json.RawMessage(entry), rsaJWK(t, 2, "ok")))
	if err != nil {
		t.Fatal(err)
	}
	if got := kids(keys); len(got) != 1 || got[0] != "ok" {
		t.Fatalf("kept %v, skipped %+v; want only \"ok\": entry 2 publishes a prime factor of \"a\" and one of \"b\"", got, skipped)
	}
}

// A key whose modulus a published prime divides is remembered as exposed
// also when its kid is ambiguous (shared with another key of the
// document): a later document that names it alone under that kid must not
// bring it back.
func TestSet_FactoredKeyOfAnAmbiguousKidIsStillRememberedAsExposed(t *testing.T) {
	testKeys(t)
	prime := json.RawMessage(`{"kty":"EC","p":"` + base64.RawURLEncoding.EncodeToString(rsaKeys[0].Primes[0].Bytes()) + `"}`)
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 2, "ok"))
	s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	ts.setKeys(t, rsaJWK(t, 0, "k"), rsaJWK(t, 1, "k"), prime, rsaJWK(t, 2, "ok"))
	ft.refreshNow(t)
	if s.Current("k") != nil || s.Current("ok") == nil {
		t.Fatalf("after the document with the ambiguous kid: k served %v, ok served %v; want ok only", s.Current("k") != nil, s.Current("ok") != nil)
	}
	ts.setKeys(t, rsaJWK(t, 0, "k"), rsaJWK(t, 2, "ok"))
	ft.refreshNow(t)
	if s.Current("k") != nil {
		t.Fatal("key k served: an earlier document published a prime factor of its modulus")
	}
	if s.Current("ok") == nil {
		t.Fatal("key ok, never exposed, not served")
	}
}

// A "d" that an EC entry repeats is derived within the same budget of
// maxDerivedKeys (32, as docs/key-set.md says) as every other: past it,
// the key of the earlier value is not derived, and every key of its curve
// is exposed instead.
func TestParseJWKS_RepeatedDIsDerivedWithinTheDocumentsBudget(t *testing.T) {
	testKeys(t)
	const budget = 32
	b64 := func(k *ecdsa.PrivateKey) string {
		return base64.RawURLEncoding.EncodeToString(k.D.FillBytes(make([]byte, 32)))
	}
	var entries []json.RawMessage
	for range budget - 1 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
		entries = append(entries, json.RawMessage(`{"kty":"EC","crv":"P-256","d":"`+b64(k)+`"}`))
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	repeated := json.RawMessage(`{"kty":"EC","crv":"P-256","d":"` + b64(ecKey) + `","d":"` + b64(other) + `"}`)
	keys, skipped, err := parseJWKS(jwksDoc(t, append(entries, repeated, ecJWK(t, "ec"))...))
	must(t, err)
	if got, sk := kids(keys), skipped[len(skipped)-2]; len(got) != 0 || !slices.Equal(sk.Curves, []string{"P-256"}) {
		t.Fatalf("kept %v, the repeated d's entry exposes the curves %v; want none, and P-256: the repeated d's earlier value is the 33rd scalar, past the budget", got, sk.Curves)
	}
	keys, skipped, err = parseJWKS(jwksDoc(t, append(entries[1:], repeated, ecJWK(t, "ec"))...))
	must(t, err)
	if got, sk := kids(keys), skipped[len(skipped)-2]; len(got) != 0 || len(sk.Curves) != 0 {
		t.Fatalf("kept %v, the repeated d's entry exposes the curves %v; want none, and none: the repeated d's earlier value is the 32nd scalar, within the budget", got, sk.Curves)
	}
}

// A document that is cut short or breaks off after an entry that
// publishes a private key is no key set, but the entries read before the
// fault still expose their keys: the last good set stops serving them.
func TestSet_PrivateEntryBeforeTheFaultOfAMalformedDocumentStopsItsKey(t *testing.T) {
	testKeys(t)
	private := string(jwkJSON(t, ecKey, "x", "", nil))
	for name, doc := range map[string]string{
		"cut short":                `{"keys":[` + private + `,{"kty":"EC","crv":`,
		"a syntax error after it":  `{"keys":[` + private + `,}]}`,
		"in a second keys member":  `{"keys":[],"keys":[` + private + `,{]}`,
		"before an unclosed array": `{"keys":[` + private,
	} {
		t.Run(name, func(t *testing.T) { lastGoodSetLosesKeyEC(t, doc) })
	}
}

// lastGoodSetLosesKeyEC loads the set {ec, b} (ecKey and rsaKeys[1]),
// serves doc, which publishes ecKey's private key, and fails unless ec is
// no longer served and b still is. It returns the set, its server and its
// timers, for more fetches.
func lastGoodSetLosesKeyEC(t *testing.T, doc string) (*Set, *testServer, *fakeTimers) {
	t.Helper()
	ts := newTestServer(t)
	ts.setKeys(t, ecJWK(t, "ec"), rsaJWK(t, 1, "b"))
	s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	ts.set("/keys", reply{body: []byte(doc)})
	ft.refreshNow(t)
	if s.Current("ec") != nil {
		t.Fatal("key ec still served after a document published its private key")
	}
	if s.Current("b") == nil {
		t.Fatal("key b, never exposed, not served")
	}
	return s, ts, ft
}
