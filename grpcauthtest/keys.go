package grpcauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// rsaBits is the RSA modulus size of generated keys: the smallest size
// RFC 7518 §3.3 allows, and the one identity providers use.
const rsaBits = 2048

// keyGenerators maps each supported algorithm to a private-key generator.
var keyGenerators = map[string]func() (crypto.Signer, error){
	"RS256": genRSA, "RS384": genRSA, "RS512": genRSA,
	"PS256": genRSA, "PS384": genRSA, "PS512": genRSA,
	"ES256":   genEC(elliptic.P256()),
	"ES384":   genEC(elliptic.P384()),
	"ES512":   genEC(elliptic.P521()),
	"EdDSA":   genEd25519,
	"Ed25519": genEd25519, // RFC 9864's name of EdDSA over Ed25519
}

func genEd25519() (crypto.Signer, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	return k, err
}

func genRSA() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, rsaBits) }

func genEC(c elliptic.Curve) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) { return ecdsa.GenerateKey(c, rand.Reader) }
}

// signingKey is one of the issuer's key pairs. Immutable once built.
type signingKey struct {
	kid     string
	alg     jwa.SignatureAlgorithm
	private crypto.Signer
	public  jwk.Key // kid, alg and use set
}

// newSigningKey generates a key pair for alg with a random kid. With
// pooled, an RSA key comes from rsaPool (see pooledRSA).
func newSigningKey(alg string, pooled bool) (*signingKey, error) {
	gen, ok := keyGenerators[alg]
	if !ok {
		return nil, fmt.Errorf("grpcauthtest: unsupported algorithm %q", alg)
	}
	if pooled && (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")) {
		gen = pooledRSA
	}
	priv, err := gen()
	if err != nil {
		return nil, fmt.Errorf("grpcauthtest: generate %s key: %w", alg, err)
	}
	kid := rand.Text()
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("grpcauthtest: public JWK: %w", err)
	}
	// Not salg.Accept(alg): jwx v2 does not know RFC 9864's "Ed25519".
	// keyGenerators has validated alg.
	salg := jwa.SignatureAlgorithm(alg)
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: salg, jwk.KeyUsageKey: jwk.ForSignature} {
		if err := pub.Set(name, v); err != nil {
			return nil, fmt.Errorf("grpcauthtest: set JWK %s: %w", name, err)
		}
	}
	return &signingKey{kid: kid, alg: salg, private: priv, public: pub}, nil
}

// AddKey generates a new key for alg (see Config.Algorithm for the accepted
// names), publishes it in the JWKS and makes it the signing key. Keys added
// earlier stay published until RemoveKey. RSA key generation takes tens of
// milliseconds.
func (i *Issuer) AddKey(alg string) (kid string, err error) {
	k, err := newSigningKey(alg, i.cfg.pooledKeys)
	if err != nil {
		return "", err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.all[k.kid] = k
	i.published = append(i.published, k)
	i.current = k
	return k.kid, i.rebuildJWKSLocked()
}

// RotateKey is AddKey with the configured algorithm: the new key signs from
// now on and the old keys stay published, as an identity provider does during
// a rotation.
func (i *Issuer) RotateKey() (kid string, err error) { return i.AddKey(i.cfg.Algorithm) }

// RemoveKey stops publishing kid. If kid was the signing key, the most
// recently added key still published becomes the signing key; when none is
// left, Token, Mint and the token endpoint fail until AddKey. The removed key
// can still sign through WithIssuerKey(kid), to mint tokens whose key has gone from
// the JWKS. Unknown kids are ignored.
func (i *Issuer) RemoveKey(kid string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	kept := i.published[:0]
	for _, k := range i.published {
		if k.kid != kid {
			kept = append(kept, k)
		}
	}
	clear(i.published[len(kept):])
	i.published = kept
	if i.current != nil && i.current.kid == kid {
		i.current = nil
		if n := len(kept); n > 0 {
			i.current = kept[n-1]
		}
	}
	// Cannot fail: the same keys serialised before.
	_ = i.rebuildJWKSLocked()
}

// PublicKey returns the public key of kid (*rsa.PublicKey, *ecdsa.PublicKey
// or ed25519.PublicKey), including removed keys, or nil when kid was never an
// issuer key. Use it for algorithm-confusion forgeries and for baselines.
// Each call returns a new copy, which the caller may change: the issuer's
// key stays as it was.
func (i *Issuer) PublicKey(kid string) crypto.PublicKey {
	i.mu.RLock()
	defer i.mu.RUnlock()
	if k, ok := i.all[kid]; ok {
		return publicCopy(k.private)
	}
	return nil
}

// publicCopy returns the public key of priv in memory of its own. The
// standard library's Public returns a pointer into an RSA or ECDSA private
// key, so a caller changing that key (its modulus, say) would change the
// key that signs. Encoding and parsing cannot fail for the keys this
// package generates; should they, publicCopy returns nil, not priv's key.
func publicCopy(priv crypto.Signer) crypto.PublicKey {
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil
	}
	return pub
}

// KeyID returns the kid of the current signing key ("" when every key has
// been removed).
func (i *Issuer) KeyID() string {
	i.mu.RLock()
	defer i.mu.RUnlock()
	if i.current == nil {
		return ""
	}
	return i.current.kid
}

// KeyIDs returns the kids currently published in the JWKS, oldest first.
func (i *Issuer) KeyIDs() []string {
	i.mu.RLock()
	defer i.mu.RUnlock()
	kids := make([]string, len(i.published))
	for n, k := range i.published {
		kids[n] = k.kid
	}
	return kids
}

// rebuildJWKSLocked re-serialises the published keys. Caller holds i.mu.
func (i *Issuer) rebuildJWKSLocked() error {
	set := jwk.NewSet()
	for _, k := range i.published {
		if err := set.AddKey(k.public); err != nil {
			return fmt.Errorf("grpcauthtest: JWKS add key: %w", err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("grpcauthtest: JWKS encode: %w", err)
	}
	i.jwks = b
	return nil
}
