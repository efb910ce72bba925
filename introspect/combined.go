package introspect

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grpcauth/grpcauth/verifier"
)

// JWTVerifier verifies JWT access tokens locally. *verifier.Verifier and
// *verifier.MultiVerifier satisfy it, as does any grpcauth.TokenVerifier.
type JWTVerifier interface {
	VerifyAccessToken(ctx context.Context, token string) (verifier.Claims, error)
}

// Combined verifies JWTs locally and every other token by introspection:
// for a service that accepts both, e.g. JWTs from an Okta custom
// authorization server and opaque tokens from Okta's org authorization
// server. It satisfies grpcauth.TokenVerifier and is safe for concurrent
// use. It owns neither verifier: close them yourself.
//
// A token is a JWT when it has three dot-separated parts and its first part
// decodes (strict base64url) to a JSON object with a string "alg". A JWT
// goes to the local verifier only, and its result is final: a JWT that
// fails there is never sent for introspection. A forged or garbage JWT
// therefore costs a local check and nothing else, instead of a request to
// the authorization server each, and the introspection endpoint cannot be
// used to get a token accepted that the local checks refuse (an ID token,
// another API's token, an expired one). The one exception is opt-in, with
// IntrospectJWTsFrom.
type Combined struct {
	jwt        JWTVerifier
	opaque     *Verifier
	introspect map[string]bool // issuers whose JWTs are introspected
}

// CombineOption configures Combine.
type CombineOption func(*Combined)

// IntrospectJWTsFrom sends JWTs whose (unverified) iss is one of issuers to
// introspection instead of the local verifier: for servers that issue
// JWT-shaped tokens meant to be opaque to resource servers, such as Okta's
// org authorization server (issuer "https://{yourOktaDomain}"), whose keys
// are not for local verification. Only the payload's iss is read to route
// the token; the introspection answer decides. A forged JWT naming such an
// issuer costs one introspection request, as an opaque token does.
func IntrospectJWTsFrom(issuers ...string) CombineOption {
	return func(c *Combined) {
		for _, iss := range issuers {
			c.introspect[iss] = true
		}
	}
}

// Combine returns a verifier that sends JWTs to jwt and any other token to
// opaque (see Combined). Both are required.
func Combine(jwt JWTVerifier, opaque *Verifier, opts ...CombineOption) (*Combined, error) {
	if jwt == nil || opaque == nil {
		return nil, fmt.Errorf("introspect: Combine needs a JWT verifier and an introspection Verifier")
	}
	c := &Combined{jwt: jwt, opaque: opaque, introspect: make(map[string]bool)}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// VerifyAccessToken verifies a JWT with the JWT verifier, and any other
// token (or a JWT of an issuer named by IntrospectJWTsFrom) with the
// introspection Verifier, returning that verifier's result unchanged.
func (c *Combined) VerifyAccessToken(ctx context.Context, token string) (verifier.Claims, error) {
	if len(token) > verifier.DefaultMaxTokenSize {
		// Neither side would accept it; do not even decode its header.
		return verifier.Claims{}, errTooLarge
	}
	payload, isJWT := jwtPayload(token)
	if !isJWT || (len(c.introspect) > 0 && c.introspect[payloadIssuer(payload)]) {
		return c.opaque.VerifyAccessToken(ctx, token)
	}
	return c.jwt.VerifyAccessToken(ctx, token)
}

// strict is the base64url decoding of JWS parts: unpadded, canonical.
var strict = base64.RawURLEncoding.Strict()

// jwtPayload reports whether token is a JWT: three parts, the first of
// which decodes (strict base64url) to a JSON object with an "alg" member
// whose value is a string. It returns the payload part, still encoded.
//
// To stay cheap on every call it checks that the header is valid JSON and
// an object, then looks for the bytes "alg", a colon and a string, rather
// than decoding the object: an "alg" nested in a member, or an escaped
// member name, can be taken the wrong way. Either way is safe. A token
// taken for a JWT is verified, and refused, by the JWT verifier (which
// decodes headers exactly) and never introspected; a JWT taken for an
// opaque token is refused by the authorization server.
func jwtPayload(token string) (string, bool) {
	if strings.Count(token, ".") != 2 || strings.IndexByte(token, '\n') >= 0 || strings.IndexByte(token, '\r') >= 0 {
		return "", false
	}
	d1 := strings.IndexByte(token, '.')
	d2 := d1 + 1 + strings.IndexByte(token[d1+1:], '.')
	hdr, err := strict.DecodeString(token[:d1])
	if err != nil || !json.Valid(hdr) {
		return "", false
	}
	hdr = bytes.TrimSpace(hdr)
	return token[d1+1 : d2], len(hdr) > 0 && hdr[0] == '{' && namesStringAlg(hdr)
}

// namesStringAlg reports whether the valid JSON hdr has "alg" followed by
// a colon and a string somewhere.
func namesStringAlg(hdr []byte) bool {
	for rest := hdr; ; {
		i := bytes.Index(rest, []byte(`"alg"`))
		if i < 0 {
			return false
		}
		rest = rest[i+len(`"alg"`):]
		after := bytes.TrimLeft(rest, " \t\r\n")
		if len(after) > 0 && after[0] == ':' {
			v := bytes.TrimLeft(after[1:], " \t\r\n")
			if len(v) > 0 && v[0] == '"' {
				return true
			}
		}
	}
}

// payloadIssuer returns the string iss of an encoded JWT payload, or "".
func payloadIssuer(part string) string {
	b, err := strict.DecodeString(part)
	if err != nil {
		return ""
	}
	var claims map[string]json.RawMessage
	var iss string
	if json.Unmarshal(b, &claims) != nil || json.Unmarshal(claims["iss"], &iss) != nil {
		return ""
	}
	return iss
}
