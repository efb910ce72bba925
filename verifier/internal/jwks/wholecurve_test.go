package jwks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every entry of a document past the derivation budget names its curve
// whole; the last good set's keys of that curve are listed once, by the
// first such entry, not by each: a 38 KB document of 1000 entries "d": 1
// on a last good set of 1000 P-256 keys made each fetch list a million
// thumbprints, comparing each with the entry's list (1.4 s and 34 MB per
// fetch). All of them still leave the last good set.
func TestExposeFactored_ListsTheLastGoodSetKeysOfAWholeCurveOnce(t *testing.T) {
	testKeys(t)
	const n = 40
	var last []*Key
	for i := range n {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
		last = append(last, keyOf(t, &k.PublicKey, "ec"+string(rune('A'+i))))
	}
	last = append(last, keyOf(t, &rsaKeys[0].PublicKey, "rsa"))
	snap := newSnapshot(last, 0, nil, time.Now())
	doc := `{"keys":[` + strings.Repeat(`{"kty":"EC","crv":"P-256","d":"AQ"},`, maxDerivedKeys+3*n) + string(rsaJWK(t, 1, "b")) + `]}`
	keys, skipped, err := parseJWKS([]byte(doc))
	must(t, err)
	if got := kids(keys); len(got) != 1 || got[0] != "b" {
		t.Fatalf("kept %v, want [b]", got)
	}
	exposeFactored(skipped, snap)
	listed := map[string]int{}
	for _, sk := range skipped {
		for _, tp := range sk.Exposes {
			listed[tp]++
		}
	}
	for _, k := range last[:n] {
		if listed[k.thumb] != 1 {
			t.Fatalf("last good key %s listed by %d skipped entries, want 1", k.ID, listed[k.thumb])
		}
	}
	if next := snap.withoutExposed(skipped); next == nil || len(next.keys) != 1 || next.keys["rsa"] == nil {
		t.Fatalf("last good set after the document: %v; want only \"rsa\"", next)
	}
}

// BenchmarkParseJWKS_WholeCurveOnALargeLastGoodSet measures a document of
// maxEntries scalars "d": 1 (38 KB), all but maxDerivedKeys of them past
// the derivation budget, each naming P-256 whole: parsing it, and matching
// it on a last good set of maxEntries P-256 keys (exposeFactored).
func BenchmarkParseJWKS_WholeCurveOnALargeLastGoodSet(b *testing.B) {
	var entries []json.RawMessage
	for i := range maxEntries {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(b, err)
		entries = append(entries, jwkJSON(b, &k.PublicKey, fmt.Sprintf("k%d", i), "ES256", nil))
	}
	keys, _, err := parseJWKS(jwksDoc(b, entries...))
	if err != nil || len(keys) != maxEntries {
		b.Fatalf("parseJWKS = %d keys, %v; want %d", len(keys), err, maxEntries)
	}
	last := newSnapshot(keys, 0, nil, time.Now())
	entry := `{"kty":"EC","crv":"P-256","d":"AQ"}`
	doc := []byte(`{"keys":[` + strings.Repeat(entry+",", maxEntries-1) + entry + `]}`)
	_, skipped, _ := parseJWKS(doc)
	b.Run("document", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _, _ = parseJWKS(doc)
		}
	})
	b.Run("on-a-last-good-set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sk := slices.Clone(skipped)
			for i := range sk {
				sk[i].Exposes = slices.Clone(sk[i].Exposes)
			}
			exposeFactored(sk, last)
		}
	})
}

// An entry that repeats "d" more often than the document has derivations
// left names its curve whole with the first value past them; its other
// values are not read (each would cost an encoding and a decoding, and
// name the same curve). A document of maxEntries such entries, 40 values
// of "d" each, allocates about 38 times its size; reading every value,
// 109 times.
func TestParseJWKS_ValuesOfDPastTheBudgetAreNotReadOnceTheCurveIsExposed(t *testing.T) {
	var values []string
	for i := range 40 {
		values = append(values, fmt.Sprintf(`"d":"AA%c%c"`, 'B'+i%20, 'B'+i/20))
	}
	entry := `{"kty":"EC","crv":"P-256",` + strings.Join(values, ",") + `}`
	doc := []byte(`{"keys":[` + strings.Repeat(entry+",", maxEntries-1) + entry + `]}`)
	var (
		keys []*Key
		err  error
	)
	alloc := allocatedBy(func() { keys, _, err = parseJWKS(doc) })
	if err != nil || len(keys) != 0 {
		t.Fatalf("parseJWKS = %v, %v; want no key", kids(keys), err)
	}
	if limit := 64 * uint64(len(doc)); alloc > limit {
		t.Errorf("parsing %d bytes allocated %d bytes, want at most %d (64 times the document)", len(doc), alloc, limit)
	}
}
