package introspect

import (
	"time"

	"github.com/grpcauth/grpcauth/verifier"
)

// ClockSkew returns the tolerance v applies to exp, nbf and iat: its
// Config.ClockSkew, or verifier.DefaultClockSkew when that is zero, or 0
// when it is negative. grpcauth uses it to end a stream when its token
// expires, so the skew is configured in one place. A Verifier New did not
// build (see Verifier) returns 0.
func (v *Verifier) ClockSkew() time.Duration {
	if !v.built() {
		return 0
	}
	return v.s.skew
}

// ClockSkew returns the larger of the two verifiers' clock skews; a JWT
// verifier without a ClockSkew method counts as verifier.DefaultClockSkew.
// grpcauth ends a stream by ClockSkewFor instead. A Combined that Combine
// did not build returns 0.
func (c *Combined) ClockSkew() time.Duration {
	if !c.built() {
		return 0
	}
	return max(c.jwtSkew(), c.opaque.ClockSkew())
}

// ClockSkewFor returns the clock skew of the verifier that accepted
// claims: the introspection Verifier's for claims it accepted (claims
// record which kind of verifier built them; no claim, "active" included,
// decides), the JWT verifier's otherwise (its own
// ClockSkewFor, as verifier.MultiVerifier's, or ClockSkew). grpcauth uses
// it to end a stream at its token's exp plus that skew, when the token's
// unary calls start being refused, and as the most a step-up rule's
// auth_time may lie in the future. A Combined that Combine did not build
// returns 0.
func (c *Combined) ClockSkewFor(claims verifier.Claims) time.Duration {
	if !c.built() {
		return 0
	}
	if introspected(claims) {
		return c.opaque.ClockSkew()
	}
	if s, ok := c.jwt.(interface {
		ClockSkewFor(verifier.Claims) time.Duration
	}); ok {
		return s.ClockSkewFor(claims)
	}
	return c.jwtSkew()
}

// jwtSkew returns the JWT verifier's clock skew, or
// verifier.DefaultClockSkew when it has no ClockSkew method.
func (c *Combined) jwtSkew() time.Duration {
	if s, ok := c.jwt.(interface{ ClockSkew() time.Duration }); ok {
		return s.ClockSkew()
	}
	return verifier.DefaultClockSkew
}
