package otelmetrics

import (
	"fmt"

	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// Source is a verifier whose figures Metrics observe: usually the value
// given as grpcauth.Config.Verifier. It must have one of these methods:
//
//	Stats() verifier.Stats       *verifier.Verifier: cache and key-set figures
//	Stats() verifier.MultiStats  *verifier.MultiVerifier: those of each issuer
//	Stats() introspect.Stats     *introspect.Verifier: introspection figures
//	Parts() (introspect.JWTVerifier, *introspect.Verifier)
//	                             *introspect.Combined: both parts' figures
//
// New rejects any other value. A Combined's JWT verifier without one of
// the Stats methods (a custom one) is skipped.
type Source any

// Source kinds, as New checks them.
type (
	keyedSource         interface{ Stats() verifier.Stats }
	multiSource         interface{ Stats() verifier.MultiStats }
	introspectionSource interface{ Stats() introspect.Stats }
	combinedSource      interface {
		Parts() (introspect.JWTVerifier, *introspect.Verifier)
	}
)

// sources are the Config.Verifiers, sorted by kind.
type sources struct {
	keyed []func() []verifier.Stats
	intro []introspectionSource
}

// add sorts s into its kind. A nil or unknown s is an error when required.
func (ss *sources) add(s Source, required bool) error {
	switch s := s.(type) {
	case keyedSource:
		ss.keyed = append(ss.keyed, func() []verifier.Stats { return []verifier.Stats{s.Stats()} })
	case multiSource:
		ss.keyed = append(ss.keyed, func() []verifier.Stats { return s.Stats().Issuers })
	case introspectionSource:
		ss.intro = append(ss.intro, s)
	case combinedSource:
		jwt, opaque := s.Parts()
		if err := ss.add(jwt, false); err != nil {
			return err
		}
		return ss.add(opaque, true)
	default:
		if required {
			return fmt.Errorf("otelmetrics: Config.Verifiers: %T has no Stats method this package reads (see Source)", s)
		}
	}
	return nil
}
