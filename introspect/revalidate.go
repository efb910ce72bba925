package introspect

import (
	"crypto/sha256"
	"time"

	"github.com/grpcauth/grpcauth/verifier"
)

// RevalidateAt returns when token, which VerifyAccessToken has accepted,
// should be verified again: when its cached answer ends (at most Cache.TTL
// after it was introspected, or its exp plus ClockSkew), or, without a cached answer
// (the caches off, the entry evicted, the last attempt failed),
// Cache.NegativeTTL from now when caching, Cache.TTL when not. It makes
// grpcauth re-verify the streams a token opened, and end them once the
// authorization server calls it inactive: a revoked token's stream ends
// within Cache.TTL, as its unary calls do (see grpcauth.Revalidator and
// docs/introspection.md). A Verifier New did not build, which accepts no
// token, returns time.Now(): verify again at once (see Verifier).
func (v *Verifier) RevalidateAt(token string, _ verifier.Claims) time.Time {
	if !v.built() {
		return time.Now()
	}
	now := v.s.Now()
	if v.pos == nil {
		return now.Add(v.s.Cache.TTL)
	}
	// lookup, not get: an ended entry's exp must outlive this question.
	if r, ok := v.pos.lookup(sha256.Sum256([]byte(token)), now); ok {
		return r.until
	}
	return now.Add(v.s.Cache.NegativeTTL)
}

// RevalidateAt returns when token should be verified again: for a token
// the introspection Verifier accepted (as for ClockSkewFor, by the claims'
// record of the verifier that built them, not by any claim), that
// Verifier's answer; for a JWT, the JWT verifier's when it has a
// RevalidateAt method (*verifier.Verifier and *verifier.MultiVerifier do:
// a JWT's key may leave the key set), and otherwise never (the zero time).
// A Combined that Combine did not build, which accepts no token, returns
// time.Now(), as a Verifier New did not build does.
func (c *Combined) RevalidateAt(token string, claims verifier.Claims) time.Time {
	if !c.built() {
		return time.Now()
	}
	if introspected(claims) {
		return c.opaque.RevalidateAt(token, claims)
	}
	if rv, ok := c.jwt.(interface {
		RevalidateAt(string, verifier.Claims) time.Time
	}); ok {
		return rv.RevalidateAt(token, claims)
	}
	return time.Time{}
}
