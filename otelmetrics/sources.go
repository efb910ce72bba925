package otelmetrics

import (
	"fmt"

	"github.com/grpcauth/grpcauth/internal/isnil"
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
// New rejects any other value, a nil one, and an issuer whose figures two
// Sources would report (a verifier given twice, or given both alone and
// inside a MultiVerifier or Combined): the SDK adds up what one collection
// observes twice, so its counters would count double. It also rejects a
// verifier its constructor did not build (a zero verifier.Verifier,
// MultiVerifier, introspect.Verifier or Combined), whose Stats name no
// issuer: it would report zeros under issuer "", as if it were serving. A
// Source whose Stats name no issuer, a Combined's JWT verifier included,
// is rejected alike. A Combined's JWT verifier without one of the Stats
// methods (a custom one) is skipped.
//
// Stats are read in a callback at collection time, each Source's on a
// goroutine of its own that the collection waits for, where the program
// cannot recover a panic. A Source whose Stats panic there (a source of
// your own, or a Config.Now of a verifier's that panics), or do not
// return within Config.StatsTimeout (or before the reader's context
// ends, or Close), has its sums (its counters and up-down counters)
// observed in that collection with the figures of its last Stats that
// returned (in the unattributed sums of the MultiVerifiers too, when it is
// one), and its gauge (grpcauth.jwks.age) left out, so that no sum series
// goes missing from a collection, nor a counter down: under delta
// temporality the SDK forgets a missing series, and the next collection
// would report its whole count again. The other Sources are observed as
// usual, and the callback gives otel.Handle an error naming the Source's
// type and the panic (clipped to 1,024 bytes) or the wait that ended,
// once a collection while it fails. It returns nil, and
// ManualReader.Collect no error, for that: a PeriodicReader exports
// nothing of a collection whose callbacks return an error, and every
// instrument of the MeterProvider would miss that export. A Source whose
// Stats have not returned yet (New's reading aside) has nothing to stand
// in, and none of its series is observed. A panic(nil) under
// GODEBUG=panicnil=1, or a runtime.Goexit, fails the Source alike.
//
// A Source has at most one read outstanding: while Stats that did not
// return in time go on (their goroutine waits for them, past Close too),
// later collections start no other read of that Source and do not wait
// for it, but observe its last good figures and report that its Stats
// have not returned; once they return, the next collection takes them
// and reads again. So a Source whose Stats never return costs one
// goroutine, and one StatsTimeout of the collection that started the
// read. Collections of several readers of one MeterProvider take turns
// reading the Sources, so that each finds the last good figures of the
// one before: a Source whose Stats are slow delays each reader's
// collection by as much, up to StatsTimeout. The Stats of this module's
// verifiers make no network call and take no lock of the verification
// path. An error reaches otel.Handle after the collection's turn, so a
// slow error handler holds up no other reader.
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

// sources are the Config.Verifiers, sorted by kind, with the issuers each
// kind reports.
type sources struct {
	keyed []keyedSource
	multi []multiSource
	intro []introspectionSource

	keyedIssuers, introIssuers map[string]bool
}

// add sorts s into its kind. A nil or unknown s is an error when required;
// so is an issuer already reported for s's kind.
func (ss *sources) add(s Source, required bool) error {
	if isNil(s) {
		if required {
			return fmt.Errorf("otelmetrics: Config.Verifiers: a nil %T", s)
		}
		return nil
	}
	switch s := s.(type) {
	case keyedSource:
		if err := claim(&ss.keyedIssuers, s.Stats().Issuer, s); err != nil {
			return err
		}
		ss.keyed = append(ss.keyed, s)
	case multiSource:
		issuers := s.Stats().Issuers
		if len(issuers) == 0 { // NewMulti needs at least one
			return notBuilt(s)
		}
		for _, st := range issuers {
			if err := claim(&ss.keyedIssuers, st.Issuer, s); err != nil {
				return err
			}
		}
		ss.multi = append(ss.multi, s)
	case introspectionSource:
		if err := claim(&ss.introIssuers, s.Stats().Issuer, s); err != nil {
			return err
		}
		ss.intro = append(ss.intro, s)
	case combinedSource:
		jwt, opaque := s.Parts()
		if isNil(opaque) { // Combine needs one
			return notBuilt(s)
		}
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

// isNil reports whether s is nil or a nil value of a kind that can be nil
// (a nil pointer, or a nil func, map, slice or channel with a Stats method),
// whose Stats would panic.
func isNil(s Source) bool { return isnil.Value(s) }

// notBuilt is the error for s, a verifier its constructor did not build.
func notBuilt(s Source) error {
	return fmt.Errorf("otelmetrics: Config.Verifiers: a %T whose Stats name no issuer: a verifier not built by its constructor (a zero value), or a source of your own that reports none", s)
}

// claim records that a Source reports issuer's figures, or fails if another
// one does already. An empty issuer is that of s, a verifier its
// constructor did not build (verifier.New and introspect.New refuse an
// empty Issuer): an error too.
func claim(issuers *map[string]bool, issuer string, s Source) error {
	if issuer == "" {
		return notBuilt(s)
	}
	if (*issuers)[issuer] {
		return fmt.Errorf("otelmetrics: Config.Verifiers: issuer %q is observed twice (a verifier given twice, or also inside a MultiVerifier or Combined given): its counters would count double", issuer)
	}
	if *issuers == nil {
		*issuers = make(map[string]bool)
	}
	(*issuers)[issuer] = true
	return nil
}
