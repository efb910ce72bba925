package verifier

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/grpcauth/grpcauth/internal/jwt"
	"github.com/grpcauth/grpcauth/verifier/internal/jwks"
)

// MultiVerifier verifies access tokens from several issuers: the tenants of
// a multi-tenant service, or an old and a new identity provider during a
// migration (an Okta org and an Auth0 tenant, say). Each issuer has its own
// Verifier, with its own key set, audiences and settings; a token is handed
// to the Verifier of the issuer its iss claim names, and to no other.
//
// A token longer than every issuer's MaxTokenSize is refused first. A token
// an issuer's Verifier has cached (it verified it) goes to that Verifier
// undecoded. Of any other, the issuer is read from the payload before any
// key lookup or signature work, with the same strict decoding as the
// Verifier (base64url without padding, one JSON object); the decoded
// payload goes to the chosen Verifier, so no token is decoded twice, and
// that Verifier applies its own MaxTokenSize. A token naming
// an issuer that is not configured is rejected with ErrIssuer at once,
// without any network request. Key sets never mix: a key of issuer A is never tried
// on a token claiming issuer B, so a token signed by A's key but claiming B
// fails at B (ErrUnknownKey or ErrBadSignature), whatever kid it names,
// unless B publishes that key too. Issuers that share one key set (the
// tenants of Entra ID, the projects of Firebase) are told apart by iss
// alone, which their common signer writes: each is trusted as far as that
// signer is, and a token it wrote for B is B's, whatever kid it names.
//
// Each issuer is trusted for the tokens it signs, whatever their sub: a
// subject (or client id) is unique within its issuer only, so identify a
// caller by Claims.Issuer and Claims.Subject together.
//
// It satisfies grpcauth.TokenVerifier. It is safe for concurrent use.
//
// A MultiVerifier that NewMulti did not build (a zero MultiVerifier, or a
// nil *MultiVerifier) never panics: it refuses every token, and Ready and
// Close fail, with a "verifier: keys unavailable: ... not built with
// NewMulti" error wrapping ErrKeysUnavailable (codes.Unavailable behind
// grpcauth), logged once per process through slog.Default(), without the
// token; it has no Issuers, its Stats are zero, its ClockSkew and
// ClockSkewFor 0 and its RevalidateAt now.
type MultiVerifier struct {
	byIssuer map[string]*Verifier
	list     []*Verifier // in Config order
	maxSize  int         // the largest MaxTokenSize of any issuer
	// unknownIssuerTokens counts tokens whose iss is missing or names no
	// configured issuer (MultiStats.UnknownIssuerTokens).
	unknownIssuerTokens atomic.Int64
	// malformed counts tokens refused for their form before routing
	// (MultiStats.Malformed).
	malformed atomic.Int64
	// open is true from NewMulti until Close, and false in a zero
	// MultiVerifier (see Verifier.open).
	open    atomic.Bool
	closing sync.Once
}

// NewMulti creates one Verifier per Config, as New does (so it never blocks
// on, or fails because of, an issuer), and a MultiVerifier that routes
// tokens among them by iss. It fails when cfgs is empty, when a Config is
// invalid (the error names its index and issuer), or when two Configs have
// the same Issuer: which key set and audiences would apply would then be
// ambiguous. Issuers are compared exactly, as tokens' iss are. ctx is as
// for New (a nil one is taken for context.Background()). Close the
// MultiVerifier to close every Verifier.
func NewMulti(ctx context.Context, cfgs ...Config) (*MultiVerifier, error) {
	if len(cfgs) == 0 {
		return nil, configError("NewMulti needs at least one Config")
	}
	m := &MultiVerifier{byIssuer: make(map[string]*Verifier, len(cfgs))}
	for i, cfg := range cfgs {
		if _, dup := m.byIssuer[cfg.Issuer]; dup {
			m.closeAll()
			return nil, configError("config %d: issuer %q is configured more than once", i, cfg.Issuer)
		}
		v, err := New(ctx, cfg)
		if err != nil {
			m.closeAll()
			// The issuer without userinfo or query, where a URL may hold a secret.
			return nil, fmt.Errorf("verifier: config %d (issuer %q): %w", i, jwks.RedactString(cfg.Issuer), err)
		}
		m.byIssuer[cfg.Issuer] = v
		m.list = append(m.list, v)
		m.maxSize = max(m.maxSize, v.s.MaxTokenSize)
	}
	m.open.Store(true)
	return m, nil
}

// VerifyAccessToken verifies token with the Verifier of the issuer its iss
// names (see Verifier.VerifyAccessToken), including that Verifier's cache.
// A token whose iss cannot be read (empty, larger than every issuer's
// MaxTokenSize, not three parts, or a payload whose registered claims do
// not decode: not one JSON object, an iss or exp of the wrong type) fails
// with ErrMalformed, counted in MultiStats.Malformed; one with no iss, or
// with an iss that is not configured, with ErrIssuer, counted in
// MultiStats.UnknownIssuerTokens. Neither costs a key lookup or counts in
// any issuer's Stats. A token routed to an issuer and refused there for its
// form (its header, a signature that does not decode, a length over that
// issuer's own MaxTokenSize) fails with ErrMalformed too, and counts in
// that issuer's Stats.Malformed, as with that Verifier alone. A nil ctx is
// taken for context.Background(). A MultiVerifier NewMulti did not build
// refuses every token with an error wrapping ErrKeysUnavailable (see
// MultiVerifier).
func (m *MultiVerifier) VerifyAccessToken(ctx context.Context, token string) (Claims, error) {
	v, pre, err := m.route(token)
	if err != nil {
		return Claims{}, err
	}
	return v.verifyAccessToken(background(ctx), token, pre)
}

// VerifyIDToken verifies an OpenID Connect ID token with the Verifier of the
// issuer its iss names (see Verifier.VerifyIDToken). An empty clientID
// fails with ErrAudience before the token is looked at, as it does with a
// Verifier. A nil ctx is taken for context.Background(); a MultiVerifier
// NewMulti did not build refuses every token (see MultiVerifier).
func (m *MultiVerifier) VerifyIDToken(ctx context.Context, token, clientID, nonce string) (Claims, error) {
	if clientID == "" && m != nil && m.open.Load() {
		return Claims{}, errNeedClientID
	}
	v, pre, err := m.route(token)
	if err != nil {
		return Claims{}, err
	}
	return v.verifyIDToken(background(ctx), token, pre, clientID, nonce)
}

// Issuers returns the configured issuers, in Config order; none (nil) for
// a MultiVerifier NewMulti did not build.
func (m *MultiVerifier) Issuers() []string {
	if !m.built() {
		return nil
	}
	out := make([]string, len(m.list))
	for i, v := range m.list {
		out[i] = v.s.Issuer
	}
	return out
}

// Verifier returns the Verifier of issuer, or nil when issuer is not
// configured (always, for a MultiVerifier NewMulti did not build). It is
// owned by the MultiVerifier: do not Close it.
func (m *MultiVerifier) Verifier(issuer string) *Verifier {
	if !m.built() {
		return nil
	}
	return m.byIssuer[issuer]
}

// Ready blocks until every issuer has loaded its first key set (nil; see
// Verifier.Ready), or ctx ends. It then returns one error per issuer still
// without keys, joined, each
// naming its issuer and wrapping ErrKeysUnavailable. Tokens of the issuers
// that are ready verify meanwhile: one issuer's outage does not stop the
// others. After Close it returns ErrClosed. A nil ctx is taken for
// context.Background(). A MultiVerifier NewMulti did not build returns the
// "not built with NewMulti" error (see MultiVerifier).
func (m *MultiVerifier) Ready(ctx context.Context) error {
	if m == nil || !m.open.Load() {
		return m.unusable()
	}
	ctx = background(ctx)
	errs := make([]error, len(m.list))
	var wg sync.WaitGroup
	for i, v := range m.list {
		wg.Go(func() {
			if err := v.Ready(ctx); err != nil {
				errs[i] = fmt.Errorf("verifier: issuer %q: %w", v.s.Issuer, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close closes every issuer's Verifier, stopping all their goroutines. Later
// calls return ErrClosed. It is safe to call more than once, also
// concurrently: every call returns only once the goroutines are stopped. It
// returns nil, but for a MultiVerifier NewMulti did not build, which has
// nothing to close: the "not built with NewMulti" error (see
// MultiVerifier).
func (m *MultiVerifier) Close() error {
	if !m.built() {
		return errMultiNotBuilt
	}
	m.closing.Do(func() {
		m.open.Store(false)
		m.closeAll()
	})
	return nil
}

func (m *MultiVerifier) closeAll() {
	for _, v := range m.list {
		v.Close()
	}
}

// route returns the Verifier of the issuer token's payload names. A token
// that is empty or longer than every issuer's MaxTokenSize is refused
// first: a cache lookup hashes the whole token, and grpc-go admits
// metadata up to 16 MiB by default, so looking first would cost a pass
// over such a token per issuer. A token one of the Verifiers has cached
// (it verified it) goes to that Verifier without decoding (pre is nil);
// any other is split and its registered claims decoded with the parser
// Verifier uses, and handed on in pre so that the chosen Verifier, which
// checks the header and signature, does not decode them again.
func (m *MultiVerifier) route(token string) (*Verifier, *decodedPayload, error) {
	if m == nil || !m.open.Load() { // closed, or not built by NewMulti
		return nil, nil, m.unusable()
	}
	if err := tokenSizeError(token, m.maxSize); err != nil {
		m.malformed.Add(1)
		return nil, nil, err
	}
	for _, v := range m.list {
		if v.cache != nil && v.cache.contains(token) {
			return v, nil, nil
		}
	}
	pre, err := tokenIssuer(token)
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			m.malformed.Add(1)
		}
		return nil, nil, err
	}
	if v := m.byIssuer[pre.reg.Issuer]; v != nil {
		return v, pre, nil
	}
	m.unknownIssuerTokens.Add(1)
	if pre.reg.Issuer == "" {
		return nil, nil, errNoIssuer
	}
	return nil, nil, errUnknownIssuer
}

// unusable is the error of a call that found m nil or not open: the "not
// built with NewMulti" error, logged once per process, for a MultiVerifier
// NewMulti did not build, else ErrClosed.
func (m *MultiVerifier) unusable() error {
	if !m.built() {
		return notBuilt(errMultiNotBuilt)
	}
	return ErrClosed
}

var errUnknownIssuer = fmt.Errorf("%w: iss names no configured issuer", ErrIssuer)

// tokenSizeError returns the refusal of a token that is empty or longer
// than maxSize, or nil. Verifier's entry points and MultiVerifier.route
// call it first, before a cache lookup hashes the token; parse does not
// check the size again.
func tokenSizeError(token string, maxSize int) error {
	switch {
	case token == "":
		return errEmpty
	case len(token) > maxSize:
		return errTooLarge
	}
	return nil
}

// tokenIssuer checks the form of a compact JWS, whose size tokenSizeError
// admitted, as Verifier.parse does, and decodes its payload (reg.Issuer is
// "" when iss is absent).
func tokenIssuer(token string) (*decodedPayload, error) {
	parts, err := jwt.Split(token)
	if err != nil {
		return nil, partsError(err)
	}
	buf := parts.Buffer()
	payload, err := jwt.DecodeInto(buf, parts.Payload)
	if err != nil {
		return nil, errEncoding
	}
	reg, err := jwt.ParseClaims(payload)
	if err != nil {
		return nil, claimsError(err)
	}
	return &decodedPayload{parts: parts, reg: reg, buf: buf}, nil
}
