package introspect

// Parts returns the two verifiers c routes between, as given to Combine:
// for observing them (the otelmetrics package reads their Stats through
// it). They are still owned by the caller of Combine. A nil *Combined
// returns nil, nil; a zero Combined, its nil fields.
func (c *Combined) Parts() (JWTVerifier, *Verifier) {
	if c == nil {
		return nil, nil
	}
	return c.jwt, c.opaque
}
