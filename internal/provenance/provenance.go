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
