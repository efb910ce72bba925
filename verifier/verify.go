package verifier

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/grpcauth/grpcauth/internal/jwsalg"
	"github.com/grpcauth/grpcauth/internal/jwt"
	"github.com/grpcauth/grpcauth/internal/jwxpanic"
	"github.com/grpcauth/grpcauth/verifier/internal/jwks"
)

// Verifier verifies JWT access tokens and OIDC ID tokens issued by one
// issuer, against the issuer's key set, which it keeps cached and refreshed.
// It is safe for concurrent use. Create one per issuer with New and share it;
// Close it when done.
//
// A Verifier that New did not build (a zero Verifier, or a nil *Verifier)
// never panics: it refuses every token, and Ready and Close fail, with a
// "verifier: keys unavailable: ... not built with New" error wrapping
// ErrKeysUnavailable (codes.Unavailable behind grpcauth, so that clients
// retry rather than discard good tokens), logged once per process through
// slog.Default(), without the token; its Stats are zero, its ClockSkew 0
// and its RevalidateAt now.
type Verifier struct {
	s         settings
	verifiers map[string]jws.Verifier // one per allowed alg; stateless
	asserts   []assertion
	set       *jwks.Set
	cache     *tokenCache  // nil when disabled
	clock     *coarseClock // the cache's hit clock; nil: hits read Config.Now (see hitClockMinSkew)
	malformed atomic.Int64 // Stats.Malformed
	// open is true from New until Close, and false in a zero Verifier: the
	// one test the verification path makes of it refuses a closed Verifier
	// and one New did not build alike (see unusable).
	open    atomic.Bool
	closing sync.Once
	// panics bounds the stacks signaturePanicked logs: one a minute.
	panics jwxpanic.StackLog
}

// New validates cfg, applies defaults and starts the key set, which is
// fetched in the background: New never blocks on, or fails because of, the
// issuer (call Ready to wait for the first key set). ctx is not retained;
// an ended one fails New, and a nil one is taken for context.Background().
// An invalid Config is reported with a "verifier: invalid config" error
// naming the field. Close the Verifier to stop its goroutines.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := background(ctx).Err(); err != nil {
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
		// Ed25519 gets jwx's EdDSA verifier, and keyFits holds it to
		// Ed25519 keys (see internal/jwsalg: nothing is registered in jwx).
		jv, err := jwsalg.NewVerifier(alg)
		if err != nil {
			return nil, configError("algorithm %q: %v", alg, err)
		}
		v.verifiers[alg] = jv
	}
	if !s.Cache.Disabled {
		v.cache = newTokenCache(s.Cache.MaxEntries, s.Cache.MaxBytes)
		if cfg.Now == nil && s.skew >= hitClockMinSkew {
			v.clock = newHitClock()
		}
	}
	v.set = jwks.New(jwks.Config{
		Issuer:             s.Issuer,
		URL:                s.JWKSURL,
		Client:             s.HTTPClient,
		OwnClient:          s.ownClient,
		RefreshInterval:    s.RefreshInterval,
		MinRefreshInterval: s.MinRefreshInterval,
		MaxStaleness:       s.MaxStaleness,
		FetchTimeout:       s.FetchTimeout,
		MaxResponseSize:    s.MaxResponseSize,
		MaxWaiters:         s.MaxKeyWaiters,
		Now:                s.Now,
		Logger:             s.Logger,
	})
	v.open.Store(true)
	return v, nil
}

// Ready blocks until the first key set is loaded (nil), or ctx ends (the
// context's error, wrapped with ErrKeysUnavailable). It returns nil from
// then on, even while that set is older than MaxStaleness and verification
// fails with ErrKeysUnavailable (see Stats for the set's age). After Close
// it returns ErrClosed. Verification does not require calling Ready first;
// a Verify call before the first fetch waits for it under its own ctx. A
// nil ctx is taken for context.Background(). A Verifier New did not build
// returns the "not built with New" error (see Verifier).
func (v *Verifier) Ready(ctx context.Context) error {
	if v == nil || !v.open.Load() {
		return v.unusable()
	}
	if err := v.set.Ready(background(ctx)); err != nil {
		if errors.Is(err, jwks.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	return nil
}

// Close stops the key set's background refresh and every other goroutine
// New started, and empties the cache. Later calls return ErrClosed, and so
// does a call running meanwhile that needs a key-set fetch (waiting for
// one, or its kid not in the set). Close is safe to call more than once,
// also concurrently: every call returns only once the goroutines are
// stopped. It returns nil, but for a Verifier New did not build, which has
// nothing to close: the "not built with New" error (see Verifier).
func (v *Verifier) Close() error {
	if !v.built() {
		return errNotBuilt
	}
	v.closing.Do(func() {
		v.open.Store(false)
		v.set.Close()
		if v.cache != nil {
			v.cache.clear()
		}
	})
	return nil
}

// VerifyAccessToken verifies a JWT access token (the bearer token, without
// the "Bearer " prefix): its size and form, its header (alg allow-list, kid,
// crit, typ: at+jwt when RequireAccessTokenProfile is set, else not another
// explicitly typed kind of JWT such as logout+jwt), its issuer, audience,
// times, client id and asserted claims, and its signature under the key its
// kid names in the issuer's key set. It returns the token's claims, or an
// error for which errors.Is reports one of the package's sentinel errors.
// The error text is for server logs; never send it to the caller.
//
// Successful results are cached (see CacheConfig); a hit re-checks the
// token's times and that its key is still in the key set. An empty token,
// or one longer than MaxTokenSize, is refused with ErrMalformed before the
// cache is looked up (a lookup hashes the whole token).
//
// A nil ctx is taken for context.Background(). A Verifier New did not build
// refuses every token with an error wrapping ErrKeysUnavailable (see
// Verifier).
func (v *Verifier) VerifyAccessToken(ctx context.Context, token string) (Claims, error) {
	if v == nil {
		return Claims{}, v.unusable()
	}
	return v.verifyAccessToken(background(ctx), token, nil)
}

// verifyAccessToken is VerifyAccessToken for a token whose payload may
// already be decoded (pre, nil when not), v not nil and ctx not nil.
func (v *Verifier) verifyAccessToken(ctx context.Context, token string, pre *decodedPayload) (Claims, error) {
	if !v.open.Load() { // closed, or not built by New: one test on the hit path
		return Claims{}, v.unusable()
	}
	// The size first: a cache lookup hashes the whole token, and grpc-go
	// admits metadata up to 16 MiB by default. One length compare, so a
	// hit stays as cheap as it was.
	if err := tokenSizeError(token, v.s.MaxTokenSize); err != nil {
		v.reject(ctx, "access", err)
		return Claims{}, err
	}
	if v.cache != nil {
		if c, hit, err := v.cache.get(token, v); hit {
			if err != nil {
				v.reject(ctx, "access", err)
			}
			return Claims{c}, err
		}
	}
	c, key, err := v.verify(ctx, token, pre, kindAccess, "", "")
	if v.cache != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrIssuer) {
		// A miss, unless the token was refused for its form or its iss: a
		// MultiVerifier refuses those before any issuer's cache sees them,
		// and a Verifier counts the same alone as inside one. A kid known
		// absent is refused before the payload is read: a miss, whatever
		// the iss or the payload's form (see Stats.CacheMisses).
		v.cache.miss(token)
	}
	if err != nil {
		v.reject(ctx, "access", err)
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
// RequireAccessTokenProfile do not apply), it must have a non-empty sub and
// an iat (OpenID Connect Core, section 2), its azp, when present, must equal
// clientID, and its typ must not name another kind of JWT: "at+jwt" (an
// access token), "logout+jwt" (a logout token), or any other "+jwt" type. When nonce is not empty the token's nonce must equal it. ID tokens
// are never cached. A nil ctx is taken for context.Background(); a Verifier
// New did not build refuses every token (see Verifier).
func (v *Verifier) VerifyIDToken(ctx context.Context, token, clientID, nonce string) (Claims, error) {
	if v == nil {
		return Claims{}, v.unusable()
	}
	return v.verifyIDToken(background(ctx), token, nil, clientID, nonce)
}

// verifyIDToken is VerifyIDToken for a token whose payload may already be
// decoded (pre, nil when not), v not nil and ctx not nil.
func (v *Verifier) verifyIDToken(ctx context.Context, token string, pre *decodedPayload, clientID, nonce string) (Claims, error) {
	if !v.open.Load() {
		return Claims{}, v.unusable()
	}
	if clientID == "" {
		return Claims{}, errNeedClientID
	}
	if err := tokenSizeError(token, v.s.MaxTokenSize); err != nil {
		v.reject(ctx, "id", err)
		return Claims{}, err
	}
	c, _, err := v.verify(ctx, token, pre, kindID, clientID, nonce)
	if err != nil {
		v.reject(ctx, "id", err)
		return Claims{}, err
	}
	return Claims{c}, nil
}

// unusable is the error of a call that found v nil or not open: the
// "not built with New" error, logged once per process, for a Verifier New
// did not build, else ErrClosed.
func (v *Verifier) unusable() error {
	if !v.built() {
		return notBuilt(errNotBuilt)
	}
	return ErrClosed
}

// background returns ctx, or context.Background() for a nil ctx: a caller
// that forgot its context is answered as with one that never ends, rather
// than panic where a verification waits for a key-set fetch. The exported
// entry points call it once; what they call gets a ctx that is not nil.
func background(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// errNeedClientID is VerifyIDToken's answer without a client id, from a
// Verifier and a MultiVerifier alike, whatever the token.
var errNeedClientID = fmt.Errorf("%w: VerifyIDToken needs a client id", ErrAudience)

// reject counts a rejection for its form (Stats.Malformed) and logs it.
func (v *Verifier) reject(ctx context.Context, kind string, err error) {
	if errors.Is(err, ErrMalformed) {
		v.malformed.Add(1)
	}
	if v.s.Logger.Enabled(ctx, slog.LevelDebug) {
		v.s.Logger.DebugContext(ctx, "verifier: token rejected", "kind", kind, "error", err)
	}
}

type tokenKind uint8

const (
	kindAccess tokenKind = iota
	kindID
)

// Fixed rejection errors, so that rejecting costs no formatting.
var (
	errEmpty       = fmt.Errorf("%w: empty token", ErrMalformed)
	errTooLarge    = fmt.Errorf("%w: token larger than MaxTokenSize", ErrMalformed)
	errParts       = fmt.Errorf("%w: not a compact JWS (want 3 dot-separated parts)", ErrMalformed)
	errEncoding    = fmt.Errorf("%w: bad base64url encoding", ErrMalformed)
	errHeaderJSON  = fmt.Errorf("%w: header is not a JSON object with string alg, kid and typ", ErrMalformed)
	errNoAlg       = fmt.Errorf("%w: header has no alg", ErrMalformed)
	errNoKid       = fmt.Errorf("%w: header has no kid", ErrMalformed)
	errCrit        = fmt.Errorf("%w: unsupported critical header parameter", ErrMalformed)
	errB64         = fmt.Errorf("%w: b64 header parameter (RFC 7797 unencoded payload) not supported", ErrMalformed)
	errDepth       = fmt.Errorf("%w: %w", ErrMalformed, jwt.ErrDepth)
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
	// The ClaimError values are templates: a refusal returns its own copy
	// (fresh).
	errNoExp      = ClaimError{Claim: "exp", Reason: "missing"}
	errTyp        = ClaimError{Claim: "typ", Reason: "not an RFC 9068 access token (want at+jwt)"}
	errTypAccess  = ClaimError{Claim: "typ", Reason: "an explicitly typed JWT of another kind (at+jwt, logout+jwt, ...) is not an ID token"}
	errTypOther   = ClaimError{Claim: "typ", Reason: "an explicitly typed JWT of another kind (logout+jwt, secevent+jwt, ...) is not an access token"}
	errClientID   = ClaimError{Claim: "client_id", Reason: "client not allowed"}
	errNoClientID = ClaimError{Claim: "client_id", Reason: "missing"}
	errClientIDs  = ClaimError{Claim: "client_id", Reason: "cid, client_id and azp name different clients"}
	errAzp        = ClaimError{Claim: "azp", Reason: "differs from the client id"}
	errNonce      = ClaimError{Claim: "nonce", Reason: "does not match"}
	errNoNonce    = ClaimError{Claim: "nonce", Reason: "missing"}
	errIDNoSub    = ClaimError{Claim: "sub", Reason: "missing or empty (required in an ID token)"}
	errIDNoIat    = ClaimError{Claim: "iat", Reason: "missing (required in an ID token)"}
)

// parsed is a token that passed the syntactic checks: split once, its
// header and registered claims decoded (see internal/jwt).
type parsed struct {
	parts jwt.Parts
	hdr   jwt.Header
	reg   jwt.Claims
	// buf held the decoded header, then the decoded payload; it holds the
	// signing input once the signature is checked (jwt.Parts.Buffer).
	buf []byte
}

// decodedPayload is a token split and its payload decoded by the
// MultiVerifier to route it by iss (see tokenIssuer), handed on so that the
// chosen Verifier does not decode the payload a second time: that would
// double what rejecting the token allocates.
type decodedPayload struct {
	parts jwt.Parts
	reg   jwt.Claims
	buf   []byte // the token's buffer, holding its decoded payload (jwt.Parts.Buffer)
}

// verify runs every check, cheapest first, so that garbage, a wrong issuer
// or an expired token is rejected before any key lookup (which may fetch)
// or signature work, and builds the token's full claims only once its
// signature verified. It returns the key that verified the signature. pre,
// when not nil, is token's payload, already decoded.
//
// One key-set question comes before the payload is read: whether the kid
// is one a fetch looked for and did not find, a moment ago
// (jwks.Set.KnownAbsent). Such a token cannot verify whatever it claims,
// so it is refused with ErrUnknownKey before its claims are decoded: a JWT
// whose signature cannot be validated is rejected entire (RFC 8725, 3.3),
// and nothing it claims is acted on (3.10). Its other faults (expired,
// wrong iss or aud, a payload that does not parse) go unreported then. A
// kid the issuer withdrew is not refused there: an expired token its key
// signed before the rotation gets ErrExpired, as before, which tells its
// client to refresh, also after a fetch has looked for the kid (the key
// set keeps the last 64 withdrawn kids; a replica that never saw the kid
// in a set cannot know it was withdrawn: see KnownAbsent).
func (v *Verifier) verify(ctx context.Context, token string, pre *decodedPayload, kind tokenKind, clientID, nonce string) (*claimSet, *jwks.Key, error) {
	p, err := v.parseHeader(token, pre, kind)
	if err != nil {
		return nil, nil, err
	}
	if v.set.KnownAbsent(p.hdr.Kid) {
		return nil, nil, errUnknownKid // v.key's answer for it, without reading the payload
	}
	if err := parsePayload(&p, pre); err != nil {
		return nil, nil, err
	}
	r := &p.reg
	if err := v.checkIssuer(r.Issuer); err != nil {
		return nil, nil, err
	}
	if kind == kindID {
		if !slices.Contains(r.Audience, clientID) {
			if len(r.Audience) == 0 {
				return nil, nil, errNoAudience
			}
			return nil, nil, errAudience
		}
	} else if err := v.checkAudience(r.Audience); err != nil {
		return nil, nil, err
	}
	if err := v.checkTime(r.Expiry.Time, r.NotBefore.Time, r.IssuedAt.Time, v.s.Now()); err != nil {
		return nil, nil, err
	}
	if kind == kindID {
		if err := checkIDClaims(r, clientID, nonce); err != nil {
			return nil, nil, err
		}
	} else if err := v.checkClientID(r); err != nil {
		return nil, nil, err
	}
	key, err := v.key(ctx, p.hdr)
	if err != nil {
		return nil, nil, err
	}
	// A new kid may have waited for a fetch (up to MinRefreshInterval plus
	// FetchTimeout, or two when a discovery round comes first): the token
	// must still be valid now, as a cache hit at this instant would require.
	if err := v.checkTime(r.Expiry.Time, r.NotBefore.Time, r.IssuedAt.Time, v.s.Now()); err != nil {
		return nil, nil, err
	}
	// The signature is decoded only now, once there is a key to check it
	// with: no rejection above pays for it, an unknown kid included. A
	// malformed signature may so cost a key lookup, as a well-formed forged
	// one always does.
	sig, err := jwt.Decode(p.parts.Signature)
	if err != nil {
		return nil, nil, errEncoding
	}
	if err := checkSignature(v.verifiers[p.hdr.Alg], p.parts.SigningInputInto(p.buf), sig, key.Public); err != nil {
		if e, ok := jwxpanic.Find(err); ok {
			v.signaturePanicked(ctx, err, e)
		}
		return nil, nil, err
	}
	c, err := v.verified(ctx, p, kind)
	if err != nil {
		return nil, nil, err
	}
	return c, key, nil
}

// signaturePanic wraps a panic recovered while jwx checked a token's
// signature (jwxpanic.Recover): the token is refused with ErrBadSignature.
// A package variable, so that deferring it allocates nothing.
var signaturePanic = func(e *jwxpanic.Error) error {
	return fmt.Errorf("%w: checking the signature %w", ErrBadSignature, e)
}

// checkSignature checks sig over input with jv, jwx's verifier for the
// token's alg, and pub, the key its kid named: errSignature when it does
// not verify. A panic there (a jwx bug that the token, or the issuer's
// key, reached) is recovered: the token is refused with an error wrapping
// ErrBadSignature and the panic (signaturePanic). Verification runs on
// the caller's goroutine, the gRPC call's, where a panic would end the
// server's process (grpc-go recovers none). Only a cache miss gets here:
// a hit checks no signature, and pays for no deferred recover.
func checkSignature(jv jws.Verifier, input, sig []byte, pub crypto.PublicKey) (err error) {
	defer jwxpanic.Recover(&err, signaturePanic)
	if jv.Verify(input, sig, pub) != nil {
		return errSignature
	}
	return nil
}

// signaturePanicked logs err, a refusal of checkSignature for e, the
// panic it recovered, at error level: a bug to report (to jwx when the panic was raised there).
// The panic's stack is in the record at most once a minute (v.panics): a
// token that makes jwx panic is anyone's to send, again and again; the
// other records say the stack was omitted. The record holds neither the
// token nor the key; the caller gets the refusal alone.
func (v *Verifier) signaturePanicked(ctx context.Context, err error, e *jwxpanic.Error) {
	v.s.Logger.ErrorContext(ctx, "verifier: checking a token's signature panicked; the token is refused", "error", err, "stack", v.panics.Stack(e.Stack, v.s.Now()))
}

// verified builds the claims of a token whose signature verified, and runs
// the checks that need them: AssertClaims and the RFC 9068 profile's
// required claims. The payload is decoded again, over the signing input in
// p.buf: the claims copy what they keep.
func (v *Verifier) verified(ctx context.Context, p parsed, kind tokenKind) (*claimSet, error) {
	payload, err := jwt.DecodeInto(p.buf, p.parts.Payload)
	if err != nil {
		return nil, errEncoding // it decoded before the signature check
	}
	clientID := p.reg.ClientIDValue()
	if kind == kindAccess {
		clientID = v.accessClientID(&p.reg)
	}
	c, err := newClaimSet(ctx, payload, &p.reg, clientID, v.s.ScopeClaims, v.s.Logger)
	if err != nil {
		return nil, err
	}
	if kind == kindAccess {
		if err := v.checkAccessClaims(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// accessClientID returns the client an access token was issued to: under
// RequireAccessTokenProfile its client_id, the claim RFC 9068 defines and
// requires, whatever cid and azp say; otherwise the one client that the
// non-empty of cid, client_id and azp name, "" when they name different
// clients (jwt.Claims.ClientIDValue).
func (v *Verifier) accessClientID(r *jwt.Claims) string {
	if v.s.RequireAccessTokenProfile {
		return r.ClientID
	}
	return r.ClientIDValue()
}

// parseHeader checks the form of a token whose size the caller admitted
// (tokenSizeError, before any cache lookup), decodes and checks its
// header, and checks that a signature is present. It does not read the
// payload (parsePayload does).
func (v *Verifier) parseHeader(token string, pre *decodedPayload, kind tokenKind) (parsed, error) {
	var parts jwt.Parts
	if pre != nil {
		parts = pre.parts
	} else {
		var err error
		if parts, err = jwt.Split(token); err != nil {
			return parsed{}, partsError(err)
		}
	}
	var buf []byte
	if pre != nil {
		buf = pre.buf // the payload is decoded, and its claims copied out
	} else {
		buf = parts.Buffer()
	}
	hb, err := jwt.DecodeInto(buf, parts.Header)
	if err != nil {
		return parsed{}, errEncoding
	}
	h, err := jwt.ParseHeader(hb)
	switch {
	case err == jwt.ErrCase:
		return parsed{}, errCaseVariant
	case err != nil:
		return parsed{}, errHeaderJSON
	case h.Crit:
		return parsed{}, errCrit
	case h.B64:
		return parsed{}, errB64
	case !h.HasAlg:
		return parsed{}, errNoAlg
	}
	if _, ok := v.verifiers[h.Alg]; !ok {
		if strings.EqualFold(h.Alg, "none") {
			return parsed{}, errAlgNone
		}
		return parsed{}, errAlgDenied
	}
	if h.Kid == "" {
		return parsed{}, errNoKid
	}
	switch {
	case kind == kindAccess && v.s.RequireAccessTokenProfile:
		if !isAccessTokenType(h.Typ) {
			return parsed{}, errTyp.fresh()
		}
	case kind == kindAccess:
		if otherJWTType(h.Typ) && !isAccessTokenType(essence(h.Typ)) {
			return parsed{}, errTypOther.fresh()
		}
	case kind == kindID:
		if otherJWTType(h.Typ) {
			return parsed{}, errTypAccess.fresh()
		}
	}
	if parts.Signature == "" {
		return parsed{}, errEmptySig
	}
	return parsed{parts: parts, hdr: h, buf: buf}, nil
}

// parsePayload decodes the registered claims (types only) of p, a token
// parseHeader passed, into p.reg, or takes them from pre when it holds
// them already.
func parsePayload(p *parsed, pre *decodedPayload) error {
	if pre != nil {
		p.reg = pre.reg
		return nil
	}
	payload, err := jwt.DecodeInto(p.buf, p.parts.Payload)
	if err != nil {
		return errEncoding
	}
	reg, err := jwt.ParseClaims(payload)
	if err != nil {
		return claimsError(err)
	}
	p.reg = reg
	return nil
}

// partsError maps an error of jwt.Split to the package's.
func partsError(err error) error {
	if err == jwt.ErrEncoding {
		return errEncoding
	}
	return errParts
}

// isAccessTokenType reports whether typ is RFC 9068's "at+jwt", with or
// without the "application/" prefix, in any case (RFC 7515, 4.1.9).
func isAccessTokenType(typ string) bool { return strings.EqualFold(subtype(typ), "at+jwt") }

// subtype returns a typ header's media type without the optional
// "application/" prefix, matched in any case (RFC 7515, 4.1.9). Callers
// compare it with strings.EqualFold: it allocates nothing, as lowering a
// hostile typ of tens of KB would (see the rejection-cost bound).
func subtype(typ string) string {
	const prefix = "application/"
	if len(typ) >= len(prefix) && strings.EqualFold(typ[:len(prefix)], prefix) {
		return typ[len(prefix):]
	}
	return typ
}

// essence returns typ without its media-type parameters (RFC 2045, 5.1:
// what follows a ';') and surrounding white space, so that
// "logout+jwt; charset=utf-8" names a logout token as "logout+jwt" does.
func essence(typ string) string {
	if i := strings.IndexByte(typ, ';'); i >= 0 {
		typ = typ[:i]
	}
	return strings.TrimSpace(typ)
}

// otherJWTType reports whether typ names an explicitly typed kind of JWT
// (RFC 8725, 3.11): a media type ending in "+jwt", whatever its
// parameters, such as RFC 9068's at+jwt, OIDC Back-Channel Logout's
// logout+jwt, RFC 9449's dpop+jwt or RFC 8417's secevent+jwt. None of them
// is an ID token, whose typ is absent or "JWT".
func otherJWTType(typ string) bool {
	const suffix = "+jwt"
	t := subtype(essence(typ))
	return len(t) >= len(suffix) && strings.EqualFold(t[len(t)-len(suffix):], suffix)
}

func (v *Verifier) checkIssuer(iss string) error {
	switch iss {
	case v.s.Issuer:
		return nil
	case "":
		return errNoIssuer
	}
	return errIssuer
}

func (v *Verifier) checkAudience(aud []string) error {
	if v.s.SkipAudienceCheck {
		return nil
	}
	for _, a := range aud {
		if slices.Contains(v.s.Audiences, a) {
			return nil
		}
	}
	if len(aud) == 0 {
		return errNoAudience
	}
	return errAudience
}

// checkTime checks exp (required), nbf and iat (zero when absent) against
// now with the configured skew. It allocates only to report an expired
// token.
func (v *Verifier) checkTime(exp, nbf, iat, now time.Time) error {
	if exp.IsZero() {
		return errNoExp.fresh()
	}
	if !now.Before(exp.Add(v.s.skew)) {
		return &TokenExpiredError{Expiry: exp}
	}
	late := now.Add(v.s.skew)
	if !nbf.IsZero() && nbf.After(late) {
		return errNotYetValid
	}
	if !iat.IsZero() && iat.After(late) {
		return errIssuedLater
	}
	return nil
}

// checkCachedTime is checkTime on a cached token's claims.
func (v *Verifier) checkCachedTime(c *claimSet, now time.Time) error {
	return v.checkTime(c.expiry, c.notBefore, c.issuedAt, now)
}

// checkClientID checks an access token's client id (accessClientID)
// against Config.ClientIDs.
func (v *Verifier) checkClientID(r *jwt.Claims) error {
	if len(v.s.ClientIDs) == 0 {
		return nil
	}
	cid := v.accessClientID(r)
	switch {
	case cid == "" && !v.s.RequireAccessTokenProfile && (r.Cid != "" || r.ClientID != "" || r.Azp != ""):
		return errClientIDs.fresh() // see jwt.Claims.ClientIDValue
	case cid == "":
		return errNoClientID.fresh()
	case !slices.Contains(v.s.ClientIDs, cid):
		return errClientID.fresh()
	}
	return nil
}

// accessTokenProfileClaims are the claims RFC 9068, 2.2 requires.
var accessTokenProfileClaims = []string{"iss", "exp", "aud", "sub", "client_id", "iat", "jti"}

// checkAccessClaims checks a verified access token's AssertClaims and, with
// RequireAccessTokenProfile, the claims RFC 9068 requires.
func (v *Verifier) checkAccessClaims(c *claimSet) error {
	for i := range v.asserts {
		if err := v.asserts[i].check(c); err != nil {
			return err
		}
	}
	if v.s.RequireAccessTokenProfile {
		for _, name := range accessTokenProfileClaims {
			if raw, ok := c.get(name); !ok || isNull(raw) || isEmpty(raw) {
				return &ClaimError{Claim: name, Reason: "missing or empty (required by RFC 9068)"}
			}
		}
	}
	return nil
}

// isEmpty reports whether the JSON value raw is an empty string or an empty
// array: a required claim that names no one (sub, client_id), no token
// (jti) or no audience is as good as missing.
func isEmpty(raw string) bool {
	raw = strings.TrimSpace(raw)
	if raw == `""` {
		return true
	}
	inner, ok := strings.CutPrefix(raw, "[")
	inner, ok2 := strings.CutSuffix(inner, "]")
	return ok && ok2 && strings.TrimSpace(inner) == ""
}

// checkIDClaims checks an ID token's sub and iat, which OIDC Core, section
// 2 requires in every ID token (so that another JWT of the issuer naming
// no subject, such as a logout token naming only a session, is not one),
// its azp and its nonce (OIDC Core, 3.1.3.7 and 3.1.3.7 step 11),
// comparing the nonce in constant time.
func checkIDClaims(r *jwt.Claims, clientID, nonce string) error {
	switch {
	case r.Subject == "":
		return errIDNoSub.fresh()
	case r.IssuedAt.IsZero():
		return errIDNoIat.fresh()
	}
	if r.Azp != "" && r.Azp != clientID {
		return errAzp.fresh()
	}
	if nonce == "" {
		return nil
	}
	if r.Nonce == "" {
		return errNoNonce.fresh()
	}
	if subtle.ConstantTimeCompare([]byte(r.Nonce), []byte(nonce)) != 1 {
		return errNonce.fresh()
	}
	return nil
}

// key returns the verification key for the header, mapping the key set's
// errors to the package's, and checks that the key fits the alg. An unknown
// kid may wait for a key-set fetch within ctx (Config.MaxKeyWaiters); its
// answer is ErrUnknownKey when a successful fetch lacks the kid, and
// ErrKeysUnavailable when the fetch failed (docs/key-set.md).
func (v *Verifier) key(ctx context.Context, h jwt.Header) (*jwks.Key, error) {
	key, err := v.set.Key(ctx, h.Kid)
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
	if key.Algorithm != "" && key.Algorithm != h.Alg {
		return nil, errAlgKey
	}
	if !keyFits(h.Alg, key.Public) {
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
// least 2048 bits for RS/PS, the alg's NIST curve for ES, Ed25519 for EdDSA
// and Ed25519 (RFC 9864).
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
	case "EdDSA", jwsalg.Ed25519:
		k, ok := pub.(ed25519.PublicKey)
		return ok && len(k) == ed25519.PublicKeySize
	}
	return false
}
