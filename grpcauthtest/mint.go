package grpcauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/cert"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/grpcauth/grpcauth/internal/jwsalg"
)

// ErrNoSigningKey is returned when every key has been removed (RemoveKey)
// and no WithIssuerKey, WithSigningKey or Unsigned option names another.
var ErrNoSigningKey = errors.New("grpcauthtest: no signing key (all keys removed)")

// ErrUnknownClient is returned by Token and MintOpaque for an empty
// clientID. A clientID absent from Config.Clients is not an error: see
// Token.
var ErrUnknownClient = errors.New("grpcauthtest: unknown client")

// ErrScopeNotAllowed is returned by Token when a requested scope is not in the
// client's Scopes (the token endpoint answers invalid_scope).
var ErrScopeNotAllowed = errors.New("grpcauthtest: scope not allowed for client")

// MintOption changes how Mint builds or signs one token.
type MintOption func(*mintOptions)

type mintOptions struct {
	headers  []header // applied in order, after typ and kid
	kid      *string  // nil: the signing key's kid
	keyID    string   // WithIssuerKey
	signSet  bool     // WithSigningKey given
	signKey  any
	signAlg  string
	unsigned bool
	shape    *Shape
	scopes   []string
	scopeSet bool
	dpopSet  bool             // WithDPoPKey given
	dpopKey  crypto.PublicKey // WithDPoPKey
	jkt      string           // withJKT
	claims   map[string]any   // WithACR, WithAuthTime; under Mint's claims
}

type header struct {
	name  string
	value any
}

// WithHeader sets or overrides the protected header name (typ, jku, x5u, jwk,
// x5c, crit, kid, ...), after the defaults and WithKidHeader. The value's
// type depends on the header:
//
//   - "jwk": a public key of the standard library (*rsa.PublicKey,
//     *ecdsa.PublicKey, ed25519.PublicKey), or a map[string]any holding the
//     JWK's members (to add kid, alg, ...); a private key is an error, so
//     that a test never publishes one by mistake, but a map goes in as it
//     is, private members ("d", an "oct" key's "k") included;
//   - "x5c": a []*x509.Certificate, leaf first;
//   - "crit": a []string;
//   - jku, x5u, typ, kid, cty: a string;
//   - any other name: a value encoding/json can encode.
//
// "alg" cannot be overridden: it is always the signing algorithm (or
// "none"), so WithHeader("alg", ...) makes Mint fail rather than sign a
// valid token of the issuer's where a test meant another algorithm: use
// WithSigningKey or Unsigned. A value of the wrong type makes Mint fail.
func WithHeader(name string, value any) MintOption {
	return func(o *mintOptions) { o.headers = append(o.headers, header{name, value}) }
}

// WithKidHeader sets the kid header to kid, or omits it for "", without
// changing the key that signs. Without it the kid is that of the signing
// key: the issuer key that signs or, for WithSigningKey, the issuer's
// current kid (so a forgery points at a real key, which is what an attacker
// would do).
func WithKidHeader(kid string) MintOption { return func(o *mintOptions) { o.kid = &kid } }

// WithIssuerKey signs with the issuer's key kid instead of its current one,
// and names kid in the header. Keys removed by RemoveKey remain usable here,
// to mint a token whose key is no longer published. Mint fails for a kid
// that was never an issuer key. Unsigned and WithSigningKey take precedence
// over it.
func WithIssuerKey(kid string) MintOption { return func(o *mintOptions) { o.keyID = kid } }

// WithSigningKey signs with key under alg ("HS256", "RS256", "ES256",
// "EdDSA", "Ed25519", ...) instead of an issuer key: a private key of the standard
// library (a crypto.Signer: *rsa.PrivateKey, *ecdsa.PrivateKey,
// ed25519.PrivateKey) or a []byte HMAC secret. It is how tests build
// forgeries, e.g. HS256 keyed with the bytes of the issuer's public key
// (algorithm confusion). The kid header is the issuer's current kid unless
// WithKidHeader says otherwise. It takes precedence over WithIssuerKey,
// and Unsigned over it. Mint fails for a nil key and for alg "none"
// (Unsigned makes that token).
func WithSigningKey(key any, alg string) MintOption {
	return func(o *mintOptions) { o.signSet, o.signKey, o.signAlg = true, key, alg }
}

// Unsigned makes Mint produce an unsecured JWT, "alg": "none" with an empty
// signature ("header.payload."). The header is {"alg":"none"} plus the
// shape's typ (none for ShapeOkta, "at+jwt" for ShapeRFC9068), plus kid
// only if WithKidHeader names one, plus any WithHeader. Verifiers must reject it.
// It takes precedence over WithSigningKey and WithIssuerKey, so a test can
// add it to a fixture's options.
func Unsigned() MintOption { return func(o *mintOptions) { o.unsigned = true } }

// WithShape mints this token in shape s instead of the configured one: it
// selects the default client-id claim, the scope claim of WithScopes and typ.
// Mint fails for a Shape other than ShapeOkta and ShapeRFC9068.
func WithShape(s Shape) MintOption { return func(o *mintOptions) { o.shape = &s } }

// WithScopes adds the shape's scope claim: "scp" as a JSON array (ShapeOkta)
// or "scope" as a space-separated string (ShapeRFC9068). Claims passed to
// Mint take precedence.
func WithScopes(scopes ...string) MintOption {
	return func(o *mintOptions) { o.scopes, o.scopeSet = append([]string(nil), scopes...), true }
}

// Token mints the access token the token endpoint would issue to clientID for
// scopes (none: all of the client's scopes), signed with the current key. For
// a configured client a scope outside its Scopes fails with
// ErrScopeNotAllowed. For a clientID not in Config.Clients, Token mints a
// token with exactly the requested scopes, as if such a client existed, so
// tests need not configure clients they never send to the token endpoint.
func (i *Issuer) Token(clientID string, scopes ...string) (string, error) {
	scopes, err := i.clientScopes(clientID, scopes)
	if err != nil {
		return "", err
	}
	return i.clientToken(clientID, scopes)
}

// clientScopes returns the scopes clientID is granted when it asks for
// requested: grantScopes for a configured client, requested itself for any
// other. An empty clientID is ErrUnknownClient.
func (i *Issuer) clientScopes(clientID string, requested []string) ([]string, error) {
	if clientID == "" {
		return nil, fmt.Errorf("%w: empty client ID", ErrUnknownClient)
	}
	if c, ok := i.clients[clientID]; ok {
		return grantScopes(c, requested)
	}
	return requested, nil
}

// clientToken mints a client-credentials token for clientID with scopes.
func (i *Issuer) clientToken(clientID string, scopes []string, opts ...MintOption) (string, error) {
	if scopes == nil {
		scopes = []string{}
	}
	return i.Mint(map[string]any{"sub": clientID, i.cfg.Shape.clientIDClaim(): clientID}, append(opts, WithScopes(scopes...))...)
}

// grantScopes returns the scopes c receives when it asks for requested
// (deduplicated, in request order), or all of c.Scopes when requested is
// empty.
func grantScopes(c *Client, requested []string) ([]string, error) {
	if len(requested) == 0 {
		return append([]string{}, c.Scopes...), nil
	}
	granted := make([]string, 0, len(requested))
	seen := make(map[string]bool, len(requested))
	for _, s := range requested {
		if seen[s] {
			continue
		}
		seen[s] = true
		allowed := false
		for _, a := range c.Scopes {
			if a == s {
				allowed = true
				break
			}
		}
		if !allowed {
			return nil, fmt.Errorf("%w: %q", ErrScopeNotAllowed, s)
		}
		granted = append(granted, s)
	}
	return granted, nil
}

// Mint signs a token whose claims are claims merged over the defaults:
// iss = URL(), aud = Audience() (a string), sub = DefaultClientID, the shape's
// client-id claim ("cid" or "client_id") = DefaultClientID, iat = Now,
// exp = Now + TokenLifetime, a random jti, and "ver": 1 for ShapeOkta. A claim
// whose value is nil is removed; time.Time values become NumericDate (Unix
// seconds); anything else is encoded as encoding/json encodes it, so tests can
// send malformed claims such as "exp": "soon". The header has alg, typ (the
// shape's, if any) and kid (the signing key's). Options change the header and key;
// a nil option is an error.
func (i *Issuer) Mint(claims map[string]any, opts ...MintOption) (string, error) {
	var o mintOptions
	for n, opt := range opts { // not i: the receiver
		if opt == nil {
			return "", fmt.Errorf("grpcauthtest: Mint: option %d is nil", n)
		}
		opt(&o)
	}
	if err := o.check(); err != nil {
		return "", err
	}
	shape := i.cfg.Shape
	if o.shape != nil {
		shape = *o.shape
	}

	payload := i.defaultClaims(shape)
	if o.scopeSet {
		name, v := shape.scopeClaim(o.scopes)
		payload[name] = v
	}
	mergeClaims(payload, o.claims)
	if err := o.applyDPoP(payload); err != nil {
		return "", err
	}
	mergeClaims(payload, claims)
	body, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("grpcauthtest: encode claims: %w", err)
	}

	hdr := jws.NewHeaders()
	if typ := shape.typ(); typ != "" {
		if err := hdr.Set(jws.TypeKey, typ); err != nil {
			return "", fmt.Errorf("grpcauthtest: header typ: %w", err)
		}
	}
	key, alg, kid, err := i.pickKey(&o)
	if err != nil {
		return "", err
	}
	if o.kid != nil {
		kid = *o.kid
	}
	if kid != "" {
		if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
			return "", fmt.Errorf("grpcauthtest: header kid: %w", err)
		}
	}
	for _, h := range o.headers {
		v, err := headerValue(h.name, h.value)
		if err != nil {
			return "", fmt.Errorf("grpcauthtest: header %q: %w", h.name, err)
		}
		if err := hdr.Set(h.name, v); err != nil {
			return "", fmt.Errorf("grpcauthtest: header %q: %w", h.name, err)
		}
	}

	tok, err := sign(body, hdr, alg, key)
	if err != nil {
		return "", fmt.Errorf("grpcauthtest: sign: %w", err)
	}
	return string(tok), nil
}

// check reports options that Mint would otherwise ignore or panic on: an
// alg header, an unknown shape, a nil key, a key given for alg "none".
func (o *mintOptions) check() error {
	for _, h := range o.headers {
		if h.name == jws.AlgorithmKey {
			return errors.New(`grpcauthtest: WithHeader("alg") is never applied (the alg is the signing key's); use WithSigningKey or Unsigned`)
		}
	}
	if o.shape != nil && *o.shape != ShapeOkta && *o.shape != ShapeRFC9068 {
		return fmt.Errorf("grpcauthtest: WithShape: unknown shape %v", *o.shape)
	}
	if o.signSet {
		if o.signAlg == string(jwa.NoSignature) {
			return errors.New(`grpcauthtest: WithSigningKey with alg "none" would not use the key; use Unsigned`)
		}
		if err := checkKey(o.signKey); err != nil {
			return fmt.Errorf("grpcauthtest: WithSigningKey: %w", err)
		}
	}
	if o.dpopSet {
		if err := checkKey(o.dpopKey); err != nil {
			return fmt.Errorf("grpcauthtest: WithDPoPKey: %w", err)
		}
	}
	return nil
}

// checkKey fails for a nil key, typed or not, for an ECDSA private key
// missing a member and for an Ed25519 key of the wrong length, on which the
// standard library and jwx would panic.
func checkKey(k any) error {
	var bad bool
	switch k := k.(type) {
	case nil:
		bad = true
	case *rsa.PrivateKey:
		bad = k == nil
	case *rsa.PublicKey:
		bad = k == nil
	case *ecdsa.PrivateKey:
		bad = k == nil || k.Curve == nil || k.X == nil || k.Y == nil || k.D == nil
	case *ecdsa.PublicKey:
		bad = k == nil
	case ed25519.PrivateKey:
		bad = len(k) != ed25519.PrivateKeySize
	case ed25519.PublicKey:
		bad = len(k) != ed25519.PublicKeySize
	}
	if bad {
		return fmt.Errorf("nil or malformed key (%T)", k)
	}
	return nil
}

// sign returns the compact JWS of payload whose protected header is hdr
// plus alg, signed with key under alg (jwsalg.Sign, which handles RFC
// 9864's Ed25519); jwa.NoSignature makes it unsigned.
func sign(payload []byte, hdr jws.Headers, alg jwa.SignatureAlgorithm, key any) ([]byte, error) {
	if alg == jwa.NoSignature {
		return jws.Sign(payload, jws.WithInsecureNoSignature(jws.WithProtectedHeaders(hdr)))
	}
	return jwsalg.Sign(payload, hdr, alg.String(), key)
}

// defaultClaims returns the claims a token of shape gets unless overridden:
// iss, aud, sub and the client-id claim, iat and exp from Now and
// TokenLifetime, a random jti, and "ver": 1 for ShapeOkta.
func (i *Issuer) defaultClaims(shape Shape) map[string]any {
	now := i.cfg.Now()
	payload := map[string]any{
		"iss":                 i.url,
		"aud":                 i.cfg.Audience,
		"sub":                 DefaultClientID,
		shape.clientIDClaim(): DefaultClientID,
		"iat":                 now.Unix(),
		"exp":                 now.Add(i.cfg.TokenLifetime).Unix(),
		"jti":                 rand.Text(),
	}
	if shape == ShapeOkta {
		payload["ver"] = 1
	}
	return payload
}

// mergeClaims sets claims over payload: nil removes a claim, a time.Time
// becomes a NumericDate (Unix seconds), anything else is kept as is.
func mergeClaims(payload, claims map[string]any) {
	for name, v := range claims {
		switch v := v.(type) {
		case nil:
			delete(payload, name)
		case time.Time:
			payload[name] = v.Unix()
		default:
			payload[name] = v
		}
	}
}

// pickKey returns the raw key, algorithm and default kid the options select.
// For Unsigned the key is nil and the default kid empty.
func (i *Issuer) pickKey(o *mintOptions) (key any, alg jwa.SignatureAlgorithm, kid string, err error) {
	switch {
	case o.unsigned:
		return nil, jwa.NoSignature, "", nil
	case o.signSet:
		if o.signAlg == jwsalg.Ed25519 { // RFC 9864; jwx v2 does not Accept it
			alg = jwsalg.Ed25519
		} else if err := alg.Accept(o.signAlg); err != nil {
			return nil, "", "", fmt.Errorf("grpcauthtest: WithSigningKey algorithm %q: %w", o.signAlg, err)
		}
		switch o.signKey.(type) {
		case []byte, crypto.Signer:
		default:
			return nil, "", "", fmt.Errorf("grpcauthtest: WithSigningKey: key of type %T is neither a crypto.Signer nor a []byte secret", o.signKey)
		}
		return o.signKey, alg, i.KeyID(), nil
	}
	i.mu.RLock()
	k := i.current
	if o.keyID != "" {
		k = i.all[o.keyID]
	}
	i.mu.RUnlock()
	if k == nil {
		if o.keyID != "" {
			return nil, "", "", fmt.Errorf("grpcauthtest: WithIssuerKey(%q): not an issuer key", o.keyID)
		}
		return nil, "", "", ErrNoSigningKey
	}
	return k.private, k.alg, k.kid, nil
}

// headerValue converts a WithHeader value of a standard-library type to the
// one jwx's header wants: a jwk.Key for "jwk", a *cert.Chain for "x5c".
func headerValue(name string, v any) (any, error) {
	switch name {
	case jws.JWKKey:
		if m, ok := v.(map[string]any); ok {
			b, err := json.Marshal(m)
			if err != nil {
				return nil, err
			}
			return jwk.ParseKey(b)
		}
		switch v.(type) {
		case jwk.Key, crypto.Signer, []byte, nil:
			// A private key would put its private members in the header.
			return nil, fmt.Errorf("want a standard-library public key or a map[string]any, not %T", v)
		}
		if err := checkKey(v); err != nil {
			return nil, err
		}
		return jwk.FromRaw(v)
	case jws.X509CertChainKey:
		certs, ok := v.([]*x509.Certificate)
		if !ok {
			return nil, fmt.Errorf("want []*x509.Certificate, not %T", v)
		}
		chain := &cert.Chain{}
		for _, c := range certs {
			if c == nil {
				return nil, errors.New("nil certificate")
			}
			if err := chain.AddString(base64.StdEncoding.EncodeToString(c.Raw)); err != nil {
				return nil, err
			}
		}
		return chain, nil
	}
	return v, nil
}
