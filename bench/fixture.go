package main

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"time"
)

// algs are the valid-token rows, in table order.
var algs = []string{"RS256", "ES256", "EdDSA"}

// Rejection rows, in table order. Every rejected token is RS256-shaped, so
// its ratio is taken against the RS256 signature check.
const (
	rowBadSignature = "bad signature"
	rowExpired      = "expired"
	rowUnknownKid   = "unknown kid"
	rowGarbage      = "garbage"
)

var rejections = []string{rowBadSignature, rowExpired, rowUnknownKid, rowGarbage}

// validToken is one correctly signed, unexpired token and the public key
// that verifies it (for the baselines).
type validToken struct {
	alg    string
	kid    string
	token  string
	public crypto.PublicKey
}

// fixture is one issuer serving one JWKS (an RS256, an ES256 and an EdDSA
// key) and the tokens every library verifies.
type fixture struct {
	issuer   string
	jwksURL  string
	audience string
	valid    map[string]validToken // by alg
	rejected map[string]string     // by rejection row

	requests   func() int64                     // JWKS requests served so far
	unknownKid func(kid string) (string, error) // a well-signed RS256 token whose kid header is kid
	listToken  func() (string, error)           // a new valid RS256 token (fresh jti) carrying items:read
	// mint is an RS256 token with the valid tokens' scopes, claims merged
	// over the issuer's defaults (nil removes one).
	mint  func(claims map[string]any, opts ...grpcauthtest.MintOption) (string, error)
	close func()
}

func newFixture() (*fixture, error) {
	iss, err := grpcauthtest.Start(grpcauthtest.Config{})
	if err != nil {
		return nil, err
	}
	f := &fixture{
		issuer:   iss.URL(),
		jwksURL:  iss.JWKSURL(),
		audience: iss.Audience(),
		valid:    map[string]validToken{},
		rejected: map[string]string{},
		requests: iss.JWKSRequests,
		close:    iss.Close,
	}
	fail := func(err error) (*fixture, error) { iss.Close(); return nil, err }
	kids := map[string]string{"RS256": iss.KeyID()}
	for _, alg := range algs[1:] {
		if kids[alg], err = iss.AddKey(alg); err != nil {
			return fail(err)
		}
	}
	scopes := grpcauthtest.WithScopes("items:read", "items:write")
	for _, alg := range algs {
		tok, err := iss.Mint(nil, scopes, grpcauthtest.WithIssuerKey(kids[alg]))
		if err != nil {
			return fail(err)
		}
		f.valid[alg] = validToken{alg: alg, kid: kids[alg], token: tok, public: iss.PublicKey(kids[alg])}
	}
	rs := grpcauthtest.WithIssuerKey(kids["RS256"])
	if f.rejected[rowBadSignature], err = flipSignatureBit(f.valid["RS256"].token); err != nil {
		return fail(err)
	}
	past := time.Now().Add(-2 * time.Hour)
	if f.rejected[rowExpired], err = iss.Mint(map[string]any{"iat": past, "exp": past.Add(time.Hour)}, scopes, rs); err != nil {
		return fail(err)
	}
	f.unknownKid = func(kid string) (string, error) {
		return iss.Mint(nil, scopes, rs, grpcauthtest.WithKidHeader(kid))
	}
	f.listToken = func() (string, error) { return iss.Mint(nil, scopes, rs) }
	f.mint = func(claims map[string]any, opts ...grpcauthtest.MintOption) (string, error) {
		return iss.Mint(claims, append([]grpcauthtest.MintOption{scopes, rs}, opts...)...)
	}
	if f.rejected[rowUnknownKid], err = f.unknownKid("no-such-key"); err != nil {
		return fail(err)
	}
	f.rejected[rowGarbage] = garbageToken
	return f, nil
}

// flipSignatureBit returns token with the lowest bit of its signature
// flipped: the same header and claims, a signature that does not verify.
// The value stays below the RSA modulus (the valid one is, and the modulus is
// odd), so a verifier does the whole RSA check before it rejects; a signature
// made with another key is at least the modulus half the time, and crypto/rsa
// then rejects it at a range check for a fraction of the cost.
func flipSignatureBit(token string) (string, error) {
	input, sig, err := splitSigned(token)
	if err != nil {
		return "", err
	}
	sig[len(sig)-1] ^= 1
	return string(input) + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// garbageToken is three dot-separated segments that are not base64url JSON.
const garbageToken = "eyJhbGciOiJSUzI1NiJ9.not*base64*at*all.@@@"

func randomKid() string { return fmt.Sprintf("rand-%s", rand.Text()) }
