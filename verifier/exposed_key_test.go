package verifier

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// exposedJWK is key's JWK under kid with alg EdDSA: its private half when
// private is set, else its public half.
func exposedJWK(t testing.TB, key ed25519.PrivateKey, kid string, private bool) json.RawMessage {
	t.Helper()
	var raw any = key.Public()
	if private {
		raw = key
	}
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.AlgorithmKey, "EdDSA"); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exposureFixture makes two fresh Ed25519 keys, exposed and good, and
// returns them with a ready fixture whose verifier fetches its key set from
// a server of its own: that server answers with the entries first returns
// for the two keys, until serve sets another document.
func exposureFixture(t *testing.T, first func(exposed, good ed25519.PrivateKey) []json.RawMessage) (
	f *fixture, exposed, good ed25519.PrivateKey, serve func(entries ...json.RawMessage)) {
	t.Helper()
	var err error
	if _, exposed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, good, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	var doc atomic.Pointer[[]byte]
	serve = func(entries ...json.RawMessage) {
		b, err := json.Marshal(map[string]any{"keys": entries})
		if err != nil {
			t.Fatal(err)
		}
		doc.Store(&b)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(*doc.Load())
	}))
	t.Cleanup(ts.Close)
	serve(first(exposed, good)...)
	f = newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, func(c *Config) { c.JWKSURL = ts.URL })
	if err := f.v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f, exposed, good, serve
}

// An issuer that once published a key's private half and then "fixes" its
// key set by publishing only the public half, without rotating, still has
// an exposed key: anyone who fetched the earlier document can sign with it.
// Its tokens stay refused after the second document, however the key is
// named, while the issuer's other keys keep verifying.
func TestVerifier_KeyExposedByAnEarlierDocumentStaysRefused(t *testing.T) {
	// First document: the private half of "leaked" beside a good key.
	f, exposed, good, serve := exposureFixture(t, func(exposed, good ed25519.PrivateKey) []json.RawMessage {
		return []json.RawMessage{exposedJWK(t, good, "good", false), exposedJWK(t, exposed, "leaked", true)}
	})
	// Second document: the same key, public half only, under its old kid
	// and a new one. Each token's unknown kid makes the verifier fetch it.
	serve(exposedJWK(t, good, "good", false), exposedJWK(t, exposed, "leaked", false), exposedJWK(t, exposed, "renamed", false))
	for _, kid := range []string{"leaked", "renamed"} {
		tok := f.mint(t, nil, grpcauthtest.WithSigningKey(exposed, "EdDSA"), grpcauthtest.WithKidHeader(kid))
		if _, err := f.verify(t, tok); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("token signed with the exposed key under kid %q: err = %v, want ErrUnknownKey", kid, err)
		}
		f.clk.Advance(DefaultMinRefreshInterval) // let the next kid fetch the document again
	}
	tok := f.mint(t, nil, grpcauthtest.WithSigningKey(good, "EdDSA"), grpcauthtest.WithKidHeader("good"))
	if _, err := f.verify(t, tok); err != nil {
		t.Fatalf("token of the good key: %v", err)
	}
	if st := f.v.Stats(); st.Keys != 1 || st.SkippedKeys != 2 {
		t.Fatalf("Stats: %d keys, %d skipped; want 1 key and the 2 entries of the exposed key skipped", st.Keys, st.SkippedKeys)
	}
}

// A token verified and cached under a key is no longer served from the
// cache once a document exposes that key's private half, also when the
// document has no usable key left: the last good set is then published
// without the key, as a snapshot of its own (a cache entry that remembered
// the snapshot that held its key must not take this one for it).
func TestVerifier_CachedTokenOfAKeyALaterDocumentExposesIsNotServed(t *testing.T) {
	f, leaked, good, serve := exposureFixture(t, func(leaked, good ed25519.PrivateKey) []json.RawMessage {
		return []json.RawMessage{exposedJWK(t, good, "good", false), exposedJWK(t, leaked, "leaked", false)}
	})
	tok := f.mint(t, nil, grpcauthtest.WithSigningKey(leaked, "EdDSA"), grpcauthtest.WithKidHeader("leaked"))
	if _, err := f.verify(t, tok); err != nil {
		t.Fatalf("token of the key before it is exposed: %v", err)
	}
	for range 2 { // the first hit remembers the snapshot that holds the key
		if _, hit, err := cached(f.v, tok); !hit || err != nil {
			t.Fatalf("hit=%v err=%v before the key is exposed", hit, err)
		}
	}

	// The next document is the private half of "leaked" alone: no usable
	// key, so the last good set keeps serving without it. A token under an
	// unknown kid makes the verifier fetch it.
	serve(exposedJWK(t, leaked, "leaked", true))
	unknown := f.mint(t, nil, grpcauthtest.WithSigningKey(good, "EdDSA"), grpcauthtest.WithKidHeader("unknown"))
	if _, err := f.verify(t, unknown); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("token under an unknown kid, the fetch failed: err = %v, want ErrKeysUnavailable", err)
	}
	if f.v.set.Current("leaked") != nil || f.v.set.Current("good") == nil {
		t.Fatal("the fetch did not publish the last good set without the exposed key")
	}

	if _, hit, _ := cached(f.v, tok); hit {
		t.Fatal("the cache served a token of a key whose private half the issuer published")
	}
	if _, err := f.verify(t, tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("token of the exposed key: err = %v, want ErrUnknownKey", err)
	}
	if _, err := f.verify(t, f.mint(t, nil, grpcauthtest.WithSigningKey(good, "EdDSA"), grpcauthtest.WithKidHeader("good"))); err != nil {
		t.Fatalf("token of the good key: %v", err)
	}
}
