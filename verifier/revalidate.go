package verifier

import "time"

// RevalidateAt returns when a stream opened with token, which
// VerifyAccessToken has accepted, should have it verified again: one
// RefreshInterval from now. A signed token's verdict also changes when its
// key leaves the issuer's key set (a key withdrawn after a compromise, whose
// holder can mint tokens with any exp), and the key set changes at most
// once a RefreshInterval on its schedule; grpcauth uses it (see
// grpcauth.Revalidator) to end such a stream within RefreshInterval of the
// refresh that dropped the key, as the token's unary calls are refused
// from that refresh on. Re-verifying a token whose key is still held is a
// cache hit or one signature check. A Verifier New did not build, which
// accepts no token, returns time.Now(): verify again at once (see
// Verifier).
func (v *Verifier) RevalidateAt(string, Claims) time.Time {
	if !v.built() {
		return time.Now()
	}
	return v.s.Now().Add(v.s.RefreshInterval)
}

// RevalidateAt returns when a stream opened with token should have it
// verified again: that of the Verifier of the issuer that accepted it (see
// Verifier.RevalidateAt). For claims none of m's issuers issued (an iss
// that is not configured, or none), which m never accepted and so cannot
// vouch for, it returns the current time, by the first issuer's
// Config.Now: verify again at once, which refuses the token (ErrIssuer),
// so that grpcauth ends the stream rather than let it run unchecked to its
// exp, or for ever without one (the zero time, never, which it answered
// before). A MultiVerifier NewMulti did not build, which accepts no
// token, returns time.Now(), as a Verifier New did not build does.
func (m *MultiVerifier) RevalidateAt(token string, claims Claims) time.Time {
	if !m.built() {
		return time.Now()
	}
	v, ok := m.byIssuer[claims.Issuer()]
	if !ok {
		return m.list[0].s.Now()
	}
	return v.RevalidateAt(token, claims)
}
