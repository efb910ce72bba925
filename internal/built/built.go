package built

import (
	"errors"

	"github.com/grpcauth/grpcauth/verifier"
)

// Check returns an error, to follow the name of the field or argument that
// holds v, when v is a *verifier.Verifier or *verifier.MultiVerifier that
// its constructor did not build, or a value of package introspect that
// CheckIntrospect refuses, and nil for any other value: a built Verifier
// always has an issuer, a built MultiVerifier at least one. A verifier of
// the caller's own, a wrapper of one of these included, is not looked
// into.
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
	default:
		if CheckIntrospect != nil {
			return CheckIntrospect(v)
		}
	}
	return nil
}

// CheckIntrospect is Check for the types of package introspect
// (*introspect.Verifier, *introspect.Combined), which imports this package
// and so cannot be named here. Package introspect sets it as it is
// initialised, before any of its values can exist: a program that holds
// one links introspect. It stays nil in a program that does not, where it
// has nothing to check.
var CheckIntrospect func(v any) error
