package built

import (
	"errors"

	"github.com/grpcauth/grpcauth/verifier"
)

// Check returns an error, to follow the name of the field or argument that
// holds v, when v is a *verifier.Verifier or *verifier.MultiVerifier that
// its constructor did not build, and nil for any other value: a built
// Verifier always has an issuer, a built MultiVerifier at least one. A
// verifier of the caller's own, a wrapper of one of these included, is
// not looked into.
func Check(v any) error {
	switch j := v.(type) {
	case *verifier.Verifier:
		if j.Stats().Issuer == "" {
			return errors.New("was not built with verifier.New (a zero verifier.Verifier)")
		}
	case *verifier.MultiVerifier:
		if len(j.Issuers()) == 0 {
			return errors.New("was not built with verifier.NewMulti (a zero verifier.MultiVerifier)")
		}
	}
	return nil
}
