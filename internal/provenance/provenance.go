// Package provenance records which kind of this module's verifiers built a
// verifier.Claims, in state of the Claims that no member of a token or of
// an introspection answer can set: introspect.Combined routes the claims
// it returned (to a clock skew, a re-verification time) by the verifier
// that built them, never by a claim an issuer controls.
//
// Package verifier sets the hooks as it is initialised. It imports this
// package, which therefore cannot name verifier.Claims: the hooks pass it
// as any (a Claims holds one pointer, so the conversions do not allocate).
package provenance

var (
	// ParseIntrospected is verifier.ParseClaims for an introspection
	// answer: the verifier.Claims it returns (as any) are marked as built
	// by introspection.
	ParseIntrospected func(payload []byte, scopeClaims []string) (any, error)

	// Introspected reports whether claims, a verifier.Claims, were built by
	// ParseIntrospected.
	Introspected func(claims any) bool
)
