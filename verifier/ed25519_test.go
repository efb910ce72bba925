package verifier

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// edKeys are the keys of an issuer that publishes Ed25519 keys marked with
// RFC 9864's "Ed25519", with RFC 8037's "EdDSA" and with no alg, next to
// an RSA and a P-256 key without alg, served from srv.
type edKeys struct {
	marked25519, markedEdDSA, unmarked ed25519.PrivateKey
	srv                                *httptest.Server
}

func newEdKeys(t *testing.T) *edKeys {
	t.Helper()
	gen := func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &edKeys{marked25519: gen(), markedEdDSA: gen(), unmarked: gen()}
	set := jwk.NewSet()
	for _, e := range []struct {
		kid, alg string
		pub      crypto.PublicKey
	}{
		{"ed-ed25519", "Ed25519", k.marked25519.Public()},
		{"ed-eddsa", "EdDSA", k.markedEdDSA.Public()},
		{"ed-none", "", k.unmarked.Public()},
		{"rsa", "", rk.Public()},
		{"p256", "", ek.Public()},
	} {
		pub, err := jwk.FromRaw(e.pub)
		if err != nil {
			t.Fatal(err)
		}
		_ = pub.Set(jwk.KeyIDKey, e.kid)
		if e.alg != "" {
			_ = pub.Set(jwk.AlgorithmKey, e.alg)
		}
		_ = set.AddKey(pub)
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(k.srv.Close)
	return k
}

// RFC 9864's "Ed25519" verifies with jwx's EdDSA verifier under an Ed25519
// key. A key's alg, when present, must equal the header's exactly (RFC
// 7517, 4.4; RFC 8725, 3.1): a key marked "EdDSA" verifies no "Ed25519"
// token and one marked "Ed25519" no "EdDSA" token; an unmarked Ed25519 key
// verifies both. Any other key type, Ed448 (which jwx cannot verify) and
// the name in another case are refused.
func TestVerifyAccessToken_Ed25519(t *testing.T) {
	keys := newEdKeys(t)
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.JWKSURL = keys.srv.URL; c.MaxKeyWaiters = -1 })
	signed := func(priv ed25519.PrivateKey, alg, kid string) func(*testing.T, *fixture) string {
		return func(t *testing.T, f *fixture) string {
			return f.mint(t, nil, grpcauthtest.WithSigningKey(priv, alg), grpcauthtest.WithKidHeader(kid))
		}
	}
	relabelled := func(alg string) func(*testing.T, *fixture) string {
		return func(t *testing.T, f *fixture) string {
			return withHeader(t, signed(keys.unmarked, "Ed25519", "ed-none")(t, f), map[string]any{"alg": alg, "kid": "ed-none"})
		}
	}
	only := func(algs ...string) func(*Config) { return func(c *Config) { c.Algorithms = algs } }
	runRules(t, f, []ruleCase{
		{name: "Ed25519 under a key marked Ed25519", token: signed(keys.marked25519, "Ed25519", "ed-ed25519")},
		{name: "Ed25519 under an unmarked key", token: signed(keys.unmarked, "Ed25519", "ed-none")},
		{name: "EdDSA under a key marked EdDSA", token: signed(keys.markedEdDSA, "EdDSA", "ed-eddsa")},
		{name: "EdDSA under an unmarked key", token: signed(keys.unmarked, "EdDSA", "ed-none")},
		{name: "Ed25519 under a key marked EdDSA", token: signed(keys.markedEdDSA, "Ed25519", "ed-eddsa"), want: ErrAlgorithm},
		{name: "EdDSA under a key marked Ed25519", token: signed(keys.marked25519, "EdDSA", "ed-ed25519"), want: ErrAlgorithm},
		{name: "Ed25519 naming an RSA key", token: signed(keys.unmarked, "Ed25519", "rsa"), want: ErrAlgorithm},
		{name: "Ed25519 naming a P-256 key", token: signed(keys.unmarked, "Ed25519", "p256"), want: ErrAlgorithm},
		{name: "Ed25519 signed by another key", token: signed(keys.markedEdDSA, "Ed25519", "ed-none"), want: ErrBadSignature},
		{name: "Ed448 is not supported", token: relabelled("Ed448"), want: ErrAlgorithm},
		{name: "ed25519 in lower case is another name", token: relabelled("ed25519"), want: ErrAlgorithm},
		{name: "Ed25519 allowed alone", cfg: only("Ed25519"), token: signed(keys.unmarked, "Ed25519", "ed-none")},
		{name: "EdDSA refused where only Ed25519 is allowed", cfg: only("Ed25519"), token: signed(keys.unmarked, "EdDSA", "ed-none"), want: ErrAlgorithm},
		{name: "Ed25519 refused where only EdDSA is allowed", cfg: only("EdDSA"), token: signed(keys.unmarked, "Ed25519", "ed-none"), want: ErrAlgorithm},
	})
}

// Ed25519 is in the default allow-list with EdDSA; Ed448 and other cases
// of Ed25519 are refused by New as unsupported.
func TestConfig_Ed25519IsSupportedAndEd448IsNot(t *testing.T) {
	if algs := DefaultAlgorithms(); !slices.Contains(algs, "EdDSA") || !slices.Contains(algs, "Ed25519") {
		t.Fatalf("DefaultAlgorithms() = %v, want EdDSA and Ed25519", algs)
	}
	for _, alg := range []string{"Ed448", "ed25519", "ED25519"} {
		cfg := Config{Issuer: "https://issuer.example", Audiences: []string{"api"}, Algorithms: []string{alg}}
		if v, err := New(context.Background(), cfg); !errors.Is(err, errConfig) {
			if v != nil {
				_ = v.Close()
			}
			t.Errorf("New(Algorithms: %s) = %v, want an invalid-config error", alg, err)
		}
	}
}

// An issuer's Ed25519 key of small order (a zero-filled placeholder, the
// identity) is never loaded: under it the signature R = identity, S = 0,
// made without any private key, verifies (every message under the
// identity, one in four under x = 0), so anyone would forge tokens for its
// kid. The forged tokens are refused as naming an unknown key, while the
// set's other key keeps verifying.
func TestVerifyAccessToken_Ed25519KeyOfSmallOrderIsNeverLoaded(t *testing.T) {
	_, good, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	smallOrder := map[string]ed25519.PublicKey{
		"zero":     make([]byte, ed25519.PublicKeySize),
		"identity": append([]byte{1}, make([]byte, ed25519.PublicKeySize-1)...),
	}
	b64 := base64.RawURLEncoding.EncodeToString
	entries := []json.RawMessage{exposedJWK(t, good, "good", false)}
	for kid, x := range smallOrder {
		entries = append(entries, json.RawMessage(`{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"`+kid+`","x":"`+b64(x)+`"}`))
	}
	body, err := json.Marshal(map[string]any{"keys": entries})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(ts.Close)
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, func(c *Config) { c.JWKSURL = ts.URL })
	if err := f.v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	forged := append([]byte{1}, make([]byte, ed25519.SignatureSize-1)...) // R = identity, S = 0
	for kid, x := range smallOrder {
		// The claims of a token good's holder could mint, under kid, with
		// the forged signature: a claim is varied until the standard
		// library accepts the forgery (one token in four under x = 0).
		var tok string
		for n := 0; tok == ""; n++ {
			if n == 64 {
				t.Fatalf("no forged signature verifies under %s: the test proves nothing", kid)
			}
			parts := strings.Split(f.mint(t, map[string]any{"n": n}, grpcauthtest.WithSigningKey(good, "EdDSA"), grpcauthtest.WithKidHeader(kid)), ".")
			if input := parts[0] + "." + parts[1]; ed25519.Verify(x, []byte(input), forged) {
				tok = input + "." + b64(forged)
			}
		}
		if _, err := f.verify(t, tok); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("token forged under the small-order key %q: err = %v, want ErrUnknownKey", kid, err)
		}
		f.clk.Advance(DefaultMinRefreshInterval) // let the next kid fetch the document again
	}
	if _, err := f.verify(t, f.mint(t, nil, grpcauthtest.WithSigningKey(good, "EdDSA"), grpcauthtest.WithKidHeader("good"))); err != nil {
		t.Fatalf("token of the good key: %v", err)
	}
	if st := f.v.Stats(); st.Keys != 1 || st.SkippedKeys != 2 {
		t.Fatalf("Stats: %d keys, %d skipped; want 1 key and the 2 small-order keys skipped", st.Keys, st.SkippedKeys)
	}
}
