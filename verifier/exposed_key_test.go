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

// An issuer that once published a key's private half and then "fixes" its
// key set by publishing only the public half, without rotating, still has
// an exposed key: anyone who fetched the earlier document can sign with it.
// Its tokens stay refused after the second document, however the key is
// named, while the issuer's other keys keep verifying.
func TestVerifier_KeyExposedByAnEarlierDocumentStaysRefused(t *testing.T) {
	_, exposed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, good, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var doc atomic.Pointer[[]byte]
	serve := func(entries ...json.RawMessage) {
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

	// First document: the private half of "leaked" beside a good key.
	serve(exposedJWK(t, good, "good", false), exposedJWK(t, exposed, "leaked", true))
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, func(c *Config) { c.JWKSURL = ts.URL })
	ctx := context.Background()
	if err := f.v.Ready(ctx); err != nil {
		t.Fatal(err)
	}
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
