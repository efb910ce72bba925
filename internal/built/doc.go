// Package built tells whether a verifier of this module was made by its
// constructor: a zero verifier.Verifier or verifier.MultiVerifier refuses
// every token (ErrKeysUnavailable), and so do a zero introspect.Verifier or
// introspect.Combined (ErrUnavailable), so a constructor that is given one
// fails at once instead. It names the verifier package's types itself;
// introspect, which imports it, sets CheckIntrospect for its own as it is
// initialised (as package verifier sets internal/provenance's hooks).
//
//	if err := built.Check(cfg.Verifier); err != nil {
//		return nil, fmt.Errorf("grpcauth: Config.Verifier %w", err)
//	}
package built
