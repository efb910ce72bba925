package introspect

import (
	"context"
	"fmt"

	"github.com/grpcauth/grpcauth/internal/built"
	"github.com/grpcauth/grpcauth/internal/isnil"
	"github.com/grpcauth/grpcauth/internal/jwt"
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
// use. It owns neither verifier: close them yourself. A Combined that
// Combine did not build (a zero Combined, or a nil *Combined) refuses every
// token with an "introspect: ... not built with Combine" error wrapping
// ErrUnavailable (codes.Unavailable behind grpcauth), logged once per
// process through slog.Default(), and never panics.
//
// A token is a JWT when it has three dot-separated parts and its first part
// decodes (strict base64url) to UTF-8 that starts as a JSON object ('{'
// after any white space), whether or not the JWT parser then accepts it. A JWT
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
// issuer costs one introspection request, as an opaque token does. Only a
// payload of at most 16 KiB (encoded) is read for its iss; a JWT with a
// longer one goes to the JWT verifier. An
// empty issuer makes Combine fail: it would send every JWT without an iss
// (or with a payload that does not parse) to introspection. It wins over
// the JWT verifier: the JWTs of an issuer that verifier also verifies
// (one of a MultiVerifier's issuers, say) are introspected all the same,
// and that verifier's checks (audiences, ClientIDs, typ, AssertClaims,
// signature) never see them. Name only issuers whose tokens the
// authorization server alone is to judge.
func IntrospectJWTsFrom(issuers ...string) CombineOption {
	return func(c *Combined) {
		for _, iss := range issuers {
			c.introspect[iss] = true
		}
	}
}

// Combine returns a verifier that sends JWTs to jwt and any other token to
// opaque (see Combined). Both are required (a nil pointer in jwt is an
// error too, and so are an opaque Verifier New did not build and, in
// jwt, a zero verifier.Verifier, verifier.MultiVerifier, Verifier or
// Combined, which would refuse every token; one inside a JWTVerifier of
// your own is not looked into), every issuer named by IntrospectJWTsFrom must be
// non-empty, and no option may be nil: Combine fails on a nil option,
// naming its index, rather than ignore it, since it may stand for an
// IntrospectJWTsFrom that was meant to apply.
func Combine(jwt JWTVerifier, opaque *Verifier, opts ...CombineOption) (*Combined, error) {
	if isnil.Value(jwt) || opaque == nil { // a nil *verifier.Verifier would panic on the first JWT
		return nil, fmt.Errorf("introspect: Combine needs a JWT verifier and an introspection Verifier")
	}
	if !opaque.built() {
		return nil, fmt.Errorf("introspect: Combine: the introspection Verifier was not built with New (a zero Verifier)")
	}
	if err := built.Check(jwt); err != nil {
		return nil, fmt.Errorf("introspect: Combine: the JWT verifier %w", err)
	}
	c := &Combined{jwt: jwt, opaque: opaque, introspect: make(map[string]bool)}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("introspect: Combine: option %d is nil", i)
		}
		o(c)
	}
	if c.introspect[""] {
		return nil, fmt.Errorf("introspect: Combine: IntrospectJWTsFrom was given an empty issuer")
	}
	return c, nil
}

// VerifyAccessToken verifies a JWT with the JWT verifier, and any other
// token (or a JWT of an issuer named by IntrospectJWTsFrom) with the
// introspection Verifier, returning that verifier's result unchanged.
// Combined has no size limit of its own: each verifier applies its
// MaxTokenSize before anything else, so a token longer than the one it
// goes to admits fails there with verifier.ErrMalformed (counted in that
// verifier's Stats.Malformed), without a request. A JWTVerifier of your
// own must bound the size itself, as it must behind grpcauth alone.
// Routing allocates nothing, however long the token is, beyond reading
// the iss of a payload of at most 16 KiB for IntrospectJWTsFrom; its time
// grows with the length (byte scans of the token and the decoding of its
// first part).
func (c *Combined) VerifyAccessToken(ctx context.Context, token string) (verifier.Claims, error) {
	if !c.built() {
		return verifier.Claims{}, notBuilt(errCombinedNotBuilt)
	}
	payload, isJWT := jwtPayload(token)
	if !isJWT || (len(c.introspect) > 0 && c.introspect[payloadIssuer(payload)]) {
		return c.opaque.VerifyAccessToken(ctx, token)
	}
	return c.jwt.VerifyAccessToken(ctx, token)
}

// jwtPayload reports whether token is a JWT: three parts, the first of
// which decodes (strict base64url) to UTF-8 that starts as a JSON object
// (jwt.LooksLikeObject). It returns the payload part, still encoded. A
// token taken for a JWT is verified, and refused or accepted, by the JWT
// verifier only and never introspected: a header that then fails to parse
// (no alg, a member named like a registered one in another case, nesting
// too deep) is refused locally, at no cost to the authorization server.
func jwtPayload(token string) (string, bool) {
	parts, err := jwt.Split(token)
	if err != nil {
		return "", false
	}
	return parts.Payload, jwt.LooksLikeObject(parts.Header)
}

// maxRoutedPayload is the longest encoded payload whose iss routes a JWT
// to introspection (IntrospectJWTsFrom): an authorization server's token
// is a few KiB at most. A longer one stays with the JWT verifier, so that
// reading iss costs at most a fixed amount on top of the verifier's own
// decoding (a refusal's allocations stay within twice the token's length
// plus that amount).
const maxRoutedPayload = 16 << 10

// payloadIssuer returns the string iss of an encoded JWT payload of at
// most maxRoutedPayload characters, or "".
func payloadIssuer(part string) string {
	if len(part) > maxRoutedPayload {
		return ""
	}
	b, err := jwt.Decode(part)
	if err != nil {
		return ""
	}
	c, err := jwt.ParseClaims(b)
	if err != nil {
		return ""
	}
	return c.Issuer
}
