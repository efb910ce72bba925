package grpcauthtest

import (
	"cmp"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/grpcauth/grpcauth/dpop"
)

// DPoPKey is a client's DPoP key pair (RFC 9449): it signs the proofs that
// go with a DPoP-bound access token. Get a token bound to it from the token
// endpoint (send a proof in the DPoP header) or from Mint with
// WithDPoPKey(k.PublicKey()).
type DPoPKey struct {
	alg     jwa.SignatureAlgorithm
	private crypto.Signer
	public  jwk.Key
	thumb   string
	signer  *dpop.Signer // the proofs ProofOptions asks nothing unusual of

	// Now is the clock for the proofs' iat. Default time.Now. Set it
	// before the key is used, not concurrently with Proof.
	Now func() time.Time
}

// NewDPoPKey generates an ES256 (P-256) DPoP key.
func NewDPoPKey() (*DPoPKey, error) { return NewDPoPKeyWithAlgorithm("ES256") }

// NewDPoPKeyWithAlgorithm generates a DPoP key for alg: RS256, RS384, RS512,
// PS256, PS384, PS512, ES256, ES384, ES512, EdDSA or Ed25519 (RFC 9864's
// name of EdDSA over Ed25519: the proofs' header says "alg":"Ed25519").
func NewDPoPKeyWithAlgorithm(alg string) (*DPoPKey, error) {
	sk, err := newSigningKey(alg, false) // never pooled; its public JWK also carries kid, alg and use
	if err != nil {
		return nil, err
	}
	// The proofs carry the bare public key (kty and its parameters), as
	// clients send it, not the issuer-style JWK with kid, alg and use.
	pub, err := jwk.FromRaw(sk.private.Public())
	if err != nil {
		return nil, fmt.Errorf("grpcauthtest: DPoP public JWK: %w", err)
	}
	k := &DPoPKey{alg: sk.alg, private: sk.private, public: pub}
	if k.signer, err = dpop.NewSigner(sk.private, alg, dpop.WithClock(k.now)); err != nil {
		return nil, fmt.Errorf("grpcauthtest: DPoP signer: %w", err)
	}
	k.thumb = k.signer.Thumbprint()
	return k, nil
}

// now is the proofs' clock: Now, or time.Now.
func (k *DPoPKey) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

func thumbprint(k jwk.Key) (string, error) {
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("grpcauthtest: JWK thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// Algorithm returns the key's proof algorithm, e.g. "ES256".
func (k *DPoPKey) Algorithm() string { return k.alg.String() }

// PublicKey returns the public key (*ecdsa.PublicKey, *rsa.PublicKey or
// ed25519.PublicKey). Each call returns a new copy, which the caller may
// change: the key stays as it was.
func (k *DPoPKey) PublicKey() crypto.PublicKey { return publicCopy(k.private) }

// Thumbprint returns the key's RFC 7638 SHA-256 thumbprint, unpadded
// base64url: the cnf jkt of a token bound to it.
func (k *DPoPKey) Thumbprint() string { return k.thumb }

// Proof returns a fresh proof for a request: method ("POST" for gRPC), url
// (for gRPC "scheme://authority/package.Service/Method") and, when not
// empty, the access token it goes with (its hash becomes ath). Every proof
// has a new random jti.
func (k *DPoPKey) Proof(method, url, accessToken string) (string, error) {
	return k.ProofWith(ProofOptions{Method: method, URL: url, AccessToken: accessToken})
}

// ProofOptions describe one proof, including deliberately broken ones.
type ProofOptions struct {
	// Method, URL and AccessToken are as for DPoPKey.Proof.
	Method, URL, AccessToken string
	// IssuedAt is the iat. Default: DPoPKey.Now.
	IssuedAt time.Time
	// ID is the jti. Default: random.
	ID string
	// Nonce is the server nonce; "" sends none.
	Nonce string
	// Type is the typ header. Default "dpop+jwt".
	Type string
	// Claims are set over the claims above; a nil value removes one.
	Claims map[string]any
	// OmitKey leaves the jwk header out.
	OmitKey bool
	// PrivateKeyInHeader puts the private key, not just the public one,
	// in the jwk header (which a verifier must refuse).
	PrivateKeyInHeader bool
	// HeaderKey, when set, is put in the jwk header instead of the
	// proof key's public key, while the proof key still signs (a
	// signature the header key does not verify). OmitKey and
	// PrivateKeyInHeader take precedence over it, OmitKey over both.
	// A nil pointer key makes ProofWith fail.
	HeaderKey crypto.PublicKey
	// Algorithm signs under another algorithm than the key's: "none"
	// gives an unsigned proof, "HS256" (HS384, HS512) an HMAC keyed with
	// the JSON of the public JWK (algorithm confusion).
	Algorithm string
}

// ProofWith returns the proof o describes. A proof with only Method, URL,
// AccessToken and Nonce set is made by dpop.Signer, as a production client
// makes it; the other options build it here.
func (k *DPoPKey) ProofWith(o ProofOptions) (string, error) {
	if o.plain() {
		p, err := k.signer.Proof(o.Method, o.URL, o.AccessToken, o.Nonce)
		if err != nil {
			return "", fmt.Errorf("grpcauthtest: %w", err)
		}
		return p, nil
	}
	iat := o.IssuedAt
	if iat.IsZero() {
		iat = k.now()
	}
	claims := map[string]any{"htm": o.Method, "htu": o.URL, "iat": iat.Unix(), "jti": o.ID}
	if o.ID == "" {
		claims["jti"] = rand.Text()
	}
	if o.AccessToken != "" {
		claims["ath"] = dpop.AccessTokenHash(o.AccessToken)
	}
	if o.Nonce != "" {
		claims["nonce"] = o.Nonce
	}
	mergeClaims(claims, o.Claims)
	body, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("grpcauthtest: encode proof claims: %w", err)
	}
	hdr := jws.NewHeaders()
	typ := o.Type
	if typ == "" {
		typ = dpop.ProofType
	}
	if err := hdr.Set(jws.TypeKey, typ); err != nil {
		return "", fmt.Errorf("grpcauthtest: proof typ: %w", err)
	}
	if hk, err := k.headerKey(o); err != nil {
		return "", err
	} else if hk != nil {
		if err := hdr.Set(jws.JWKKey, hk); err != nil {
			return "", fmt.Errorf("grpcauthtest: proof jwk: %w", err)
		}
	}
	alg, key := k.alg, any(k.private)
	switch o.Algorithm {
	case "":
	case "none":
		alg, key = jwa.NoSignature, nil
	case "HS256", "HS384", "HS512":
		secret, err := json.Marshal(k.public)
		if err != nil {
			return "", fmt.Errorf("grpcauthtest: encode public JWK: %w", err)
		}
		alg, key = jwa.SignatureAlgorithm(o.Algorithm), secret
	default:
		return "", fmt.Errorf("grpcauthtest: ProofOptions.Algorithm %q: want none or HS256/384/512", o.Algorithm)
	}
	proof, err := sign(body, hdr, alg, key)
	if err != nil {
		return "", fmt.Errorf("grpcauthtest: sign proof: %w", err)
	}
	return string(proof), nil
}

// plain reports whether o asks for nothing but a valid proof's inputs.
func (o ProofOptions) plain() bool {
	return o.Method != "" && o.URL != "" && o.IssuedAt.IsZero() && o.ID == "" && o.Type == "" && o.Claims == nil &&
		!o.OmitKey && !o.PrivateKeyInHeader && o.HeaderKey == nil && o.Algorithm == ""
}

// headerKey returns the jwk header o asks for, or nil for none.
func (k *DPoPKey) headerKey(o ProofOptions) (jwk.Key, error) {
	switch {
	case o.OmitKey:
		return nil, nil
	case o.PrivateKeyInHeader:
		priv, err := jwk.FromRaw(k.private)
		if err != nil {
			return nil, fmt.Errorf("grpcauthtest: private JWK: %w", err)
		}
		return priv, nil
	case o.HeaderKey != nil:
		if err := checkKey(o.HeaderKey); err != nil {
			return nil, fmt.Errorf("grpcauthtest: ProofOptions.HeaderKey: %w", err)
		}
		hk, err := jwk.FromRaw(o.HeaderKey)
		if err != nil {
			return nil, fmt.Errorf("grpcauthtest: ProofOptions.HeaderKey: %w", err)
		}
		return hk, nil
	}
	return k.public, nil
}

// WithDPoPKey binds the minted token to a DPoP key (RFC 9449, section 6):
// it adds {"cnf": {"jkt": <pub's RFC 7638 thumbprint>}}. pub is a
// *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey, e.g.
// DPoPKey.PublicKey(); Mint fails for a nil one. A cnf claim passed to Mint
// takes precedence.
func WithDPoPKey(pub crypto.PublicKey) MintOption {
	return func(o *mintOptions) { o.dpopSet, o.dpopKey = true, pub }
}

// withJKT binds the minted token to the key with thumbprint jkt.
func withJKT(jkt string) MintOption { return func(o *mintOptions) { o.jkt = jkt } }

// applyDPoP adds the cnf claim of WithDPoPKey (or withJKT) to payload.
func (o *mintOptions) applyDPoP(payload map[string]any) error {
	jkt := o.jkt
	if o.dpopKey != nil {
		k, err := jwk.FromRaw(o.dpopKey)
		if err != nil {
			return fmt.Errorf("grpcauthtest: WithDPoPKey: %w", err)
		}
		if _, ok := k.(jwk.SymmetricKey); ok {
			return errors.New("grpcauthtest: WithDPoPKey: not a public key")
		}
		if jkt, err = thumbprint(k); err != nil {
			return err
		}
	}
	if jkt != "" {
		payload["cnf"] = map[string]any{"jkt": jkt}
	}
	return nil
}

// tokenDPoPAlgorithms are the algorithms of the DPoP proofs the token
// endpoint accepts: every asymmetric one. The metadata advertises them.
var tokenDPoPAlgorithms = []string{"ES256", "ES384", "ES512", "EdDSA", "Ed25519", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// newTokenDPoP returns the verifier of the token endpoint's DPoP proofs:
// tokenDPoPAlgorithms, the issuer's clock and Config.DPoPNonces.
func newTokenDPoP(now func() time.Time, nonces dpop.NonceSource) (*dpop.Verifier, error) {
	v, err := dpop.NewVerifier(dpop.Config{
		Algorithms: slices.Clone(tokenDPoPAlgorithms),
		Nonces:     nonces,
		Now:        now,
	})
	if err != nil {
		return nil, fmt.Errorf("grpcauthtest: token endpoint DPoP: %w", err)
	}
	return v, nil
}

// tokenNonce sets the DPoP-Nonce header of the token endpoint's answer to
// a request with a DPoP header, when Config.DPoPNonces is set: the nonce
// a use_dpop_nonce refusal asks for (RFC 9449, section 8), or the one the
// next proof should carry (section 8.2). A nonce no client could send back
// (not 1*NQCHAR of at most dpop.MaxNonceLen bytes, as a custom
// DPoPNonces may give) is never sent: the request fails with 500
// server_error.
func (i *Issuer) tokenNonce(w http.ResponseWriter, r *http.Request) *tokenFailure {
	if i.cfg.DPoPNonces == nil || len(r.Header.Values("DPoP")) == 0 {
		return nil
	}
	n, err := i.dpop.Nonce() // DPoPNonces' nonce, refused unless 1*NQCHAR of at most dpop.MaxNonceLen
	if err != nil {
		return fail(http.StatusInternalServerError, "server_error", "the DPoP nonce source gave an unusable nonce")
	}
	w.Header().Set("DPoP-Nonce", n)
	return nil
}

// tokenDPoP checks the token request's DPoP header (RFC 9449, section 5).
// Without one it returns "": the token is a bearer token. With one valid
// proof (htm POST, htu the token endpoint and, with Config.DPoPNonces, a
// nonce it accepts) it returns the thumbprint of the key the token is to
// be bound to.
func (i *Issuer) tokenDPoP(r *http.Request) (jkt string, f *tokenFailure) {
	proofs := r.Header.Values("DPoP")
	switch len(proofs) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", fail(http.StatusBadRequest, "invalid_dpop_proof", "more than one DPoP header")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	p, err := i.dpop.Verify(r.Context(), proofs[0], dpop.Request{Method: r.Method, Scheme: scheme, Authority: r.Host, Path: cmp.Or(r.URL.RawPath, r.URL.EscapedPath())})
	if errors.Is(err, dpop.ErrUseNonce) { // the DPoP-Nonce header is tokenNonce's
		return "", fail(http.StatusBadRequest, "use_dpop_nonce", "Authorization server requires nonce in DPoP proof")
	}
	if err != nil {
		return "", fail(http.StatusBadRequest, "invalid_dpop_proof", err.Error())
	}
	return p.Thumbprint, nil
}
