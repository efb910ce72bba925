package introspect

import (
	"time"

	"github.com/grpcauth/grpcauth/verifier"
)

// ClockSkew returns the tolerance v applies to exp, nbf and iat: its
// Config.ClockSkew, or verifier.DefaultClockSkew when that is zero, or 0
// when it is negative. grpcauth uses it to end a stream when its token
// expires, so the skew is configured in one place.
func (v *Verifier) ClockSkew() time.Duration { return v.s.skew }

// ClockSkew returns the larger of the two verifiers' clock skews; a JWT
// verifier without a ClockSkew method counts as verifier.DefaultClockSkew.
func (c *Combined) ClockSkew() time.Duration {
	jwt := verifier.DefaultClockSkew
	if s, ok := c.jwt.(interface{ ClockSkew() time.Duration }); ok {
		jwt = s.ClockSkew()
	}
	return max(jwt, c.opaque.ClockSkew())
}
