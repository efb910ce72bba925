package grpcauthtest_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

var fixedNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestMint_DefaultsUseInjectedClock(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Now: func() time.Time { return fixedNow }, TokenLifetime: 10 * time.Minute})
	tok, err := iss.Mint(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The signature verifies; time validation is off because the clock is fixed.
	if _, err := jwt.Parse([]byte(tok), jwt.WithKeySet(fetchKeySet(t, iss)), jwt.WithValidate(false)); err != nil {
		t.Fatal(err)
	}
	_, c := segments(t, tok)
	want := map[string]any{
		"iss": iss.URL(), "aud": iss.Audience(), "sub": grpcauthtest.DefaultClientID, "cid": grpcauthtest.DefaultClientID,
		"iat": float64(fixedNow.Unix()), "exp": float64(fixedNow.Add(10 * time.Minute).Unix()), "ver": float64(1),
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %#v, want %#v", k, c[k], v)
		}
	}
	if j, _ := c["jti"].(string); j == "" {
		t.Error("no jti")
	}
	if len(c) != len(want)+1 {
		t.Errorf("claims %v: unexpected extra claims", c)
	}
	tok2, _ := iss.Mint(nil)
	if _, c2 := segments(t, tok2); c2["jti"] == c["jti"] {
		t.Error("two tokens share a jti")
	}
}

func TestMint_OverridesAndNilRemoval(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Shape: grpcauthtest.ShapeRFC9068})
	tok, err := iss.Mint(map[string]any{
		"sub":       "alice",
		"aud":       []string{"a", "b"},
		"exp":       time.Unix(1000, 0),
		"nbf":       "soon", // malformed on purpose
		"client_id": nil,
		"jti":       nil,
		"custom":    map[string]any{"k": 1},
	}, grpcauthtest.WithScopes("x", "y"))
	if err != nil {
		t.Fatal(err)
	}
	h, c := segments(t, tok)
	if h["typ"] != "at+jwt" {
		t.Errorf("typ %v", h["typ"])
	}
	if c["sub"] != "alice" || c["exp"] != float64(1000) || c["nbf"] != "soon" || c["scope"] != "x y" {
		t.Errorf("claims %v", c)
	}
	if aud, ok := c["aud"].([]any); !ok || len(aud) != 2 {
		t.Errorf("aud %#v, want [a b]", c["aud"])
	}
	for _, gone := range []string{"client_id", "jti"} {
		if _, ok := c[gone]; ok {
			t.Errorf("%s present after a nil override", gone)
		}
	}
	if m, ok := c["custom"].(map[string]any); !ok || m["k"] != float64(1) {
		t.Errorf("custom %#v", c["custom"])
	}
	// The claims map wins over WithScopes.
	tok, _ = iss.Mint(map[string]any{"scope": "z"}, grpcauthtest.WithScopes("x"), grpcauthtest.WithShape(grpcauthtest.ShapeRFC9068))
	if _, c := segments(t, tok); c["scope"] != "z" {
		t.Errorf("scope %v, want z", c["scope"])
	}
	// WithShape switches the client-id claim, scope claim and typ.
	tok, _ = iss.Mint(nil, grpcauthtest.WithShape(grpcauthtest.ShapeOkta), grpcauthtest.WithScopes("x"))
	if h, c := segments(t, tok); h["typ"] != nil || c["cid"] == nil || c["client_id"] != nil || len(c["scp"].([]any)) != 1 {
		t.Errorf("Okta shape: header %v claims %v", h, c)
	}
}

func TestMint_HeaderOptions(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	rsa := func(tok string) error {
		_, err := jws.Verify([]byte(tok), jws.WithKey(jwa.RS256, iss.PublicKey(iss.KeyID())))
		return err
	}
	t.Run("WithKidHeader empty omits kid", func(t *testing.T) {
		tok, err := iss.Mint(nil, grpcauthtest.WithKidHeader(""))
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := segments(t, tok); h["kid"] != nil || h["alg"] != "RS256" {
			t.Fatalf("header %v", h)
		}
		if err := rsa(tok); err != nil {
			t.Fatalf("still signed with the issuer key: %v", err)
		}
	})
	t.Run("WithKidHeader sets kid", func(t *testing.T) {
		tok, _ := iss.Mint(nil, grpcauthtest.WithKidHeader("other"))
		if h, _ := segments(t, tok); h["kid"] != "other" {
			t.Fatalf("header %v", h)
		}
	})
	t.Run("WithHeader jku and typ", func(t *testing.T) {
		tok, err := iss.Mint(nil, grpcauthtest.WithHeader("jku", "https://attacker.example/keys"), grpcauthtest.WithHeader("typ", "at+jwt"))
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := segments(t, tok); h["jku"] != "https://attacker.example/keys" || h["typ"] != "at+jwt" || h["kid"] != iss.KeyID() {
			t.Fatalf("header %v", h)
		}
		if err := rsa(tok); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("WithHeader embedded jwk", func(t *testing.T) {
		pk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tok, err := iss.Mint(nil, grpcauthtest.WithHeader("jwk", pk.Public()), grpcauthtest.WithSigningKey(pk, "ES256"))
		if err != nil {
			t.Fatal(err)
		}
		h, _ := segments(t, tok)
		if j, ok := h["jwk"].(map[string]any); !ok || j["kty"] != "EC" || h["alg"] != "ES256" {
			t.Fatalf("header %v", h)
		}
		if _, err := jws.Verify([]byte(tok), jws.WithKey(jwa.ES256, pk.Public())); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("WithSigningKey HMAC with the public key bytes", func(t *testing.T) {
		der, err := x509.MarshalPKIXPublicKey(iss.PublicKey(iss.KeyID()))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := iss.Mint(nil, grpcauthtest.WithSigningKey(der, "HS256"))
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := segments(t, tok); h["alg"] != "HS256" || h["kid"] != iss.KeyID() {
			t.Fatalf("header %v, want HS256 with the issuer's kid", h)
		}
		if _, err := jws.Verify([]byte(tok), jws.WithKey(jwa.HS256, der)); err != nil {
			t.Fatalf("not HMAC-signed with the given secret: %v", err)
		}
		if rsa(tok) == nil {
			t.Fatal("forgery verifies as RS256")
		}
	})
	t.Run("WithSigningKey names the issuer's kid unless WithKidHeader", func(t *testing.T) {
		tok, _ := iss.Mint(nil, grpcauthtest.WithSigningKey([]byte("secret"), "HS256"))
		if h, _ := segments(t, tok); h["kid"] != iss.KeyID() {
			t.Fatalf("header %v, want the issuer's kid", h)
		}
		tok, _ = iss.Mint(nil, grpcauthtest.WithSigningKey([]byte("secret"), "HS256"), grpcauthtest.WithKidHeader(""))
		if h, _ := segments(t, tok); h["kid"] != nil {
			t.Fatalf("header %v, want no kid", h)
		}
	})
	t.Run("WithSigningKey refuses a key that is neither a crypto.Signer nor []byte", func(t *testing.T) {
		k, _ := jwk.FromRaw([]byte("secret"))
		for _, key := range []any{k, "secret", &ecdsa.PublicKey{}} {
			if _, err := iss.Mint(nil, grpcauthtest.WithSigningKey(key, "HS256")); err == nil {
				t.Errorf("%T: no error", key)
			}
		}
	})
	t.Run("WithSigningKey rejects an unknown algorithm or nil key", func(t *testing.T) {
		if _, err := iss.Mint(nil, grpcauthtest.WithSigningKey([]byte("k"), "HS999")); err == nil {
			t.Fatal("no error")
		}
		if _, err := iss.Mint(nil, grpcauthtest.WithSigningKey(nil, "HS256")); err == nil {
			t.Fatal("nil key: no error")
		}
	})
	t.Run("Unsigned", func(t *testing.T) {
		tok, err := iss.Mint(map[string]any{"sub": "x"}, grpcauthtest.Unsigned())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(tok, ".") {
			t.Fatalf("token %q does not end with an empty signature", tok)
		}
		h := decodeSegment(t, strings.Split(tok, ".")[0])
		if len(h) != 1 || h["alg"] != "none" {
			t.Fatalf("header %v, want exactly {alg:none} (the Okta shape has no typ)", h)
		}
		if _, c := segments(t, tok); c["sub"] != "x" || c["iss"] != iss.URL() {
			t.Fatalf("claims %v", c)
		}
		if _, err := jwt.Parse([]byte(tok), jwt.WithKeySet(fetchKeySet(t, iss))); err == nil {
			t.Fatal("jwx accepted an unsigned token")
		}
	})
	t.Run("WithHeader jwk as a map and x5c as certificates", func(t *testing.T) {
		pk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pk.Public(), pk)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		j := map[string]any{"kty": "oct", "k": "c2VjcmV0", "kid": "embedded"}
		tok, err := iss.Mint(nil, grpcauthtest.WithHeader("jwk", j), grpcauthtest.WithHeader("x5c", []*x509.Certificate{c}))
		if err != nil {
			t.Fatal(err)
		}
		h, _ := segments(t, tok)
		if jh, ok := h["jwk"].(map[string]any); !ok || jh["kid"] != "embedded" || jh["kty"] != "oct" {
			t.Errorf("jwk header %v", h["jwk"])
		}
		if x5c, ok := h["x5c"].([]any); !ok || len(x5c) != 1 || x5c[0] != base64.StdEncoding.EncodeToString(der) {
			t.Errorf("x5c header %v", h["x5c"])
		}
	})
	t.Run("header value of the wrong type is an error", func(t *testing.T) {
		k, _ := jwk.FromRaw([]byte("secret"))
		for name, v := range map[string]any{"jwk": "not a key", "x5c": []string{"MIIB"}, "kid": 7} {
			if _, err := iss.Mint(nil, grpcauthtest.WithHeader(name, v)); err == nil {
				t.Errorf("%s %T: no error", name, v)
			}
		}
		if _, err := iss.Mint(nil, grpcauthtest.WithHeader("jwk", k)); err == nil {
			t.Error("jwk.Key: no error")
		}
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if tok, err := iss.Mint(nil, grpcauthtest.WithHeader("jwk", priv)); err == nil {
			h, _ := segments(t, tok)
			t.Errorf("jwk *ecdsa.PrivateKey: no error; header jwk %v", h["jwk"])
		}
		if _, err := iss.Mint(nil, grpcauthtest.WithHeader("x5c", []*x509.Certificate{nil})); err == nil {
			t.Error("x5c with a nil certificate: no error")
		}
	})
	t.Run("unencodable claim is an error", func(t *testing.T) {
		if _, err := iss.Mint(map[string]any{"c": make(chan int)}); err == nil {
			t.Fatal("no error")
		}
	})
}

// TestMint_InvalidOrNilOptionsFail: an unknown shape, a key given for alg
// "none" and nil keys of the standard library's types (or an ECDSA key
// missing a member) make Mint fail,
// instead of silently minting another token than the test asked for (an
// unbound or hybrid one) or panicking.
func TestMint_InvalidOrNilOptionsFail(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Algorithm: "ES256"})
	atk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]grpcauthtest.MintOption{
		"unknown shape":                      {grpcauthtest.WithShape(7)},
		"WithDPoPKey(nil)":                   {grpcauthtest.WithDPoPKey(nil)},
		"WithDPoPKey of a nil *ecdsa":        {grpcauthtest.WithDPoPKey((*ecdsa.PublicKey)(nil))},
		"WithDPoPKey of a nil *rsa":          {grpcauthtest.WithDPoPKey((*rsa.PublicKey)(nil))},
		"WithSigningKey of a nil *rsa":       {grpcauthtest.WithSigningKey((*rsa.PrivateKey)(nil), "RS256")},
		"WithSigningKey of an empty ed25519": {grpcauthtest.WithSigningKey(ed25519.PrivateKey(nil), "EdDSA")},
		"WithSigningKey of a zero *ecdsa":    {grpcauthtest.WithSigningKey(&ecdsa.PrivateKey{}, "ES256")},
		"WithSigningKey of a D-less *ecdsa":  {grpcauthtest.WithSigningKey(&ecdsa.PrivateKey{PublicKey: atk.PublicKey}, "ES256")},
		"WithSigningKey under alg none":      {grpcauthtest.WithSigningKey(atk, "none")},
		"jwk header of a nil *rsa":           {grpcauthtest.WithHeader("jwk", (*rsa.PublicKey)(nil))},
		"a nil option":                       {grpcauthtest.WithShape(grpcauthtest.ShapeOkta), nil},
		// Not applied (the alg is the key's): a test meaning a forgery, or
		// another algorithm, would get a valid token of the issuer's.
		"alg header":           {grpcauthtest.WithHeader("alg", "HS256")},
		"alg header, unsigned": {grpcauthtest.Unsigned(), grpcauthtest.WithHeader("alg", "RS256")},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("Mint panicked: %v", r)
				}
			}()
			if tok, err := iss.Mint(nil, opts...); err == nil {
				t.Fatalf("Mint = %q, nil; want an error", tok)
			}
		})
	}
}

// TestMint_KeyOptionsPrecedence: Unsigned, WithSigningKey and WithIssuerKey
// each choose the signing key; the documented precedence (Unsigned, then
// WithSigningKey, then WithIssuerKey) lets a test add one to a fixture's
// options, and the token shows which one signed.
func TestMint_KeyOptionsPrecedence(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Algorithm: "ES256"})
	atk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	old := iss.KeyID()
	if _, err := iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	byIssuerKey := grpcauthtest.WithIssuerKey(old)
	bySigningKey := grpcauthtest.WithSigningKey(atk, "ES256")

	tok, err := iss.Mint(nil, byIssuerKey, bySigningKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify([]byte(tok), jws.WithKey(jwa.ES256, &atk.PublicKey)); err != nil {
		t.Errorf("WithIssuerKey + WithSigningKey: not signed by the WithSigningKey key: %v", err)
	}
	tok, err = iss.Mint(nil, byIssuerKey, bySigningKey, grpcauthtest.Unsigned())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(tok, ".") {
		t.Errorf("with Unsigned: %q has a signature", tok)
	}
}
