// Package built tells whether a JWT verifier of this module was made by its
// constructor: a zero verifier.Verifier or verifier.MultiVerifier refuses
// every token (ErrKeysUnavailable), so a constructor that is given one
// fails at once instead.
//
//	if err := built.Check(cfg.Verifier); err != nil {
//		return nil, fmt.Errorf("grpcauth: Config.Verifier %w", err)
//	}
package built
