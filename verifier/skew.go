package verifier

import "time"

// ClockSkew returns the tolerance v applies to exp, nbf and iat: its
// Config.ClockSkew, or DefaultClockSkew when that is zero, or 0 when it is
// negative. grpcauth uses it to end a stream when its token expires, so the
// skew is configured in one place.
func (v *Verifier) ClockSkew() time.Duration { return v.s.skew }

// ClockSkew returns the largest clock skew of m's issuers (see
// Verifier.ClockSkew): a stream authorised by any of their tokens is then
// never ended while that token's own Verifier would still accept it.
func (m *MultiVerifier) ClockSkew() time.Duration {
	var d time.Duration
	for _, v := range m.list {
		d = max(d, v.ClockSkew())
	}
	return d
}
