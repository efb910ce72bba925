package verifier

import (
	"github.com/grpcauth/grpcauth/internal/jwt"
	"github.com/grpcauth/grpcauth/internal/provenance"
)

// fromIntrospection marks, in claimSet.present above the bits of
// jwt.RegisteredNames, claims built from an introspection answer
// (internal/provenance): a bit no member of the claims sets, kept where
// it adds nothing to a claimSet's size, and read without the member index.
const fromIntrospection jwt.Presence = 1 << 31

// The registered names' bits stay below fromIntrospection.
var _ [31 - len(jwt.RegisteredNames)]struct{}

func init() {
	provenance.ParseIntrospected = func(payload []byte, scopeClaims []string) (any, error) {
		c, err := ParseClaims(payload, scopeClaims...)
		if err != nil {
			return Claims{}, err
		}
		c.s.present |= fromIntrospection // before anything else holds c
		return c, nil
	}
	provenance.Introspected = func(claims any) bool {
		c, _ := claims.(Claims)
		return c.set().present&fromIntrospection != 0
	}
}
