package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
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
	close      func()
}

func newFixture() (*fixture, error) {
	li, err := startLocalIssuer()
	if err != nil {
		return nil, err
	}
	f := &fixture{
		issuer:   li.URL(),
		jwksURL:  li.JWKSURL(),
		audience: li.Audience(),
		valid:    map[string]validToken{},
		rejected: map[string]string{},
		requests: li.JWKSRequests,
		close:    li.Close,
	}
	fail := func(err error) (*fixture, error) { li.Close(); return nil, err }
	kids := map[string]string{}
	kids["RS256"] = li.keys[0].kid
	for _, alg := range algs[1:] {
		if kids[alg], err = li.AddKey(alg); err != nil {
			return fail(err)
		}
	}
	for _, alg := range algs {
		tok, err := li.mint(kids[alg], nil, nil, nil)
		if err != nil {
			return fail(err)
		}
		f.valid[alg] = validToken{alg: alg, kid: kids[alg], token: tok, public: li.PublicKey(kids[alg])}
	}
	rsKid := kids["RS256"]
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fail(err)
	}
	if f.rejected[rowBadSignature], err = li.mint(rsKid, nil, nil, other); err != nil {
		return fail(err)
	}
	past := time.Now().Add(-2 * time.Hour)
	if f.rejected[rowExpired], err = li.mint(rsKid, map[string]any{
		"iat": past.Unix(), "exp": past.Add(time.Hour).Unix(),
	}, nil, nil); err != nil {
		return fail(err)
	}
	f.unknownKid = func(kid string) (string, error) { return li.mint(rsKid, nil, &kid, nil) }
	if f.rejected[rowUnknownKid], err = f.unknownKid("no-such-key"); err != nil {
		return fail(err)
	}
	f.rejected[rowGarbage] = garbageToken
	return f, nil
}

// garbageToken is three dot-separated segments that are not base64url JSON.
const garbageToken = "eyJhbGciOiJSUzI1NiJ9.not*base64*at*all.@@@"

func randomKid() string { return fmt.Sprintf("rand-%s", rand.Text()) }
