package verifier

import "time"

// ClockSkew returns the tolerance v applies to exp, nbf and iat: its
// Config.ClockSkew, or DefaultClockSkew when that is zero, or 0 when it is
// negative. grpcauth uses it to end a stream when its token expires, so the
// skew is configured in one place. A Verifier New did not build (see
// Verifier) returns 0.
func (v *Verifier) ClockSkew() time.Duration {
	if !v.built() {
		return 0
	}
	return v.s.skew
}

// ClockSkew returns the largest clock skew of m's issuers (see
// Verifier.ClockSkew): no token of theirs is accepted beyond its exp plus
// that. grpcauth ends a stream by ClockSkewFor instead. A MultiVerifier
// NewMulti did not build (see MultiVerifier) returns 0.
func (m *MultiVerifier) ClockSkew() time.Duration {
	if !m.built() {
		return 0
	}
	var d time.Duration
	for _, v := range m.list {
		d = max(d, v.ClockSkew())
	}
	return d
}

// ClockSkewFor returns the clock skew of the issuer of claims (see
// Verifier.ClockSkew), the tolerance its Verifier accepted them with, or
// ClockSkew for claims none of m's issuers issued. grpcauth uses it to end
// a stream at its token's exp plus that skew, when the token's unary calls
// start being refused (but for the cache's hit clock: at most 10 ms later,
// with a skew of a second or more; see CacheConfig), whatever the skews of
// m's other issuers, and as the most a step-up rule's auth_time may lie in
// the future. A MultiVerifier NewMulti did not build returns 0.
func (m *MultiVerifier) ClockSkewFor(claims Claims) time.Duration {
	if !m.built() {
		return 0
	}
	if v, ok := m.byIssuer[claims.Issuer()]; ok {
		return v.ClockSkew()
	}
	return m.ClockSkew()
}
