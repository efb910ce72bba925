// Package provenance records which kind of this module's verifiers built a
// verifier.Claims, in state of the Claims that no member of a token or of
// an introspection answer can set: introspect.Combined routes the claims
// it returned (to a clock skew, a re-verification time) by the verifier
// that built them, never by a claim an issuer controls.
//
//	// package verifier, in init:
//	provenance.ParseIntrospected = func(payload []byte, scopeClaims []string) (any, error) {
//		c, err := ParseClaims(payload, scopeClaims...)
//		// ... mark c as built from an introspection answer
//		return c, err
//	}
//
//	// package introspect:
//	c, err := provenance.ParseIntrospected(body, scopeClaims)
//	claims, _ := c.(verifier.Claims)
//	fromIntrospection := provenance.Introspected(claims)
//
// Package verifier sets the hooks as it is initialised. It imports this
// package, which therefore cannot name verifier.Claims: the hooks pass it
// as any (a Claims holds one pointer, so the conversions do not allocate).
package provenance
