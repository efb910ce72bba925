package dpop_test

// Tests written after a hand-run mutation test of Verify and its helpers:
// each holds a check that could be deleted, or loosened, without any
// other test of the package failing.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/jwsalg"
)

// tokenEndpointReq is testReq without an access token: no ath is checked,
// and no key binding.
var tokenEndpointReq = dpop.Request{Method: "POST", Scheme: "https", Authority: "api.example.com", Path: "/pkg.Service/Method"}

// testClaims are valid claims for tokenEndpointReq at t0, with jti id.
func testClaims(id string) map[string]any {
	return map[string]any{"jti": id, "htm": "POST", "htu": testURL, "iat": t0.Unix()}
}

// b64JSON is the unpadded base64url of the JSON of v, padded with spaces
// (which JSON ignores) to a multiple of 3 bytes, so that its encoding has
// no partial last group: a character appended to it starts a group of
// its own, and a lenient decoder would stop there with every byte of v.
func b64JSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for len(b)%3 != 0 {
		b = append(b, ' ')
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// publicJWK is the JWK of priv's public key, as a map of its members.
func publicJWK(t testing.TB, priv crypto.Signer) map[string]any {
	t.Helper()
	k, err := jwk.FromRaw(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// signInput signs the signing input hdrPart.payloadPart as it is written
// (whatever it decodes to) with priv under alg, and returns the compact
// JWS with the signature's base64url encoding.
func signInput(t testing.TB, alg string, priv crypto.Signer, hdrPart, payloadPart string) string {
	t.Helper()
	s, err := jwsalg.NewSigner(alg)
	if err != nil {
		t.Fatal(err)
	}
	input := hdrPart + "." + payloadPart
	sig, err := s.Sign([]byte(input), priv)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// A proof of exactly Config.MaxProofSize bytes is accepted; one byte over,
// the same proof is refused, before it is parsed.
func TestVerify_ProofOverMaxProofSizeIsRefused(t *testing.T) {
	k := newKey(t, "ES256")
	proof, err := k.Proof("POST", testURL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	req := reqFor(t, proof)
	if _, err := newVerifier(t, dpop.Config{MaxProofSize: len(proof)}).Verify(t.Context(), proof, req); err != nil {
		t.Errorf("proof of exactly MaxProofSize bytes: %v", err)
	}
	_, err = newVerifier(t, dpop.Config{MaxProofSize: len(proof) - 1}).Verify(t.Context(), proof, req)
	if !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "MaxProofSize") {
		t.Errorf("proof of MaxProofSize+1 bytes: %v, want ErrInvalidProof naming MaxProofSize", err)
	}
}

// Each part of a proof is unpadded base64url and nothing else: a part
// followed by a character outside that alphabet is refused, even though
// the signature covers the parts as written and a decoder that stopped at
// the bad character would have decoded the whole header, claims or
// signature. (ES384 signatures are 96 bytes, a whole number of base64
// groups, like the padded header and claims.)
func TestVerify_PartWithTrailingGarbageIsRefused(t *testing.T) {
	v := newVerifier(t, dpop.Config{Algorithms: []string{"ES384"}})
	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hdr := b64JSON(t, map[string]any{"typ": "dpop+jwt", "alg": "ES384", "jwk": publicJWK(t, priv)})
	for _, tc := range []struct {
		name             string
		hdrTail, clmTail string
		sigTail          string
	}{
		{name: "valid"},
		{name: "header", hdrTail: "!"},
		{name: "claims", clmTail: "*"},
		{name: "signature", sigTail: "="},
	} {
		proof := signInput(t, "ES384", priv, hdr+tc.hdrTail, b64JSON(t, testClaims(tc.name))+tc.clmTail) + tc.sigTail
		_, err := v.Verify(t.Context(), proof, tokenEndpointReq)
		switch {
		case tc.name == "valid" && err != nil:
			t.Errorf("valid proof: %v", err)
		case tc.name != "valid" && (!errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "base64url")):
			t.Errorf("%s followed by a non-base64url character: %v, want ErrInvalidProof for its encoding", tc.name, err)
		}
	}
}

// typ is a media type, compared without regard to case (RFC 7515, 4.1.9).
func TestVerify_TypIsComparedCaseInsensitively(t *testing.T) {
	k := newKey(t, "ES256")
	proof := mustProof(t, k, grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken, Type: "DPoP+JWT"})
	if _, err := newVerifier(t, dpop.Config{}).Verify(t.Context(), proof, reqFor(t, proof)); err != nil {
		t.Errorf("typ DPoP+JWT: %v", err)
	}
}

// With Config.Nonces, a well-formed nonce the NonceSource does not accept
// (another secret's, or one from a window long past) is refused with
// ErrUseNonce; the current one is accepted.
func TestVerify_NonceTheSourceDoesNotAcceptIsRefused(t *testing.T) {
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, dpop.Config{Nonces: nonces})
	k := newKey(t, "ES256")
	for _, tc := range []struct {
		name, nonce string
		ok          bool
	}{
		{"current", nonces.Nonce(t0), true},
		{"another secret's", other.Nonce(t0), false},
		{"an hour old", nonces.Nonce(t0.Add(-time.Hour)), false},
	} {
		proof := mustProof(t, k, grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken, Nonce: tc.nonce})
		_, err := v.Verify(t.Context(), proof, reqFor(t, proof))
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, dpop.ErrUseNonce) {
			t.Errorf("%s nonce: %v, want ok=%v or ErrUseNonce", tc.name, err, tc.ok)
		}
	}
}

// When ctx ends while a shared ReplayCache is consulted, Verify returns
// ctx's error, not ErrReplayCheckUnavailable: the caller has gone, the
// store has not failed.
func TestVerify_ContextEndedDuringReplayCheckIsTheContextsError(t *testing.T) {
	store := replayCacheFunc(func(ctx context.Context, _ string, _ time.Time) (bool, error) { return false, ctx.Err() })
	v := newVerifier(t, dpop.Config{ReplayCache: store})
	k := newKey(t, "ES256")
	proof, _ := k.Proof("POST", testURL, testToken)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := v.Verify(ctx, proof, reqFor(t, proof))
	if !errors.Is(err, context.Canceled) || errors.Is(err, dpop.ErrReplayCheckUnavailable) {
		t.Errorf("err = %v, want context.Canceled and not ErrReplayCheckUnavailable", err)
	}
}

// replayCacheFunc is a ReplayCache of a function.
type replayCacheFunc func(ctx context.Context, key string, expires time.Time) (bool, error)

func (f replayCacheFunc) AddIfAbsent(ctx context.Context, key string, expires time.Time) (bool, error) {
	return f(ctx, key, expires)
}

// instantExpiryStore forgets a key at its expiry instant (a store that
// expires keys at PXAT exactly), on the clock now.
type instantExpiryStore struct {
	mu   sync.Mutex
	now  func() time.Time
	keys map[string]time.Time
}

func (s *instantExpiryStore) AddIfAbsent(_ context.Context, key string, expires time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.keys[key]; ok && s.now().Before(exp) {
		return false, nil
	}
	s.keys[key] = expires
	return true, nil
}

// A store that forgets a key at its expiry instant still refuses a replay
// at the last instant the proof is accepted (iat + MaxAge): the expiry
// Verify gives it is a second past that.
func TestVerify_ReplayAtTheEndOfTheWindowIsRefusedByAStoreExpiringAtTheInstant(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	v := newVerifier(t, dpop.Config{ReplayCache: &instantExpiryStore{now: clock, keys: map[string]time.Time{}}, Now: clock})
	k := newKey(t, "ES256")
	proof, _ := k.Proof("POST", testURL, testToken)
	req := reqFor(t, proof)
	if _, err := v.Verify(t.Context(), proof, req); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(dpop.DefaultMaxAge)
	if _, err := v.Verify(t.Context(), proof, req); !errors.Is(err, dpop.ErrReplayed) {
		t.Errorf("replay at iat+MaxAge: %v, want ErrReplayed", err)
	}
}

// A proof whose iat lies ahead (within the leeway) is accepted until its
// iat + MaxAge, and remembered as long: a replay at that last instant is
// refused, not forgotten MaxAge after its first use.
func TestVerify_ReplayOfAProofFromTheFutureIsRememberedUntilItsWindowEnds(t *testing.T) {
	now := t0
	v := newVerifier(t, dpop.Config{Now: func() time.Time { return now }})
	k := newKey(t, "ES256")
	iat := t0.Add(dpop.DefaultLeeway)
	proof := mustProof(t, k, grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken, IssuedAt: iat})
	req := reqFor(t, proof)
	if _, err := v.Verify(t.Context(), proof, req); err != nil {
		t.Fatal(err)
	}
	now = iat.Add(dpop.DefaultMaxAge)
	if _, err := v.Verify(t.Context(), proof, req); !errors.Is(err, dpop.ErrReplayed) {
		t.Errorf("replay at iat+MaxAge: %v, want ErrReplayed", err)
	}
}

// A jti need only be unique per key (RFC 9449, 11.1): two keys' proofs
// with the same jti are both accepted, and each refused when replayed.
func TestVerify_SameJTIFromTwoKeysIsNoReplay(t *testing.T) {
	v := newVerifier(t, dpop.Config{})
	for i, k := range []*grpcauthtest.DPoPKey{newKey(t, "ES256"), newKey(t, "ES256")} {
		proof := mustProof(t, k, grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken, ID: "same-jti"})
		if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); err != nil {
			t.Errorf("key %d: %v", i, err)
		}
		if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); !errors.Is(err, dpop.ErrReplayed) {
			t.Errorf("key %d replayed: %v, want ErrReplayed", i, err)
		}
	}
}

// With Config.OnlyOrigins, an htu naming the request's own authority is
// refused even though the request did come to it: only Config.Origins
// are accepted.
func TestVerify_OnlyOriginsRefusesTheRequestsOwnOrigin(t *testing.T) {
	v := newVerifier(t, dpop.Config{Origins: []string{"https://public.example"}, OnlyOrigins: true})
	k := newKey(t, "ES256")
	req := testReq // Authority api.example.com
	req.KeyThumbprint = k.Thumbprint()
	own, _ := k.Proof("POST", testURL, testToken)
	if _, err := v.Verify(t.Context(), own, req); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "origin") {
		t.Errorf("htu of the request's own origin: %v, want ErrInvalidProof for its origin", err)
	}
	public, _ := k.Proof("POST", "https://public.example/pkg.Service/Method", testToken)
	if _, err := v.Verify(t.Context(), public, req); err != nil {
		t.Errorf("htu of the configured origin: %v", err)
	}
}

// ath and nonce, when present, are strings even where they are not
// checked (a token endpoint request, no Config.Nonces).
func TestVerify_NonStringOptionalClaimsAreRefused(t *testing.T) {
	v := newVerifier(t, dpop.Config{})
	k := newKey(t, "ES256")
	for _, name := range []string{"ath", "nonce"} {
		proof := mustProof(t, k, grpcauthtest.ProofOptions{Method: "POST", URL: testURL, Claims: map[string]any{name: 1}})
		if _, err := v.Verify(t.Context(), proof, tokenEndpointReq); !errors.Is(err, dpop.ErrInvalidProof) {
			t.Errorf("numeric %s: %v, want ErrInvalidProof", name, err)
		}
	}
}

// A fractional iat is kept to the nanosecond in Proof.IssuedAt.
func TestVerify_FractionalIATIsKept(t *testing.T) {
	k := newKey(t, "ES256")
	proof := mustProof(t, k, grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken, Claims: map[string]any{"iat": float64(t0.Unix()) + 0.5}})
	p, err := newVerifier(t, dpop.Config{}).Verify(t.Context(), proof, reqFor(t, proof))
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(500 * time.Millisecond); !p.IssuedAt.Equal(want) {
		t.Errorf("IssuedAt = %v, want %v", p.IssuedAt, want)
	}
}

// Each private member of an RSA JWK alone (RFC 7518, 6.3.2) gets the key
// refused: jwx parses a jwk as a private key only when it has d.
func TestVerify_RefusesEachPrivateRSAMemberAlone(t *testing.T) {
	v := newVerifier(t, dpop.Config{Algorithms: []string{"RS256"}})
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rk.Precompute()
	b64 := func(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.Bytes()) }
	members := map[string]string{
		"p": b64(rk.Primes[0]), "q": b64(rk.Primes[1]),
		"dp": b64(rk.Precomputed.Dp), "dq": b64(rk.Precomputed.Dq), "qi": b64(rk.Precomputed.Qinv),
	}
	for _, name := range slices.Sorted(maps.Keys(members)) {
		claims := `{"jti":"` + name + `","htm":"POST","htu":"` + testURL + `","iat":` + strconv.FormatInt(t0.Unix(), 10) + `}`
		proof := signJWK(t, "RS256", rk, map[string]any{name: members[name]}, claims)
		if _, err := v.Verify(t.Context(), proof, tokenEndpointReq); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), strconv.Quote(name)) {
			t.Errorf("RSA jwk with %s: %v, want ErrInvalidProof naming it", name, err)
		}
	}
}

// An RSA exponent is read from at most 4 bytes, whatever its value: 65537
// in 5 bytes (with leading zeros) is refused like 2^32+65537, which jwx
// would read whole, and 9 bytes, which it would truncate.
func TestVerify_RefusesRSAExponentInFiveBytes(t *testing.T) {
	v := newVerifier(t, dpop.Config{Algorithms: []string{"RS256"}})
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	claims := `{"jti":"e5","htm":"POST","htu":"` + testURL + `","iat":` + strconv.FormatInt(t0.Unix(), 10) + `}`
	proof := signJWK(t, "RS256", rk, map[string]any{"e": base64.RawURLEncoding.EncodeToString([]byte{0, 0, 1, 0, 1})}, claims)
	if _, err := v.Verify(t.Context(), proof, tokenEndpointReq); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "exponent") {
		t.Errorf("65537 in 5 bytes: %v, want the exponent refused", err)
	}
}

// An RSA modulus of 2047 bits is one bit short of RFC 7518's 2048: the
// proof is refused even though it is validly signed.
func TestVerify_RefusesRSAModulusOf2047Bits(t *testing.T) {
	v := newVerifier(t, dpop.Config{Algorithms: []string{"RS256"}})
	rk, err := rsa.GenerateKey(rand.Reader, 2047)
	if err != nil {
		t.Fatal(err)
	}
	claims := `{"jti":"2047","htm":"POST","htu":"` + testURL + `","iat":` + strconv.FormatInt(t0.Unix(), 10) + `}`
	if _, err := v.Verify(t.Context(), signJWK(t, "RS256", rk, nil, claims), tokenEndpointReq); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("2047-bit modulus: %v, want the key refused as not fitting RS256", err)
	}
}

// A key that does not fit the proof's alg is refused as such, before its
// signature is checked: a P-256 key under ES512, an EC point off its
// curve, an Ed25519 key of 31 bytes.
func TestVerify_RefusesKeysThatDoNotFitBeforeTheSignature(t *testing.T) {
	v := newVerifier(t, dpop.Config{Algorithms: []string{"ES256", "ES512", "Ed25519"}})
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256 := publicJWK(t, ek)
	offCurve := maps.Clone(p256)
	y := new(big.Int).Add(ek.Y, big.NewInt(1))
	offCurve["y"] = base64.RawURLEncoding.EncodeToString(y.FillBytes(make([]byte, 32)))
	short := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(append([]byte{9}, make([]byte, 30)...))}
	claims := b64JSON(t, testClaims("fit"))
	for _, tc := range []struct {
		name, alg string
		jwk       map[string]any
	}{
		{"P-256 key under ES512", "ES512", p256},
		{"EC point off its curve", "ES256", offCurve},
		{"Ed25519 key of 31 bytes", "Ed25519", short},
	} {
		hdr := b64JSON(t, map[string]any{"typ": "dpop+jwt", "alg": tc.alg, "jwk": tc.jwk})
		proof := hdr + "." + claims + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
		if _, err := v.Verify(t.Context(), proof, tokenEndpointReq); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "does not fit") {
			t.Errorf("%s: %v, want the key refused as not fitting %s", tc.name, err, tc.alg)
		}
	}
}

// The refusal of a malformed proof names what is wrong with it (the
// server log's only clue): each is caught by its own check, not by a
// later one that happens to fail too.
func TestVerify_MalformedProofIsRefusedForItsOwnFault(t *testing.T) {
	v := newVerifier(t, dpop.Config{})
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": publicJWK(t, priv)}
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	withIAT := func(id string, iat float64) map[string]any {
		c := testClaims(id)
		c["iat"] = iat
		return c
	}
	without := func(name string) map[string]any {
		c := testClaims("without " + name)
		delete(c, name)
		return c
	}
	for _, tc := range []struct{ name, proof, cause string }{
		{"empty", "", "empty"},
		{"four parts", "a.b.c.d", "compact JWS"},
		{"two parts", enc(hdr) + "." + enc(testClaims("two")), "compact JWS"},
		{"claims null", signInput(t, "ES256", priv, enc(hdr), enc(nil)), "claims are not"},
		{"no jti", signJSON(t, "ES256", priv, hdr, without("jti")), "no jti claim"},
		{"no htm", signJSON(t, "ES256", priv, hdr, without("htm")), "no htm claim"},
		{"no htu", signJSON(t, "ES256", priv, hdr, without("htu")), "no htu claim"},
		{"no iat", signJSON(t, "ES256", priv, hdr, without("iat")), "no iat claim"},
		{"negative iat", signJSON(t, "ES256", priv, hdr, withIAT("neg", -1)), "numeric iat"},
		{"iat past 2^40", signJSON(t, "ES256", priv, hdr, withIAT("big", 1<<40+1)), "numeric iat"},
		{"iat past int64", signJSON(t, "ES256", priv, hdr, withIAT("huge", 1e19)), "numeric iat"},
		{"no jwk", signJSON(t, "ES256", priv, map[string]any{"typ": "dpop+jwt", "alg": "ES256"}, testClaims("nojwk")), "no jwk header"},
	} {
		_, err := v.Verify(t.Context(), tc.proof, tokenEndpointReq)
		if !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), tc.cause) {
			t.Errorf("%s: %v, want ErrInvalidProof naming %q", tc.name, err, tc.cause)
		}
	}
}

// Algorithms lists each configured algorithm once, in order: it is what a
// challenge advertises.
func TestVerifier_AlgorithmsAreListedOnce(t *testing.T) {
	v := newVerifier(t, dpop.Config{Algorithms: []string{"ES256", "RS256", "ES256"}})
	if got, want := v.Algorithms(), []string{"ES256", "RS256"}; !slices.Equal(got, want) {
		t.Errorf("Algorithms() = %q, want %q", got, want)
	}
}

// A Config.Leeway of zero means DefaultLeeway: a proof whose iat is that
// far ahead is accepted. A negative one means none: a proof issued now is
// accepted, one a second ahead refused.
func TestVerify_LeewayDefaultAndNone(t *testing.T) {
	k := newKey(t, "ES256")
	for _, tc := range []struct {
		name   string
		leeway time.Duration
		ahead  time.Duration
		ok     bool
	}{
		{"default, DefaultLeeway ahead", 0, dpop.DefaultLeeway, true},
		{"none, issued now", -1, 0, true},
		{"none, a second ahead", -1, time.Second, false},
	} {
		proof := mustProof(t, k, grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken, IssuedAt: t0.Add(tc.ahead)})
		_, err := newVerifier(t, dpop.Config{Leeway: tc.leeway}).Verify(t.Context(), proof, reqFor(t, proof))
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, dpop.ErrInvalidProof) {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// NewVerifier refuses a negative Config.MaxProofSize, an origin whose
// host is a port alone, and one that ends in an empty fragment ("#").
func TestNewVerifier_RefusesNegativeSizeAndMalformedOrigins(t *testing.T) {
	for name, cfg := range map[string]dpop.Config{
		"MaxProofSize -1":     {MaxProofSize: -1},
		"origin of a port":    {Origins: []string{"https://:8443"}},
		"origin ending in #":  {Origins: []string{"https://public.example#"}},
		"origin ending in /#": {Origins: []string{"https://public.example/#"}},
	} {
		if _, err := dpop.NewVerifier(cfg); err == nil {
			t.Errorf("%s: NewVerifier accepted it", name)
		}
	}
}

// The htu's default port is its scheme's: https on port 80 is another
// origin than https on 443.
func TestVerify_HTTPSOnPort80IsAnotherOrigin(t *testing.T) {
	k := newKey(t, "ES256")
	proof, _ := k.Proof("POST", "https://api.example.com:80/pkg.Service/Method", testToken)
	if _, err := newVerifier(t, dpop.Config{}).Verify(t.Context(), proof, reqFor(t, proof)); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Errorf("htu https://api.example.com:80 at api.example.com: %v, want ErrInvalidProof", err)
	}
}

// A request path's "%" that starts no whole escape ("%4" at the end, "%4G")
// is a literal "%": it neither panics nor decodes into another byte, so it
// matches no htu holding that byte escaped. "%7E" is "~", unreserved, and
// matches an htu holding "~" raw.
func TestVerify_RequestPathPercentThatStartsNoEscape(t *testing.T) {
	k := newKey(t, "ES256")
	v := newVerifier(t, dpop.Config{})
	for _, tc := range []struct {
		htuPath, path string
		ok            bool
	}{
		{"/pkg.Service/Method%254", "/pkg.Service/Method%4", true},
		{"/pkg.Service/Method%F0", "/pkg.Service/Method%4G", false},
		{"/pkg.Service/Method%254G", "/pkg.Service/Method%4G", true},
		{"/pkg.Service/Me~thod", "/pkg.Service/Me%7Ethod", true},
	} {
		proof, err := k.Proof("POST", "https://api.example.com"+tc.htuPath, testToken)
		if err != nil {
			t.Fatal(err)
		}
		req := reqFor(t, proof)
		req.Path = tc.path
		_, err = v.Verify(t.Context(), proof, req)
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, dpop.ErrInvalidProof) {
			t.Errorf("htu path %s at %s: %v, want ok=%v", tc.htuPath, tc.path, err, tc.ok)
		}
	}
}

// holderStore is a HolderReplayCache that records the holders it is told.
type holderStore struct {
	mu      sync.Mutex
	holders []string
}

func (s *holderStore) AddIfAbsent(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("AddIfAbsent called on a HolderReplayCache")
}

func (s *holderStore) AddIfAbsentFor(_ context.Context, holder, _ string, _ time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holders = append(s.holders, holder)
	return true, nil
}

// A ReplayCache of the caller's that is a HolderReplayCache is told each
// proof's holder, its key's thumbprint, through AddIfAbsentFor.
func TestVerify_HolderReplayCacheIsToldTheProofsKey(t *testing.T) {
	store := &holderStore{}
	v := newVerifier(t, dpop.Config{ReplayCache: store})
	k := newKey(t, "ES256")
	proof, _ := k.Proof("POST", testURL, testToken)
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); err != nil {
		t.Fatal(err)
	}
	if want := []string{k.Thumbprint()}; !slices.Equal(store.holders, want) {
		t.Errorf("holders = %q, want %q", store.holders, want)
	}
}

// SetMaxPerHolder(0) restores the default quota, a quarter of the
// capacity; AddIfAbsent with a nil context (a caller's own use of the
// cache) does not panic.
func TestMemoryReplayCache_DefaultQuotaRestoredAndNilContext(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	c := dpop.NewMemoryReplayCache(8, nil)
	c.SetMaxPerHolder(8)
	c.SetMaxPerHolder(0) // back to 8/4
	for i := range 3 {
		ok, err := dpop.AddIfAbsentFor(c, "h", "k"+strconv.Itoa(i), exp)
		if want := i < 2; ok != want || (err != nil) == want {
			t.Errorf("entry %d: %v, %v, want added=%v", i, ok, err, want)
		}
	}
	// A nil context (a caller's own use) is no check time: no panic.
	var nilCtx context.Context
	if ok, err := c.AddIfAbsent(nilCtx, "nil-ctx", exp); !ok || err != nil {
		t.Errorf("AddIfAbsent with a nil context: %v, %v", ok, err)
	}
}

// HMACNonces refuses a secret under 32 bytes, keeps its own copy of the
// secret, refuses a nonce longer than its own without panicking, and
// binds each nonce's MAC to its window: an old nonce's MAC under the
// current window number is no nonce.
func TestHMACNonces_SecretLengthCopyAndWindowBinding(t *testing.T) {
	if _, err := dpop.NewHMACNonces(make([]byte, 31), time.Minute); err == nil {
		t.Error("NewHMACNonces accepted a 31-byte secret")
	}
	secret := make([]byte, 32)
	n, err := dpop.NewHMACNonces(secret, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	nonce := n.Nonce(t0)
	secret[0] ^= 1
	if !n.Valid(nonce, t0) {
		t.Error("changing the caller's secret slice changed the HMACNonces' secret")
	}
	if n.Valid(nonce+"AAAA", t0) {
		t.Error("a nonce followed by more bytes is valid")
	}
	old, cur := n.Nonce(t0.Add(-time.Hour)), n.Nonce(t0)
	ob, _ := base64.RawURLEncoding.DecodeString(old)
	cb, _ := base64.RawURLEncoding.DecodeString(cur)
	forged := base64.RawURLEncoding.EncodeToString(append(cb[:8:8], ob[8:]...))
	if n.Valid(forged, t0) {
		t.Error("an hour-old nonce's MAC with the current window number is valid")
	}
}

// NewSigner refuses an algorithm it does not support even for a key that
// would fit its family ("PS1" for RSA), and Proof refuses an empty htu.
func TestSigner_RefusesUnknownAlgorithmAndEmptyHTU(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dpop.NewSigner(rk, "PS1"); err == nil {
		t.Error("NewSigner accepted alg PS1")
	}
	s, err := dpop.NewSigner(rk, "RS256")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Proof("POST", "", "", ""); err == nil {
		t.Error("Proof accepted an empty htu")
	}
}

// WithClock(nil) leaves the Signer on time.Now.
func TestSigner_WithNilClockKeepsTimeNow(t *testing.T) {
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := dpop.NewSigner(ek, "ES256", dpop.WithClock(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Proof("POST", testURL, "", ""); err != nil {
		t.Error(err)
	}
}
