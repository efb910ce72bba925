package introspect

// Parts returns the two verifiers c routes between, as given to Combine:
// for observing them (the otelmetrics package reads their Stats through
// it). They are still owned by the caller of Combine.
func (c *Combined) Parts() (JWTVerifier, *Verifier) { return c.jwt, c.opaque }
