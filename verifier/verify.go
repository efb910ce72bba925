package verifier

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/grpcauth/grpcauth/verifier/internal/jwks"
)

// Verifier verifies JWT access tokens and OIDC ID tokens issued by one
// issuer, against the issuer's key set, which it keeps cached and refreshed.
// It is safe for concurrent use. Create one per issuer with New and share it;
// Close it when done.
type Verifier struct {
	s         settings
	verifiers map[string]jws.Verifier // one per allowed alg; stateless
	asserts   []assertion
	set       *jwks.Set
	cache     *tokenCache // nil when disabled
	closed    atomic.Bool
}

// New validates cfg, applies defaults and starts the key set, which is
// fetched in the background: New never blocks on, or fails because of, the
// issuer (call Ready to wait for the first key set). ctx is not retained. An
// invalid Config is reported with a "verifier: invalid config" error naming
// the field. Close the Verifier to stop its goroutines.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	s, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	asserts, err := compileAssertions(cfg.AssertClaims)
	if err != nil {
		return nil, err
	}
	v := &Verifier{s: s, asserts: asserts, verifiers: make(map[string]jws.Verifier, len(s.Algorithms))}
	for _, alg := range s.Algorithms {
		jv, err := jws.NewVerifier(jwa.SignatureAlgorithm(alg))
		if err != nil {
			return nil, configError("algorithm %q: %v", alg, err)
		}
		v.verifiers[alg] = jv
	}
	if !s.Cache.Disabled {
		v.cache = newTokenCache(s.Cache.MaxEntries, s.Cache.MaxBytes)
	}
	v.set = jwks.New(jwks.Config{
		Issuer:             s.Issuer,
		URL:                s.JWKSURL,
		Client:             s.HTTPClient,
		RefreshInterval:    s.RefreshInterval,
		MinRefreshInterval: s.MinRefreshInterval,
		MaxStaleness:       s.MaxStaleness,
		FetchTimeout:       s.FetchTimeout,
		MaxResponseSize:    s.MaxResponseSize,
		MaxWaiters:         s.MaxKeyWaiters,
		Now:                s.Now,
		Logger:             s.Logger,
	})
	return v, nil
}

// Ready blocks until a usable key set is loaded (nil), or ctx ends (the
// context's error, wrapped with ErrKeysUnavailable). After Close it returns
// ErrClosed. Verification does not require calling Ready first; a Verify
// call before the first fetch waits for it under its own ctx.
func (v *Verifier) Ready(ctx context.Context) error {
	if v.closed.Load() {
		return ErrClosed
	}
	if err := v.set.Ready(ctx); err != nil {
		if errors.Is(err, jwks.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	return nil
}

// Close stops the key set's background refresh and every other goroutine
// New started, and empties the cache. Later calls return ErrClosed. Close is
// safe to call more than once; it always returns nil.
func (v *Verifier) Close() error {
	if v.closed.Swap(true) {
		return nil
	}
	v.set.Close()
	if v.cache != nil {
		v.cache.clear()
	}
	if v.s.ownClient {
		v.s.HTTPClient.CloseIdleConnections()
	}
	return nil
}

// VerifyAccessToken verifies a JWT access token (the bearer token, without
// the "Bearer " prefix): its size and form, its header (alg allow-list, kid,
// crit, typ when RequireAccessTokenProfile is set), its issuer, audience,
// times, client id and asserted claims, and its signature under the key its
// kid names in the issuer's key set. It returns the token's claims, or an
// error for which errors.Is reports one of the package's sentinel errors.
// The error text is for server logs; never send it to the caller.
//
// Successful results are cached (see CacheConfig); a hit re-checks the
// token's times and that its key is still in the key set.
func (v *Verifier) VerifyAccessToken(ctx context.Context, token string) (Claims, error) {
	if v.closed.Load() {
		return Claims{}, ErrClosed
	}
	if v.cache != nil {
		if c, hit, err := v.cache.get(token, v); hit {
			if err != nil {
				v.logRejection(ctx, "access", err)
			}
			return Claims{c}, err
		}
	}
	c, key, err := v.verify(ctx, token, kindAccess, "", "")
	if err != nil {
		v.logRejection(ctx, "access", err)
		return Claims{}, err
	}
	if v.cache != nil {
		v.cache.put(token, c, key, v)
	}
	return Claims{c}, nil
}

// VerifyIDToken verifies an OpenID Connect ID token: the same form,
// algorithm, issuer, time and signature checks as VerifyAccessToken, but its
// aud must contain clientID (Config.Audiences, ClientIDs, AssertClaims and
// RequireAccessTokenProfile do not apply), its azp, when present, must equal
// clientID, and its typ must not be "at+jwt" (an access token is not an ID
// token). When nonce is not empty the token's nonce must equal it. ID tokens
// are never cached.
func (v *Verifier) VerifyIDToken(ctx context.Context, token, clientID, nonce string) (Claims, error) {
	if v.closed.Load() {
		return Claims{}, ErrClosed
	}
	if clientID == "" {
		return Claims{}, fmt.Errorf("%w: VerifyIDToken needs a client id", ErrAudience)
	}
	c, _, err := v.verify(ctx, token, kindID, clientID, nonce)
	if err != nil {
		v.logRejection(ctx, "id", err)
		return Claims{}, err
	}
	return Claims{c}, nil
}

func (v *Verifier) logRejection(ctx context.Context, kind string, err error) {
	if v.s.Logger.Enabled(ctx, slog.LevelDebug) {
		v.s.Logger.DebugContext(ctx, "verifier: token rejected", "kind", kind, "error", err)
	}
}

type tokenKind uint8

const (
	kindAccess tokenKind = iota
	kindID
)

// b64 decodes the parts of a compact JWS: unpadded base64url, with canonical
// trailing bits, so no two token strings decode to the same bytes.
var b64 = base64.RawURLEncoding.Strict()

// Fixed rejection errors: the cold path allocates nothing to reject.
var (
	errEmpty       = fmt.Errorf("%w: empty token", ErrMalformed)
	errTooLarge    = fmt.Errorf("%w: token larger than MaxTokenSize", ErrMalformed)
	errParts       = fmt.Errorf("%w: not a compact JWS (want 3 dot-separated parts)", ErrMalformed)
	errEncoding    = fmt.Errorf("%w: bad base64url encoding", ErrMalformed)
	errHeaderJSON  = fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	errHeaderType  = fmt.Errorf("%w: header parameter of the wrong type", ErrMalformed)
	errNoAlg       = fmt.Errorf("%w: header has no alg", ErrMalformed)
	errNoKid       = fmt.Errorf("%w: header has no kid", ErrMalformed)
	errCrit        = fmt.Errorf("%w: unsupported critical header parameter", ErrMalformed)
	errAlgNone     = fmt.Errorf("%w: alg none", ErrAlgorithm)
	errAlgDenied   = fmt.Errorf("%w: alg not in the allow-list", ErrAlgorithm)
	errAlgKey      = fmt.Errorf("%w: alg differs from the key's alg", ErrAlgorithm)
	errKeyType     = fmt.Errorf("%w: key type does not fit alg", ErrAlgorithm)
	errUnknownKid  = fmt.Errorf("%w: %w", ErrUnknownKey, jwks.ErrUnknownKey)
	errEmptySig    = fmt.Errorf("%w: empty signature", ErrBadSignature)
	errSignature   = fmt.Errorf("%w: signature does not verify", ErrBadSignature)
	errIssuer      = fmt.Errorf("%w: iss differs from the configured issuer", ErrIssuer)
	errNoIssuer    = fmt.Errorf("%w: iss missing", ErrIssuer)
	errAudience    = fmt.Errorf("%w: aud names no accepted audience", ErrAudience)
	errNoAudience  = fmt.Errorf("%w: aud missing", ErrAudience)
	errNotYetValid = fmt.Errorf("%w: nbf in the future", ErrNotYetValid)
	errIssuedLater = fmt.Errorf("%w: iat in the future", ErrNotYetValid)
	errNoExp       = &ClaimError{Claim: "exp", Reason: "missing"}
	errTyp         = &ClaimError{Claim: "typ", Reason: "not an RFC 9068 access token (want at+jwt)"}
	errTypAccess   = &ClaimError{Claim: "typ", Reason: "an access token is not an ID token"}
	errClientID    = &ClaimError{Claim: "client_id", Reason: "client not allowed"}
	errNoClientID  = &ClaimError{Claim: "client_id", Reason: "missing"}
	errAzp         = &ClaimError{Claim: "azp", Reason: "differs from the client id"}
	errNonce       = &ClaimError{Claim: "nonce", Reason: "does not match"}
	errNoNonce     = &ClaimError{Claim: "nonce", Reason: "missing"}
)

// header is the part of the JOSE header the verifier uses. jku, x5u, x5c
// and jwk are deliberately ignored: keys come only from the configured set.
type header struct {
	alg, kid, typ string
}

// parsed is a token that passed the syntactic checks.
type parsed struct {
	hdr          header
	claims       *claimSet
	signingInput string // header.payload, as signed
	sigPart      string // the signature, still encoded
	sigBuf       []byte // room to decode it into
}

// scratch is the memory one verification decodes a token into: the
// decoded header, payload and signature, and the Claims, whose strings share
// buf. An accepted token's scratch becomes its Claims' memory; a rejected
// token's goes back to scratchPool, so that rejecting garbage, a wrong
// issuer, an expired token or an unknown kid allocates next to nothing.
// Nothing a rejection returns or retains refers to a scratch: errors carry
// no token bytes, and the key set is given a copy of the kid.
type scratch struct {
	claims claimSet
	buf    []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// bytes returns a buffer of length n, reusing buf when it fits. A buffer
// much larger than n is not reused: an accepted token keeps it.
func (s *scratch) bytes(n int) []byte {
	if cap(s.buf) < n || cap(s.buf) > n+n/4 {
		s.buf = make([]byte, n)
	}
	return s.buf[:n]
}

// release returns s, which nothing refers to any more, to the pool. It
// clears the members so that the Claims of a token later decoded into s
// cannot keep this token's buffer alive.
func (s *scratch) release() {
	clear(s.claims.raw)
	s.claims = claimSet{raw: s.claims.raw[:0]}
	scratchPool.Put(s)
}

// verify runs every check, cheapest first, so that garbage, a wrong issuer
// or an expired token is rejected before any key lookup (which may fetch)
// or signature work. It returns the key that verified the signature.
func (v *Verifier) verify(ctx context.Context, token string, kind tokenKind, clientID, nonce string) (*claimSet, *jwks.Key, error) {
	s := scratchPool.Get().(*scratch)
	key, err := v.verifyInto(ctx, s, token, kind, clientID, nonce)
	if err != nil {
		s.release()
		return nil, nil, err
	}
	return &s.claims, key, nil // s now belongs to the Claims
}

// verifyInto is verify, decoding the token into s.
func (v *Verifier) verifyInto(ctx context.Context, s *scratch, token string, kind tokenKind, clientID, nonce string) (*jwks.Key, error) {
	p, err := v.parse(token, kind, s)
	if err != nil {
		return nil, err
	}
	c := p.claims
	if err := v.checkIssuer(c); err != nil {
		return nil, err
	}
	if kind == kindID {
		if !slices.Contains(c.audience, clientID) {
			if len(c.audience) == 0 {
				return nil, errNoAudience
			}
			return nil, errAudience
		}
	} else if err := v.checkAudience(c); err != nil {
		return nil, err
	}
	if err := v.checkTime(c, v.s.Now()); err != nil {
		return nil, err
	}
	if kind == kindID {
		if err := checkIDClaims(c, clientID, nonce); err != nil {
			return nil, err
		}
	} else if err := v.checkAccessClaims(c); err != nil {
		return nil, err
	}
	// The signature is decoded only now: rejections above never pay for it,
	// and a malformed one still costs no key lookup.
	sig, err := decodePart(p.sigBuf, p.sigPart)
	if err != nil {
		return nil, err
	}
	// The key set may keep the kid (to remember a miss): give it a copy,
	// not s's memory, which a rejection returns to the pool.
	h := p.hdr
	h.kid = strings.Clone(h.kid)
	key, err := v.key(ctx, h)
	if err != nil {
		return nil, err
	}
	if err := v.verifiers[h.alg].Verify(readOnlyBytes(p.signingInput), sig, key.Public); err != nil {
		return nil, errSignature
	}
	return key, nil
}

// parse checks the token's size and form, decodes and checks its header,
// checks that a signature is present and parses the claims (types only),
// all into s.
func (v *Verifier) parse(token string, kind tokenKind, s *scratch) (parsed, error) {
	switch {
	case token == "":
		return parsed{}, errEmpty
	case len(token) > v.s.MaxTokenSize:
		return parsed{}, errTooLarge
	}
	d1 := strings.IndexByte(token, '.')
	if d1 < 0 {
		return parsed{}, errParts
	}
	d2 := strings.IndexByte(token[d1+1:], '.')
	if d2 < 0 {
		return parsed{}, errParts
	}
	d2 += d1 + 1
	if strings.IndexByte(token[d2+1:], '.') >= 0 {
		return parsed{}, errParts // JWE (5 parts) or worse
	}
	// The base64 decoder skips CR and LF; a token must not contain them.
	if strings.IndexByte(token, '\n') >= 0 || strings.IndexByte(token, '\r') >= 0 {
		return parsed{}, errEncoding
	}

	// One buffer for the decoded header, payload and signature. The header
	// and claims strings share its first two regions, which nothing writes
	// after decoding; the signature is decoded into the third later.
	hpart, ppart, spart := token[:d1], token[d1+1:d2], token[d2+1:]
	hn, pn := b64.DecodedLen(len(hpart)), b64.DecodedLen(len(ppart))
	buf := s.bytes(hn + pn + b64.DecodedLen(len(spart)))
	hb, err := decodePart(buf[:hn], hpart)
	if err != nil {
		return parsed{}, err
	}
	h, err := parseHeader(hb)
	if err != nil {
		return parsed{}, err
	}
	if _, ok := v.verifiers[h.alg]; !ok {
		if strings.EqualFold(h.alg, "none") {
			return parsed{}, errAlgNone
		}
		return parsed{}, errAlgDenied
	}
	if h.kid == "" {
		return parsed{}, errNoKid
	}
	switch {
	case kind == kindAccess && v.s.RequireAccessTokenProfile:
		if !isAccessTokenType(h.typ) {
			return parsed{}, errTyp
		}
	case kind == kindID:
		if isAccessTokenType(h.typ) {
			return parsed{}, errTypAccess
		}
	}

	if spart == "" {
		return parsed{}, errEmptySig
	}
	payload, err := decodePart(buf[hn:hn+pn], ppart)
	if err != nil {
		return parsed{}, err
	}
	if err := s.claims.parse(payload, v.s.ScopeClaims); err != nil {
		return parsed{}, err
	}
	return parsed{hdr: h, claims: &s.claims, signingInput: token[:d2], sigPart: spart, sigBuf: buf[hn+pn:]}, nil
}

// decodePart decodes part (strict base64url) into dst, which has room for
// it, and returns the decoded bytes.
func decodePart(dst []byte, part string) ([]byte, error) {
	n, err := b64.Decode(dst, readOnlyBytes(part))
	if err != nil {
		return nil, errEncoding
	}
	return dst[:n], nil
}

// parseHeader decodes the JOSE header. Member names match exactly (a map,
// not a struct, so "ALG" is not "alg"); a duplicated member keeps its last
// value (RFC 7515, 4). Any "crit" is rejected: the verifier understands no
// extension (RFC 7515, 4.1.11).
func parseHeader(b []byte) (header, error) {
	var alg, kid, typ []byte
	crit := false
	var stack [12]rawMember
	if found, ok := scanObject(b, stack[:0]); ok {
		for _, m := range found {
			switch string(m.name) {
			case "alg":
				alg = m.value
			case "kid":
				kid = m.value
			case "typ":
				typ = m.value
			case "crit":
				crit = true
			}
		}
	} else {
		// Not on the fast path (escaped member names, deep nesting) or not
		// JSON: decode with encoding/json, which also reports the error.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil || m == nil {
			return header{}, errHeaderJSON
		}
		alg, kid, typ = m["alg"], m["kid"], m["typ"]
		_, crit = m["crit"]
	}
	if crit {
		return header{}, errCrit
	}
	if alg == nil {
		return header{}, errNoAlg
	}
	var h header
	ok := true
	h.alg, ok = decodeString(alg)
	if ok && kid != nil {
		h.kid, ok = decodeString(kid)
	}
	if ok && typ != nil {
		h.typ, ok = decodeString(typ)
	}
	if !ok {
		return header{}, errHeaderType
	}
	return h, nil
}

// isAccessTokenType reports whether typ is RFC 9068's "at+jwt", with or
// without the "application/" prefix, in any case (RFC 7515, 4.1.9).
func isAccessTokenType(typ string) bool {
	typ, _ = strings.CutPrefix(strings.ToLower(typ), "application/")
	return typ == "at+jwt"
}

func (v *Verifier) checkIssuer(c *claimSet) error {
	switch c.issuer {
	case v.s.Issuer:
		return nil
	case "":
		return errNoIssuer
	}
	return errIssuer
}

func (v *Verifier) checkAudience(c *claimSet) error {
	if v.s.SkipAudienceCheck {
		return nil
	}
	for _, a := range c.audience {
		if slices.Contains(v.s.Audiences, a) {
			return nil
		}
	}
	if len(c.audience) == 0 {
		return errNoAudience
	}
	return errAudience
}

// checkTime checks exp (required), nbf and iat against now with the
// configured skew. It allocates only to report an expired token.
func (v *Verifier) checkTime(c *claimSet, now time.Time) error {
	if c.expiry.IsZero() {
		return errNoExp
	}
	if !now.Before(c.expiry.Add(v.s.skew)) {
		return &TokenExpiredError{Expiry: c.expiry}
	}
	late := now.Add(v.s.skew)
	if !c.notBefore.IsZero() && c.notBefore.After(late) {
		return errNotYetValid
	}
	if !c.issuedAt.IsZero() && c.issuedAt.After(late) {
		return errIssuedLater
	}
	return nil
}

// accessTokenProfileClaims are the claims RFC 9068, 2.2 requires.
var accessTokenProfileClaims = []string{"iss", "exp", "aud", "sub", "client_id", "iat", "jti"}

func (v *Verifier) checkAccessClaims(c *claimSet) error {
	if len(v.s.ClientIDs) > 0 {
		switch {
		case c.clientID == "":
			return errNoClientID
		case !slices.Contains(v.s.ClientIDs, c.clientID):
			return errClientID
		}
	}
	for i := range v.asserts {
		if err := v.asserts[i].check(c); err != nil {
			return err
		}
	}
	if v.s.RequireAccessTokenProfile {
		for _, name := range accessTokenProfileClaims {
			if raw, ok := c.raw.get(name); !ok || isNull(raw) {
				return &ClaimError{Claim: name, Reason: "missing (required by RFC 9068)"}
			}
		}
	}
	return nil
}

// checkIDClaims checks an ID token's azp and nonce (OIDC Core, 3.1.3.7 and
// 3.1.3.7 step 11), comparing the nonce in constant time.
func checkIDClaims(c *claimSet, clientID, nonce string) error {
	if raw, ok := c.raw.get("azp"); ok && !isNull(raw) {
		var azp string
		if json.Unmarshal(raw, &azp) != nil || azp != clientID {
			return errAzp
		}
	}
	if nonce == "" {
		return nil
	}
	raw, ok := c.raw.get("nonce")
	if !ok || isNull(raw) {
		return errNoNonce
	}
	var got string
	if json.Unmarshal(raw, &got) != nil || subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
		return errNonce
	}
	return nil
}

// key returns the verification key for the header, mapping the key set's
// errors to the package's, and checks that the key fits the alg. An unknown
// kid may wait for a key-set fetch within ctx (Config.MaxKeyWaiters); its
// answer is ErrUnknownKey when a successful fetch lacks the kid, and
// ErrKeysUnavailable when the fetch failed (docs/key-set.md).
func (v *Verifier) key(ctx context.Context, h header) (*jwks.Key, error) {
	key, err := v.set.Key(ctx, h.kid)
	switch {
	case err == nil:
	case err == jwks.ErrUnknownKey:
		return nil, errUnknownKid
	case errors.Is(err, jwks.ErrUnknownKey):
		return nil, fmt.Errorf("%w: %w", ErrUnknownKey, err)
	case errors.Is(err, jwks.ErrClosed):
		return nil, ErrClosed // Close raced with this call
	default:
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	if key.Algorithm != "" && key.Algorithm != h.alg {
		return nil, errAlgKey
	}
	if !keyFits(h.alg, key.Public) {
		return nil, errKeyType
	}
	return key, nil
}

func curveFor(alg string) string {
	switch alg {
	case "ES256":
		return "P-256"
	case "ES384":
		return "P-384"
	}
	return "P-521"
}

// minRSABits is the smallest RSA modulus accepted (RFC 7518, 3.3 and 3.5).
const minRSABits = 2048

// keyFits reports whether pub is the right kind of key for alg: RSA of at
// least 2048 bits for RS/PS, the alg's NIST curve for ES, Ed25519 for EdDSA.
func keyFits(alg string, pub crypto.PublicKey) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		k, ok := pub.(*rsa.PublicKey)
		return ok && k.N != nil && k.N.BitLen() >= minRSABits
	case "ES256", "ES384", "ES512":
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve == nil {
			return false
		}
		return k.Curve.Params().Name == curveFor(alg)
	case "EdDSA":
		k, ok := pub.(ed25519.PublicKey)
		return ok && len(k) == ed25519.PublicKeySize
	}
	return false
}
