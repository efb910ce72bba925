package dpop_test

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
	"maps"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	testURL   = "https://api.example.com/pkg.Service/Method"
	testToken = "access-token"
)

var testReq = dpop.Request{Method: "POST", Scheme: "https", Authority: "api.example.com", Path: "/pkg.Service/Method", AccessToken: testToken}

// reqFor is testReq with the thumbprint of proof's jwk as the access
// token's cnf jkt (Verify refuses an access token without one), or a
// thumbprint of no key when proof has no jwk that parses: a proof made
// to fail another check is refused for that check, not for its binding.
func reqFor(t testing.TB, proof string) dpop.Request {
	t.Helper()
	req := testReq
	req.KeyThumbprint = strings.Repeat("A", 43)
	hdr, _, _ := strings.Cut(proof, ".")
	b, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		return req
	}
	var h struct {
		JWK json.RawMessage `json:"jwk"`
	}
	if json.Unmarshal(b, &h) != nil || len(h.JWK) == 0 {
		return req
	}
	key, err := jwk.ParseKey(h.JWK)
	if err != nil {
		return req
	}
	// jwx's Thumbprint panics on an EC key whose coordinates are longer
	// than its curve's (Verify refuses such a key as off its curve
	// before it takes a thumbprint).
	var pub any
	if key.Raw(&pub) != nil {
		return req
	}
	if k, ok := pub.(*ecdsa.PublicKey); ok {
		if _, err := k.ECDH(); err != nil {
			return req
		}
	}
	if tp, err := key.Thumbprint(crypto.SHA256); err == nil {
		req.KeyThumbprint = base64.RawURLEncoding.EncodeToString(tp)
	}
	return req
}

func newKey(t testing.TB, alg string) *grpcauthtest.DPoPKey {
	t.Helper()
	k, err := grpcauthtest.NewDPoPKeyWithAlgorithm(alg)
	if err != nil {
		t.Fatal(err)
	}
	k.Now = func() time.Time { return t0 }
	return k
}

func newVerifier(t testing.TB, cfg dpop.Config) *dpop.Verifier {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return t0 }
	}
	v, err := dpop.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerify_AcceptsEveryAllowedAlgorithm(t *testing.T) {
	algs := []string{"ES256", "ES384", "ES512", "EdDSA", "Ed25519", "RS256", "PS256"}
	v := newVerifier(t, dpop.Config{Algorithms: algs})
	for _, alg := range algs {
		k := newKey(t, alg)
		proof, err := k.Proof("POST", testURL, testToken)
		if err != nil {
			t.Fatal(err)
		}
		req := testReq
		req.KeyThumbprint = k.Thumbprint()
		p, err := v.Verify(t.Context(), proof, req)
		if err != nil {
			t.Errorf("%s: %v", alg, err)
			continue
		}
		if p.Thumbprint != k.Thumbprint() || p.Algorithm != alg || !p.IssuedAt.Equal(t0) || p.ID == "" {
			t.Errorf("%s: Proof = %+v", alg, p)
		}
	}
}

// RFC 9864's "Ed25519" is accepted by default, next to EdDSA, and
// advertised; it needs an Ed25519 jwk, only the allow-list decides, and
// Ed448, which jwx cannot verify, is refused by NewVerifier.
func TestVerify_Ed25519(t *testing.T) {
	v := newVerifier(t, dpop.Config{})
	if got := strings.Join(v.Algorithms(), " "); got != "ES256 EdDSA Ed25519" {
		t.Errorf("Algorithms() = %q, want ES256 EdDSA Ed25519", got)
	}
	k := newKey(t, "Ed25519")
	req := testReq
	req.KeyThumbprint = k.Thumbprint()
	proof, err := k.Proof("POST", testURL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(t.Context(), proof, req); err != nil || p.Algorithm != "Ed25519" {
		t.Fatalf("Verify = %+v, %v", p, err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, hk := range map[string]any{"P-256": p256.Public(), "RSA": rsaKey.Public()} {
		bad, err := k.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken, HeaderKey: hk})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(t.Context(), bad, reqFor(t, bad)); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "does not fit alg Ed25519") {
			t.Errorf("Ed25519 proof with a %s jwk: %v, want a key that does not fit", name, err)
		}
	}
	onlyEdDSA := newVerifier(t, dpop.Config{Algorithms: []string{"EdDSA"}})
	if _, err := onlyEdDSA.Verify(t.Context(), proof, req); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("Ed25519 proof where only EdDSA is allowed: %v, want alg not allowed", err)
	}
	for _, alg := range []string{"Ed448", "ed25519"} {
		if _, err := dpop.NewVerifier(dpop.Config{Algorithms: []string{alg}}); err == nil {
			t.Errorf("NewVerifier accepted %s", alg)
		}
	}
}

func TestVerify_KeyMismatch(t *testing.T) {
	v := newVerifier(t, dpop.Config{})
	k, other := newKey(t, "ES256"), newKey(t, "ES256")
	proof, _ := k.Proof("POST", testURL, testToken)
	req := testReq
	req.KeyThumbprint = other.Thumbprint()
	if _, err := v.Verify(t.Context(), proof, req); !errors.Is(err, dpop.ErrKeyMismatch) {
		t.Errorf("err = %v, want ErrKeyMismatch", err)
	}
}

// TestVerify_RefusesEachFailedCheckOfRFC9449 makes one proof per check of
// RFC 9449, section 4.3, that fails only that check, and wants each refused
// with ErrInvalidProof; the same proof with the check's item right is
// accepted. The grpcauth interceptors' tests cover the same items through
// gRPC; these keep the package's own promise for its other users.
func TestVerify_RefusesEachFailedCheckOfRFC9449(t *testing.T) {
	v := newVerifier(t, dpop.Config{})
	k := newKey(t, "ES256")
	req := testReq
	req.KeyThumbprint = k.Thumbprint()
	valid := grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken, Claims: map[string]any{"jti": "valid"}}
	if _, err := v.Verify(t.Context(), mustProof(t, k, valid), req); err != nil {
		t.Fatalf("valid proof: %v", err)
	}
	for _, tc := range []struct {
		name  string
		opts  func(o *grpcauthtest.ProofOptions)
		cause string
	}{
		{"typ JWT", func(o *grpcauthtest.ProofOptions) { o.Type = "JWT" }, "typ"},
		{"htm GET", func(o *grpcauthtest.ProofOptions) { o.Method = "GET" }, "htm"},
		{"htu of another method", func(o *grpcauthtest.ProofOptions) { o.URL = "https://api.example.com/pkg.Service/Other" }, "path"},
		{"iat before the window", func(o *grpcauthtest.ProofOptions) { o.IssuedAt = t0.Add(-dpop.DefaultMaxAge - time.Second) }, "before now"},
		{"iat after the leeway", func(o *grpcauthtest.ProofOptions) { o.IssuedAt = t0.Add(dpop.DefaultLeeway + time.Second) }, "after now"},
		{"ath of another token", func(o *grpcauthtest.ProofOptions) { o.AccessToken = "another-token" }, "ath is not the hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			o.Claims = map[string]any{"jti": tc.name}
			tc.opts(&o)
			_, err := v.Verify(t.Context(), mustProof(t, k, o), req)
			if !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), tc.cause) {
				t.Fatalf("Verify = %v, want ErrInvalidProof naming %q", err, tc.cause)
			}
		})
	}
}

// mustProof is k.ProofWith(o), failing the test on an error.
func mustProof(t *testing.T, k *grpcauthtest.DPoPKey, o grpcauthtest.ProofOptions) string {
	t.Helper()
	p, err := k.ProofWith(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signRaw signs claims with key under alg, with header members hdr
// (besides alg), bypassing the test helper's choices.
func signRaw(t *testing.T, alg jwa.SignatureAlgorithm, key any, hdr map[string]any, claims string) string {
	t.Helper()
	h := jws.NewHeaders()
	for k, v := range hdr {
		if err := h.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := jws.Sign([]byte(claims), jws.WithKey(alg, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVerify_RefusesKeysThatDoNotFitTheAlgorithm(t *testing.T) {
	v := newVerifier(t, dpop.Config{Algorithms: []string{"ES256", "RS256"}})
	claims := `{"jti":"1","htm":"POST","htu":"` + testURL + `","iat":` + "1893553445" + `}`
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pub384, _ := jwk.FromRaw(p384.Public())
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Skip("no 1024-bit RSA:", err)
	}
	pub1024, _ := jwk.FromRaw(rsa1024.Public())
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub256, _ := jwk.FromRaw(p256.Public())
	tests := map[string]string{
		"ES256 signed with a P-384 key": signRaw(t, jwa.ES256, p384, map[string]any{"typ": "dpop+jwt", "jwk": pub384}, claims),
		"RS256 with a 1024-bit key":     signRaw(t, jwa.RS256, rsa1024, map[string]any{"typ": "dpop+jwt", "jwk": pub1024}, claims),
		"crit header":                   signRaw(t, jwa.ES256, p256, map[string]any{"typ": "dpop+jwt", "jwk": pub256, "crit": []string{"exp"}}, claims),
		"typ in upper-case member name": signRaw(t, jwa.ES256, p256, map[string]any{"TYP": "dpop+jwt", "jwk": pub256}, claims),
	}
	req := dpop.Request{Method: "POST", Scheme: "https", Authority: "api.example.com", Path: "/pkg.Service/Method"}
	for name, proof := range tests {
		if _, err := v.Verify(t.Context(), proof, req); !errors.Is(err, dpop.ErrInvalidProof) {
			t.Errorf("%s: err = %v, want ErrInvalidProof", name, err)
		}
	}
	// The same construction with a fitting key passes, so the refusals
	// above are about the key.
	ok := signRaw(t, jwa.ES256, p256, map[string]any{"typ": "dpop+jwt", "jwk": pub256}, claims)
	if _, err := v.Verify(t.Context(), ok, req); err != nil {
		t.Errorf("fitting key: %v", err)
	}
}

// A jwk carrying private-key members is refused even without d, which alone
// makes jwx parse it as a private key: p and q factor an RSA modulus (RFC
// 7518, 6.3.2), and k is a symmetric key (6.4.1).
func TestVerify_RefusesJWKWithPrivateMembers(t *testing.T) {
	v := newVerifier(t, dpop.Config{Algorithms: []string{"ES256", "RS256"}})
	jti := 0
	claims := func() string { // a new jti each time: one key signs several proofs
		jti++
		return `{"jti":"` + strconv.Itoa(jti) + `","htm":"POST","htu":"` + testURL + `","iat":` + "1893553445" + `}`
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	withMembers := func(raw any, members map[string]any) jwk.Key {
		k, err := jwk.FromRaw(raw)
		if err != nil {
			t.Fatal(err)
		}
		for name, val := range members {
			if err := k.Set(name, val); err != nil {
				t.Fatal(err)
			}
		}
		return k
	}
	tests := map[string]string{
		"RSA with p and q": signRaw(t, jwa.RS256, rk, map[string]any{"typ": "dpop+jwt", "jwk": withMembers(rk.Public(), map[string]any{"p": b64(rk.Primes[0].Bytes()), "q": b64(rk.Primes[1].Bytes())})}, claims()),
		"RSA with dp":      signRaw(t, jwa.RS256, rk, map[string]any{"typ": "dpop+jwt", "jwk": withMembers(rk.Public(), map[string]any{"dp": b64(rk.Precomputed.Dp.Bytes())})}, claims()),
		"RSA with oth":     signRaw(t, jwa.RS256, rk, map[string]any{"typ": "dpop+jwt", "jwk": withMembers(rk.Public(), map[string]any{"oth": []any{}})}, claims()),
		"EC with k":        signRaw(t, jwa.ES256, ek, map[string]any{"typ": "dpop+jwt", "jwk": withMembers(ek.Public(), map[string]any{"k": "c2VjcmV0"})}, claims()),
	}
	req := dpop.Request{Method: "POST", Scheme: "https", Authority: "api.example.com", Path: "/pkg.Service/Method"}
	for name, proof := range tests {
		if _, err := v.Verify(t.Context(), proof, req); !errors.Is(err, dpop.ErrInvalidProof) {
			t.Errorf("%s: err = %v, want ErrInvalidProof", name, err)
		}
	}
	// The same keys without those members pass.
	for alg, key := range map[jwa.SignatureAlgorithm]any{jwa.RS256: rk, jwa.ES256: ek} {
		pub, _ := jwk.PublicRawKeyOf(key)
		ok := signRaw(t, alg, key, map[string]any{"typ": "dpop+jwt", "jwk": withMembers(pub, nil)}, claims())
		if _, err := v.Verify(t.Context(), ok, req); err != nil {
			t.Errorf("%s public key: %v", alg, err)
		}
	}
}

// jwx quotes a jwk's kty and crv in its errors: they reach the log bounded
// and quoted (a line break in a JSON string is no line break in the log),
// like the proof's other attacker-chosen text.
func TestVerify_JWKParseErrorIsShortAndQuoted(t *testing.T) {
	v := newVerifier(t, dpop.Config{})
	long := strings.Repeat("A", 4000)
	for name, jwkJSON := range map[string]string{
		"kty": `{"kty":"\nforged log line ` + long + `"}`,
		"crv": `{"kty":"EC","crv":"\nforged log line ` + long + `","x":"AA","y":"AA"}`,
	} {
		hdr := `{"typ":"dpop+jwt","alg":"ES256","jwk":` + jwkJSON + `}`
		claims := `{"jti":"1","htm":"POST","htu":"` + testURL + `","iat":1893553445}`
		proof := base64.RawURLEncoding.EncodeToString([]byte(hdr)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".AAAA"
		_, err := v.Verify(t.Context(), proof, reqFor(t, proof))
		if !errors.Is(err, dpop.ErrInvalidProof) {
			t.Fatalf("%s: err = %v, want ErrInvalidProof", name, err)
		}
		if msg := err.Error(); len(msg) > 300 || strings.Contains(msg, "\n") {
			t.Errorf("%s: error of %d bytes, line break %v: %.120q…", name, len(msg), strings.Contains(msg, "\n"), msg)
		}
	}
}

func TestVerify_NoAthCheckWithoutAccessToken(t *testing.T) {
	v := newVerifier(t, dpop.Config{})
	k := newKey(t, "ES256")
	proof, _ := k.Proof("POST", testURL, "")
	req := testReq
	req.AccessToken = ""
	if _, err := v.Verify(t.Context(), proof, req); err != nil {
		t.Errorf("token-endpoint proof: %v", err)
	}
}

// failingStore is a ReplayCache whose store is down.
type failingStore struct{}

func (failingStore) AddIfAbsent(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("connection refused")
}

func TestVerify_ReplayStoreFailureRefuses(t *testing.T) {
	v := newVerifier(t, dpop.Config{ReplayCache: failingStore{}})
	proof, _ := newKey(t, "ES256").Proof("POST", testURL, testToken)
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); !errors.Is(err, dpop.ErrReplayCheckUnavailable) {
		t.Errorf("err = %v, want ErrReplayCheckUnavailable", err)
	}
}

// countingCache embeds the memory cache and wraps its AddIfAbsent, as a
// layer that counts proofs, or also consults a shared store, would.
type countingCache struct {
	*dpop.MemoryReplayCache
	calls int
}

func (c *countingCache) AddIfAbsent(ctx context.Context, key string, expires time.Time) (bool, error) {
	c.calls++
	return c.MemoryReplayCache.AddIfAbsent(ctx, key, expires)
}

// TestVerify_CacheEmbeddingTheMemoryCacheHasItsAddIfAbsentCalled: the memory
// cache's per-key method is not promoted into a type that embeds it, so
// the Verifier calls the wrapper's AddIfAbsent rather than bypassing it.
func TestVerify_CacheEmbeddingTheMemoryCacheHasItsAddIfAbsentCalled(t *testing.T) {
	cache := &countingCache{MemoryReplayCache: dpop.NewMemoryReplayCache(0, func() time.Time { return t0 })}
	v := newVerifier(t, dpop.Config{ReplayCache: cache, Now: func() time.Time { return t0 }})
	k := newKey(t, "ES256")
	k.Now = func() time.Time { return t0 }
	proof, err := k.Proof("POST", testURL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); !errors.Is(err, dpop.ErrReplayed) {
		t.Fatalf("replay: %v, want ErrReplayed", err)
	}
	if cache.calls != 2 {
		t.Errorf("the wrapper's AddIfAbsent ran %d times, want 2", cache.calls)
	}
}

func TestVerify_FullMemoryCacheRefusesUntilEntriesExpire(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	cache := dpop.NewMemoryReplayCache(2, clock)
	cache.SetMaxPerHolder(2) // the one key may fill it
	v := newVerifier(t, dpop.Config{ReplayCache: cache, Now: clock})
	k := newKey(t, "ES256")
	k.Now = clock
	verify := func() error {
		proof, err := k.Proof("POST", testURL, testToken)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(t.Context(), proof, reqFor(t, proof))
		return err
	}
	for range 2 {
		if err := verify(); err != nil {
			t.Fatal(err)
		}
	}
	if err := verify(); !errors.Is(err, dpop.ErrReplayCheckUnavailable) || !errors.Is(err, dpop.ErrReplayCacheFull) {
		t.Fatalf("third proof: %v, want ErrReplayCacheFull", err)
	}
	if cache.Len() != 2 {
		t.Errorf("Len = %d, want 2", cache.Len())
	}
	now = now.Add(dpop.DefaultMaxAge + 2*time.Second) // the first two expire
	if err := verify(); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if cache.Len() != 1 {
		t.Errorf("Len = %d after expiry, want 1", cache.Len())
	}
}

func TestMemoryReplayCache_AddIfAbsent(t *testing.T) {
	now := t0
	c := dpop.NewMemoryReplayCache(10, func() time.Time { return now })
	ctx := t.Context()
	if ok, err := c.AddIfAbsent(ctx, "k", t0.Add(time.Minute)); !ok || err != nil {
		t.Fatalf("first add = %v, %v", ok, err)
	}
	if ok, _ := c.AddIfAbsent(ctx, "k", t0.Add(time.Hour)); ok {
		t.Fatal("second add of the same key succeeded")
	}
	now = t0.Add(time.Minute) // the expiry instant itself still counts
	if ok, _ := c.AddIfAbsent(ctx, "k", now.Add(time.Minute)); ok {
		t.Fatal("add at the expiry instant succeeded")
	}
	now = now.Add(time.Nanosecond)
	if ok, _ := c.AddIfAbsent(ctx, "k", now.Add(time.Minute)); !ok {
		t.Fatal("add after expiry failed")
	}
}

// A proof accepted at the very start of its window is still refused as a
// replay at the very end of it.
func TestVerify_ReplayAtTheEndOfTheWindowIsRefused(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	v := newVerifier(t, dpop.Config{Now: clock, ReplayCache: dpop.NewMemoryReplayCache(10, clock)})
	proof, _ := newKey(t, "ES256").Proof("POST", testURL, testToken) // iat t0
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(dpop.DefaultMaxAge) // the last instant iat is accepted
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); !errors.Is(err, dpop.ErrReplayed) {
		t.Fatalf("replay at iat+MaxAge: %v, want ErrReplayed", err)
	}
	now = now.Add(time.Nanosecond)
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("after the window: %v, want ErrInvalidProof (iat too old)", err)
	}
}

func TestNewVerifier_RefusesUnsafeConfig(t *testing.T) {
	for name, cfg := range map[string]dpop.Config{
		"alg none":                    {Algorithms: []string{"none"}},
		"alg HS256":                   {Algorithms: []string{"HS256"}},
		"negative MaxAge":             {MaxAge: -time.Second},
		"origin path":                 {Origins: []string{"https://a.example/p"}},
		"origin wildcard host":        {Origins: []string{"https://*.example.com"}},
		"origin wildcard":             {Origins: []string{"https://*"}},
		"OnlyOrigins without Origins": {OnlyOrigins: true},
	} {
		if _, err := dpop.NewVerifier(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// An origin with user info is refused without repeating it: the error
// grpcauth.New returns is logged, and must not carry a password.
func TestNewVerifier_RefusedOriginsUserInfoIsNotRepeated(t *testing.T) {
	for _, origin := range []string{"https://alice:hunter2@app.example.com", "https://alice:hunter2@app.example.com/", "alice:hunter2@app.example.com",
		// A "?", "#" or "/" in the password ends the authority early: the
		// URL does not parse, or parses with the password in its path.
		"https://alice:hunter2?x@app.example.com", "https://alice:hunter2#x@app.example.com", "https://alice:1234/hunter2@app.example.com"} {
		_, err := dpop.NewVerifier(dpop.Config{Origins: []string{origin}})
		if err == nil {
			t.Fatalf("%q: accepted", origin)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "alice") {
			t.Errorf("%q: error %q repeats the user info", origin, err)
		}
	}
}

// A nil *HMACNonces or *MemoryReplayCache in Config (a variable left unset
// where nonces or a shared cache are optional) is a non-nil interface: it
// was taken, and the first DPoP proof then panicked in its methods, which
// ends a gRPC server's process. NewVerifier refuses it.
func TestNewVerifier_RefusesNilNoncesOrReplayCache(t *testing.T) {
	var nonces *dpop.HMACNonces
	var cache *dpop.MemoryReplayCache
	var own *countingCache     // a shared store of the caller's, never assigned
	var ownNonces *badNonceSrc // a NonceSource of the caller's, never assigned
	for name, cfg := range map[string]dpop.Config{
		"nil *HMACNonces":                 {Nonces: nonces},
		"nil *MemoryReplayCache":          {ReplayCache: cache},
		"nil store of the caller's":       {ReplayCache: own},
		"nil NonceSource of the caller's": {Nonces: ownNonces},
	} {
		if _, err := dpop.NewVerifier(cfg); err == nil || !strings.Contains(err.Error(), "nil") {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
}

// A MaxAge or Leeway of more than a day is refused: a proof is remembered
// until its iat plus MaxAge, and a window of centuries (math.MaxInt64 for
// "no limit") overflowed that time, so that every proof was forgotten at
// once and its replays accepted. A day is accepted, and remembered.
func TestNewVerifier_RefusesAWindowOverADay(t *testing.T) {
	for name, cfg := range map[string]dpop.Config{
		"MaxAge math.MaxInt64": {MaxAge: math.MaxInt64},
		"MaxAge 250 years":     {MaxAge: 250 * 365 * 24 * time.Hour},
		"MaxAge a day and 1ns": {MaxAge: 24*time.Hour + 1},
		"Leeway math.MaxInt64": {Leeway: math.MaxInt64},
		"Leeway a day and 1ns": {Leeway: 24*time.Hour + 1},
	} {
		if _, err := dpop.NewVerifier(cfg); err == nil || !strings.Contains(err.Error(), "more than 24h") {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
	v := newVerifier(t, dpop.Config{MaxAge: 24 * time.Hour, Leeway: 24 * time.Hour})
	k := newKey(t, "ES256")
	k.Now = func() time.Time { return t0.Add(24 * time.Hour) }
	proof, err := k.Proof("POST", testURL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); !errors.Is(err, dpop.ErrReplayed) {
		t.Errorf("replay: %v, want ErrReplayed", err)
	}
}

func TestHMACNonces(t *testing.T) {
	n, err := dpop.NewHMACNonces([]byte("0123456789abcdef0123456789abcdef"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := dpop.NewHMACNonces(nil, time.Minute)
	cur := n.Nonce(t0)
	tests := []struct {
		name  string
		nonce string
		want  bool
	}{
		{"current", cur, true},
		{"previous window", n.Nonce(t0.Add(-time.Minute)), true},
		{"two windows back", n.Nonce(t0.Add(-2 * time.Minute)), false},
		{"next window", n.Nonce(t0.Add(time.Minute)), true},
		{"two windows ahead", n.Nonce(t0.Add(2 * time.Minute)), false},
		{"other secret", other.Nonce(t0), false},
		{"tampered", cur[:len(cur)-1] + string(cur[len(cur)-1]^1), false},
		{"empty", "", false},
		{"garbage", "not a nonce at all, not at all!!", false},
	}
	for _, tt := range tests {
		if got := n.Valid(tt.nonce, t0); got != tt.want {
			t.Errorf("%s: Valid = %v, want %v", tt.name, got, tt.want)
		}
	}
	if _, err := dpop.NewHMACNonces([]byte("short"), time.Minute); err == nil {
		t.Error("accepted a 5-byte secret")
	}
}

// A nonce lives one to two periods: NewHMACNonces refuses a period that
// would let no proof carry a valid nonce (under a second) or let a nonce
// outlive any proof (over a day).
func TestNewHMACNonces_RefusesAPeriodUnderASecondOrOverADay(t *testing.T) {
	for _, p := range []time.Duration{time.Nanosecond, time.Second - 1, 24*time.Hour + 1, 365 * 24 * time.Hour} {
		if _, err := dpop.NewHMACNonces(nil, p); err == nil {
			t.Errorf("period %s accepted", p)
		}
	}
	for _, p := range []time.Duration{0, -time.Minute, time.Second, 24 * time.Hour} {
		if _, err := dpop.NewHMACNonces(nil, p); err != nil {
			t.Errorf("period %s: %v", p, err)
		}
	}
}

// Replicas sharing a secret accept each other's nonces although their
// clocks differ a little: at a window's start, the replica whose clock is
// ahead hands out the new window's nonce, which one a second behind still
// in the old window accepts (and a call to it needs no nonce retry).
func TestHMACNonces_ReplicaWhoseClockIsBehindAcceptsTheNextWindowsNonce(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	ahead, _ := dpop.NewHMACNonces(secret, time.Minute)
	behind, _ := dpop.NewHMACNonces(secret, time.Minute)
	start := t0.Truncate(time.Minute).Add(time.Minute) // a window's start
	nonce := ahead.Nonce(start.Add(500 * time.Millisecond))
	if !behind.Valid(nonce, start.Add(-time.Second)) {
		t.Error("a replica a second behind refused the nonce of a replica in the next window")
	}
	// The nonce then lives as long on the replica behind as on the one
	// that made it, measured on each one's clock: its window and the next.
	for _, d := range []time.Duration{time.Minute, 2*time.Minute - time.Nanosecond} {
		if !behind.Valid(nonce, start.Add(d)) || !ahead.Valid(nonce, start.Add(d)) {
			t.Errorf("%s after its window's start: refused", d)
		}
	}
	if behind.Valid(nonce, start.Add(2*time.Minute)) || ahead.Valid(nonce, start.Add(2*time.Minute)) {
		t.Error("two windows after its own: accepted")
	}
	v := newVerifier(t, dpop.Config{Nonces: behind, Now: func() time.Time { return start.Add(-time.Second) }})
	k := newKey(t, "ES256")
	k.Now = func() time.Time { return start.Add(-time.Second) }
	proof, err := k.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken, Nonce: nonce})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); err != nil {
		t.Errorf("Verify on the replica behind: %v", err)
	}
}

// DefaultAlgorithms returns a copy: a package that changes the slice it got
// cannot add RS256 (or anything else) to the default allow-list of every
// Verifier built afterwards.
func TestDefaultAlgorithms_ChangingTheResultWidensNoVerifier(t *testing.T) {
	algs := dpop.DefaultAlgorithms()
	if got := strings.Join(algs, " "); got != "ES256 EdDSA Ed25519" {
		t.Fatalf("DefaultAlgorithms() = %q, want ES256 EdDSA Ed25519", got)
	}
	algs[0] = "RS256"
	_ = append(algs[:1], "PS256")
	if got := strings.Join(dpop.DefaultAlgorithms(), " "); got != "ES256 EdDSA Ed25519" {
		t.Errorf("DefaultAlgorithms() after a caller changed its result = %q", got)
	}
	v := newVerifier(t, dpop.Config{})
	if got := strings.Join(v.Algorithms(), " "); got != "ES256 EdDSA Ed25519" {
		t.Errorf("default Verifier accepts %q", got)
	}
	proof, err := newKey(t, "RS256").Proof("POST", testURL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("RS256 proof: %v, want alg not allowed", err)
	}
}

// signJWK signs claims under alg with priv, in a header whose jwk is priv's
// public key with the members extra added (e.g. "alg", "use", "key_ops").
// It signs with internal/jwsalg, so that Ed25519 proofs can be made too.
func signJWK(t *testing.T, alg string, priv crypto.Signer, extra map[string]any, claims string) string {
	t.Helper()
	members := publicJWK(t, priv)
	maps.Copy(members, extra)
	return signJSON(t, alg, priv, map[string]any{"typ": "dpop+jwt", "alg": alg, "jwk": members}, json.RawMessage(claims))
}

// A jwk that declares what it is for (RFC 7517, 4.2 to 4.4) is used for
// nothing else: its alg must be the proof's alg exactly (RFC 8725, 3.1;
// "EdDSA" and RFC 9864's "Ed25519" are distinct names, as in the verifier
// package), its use "sig", and its key_ops must include "verify". The same
// keys without those members, or with fitting ones, are accepted.
func TestVerify_RefusesJWKDeclaredForAnotherUse(t *testing.T) {
	v := newVerifier(t, dpop.Config{Algorithms: []string{"ES256", "ES384", "EdDSA", "Ed25519"}})
	req := testReq
	req.AccessToken = "" // the claims carry no ath
	jti := 0
	claims := func() string {
		jti++
		return `{"jti":"` + strconv.Itoa(jti) + `","htm":"POST","htu":"` + testURL + `","iat":` + "1893553445" + `}`
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	type jwkCase struct {
		name  string
		alg   string
		key   crypto.Signer
		extra map[string]any
	}
	tests := []jwkCase{
		{"ES256 proof, jwk alg ES384", "ES256", p256, map[string]any{"alg": "ES384"}},
		{"ES256 proof, jwk alg HS256", "ES256", p256, map[string]any{"alg": "HS256"}},
		{"ES256 proof, jwk alg es256", "ES256", p256, map[string]any{"alg": "es256"}},
		{"ES256 proof, jwk alg ECDH-ES", "ES256", p256, map[string]any{"alg": "ECDH-ES"}},
		{"ES256 proof, jwk alg not a string", "ES256", p256, map[string]any{"alg": 256}},
		{"Ed25519 proof, jwk alg EdDSA", "Ed25519", ed, map[string]any{"alg": "EdDSA"}},
		{"EdDSA proof, jwk alg Ed25519", "EdDSA", ed, map[string]any{"alg": "Ed25519"}},
		{"ES256 proof, jwk use enc", "ES256", p256, map[string]any{"use": "enc"}},
		{"ES256 proof, jwk key_ops encrypt", "ES256", p256, map[string]any{"key_ops": []string{"encrypt", "wrapKey"}}},
		{"ES256 proof, jwk key_ops sign only", "ES256", p256, map[string]any{"key_ops": []string{"sign"}}},
		{"ES256 proof, jwk key_ops empty", "ES256", p256, map[string]any{"key_ops": []string{}}},
	}
	for _, tt := range tests {
		proof := signJWK(t, tt.alg, tt.key, tt.extra, claims())
		if _, err := v.Verify(t.Context(), proof, req); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "jwk") {
			t.Errorf("%s: err = %v, want ErrInvalidProof about the jwk", tt.name, err)
		}
	}
	for _, tt := range []jwkCase{
		{"ES256, no members", "ES256", p256, nil},
		{"ES256, alg ES256, use sig, key_ops verify", "ES256", p256, map[string]any{"alg": "ES256", "use": "sig", "key_ops": []string{"verify"}}},
		{"Ed25519, alg Ed25519", "Ed25519", ed, map[string]any{"alg": "Ed25519"}},
		{"EdDSA, alg EdDSA", "EdDSA", ed, map[string]any{"alg": "EdDSA"}},
	} {
		proof := signJWK(t, tt.alg, tt.key, tt.extra, claims())
		if _, err := v.Verify(t.Context(), proof, req); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// rsaJWKProof is an RS256 proof whose jwk is an RSA "key" with a random odd
// modulus of the given size and exponent 2^31-1, and whose signature is
// garbage of the modulus' length: what costs a verifier most and its
// sender nothing (no key generation).
func rsaJWKProof(t *testing.T, bits int) string {
	t.Helper()
	n := make([]byte, bits/8)
	if _, err := rand.Read(n); err != nil {
		t.Fatal(err)
	}
	n[0] |= 0x80
	n[len(n)-1] |= 1
	b64 := base64.RawURLEncoding.EncodeToString
	hdr, err := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "RS256", "jwk": map[string]any{"kty": "RSA", "n": b64(n), "e": b64([]byte{0x7f, 0xff, 0xff, 0xff})}})
	if err != nil {
		t.Fatal(err)
	}
	claims := `{"jti":"1","htm":"POST","htu":"` + testURL + `","iat":1893553445}`
	sig := make([]byte, len(n))
	sig[len(sig)-1] = 2
	return b64(hdr) + "." + b64([]byte(claims)) + "." + b64(sig)
}

// An RSA jwk's modulus is bounded above as well, at 8192 bits as in the
// verifier's JWKS: RSA verification costs grow with the square of the
// modulus, so a 16384-bit one that fits in MaxProofSize costs a verifier
// (with RS* or PS* allowed) tens of times a 2048-bit check, whatever the
// signature. It is refused before the signature is checked.
func TestVerify_RefusesRSAModulusOver8192Bits(t *testing.T) {
	v := newVerifier(t, dpop.Config{Algorithms: []string{"RS256"}})
	req := testReq
	req.AccessToken = ""
	for bits, want := range map[int]string{8192: "bad signature", 8200: "does not fit alg RS256", 16384: "does not fit alg RS256"} {
		proof := rsaJWKProof(t, bits)
		if len(proof) > dpop.DefaultMaxProofSize {
			t.Fatalf("%d bits: proof of %d bytes", bits, len(proof))
		}
		if _, err := v.Verify(t.Context(), proof, req); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), want) {
			t.Errorf("%d-bit modulus: %v, want %q", bits, err, want)
		}
	}
}

// edProof is an alg proof whose jwk is the Ed25519 public key x and whose
// signature is sig, made by hand: no private key is needed.
func edProof(t *testing.T, alg string, x, sig []byte) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	hdr, err := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": alg, "jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(x)}})
	if err != nil {
		t.Fatal(err)
	}
	claims := `{"jti":"` + alg + b64(x) + `","htm":"POST","htu":"` + testURL + `","iat":1893553445}`
	return b64(hdr) + "." + b64([]byte(claims)) + "." + b64(sig)
}

// An Ed25519 jwk of small order is refused (RFC 8032 verification without
// the cofactor, as Go's, accepts the signature R = identity, S = 0 of
// every message under the identity key: its "private key" is public, so a
// token bound to it is a bearer token). Every encoding of a point of order
// 1, 2, 4 or 8 is refused, canonical or not, whatever its sign bit, as
// libsodium does; a generated key is still accepted.
func TestVerify_RefusesSmallOrderEd25519Keys(t *testing.T) {
	v := newVerifier(t, dpop.Config{})
	req := testReq
	req.AccessToken = ""
	identity := make([]byte, 32)
	identity[0] = 1
	forged := append(append([]byte(nil), identity...), make([]byte, 32)...) // R = identity, S = 0
	if !ed25519.Verify(identity, []byte("any message at all"), forged) {
		t.Fatal("the standard library does not accept the forged signature: the test proves nothing")
	}
	for _, alg := range []string{"EdDSA", "Ed25519"} {
		if _, err := v.Verify(t.Context(), edProof(t, alg, identity, forged), req); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "small order") {
			t.Errorf("%s proof forged for the identity key: %v, want a small-order key refused", alg, err)
		}
	}
	hex := func(s string) []byte {
		b := make([]byte, 32)
		for i := range b {
			n, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
			if err != nil {
				t.Fatal(err)
			}
			b[i] = byte(n)
		}
		return b
	}
	for _, enc := range []string{
		"0000000000000000000000000000000000000000000000000000000000000000", // order 4
		"0100000000000000000000000000000000000000000000000000000000000000", // identity
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p-1, order 2
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p, non-canonical 0
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p+1, non-canonical identity
	} {
		for _, sign := range []byte{0, 0x80} {
			x := hex(enc)
			x[31] |= sign
			if _, err := v.Verify(t.Context(), edProof(t, "EdDSA", x, forged), req); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "small order") {
				t.Errorf("jwk x %x: %v, want a small-order key refused", x, err)
			}
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"EdDSA", "Ed25519"} {
		claims := `{"jti":"` + alg + `","htm":"POST","htu":"` + testURL + `","iat":1893553445}`
		if _, err := v.Verify(t.Context(), signJWK(t, alg, priv, nil, claims), req); err != nil {
			t.Errorf("%s proof with a generated key: %v", alg, err)
		}
	}
}

// An RSA jwk's e is refused unless it is an odd number of at most 32 bits
// and at least 3, as in the verifier's JWKS: jwx reads e with
// big.Int.Int64, so an e of 2^64+65537 was used as 65537, and a proof
// signed with the key (n, 65537) was accepted under a jwk naming another
// key (and so another RFC 7638 thumbprint than the one reported).
func TestVerify_RefusesRSAExponentsThatAreTruncatedOrAbsurd(t *testing.T) {
	v := newVerifier(t, dpop.Config{Algorithms: []string{"RS256"}})
	req := testReq
	req.AccessToken = ""
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	for name, e := range map[string][]byte{
		"2^64+65537 (read as 65537)": {1, 0, 0, 0, 0, 0, 1, 0, 1},
		"2^32+65537":                 {1, 0, 0, 1, 0, 1},
		"1":                          {1},
		"even":                       {1, 0, 0},
	} {
		claims := `{"jti":"` + name + `","htm":"POST","htu":"` + testURL + `","iat":1893553445}`
		proof := signJWK(t, "RS256", rk, map[string]any{"e": b64(e)}, claims)
		if _, err := v.Verify(t.Context(), proof, req); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "exponent") {
			t.Errorf("e = %s: %v, want the exponent refused", name, err)
		}
	}
	for name, e := range map[string][]byte{"65537": {1, 0, 1}, "65537 in 4 bytes": {0, 1, 0, 1}} {
		claims := `{"jti":"` + name + `","htm":"POST","htu":"` + testURL + `","iat":1893553445}`
		if _, err := v.Verify(t.Context(), signJWK(t, "RS256", rk, map[string]any{"e": b64(e)}, claims), req); err != nil {
			t.Errorf("e = %s: %v", name, err)
		}
	}
}

func TestHMACNonces_CurrentIsTheCurrentOrNextWindowsValidNonce(t *testing.T) {
	n, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC)
	other, _ := dpop.NewHMACNonces(nil, time.Minute)
	for _, tc := range []struct {
		name  string
		nonce string
		want  bool
	}{
		{"current window", n.Nonce(now), true},
		{"next window", n.Nonce(now.Add(time.Minute)), true},
		{"previous window (valid, older)", n.Nonce(now.Add(-time.Minute)), false},
		{"two windows ahead (invalid)", n.Nonce(now.Add(2 * time.Minute)), false},
		{"another secret's", other.Nonce(now), false},
		{"garbage", "x", false},
	} {
		if got := n.Current(tc.nonce, now); got != tc.want {
			t.Errorf("%s: Current = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// RFC 3986 (section 6.2.2.1) folds the case of ASCII letters in a host and
// nothing else. strings.ToLower folded "İ" (U+0130) to "i" and the Kelvin
// sign (U+212A) to "k", and every invalid UTF-8 byte to U+FFFD, so a proof
// made for a look-alike host (a raw or percent-encoded one) was accepted
// as made for this server's authority, or for a Config.Origins origin.
func TestVerify_LookAlikeHostIsNotThisServer(t *testing.T) {
	k := newKey(t, "ES256")
	for _, tc := range []struct{ htu, authority string }{
		{"https://ap\u0130.example.com/pkg.Service/Method", "api.example.com"},
		{"https://ap%C4%B0.example.com/pkg.Service/Method", "api.example.com"},
		{"https://\u212Aiosk.example.com/pkg.Service/Method", "kiosk.example.com"},
		{"https://%E2%84%AAiosk.example.com/pkg.Service/Method", "kiosk.example.com"},
		{"https://a%FF.example.com/pkg.Service/Method", "a%FE.example.com"},
	} {
		proof, err := k.Proof("POST", tc.htu, testToken)
		if err != nil {
			t.Fatal(err)
		}
		req := testReq
		req.KeyThumbprint = k.Thumbprint()
		req.Authority = tc.authority
		if _, err := newVerifier(t, dpop.Config{}).Verify(t.Context(), proof, req); !errors.Is(err, dpop.ErrInvalidProof) {
			t.Errorf("htu %q at authority %q: %v, want ErrInvalidProof", tc.htu, tc.authority, err)
		}
		req.Authority = ""
		only := newVerifier(t, dpop.Config{Origins: []string{"https://" + tc.authority}, OnlyOrigins: true})
		if _, err := only.Verify(t.Context(), proof, req); !errors.Is(err, dpop.ErrInvalidProof) {
			t.Errorf("htu %q with origin https://%s: %v, want ErrInvalidProof", tc.htu, tc.authority, err)
		}
	}
	// ASCII letters still compare case-insensitively.
	proof, _ := k.Proof("POST", "https://API.Example.COM/pkg.Service/Method", testToken)
	if _, err := newVerifier(t, dpop.Config{}).Verify(t.Context(), proof, reqFor(t, proof)); err != nil {
		t.Errorf("upper-case ASCII host: %v", err)
	}
}

// An htu's path is compared as the client wrote it. It was taken from
// url.URL.EscapedPath, which, for a path holding a character it escapes
// ("|", "{", a space, a non-ASCII byte), encodes the decoded path anew, its
// "%2F" turned to "/": a proof for /files/a%2Fb|c (one segment after
// /files) was accepted at /files/a/b|c (two), which net/http's
// EscapedPath gives as /files/a/b%7Cc. And a request path's "%" that
// starts no escape was kept, so that it made one with what followed it
// once that was decoded: /files/a%%32Fb (a literal "%2F") was
// /files/a%2Fb (an escaped "/").
func TestVerify_EncodedSlashInHTUIsNoSlashWhateverElseThePathHolds(t *testing.T) {
	k := newKey(t, "ES256")
	v := newVerifier(t, dpop.Config{})
	for _, tc := range []struct{ htu, other, same string }{
		{"https://api.example.com/files/a%2Fb|c", "/files/a/b%7Cc", "/files/a%2Fb|c"},
		{"https://api.example.com/files/a%2Fb/\u00e9", "/files/a/b/%C3%A9", "/files/a%2fb/\u00e9"},
		{"https://api.example.com/files/a%2Fb/%C3%A9", "/files/a%2Fb/\u00e9", "/files/a%2fb/%c3%a9"},
		{"https://api.example.com/files/a/b|c", "/files/a%2Fb%7Cc", "/files/a/b%7Cc"},
		{"https://api.example.com/files/a%2Fb", "/files/a%%32Fb", "/files/a%2fb"},
	} {
		for _, path := range []string{tc.other, tc.same} {
			proof, err := k.Proof("POST", tc.htu, testToken)
			if err != nil {
				t.Fatal(err)
			}
			req := testReq
			req.KeyThumbprint = k.Thumbprint()
			req.Path = path
			_, err = v.Verify(t.Context(), proof, req)
			switch {
			case path == tc.other && !errors.Is(err, dpop.ErrInvalidProof):
				t.Errorf("htu %q at path %q: %v, want ErrInvalidProof", tc.htu, path, err)
			case path == tc.same && err != nil:
				t.Errorf("htu %q at path %q: %v, want it accepted", tc.htu, path, err)
			}
		}
	}
}

// A gRPC method's path with a character escaped, in the htu or in the
// request's path (as sent), matches the method's path as RFC 9449 (4.3,
// item 9) compares them, after syntax-based normalisation (RFC 3986,
// 6.2.2): an escaped unreserved character ("%4C", "%4c", "%2E" inside a
// name) is the character itself, both ways. It never matches another
// method's path, either way: the normalisation decodes nothing else, so
// an escaped "/" ("%2F") stays inside its segment (service and method
// are two segments, "items.v1.ItemService%2FListItems" one), an escaped
// "%" ("%252F") stays a "%", and a request path's "." segment matches no
// htu (an htu's is removed).
func TestVerify_EscapedMethodPathMatchesThatMethodOnlyBothWays(t *testing.T) {
	const svc, list = "/items.v1.ItemService", "/items.v1.ItemService/ListItems"
	k := newKey(t, "ES256")
	v := newVerifier(t, dpop.Config{})
	for _, tc := range []struct {
		htuPath, reqPath string
		accepted         bool
	}{
		{svc + "/%4CistItems", list, true},
		{list, svc + "/%4CistItems", true},
		{svc + "/%4cistItems", list, true},
		{list, svc + "/%4cistItems", true},
		{"/%69tems%2Ev1.ItemService/List%49tems", list, true},
		{list, "/%69tems%2Ev1.ItemService/List%49tems", true},
		{svc + "/%4CistItems", svc + "/%4cistItems", true},
		{svc + "/./ListItems", list, true},
		{svc + "%2FListItems", svc + "%2fListItems", true},

		{svc + "/%4CistItems", svc + "/GetItem", false},
		{svc + "/GetItem", svc + "/%4CistItems", false},
		{svc + "/%4DistItems", list, false},
		{list, svc + "/%4DistItems", false},
		{svc + "%2FListItems", list, false},
		{list, svc + "%2FListItems", false},
		{svc + "%2fListItems", list, false},
		{list, svc + "%2fListItems", false},
		{svc + "%252FListItems", svc + "%2FListItems", false},
		{svc + "%2FListItems", svc + "%252FListItems", false},
		{svc + "/ListItems%2F", list + "/", false},
		{list + "/", svc + "/ListItems%2F", false},
		{list, svc + "/./ListItems", false},
		{svc + "/%2E/ListItems", list, false},
		{list, svc + "/%2E/ListItems", false},
	} {
		proof, err := k.Proof("POST", "https://api.example.com"+tc.htuPath, testToken)
		if err != nil {
			t.Fatal(err)
		}
		req := testReq
		req.KeyThumbprint = k.Thumbprint()
		req.Path = tc.reqPath
		_, err = v.Verify(t.Context(), proof, req)
		switch {
		case tc.accepted && err != nil:
			t.Errorf("htu path %s at request path %s: %v, want it accepted", tc.htuPath, tc.reqPath, err)
		case !tc.accepted && (!errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "is not this request's URL (path")):
			t.Errorf("htu path %s at request path %s: %v, want ErrInvalidProof (path)", tc.htuPath, tc.reqPath, err)
		}
	}
}

// The request's authority is the client's text (a Host or :authority an
// adapter passes on): the htu refusal quotes it like the proof's own text,
// so that a line break in it is no line break in the log, and without a
// user info (net/http takes a Host of "u:SECRET@host"), which it quoted.
func TestVerify_HTURefusalQuotesTheRequestsAuthority(t *testing.T) {
	k := newKey(t, "ES256")
	proof, _ := k.Proof("POST", testURL, testToken)
	v := newVerifier(t, dpop.Config{})
	for _, tc := range []struct{ authority, bad, quoted string }{
		{"other.example\nforged log line", "\n", `origin "https://other.example\nforged log line"`},
		{"u:SECRET@api.example.com", "SECRET", `origin "https://…@api.example.com"`},
	} {
		req := testReq
		req.KeyThumbprint = k.Thumbprint()
		req.Authority = tc.authority
		_, err := v.Verify(t.Context(), proof, req)
		if !errors.Is(err, dpop.ErrInvalidProof) {
			t.Fatalf("authority %q: err = %v, want ErrInvalidProof", tc.authority, err)
		}
		if strings.Contains(err.Error(), tc.bad) || !strings.Contains(err.Error(), tc.quoted) {
			t.Errorf("authority %q: error %q, want it to quote %s and no %q", tc.authority, err, tc.quoted, tc.bad)
		}
	}
}

// A Request without a method or path comes only from a broken adapter: it
// is refused, even with a proof whose htm is empty or whose htu names the
// origin alone, which would otherwise match it.
func TestVerify_RequestWithoutMethodOrPathIsRefused(t *testing.T) {
	v := newVerifier(t, dpop.Config{})
	k := newKey(t, "ES256")
	for _, tc := range []struct {
		name   string
		method string
		url    string
		req    func(r *dpop.Request)
		want   string
	}{
		{"no method", "", testURL, func(r *dpop.Request) { r.Method = "" }, "Request.Method is empty"},
		{"no path", "POST", "https://api.example.com", func(r *dpop.Request) { r.Path = "" }, "Request.Path is empty"},
		{"no path, htu /", "POST", "https://api.example.com/", func(r *dpop.Request) { r.Path = "" }, "Request.Path is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := testReq
			req.KeyThumbprint = k.Thumbprint()
			tc.req(&req)
			proof := mustProof(t, k, grpcauthtest.ProofOptions{Method: tc.method, URL: tc.url, AccessToken: testToken,
				Claims: map[string]any{"jti": tc.name}})
			p, err := v.Verify(t.Context(), proof, req)
			if err == nil || !strings.HasPrefix(err.Error(), "dpop: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify = %+v, %v; want an error saying %q", p, err, tc.want)
			}
		})
	}
}

// The proof's text an error quotes is cut to 40 bytes at a UTF-8 boundary:
// cutting inside a character left invalid UTF-8, which the error then
// quoted twice ("\"aaa\\xe2…\"") instead of quoting the text once.
func TestVerify_ClippedTextEndsAtACharacterBoundary(t *testing.T) {
	k := newKey(t, "ES256")
	req := testReq
	req.KeyThumbprint = k.Thumbprint()
	typ := strings.Repeat("a", 39) + "€" // the 40th byte is the first of "€"
	proof := mustProof(t, k, grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken, Type: typ})
	_, err := newVerifier(t, dpop.Config{}).Verify(t.Context(), proof, req)
	if !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("err = %v, want ErrInvalidProof", err)
	}
	want := `typ "` + strings.Repeat("a", 39) + `…", want`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to quote the typ cut before the €: %s", err, want)
	}
}

// A refused htu is quoted by its scheme, host and path only: its query and
// fragment may carry a secret (a token in a query parameter), and so may
// a user info, which is refused too. It quoted up to 40 bytes of the htu
// whole. Text after an "@" that follows a "?" or "#" may be a query's or
// a fragment's, so such an htu is quoted up to its "…@" alone: the user
// info was replaced up to the last "@" before the query was cut, so that
// whatever followed an "@" in the query ("?to=a@b.example&tok=SECRET")
// stayed in the error, without the "?".
func TestVerify_HTURefusalQuotesNoQueryFragmentOrUserInfo(t *testing.T) {
	k := newKey(t, "ES256")
	v := newVerifier(t, dpop.Config{})
	for _, tc := range []struct{ name, htu, authority, quoted string }{
		{"query, other path", "https://a.example/x?tok=SECRET", "a.example", `htu "https://a.example/x" is not`},
		{"fragment, other path", "https://a.example/x#SECRET", "a.example", `htu "https://a.example/x" is not`},
		{"query, other origin", "https://b.example/pkg.Service/Method?tok=SECRET", "api.example.com", `htu "https://b.example/pkg.Service/Method" is not`},
		{"user info", "https://u:SECRET@a.example/pkg.Service/Method", "a.example", `htu "https://…@a.example/pkg.Service/Method": not`},
		{"user info holding ?", "https://u:p?SECRET@a.example/pkg.Service/Method", "a.example", `htu "https://…@": not`},
		{"query with @, other path", "https://a.example/x?to=a@b.example&tok=SECRET", "a.example", `htu "https://…@" is not`},
		{"fragment with @, other path", "https://a.example/x#@SECRET", "a.example", `htu "https://…@" is not`},
		{"query with @, other origin", "https://b.example/pkg.Service/Method?r=@&tok=SECRET", "api.example.com", `htu "https://…@" is not`},
		{"user info and query with @", "https://u:SECRET@a.example/pkg.Service/Method?r=@&tok=SECRET", "a.example", `htu "https://…@": not`},
		{"? in what may be a user info", "https://u:1?SECRET@a.example/pkg.Service/Method", "a.example", `htu "https://…@" is not`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proof := mustProof(t, k, grpcauthtest.ProofOptions{Method: "POST", URL: tc.htu, AccessToken: testToken,
				Claims: map[string]any{"jti": tc.name}})
			req := testReq
			req.KeyThumbprint = k.Thumbprint()
			req.Authority = tc.authority
			_, err := v.Verify(t.Context(), proof, req)
			if !errors.Is(err, dpop.ErrInvalidProof) {
				t.Fatalf("err = %v, want ErrInvalidProof", err)
			}
			if strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), tc.quoted) {
				t.Errorf("error %q, want it to quote %s and no SECRET", err, tc.quoted)
			}
		})
	}
}

// An access token must come with its cnf jkt: without one, a proof signed
// by any key was accepted with the token, so whoever stole a DPoP-bound
// token signed proofs for it with a key of their own. A token endpoint's
// Request, which has neither, is still served.
func TestVerify_AccessTokenWithoutThumbprintIsRefused(t *testing.T) {
	v := newVerifier(t, dpop.Config{})
	thief := newKey(t, "ES256") // not the key the token is bound to
	proof := mustProof(t, thief, grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken, Claims: map[string]any{"jti": "stolen"}})
	p, err := v.Verify(t.Context(), proof, testReq)
	if err == nil || !strings.HasPrefix(err.Error(), "dpop: ") || !strings.Contains(err.Error(), "KeyThumbprint") {
		t.Fatalf("Verify = %+v, %v; want an error asking for Request.KeyThumbprint", p, err)
	}
	for _, sentinel := range []error{dpop.ErrInvalidProof, dpop.ErrKeyMismatch, dpop.ErrUseNonce, dpop.ErrReplayed, dpop.ErrReplayCheckUnavailable} {
		if errors.Is(err, sentinel) {
			t.Errorf("error %v wraps %v: it is the caller's mistake, not the proof's", err, sentinel)
		}
	}
	tokenEndpoint := testReq
	tokenEndpoint.AccessToken = ""
	if _, err := v.Verify(t.Context(), mustProof(t, thief, grpcauthtest.ProofOptions{Method: "POST", URL: testURL, Claims: map[string]any{"jti": "token request"}}), tokenEndpoint); err != nil {
		t.Errorf("token endpoint's proof, without access token or thumbprint: %v", err)
	}
}

// badNonceSrc is a NonceSource of the caller's whose methods need their
// receiver.
type badNonceSrc struct{ nonce string }

func (b *badNonceSrc) Nonce(time.Time) string           { return b.nonce }
func (b *badNonceSrc) Valid(n string, _ time.Time) bool { return n == b.nonce }

// recordingNonces is a NonceSource that hands out nonce, accepts any
// nonce, and records what Valid was asked.
type recordingNonces struct {
	nonce string
	asked []string
}

func (r *recordingNonces) Nonce(time.Time) string { return r.nonce }
func (r *recordingNonces) Valid(n string, _ time.Time) bool {
	r.asked = append(r.asked, n)
	return true
}

// A proof's nonce that is not one a server may hand out (RFC 9449,
// section 8.1: 1*NQCHAR, here at most MaxNonceLen bytes) is refused with
// ErrUseNonce before the NonceSource sees it, however lax its Valid.
func TestVerify_MalformedProofNonceNeverReachesTheNonceSource(t *testing.T) {
	src := &recordingNonces{nonce: "fresh"}
	v := newVerifier(t, dpop.Config{Nonces: src})
	k := newKey(t, "ES256")
	for _, nonce := range []string{"two words", "n\nx", `n"`, `n\`, "n\u00e9", strings.Repeat("n", dpop.MaxNonceLen+1)} {
		proof := mustProof(t, k, grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken, Nonce: nonce})
		if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); !errors.Is(err, dpop.ErrUseNonce) {
			t.Errorf("nonce %q: %v, want ErrUseNonce", nonce, err)
		}
	}
	if len(src.asked) != 0 {
		t.Errorf("Valid was asked about %d malformed nonces", len(src.asked))
	}
	proof := mustProof(t, k, grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken, Nonce: strings.Repeat("n", dpop.MaxNonceLen)})
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); err != nil {
		t.Errorf("nonce of MaxNonceLen bytes: %v", err)
	}
}

// Verifier.Nonce hands out the NonceSource's nonce only when it is one a
// client can send back; otherwise nothing, and ErrBadNonce.
func TestVerifier_NonceRefusesAMalformedNonceOfItsSource(t *testing.T) {
	for nonce, ok := range map[string]bool{
		"fresh-nonce_1.~!":                      true,
		strings.Repeat("n", dpop.MaxNonceLen):   true,
		"":                                      false,
		"two words":                             false,
		"n\r\nx-forged: 1":                      false,
		`n"`:                                    false,
		"n\u00e9":                               false,
		strings.Repeat("n", dpop.MaxNonceLen+1): false,
	} {
		v := newVerifier(t, dpop.Config{Nonces: &recordingNonces{nonce: nonce}})
		got, err := v.Nonce()
		switch {
		case ok && (err != nil || got != nonce):
			t.Errorf("Nonce() with %q = %q, %v", nonce, got, err)
		case !ok && (!errors.Is(err, dpop.ErrBadNonce) || got != ""):
			t.Errorf("Nonce() with %q = %q, %v; want \"\" and ErrBadNonce", nonce, got, err)
		}
	}
	if got, err := newVerifier(t, dpop.Config{}).Nonce(); got != "" || err != nil {
		t.Errorf("Nonce() without Nonces = %q, %v", got, err)
	}
}

// A zero HMACNonces or MemoryReplayCache (new(dpop.HMACNonces),
// &dpop.MemoryReplayCache{}: not built by its constructor) has no period,
// secret or map: the HMACNonces issued no nonce (it divided by zero, a
// panic that ends a gRPC server's process) and the MemoryReplayCache
// refuses every proof as full. NewVerifier refuses either.
func TestNewVerifier_RefusesZeroNoncesOrReplayCache(t *testing.T) {
	for name, cfg := range map[string]dpop.Config{
		"zero HMACNonces":        {Nonces: new(dpop.HMACNonces)},
		"zero MemoryReplayCache": {ReplayCache: &dpop.MemoryReplayCache{}},
	} {
		if _, err := dpop.NewVerifier(cfg); err == nil || !strings.Contains(err.Error(), "New") {
			t.Errorf("%s: %v, want refused, naming its constructor", name, err)
		}
	}
}

// wrappedNonces is a NonceSource of the caller's that embeds an
// HMACNonces, to count or log its nonces, say.
type wrappedNonces struct{ *dpop.HMACNonces }

// A zero HMACNonces that NewVerifier cannot see, because a NonceSource of
// the caller's embeds it, issues no nonce and accepts none rather than
// divide by zero: Verifier.Nonce refuses the request with ErrBadNonce, and
// a proof carrying a well-formed nonce is refused, instead of a panic that
// ends the server's process.
func TestVerify_ZeroHMACNoncesInsideAWrapperIsRefusedWithoutPanic(t *testing.T) {
	good, _ := dpop.NewHMACNonces([]byte("0123456789abcdef0123456789abcdef"), time.Minute)
	v := newVerifier(t, dpop.Config{Nonces: wrappedNonces{new(dpop.HMACNonces)}})
	if got, err := v.Nonce(); got != "" || !errors.Is(err, dpop.ErrBadNonce) {
		t.Errorf("Nonce() = %q, %v; want ErrBadNonce", got, err)
	}
	if good.Valid(good.Nonce(t0), t0) != true {
		t.Fatal("a nonce of a built HMACNonces is refused by it")
	}
	if (wrappedNonces{new(dpop.HMACNonces)}).Valid(good.Nonce(t0), t0) {
		t.Error("a zero HMACNonces accepted a nonce")
	}
	if (wrappedNonces{new(dpop.HMACNonces)}).Current(good.Nonce(t0), t0) {
		t.Error("a zero HMACNonces called a nonce current")
	}
}

// TestVerify_UnbuiltVerifierSaysItWasNotBuilt: a Verifier NewVerifier did
// not build (a zero one, or a nil *Verifier) refuses even a good proof
// with an error that says it was not built and wraps
// ErrReplayCheckUnavailable (the server's fault, not the proof's), and
// never panics. Before, a zero one refused every proof as invalid ("alg
// "ES256" is not allowed (allowed: )"), and a nil one panicked.
func TestVerify_UnbuiltVerifierSaysItWasNotBuilt(t *testing.T) {
	key, err := grpcauthtest.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	proof, err := key.Proof("POST", "https://api.example.com/pkg.Service/Method", "")
	if err != nil {
		t.Fatal(err)
	}
	req := dpop.Request{Method: "POST", Scheme: "https", Authority: "api.example.com", Path: "/pkg.Service/Method"}
	for name, v := range map[string]*dpop.Verifier{"zero": new(dpop.Verifier), "nil": nil} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), proof, req)
			if !errors.Is(err, dpop.ErrReplayCheckUnavailable) || errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "not built with NewVerifier") {
				t.Errorf("Verify: %v, want a 'not built with NewVerifier' error wrapping ErrReplayCheckUnavailable", err)
			}
			if a, n := v.Algorithms(), v.Nonces(); a != nil || n != nil {
				t.Errorf("Algorithms %q, Nonces %v, want nil", a, n)
			}
			if n, err := v.Nonce(); n != "" || err != nil {
				t.Errorf("Nonce = %q, %v; want none", n, err)
			}
		})
	}
	// A built one accepts the same proof.
	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), proof, req); err != nil {
		t.Fatalf("built Verifier: %v", err)
	}
}
