package otelmetrics_test

// Tests for what a hand-run mutation test of the package found no test
// held: each fails with the mutants named in its comment.

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/otelmetrics"
	"github.com/grpcauth/grpcauth/verifier"
)

// introStatsFunc is an introspection Source of a func type.
type introStatsFunc func() introspect.Stats

func (f introStatsFunc) Stats() introspect.Stats { return f() }

// TestMetrics_EveryFigureOfAVerifierAndAnIntrospectorIsObservedAsItIs:
// each field of verifier.Stats and introspect.Stats, given a value of its
// own, is observed under its instrument with that value; a key set never
// fetched has no age. (Mutants: key-fetch failures, skipped keys, JWKS URL
// changes, malformed tokens, introspection failures, coalesced calls or
// requests in flight observed as 0; an age observed for a zero
// KeysFetched.)
func TestMetrics_EveryFigureOfAVerifierAndAnIntrospectorIsObservedAsItIs(t *testing.T) {
	const iss, introIss = "https://issuer.example", "https://introspection.example"
	keyed := statsFunc(func() verifier.Stats {
		return verifier.Stats{Issuer: iss, CacheHits: 1, CacheMisses: 2, CacheEntries: 3, CacheBytes: 4, KeyFetches: 5,
			KeyFetchFailures: 6, Keys: 7, SkippedKeys: 8, Discoveries: 9, JWKSURLChanges: 10, KeyMissFetches: 11,
			KeyMissesLimited: 12, KeyMissWaits: 13, Malformed: 14}
	})
	intro := introStatsFunc(func() introspect.Stats {
		return introspect.Stats{Issuer: introIss, CacheHits: 21, NegativeHits: 22, CacheMisses: 23, CacheEntries: 24,
			NegativeEntries: 25, CacheBytes: 26, Requests: 27, Failures: 28, Inactive: 29, Coalesced: 30, InFlight: 31,
			Malformed: 32, RateLimited: 33}
	})
	reader := observing(t, nil, keyed, intro)
	got := collect(t, reader)
	issuer := attribute.NewSet(attribute.String("grpcauth.issuer", iss))
	for name, want := range map[string]int64{
		"grpcauth.cache.hits": 1, "grpcauth.cache.misses": 2, "grpcauth.cache.entry.count": 3, "grpcauth.cache.size": 4,
		"grpcauth.jwks.fetches": 5, "grpcauth.jwks.failures": 6, "grpcauth.jwks.key.count": 7, "grpcauth.jwks.key.skipped": 8,
		"grpcauth.jwks.discoveries": 9, "grpcauth.jwks.url_changes": 10, "grpcauth.jwks.miss_fetches": 11,
		"grpcauth.jwks.misses_limited": 12, "grpcauth.jwks.miss_waits": 13, "grpcauth.malformed_tokens": 14,
	} {
		if v := points(t, got, name)[issuer]; v != want {
			t.Errorf("%s = %d, want %d", name, v, want)
		}
	}
	introIssuer := attribute.NewSet(attribute.String("grpcauth.issuer", introIss))
	for name, want := range map[string]int64{
		"grpcauth.introspection.cache.hits": 21, "grpcauth.introspection.cache.negative_hits": 22,
		"grpcauth.introspection.cache.misses": 23, "grpcauth.introspection.cache.size": 26,
		"grpcauth.introspection.requests": 27, "grpcauth.introspection.failures": 28, "grpcauth.introspection.inactive": 29,
		"grpcauth.introspection.coalesced": 30, "grpcauth.introspection.in_flight": 31,
		"grpcauth.introspection.malformed": 32, "grpcauth.introspection.rate_limited": 33,
	} {
		if v := points(t, got, name)[introIssuer]; v != want {
			t.Errorf("%s = %d, want %d", name, v, want)
		}
	}
	if age, ok := got["grpcauth.jwks.age"].(metricdata.Gauge[float64]); ok && len(age.DataPoints) > 0 {
		t.Errorf("grpcauth.jwks.age = %+v for a key set never fetched, want no point", age.DataPoints)
	}
}

// multiStatsFunc is a MultiVerifier Source of a func type.
type multiStatsFunc func() verifier.MultiStats

func (f multiStatsFunc) Stats() verifier.MultiStats { return f() }

// TestMetrics_MalformedTokensOfTwoMultiVerifiersAddUp: the tokens two
// MultiVerifiers refused without reading their iss are counted together,
// under no issuer. (Mutant: the last MultiVerifier's count alone.)
func TestMetrics_MalformedTokensOfTwoMultiVerifiersAddUp(t *testing.T) {
	multi := func(iss string, malformed int64) multiStatsFunc {
		return func() verifier.MultiStats {
			return verifier.MultiStats{Issuers: []verifier.Stats{{Issuer: iss}}, Malformed: malformed}
		}
	}
	reader := observing(t, nil, multi("https://a.example", 3), multi("https://b.example", 4))
	got := collect(t, reader)
	if v := points(t, got, "grpcauth.malformed_tokens")[*attribute.EmptySet()]; v != 7 {
		t.Errorf("grpcauth.malformed_tokens without an issuer = %d, want 3 + 4", v)
	}
}

// TestMetrics_KeepsAtMostMaxAttributeSetsForReuse: the attribute sets
// kept for reuse stop at 4,096, however many methods, outcomes and
// reasons the decisions name (an unknown method is named "unknown", but a
// reason or an application's own Decision may vary). (Mutants: 4,097 or
// 4,095 kept; no bound.)
func TestMetrics_KeepsAtMostMaxAttributeSetsForReuse(t *testing.T) {
	m, _ := newManual(t)
	for i := range 5000 {
		m.OnDecision(t.Context(), grpcauth.Decision{Method: fmt.Sprintf("/a.B/M%d", i), Allowed: true})
	}
	if n := otelmetrics.CachedSets(m); n != 4096 {
		t.Errorf("kept %d attribute sets, want 4096", n)
	}
}

// failingProvider is a MeterProvider whose callback registrations fail
// to unregister.
type failingProvider struct{ onceProvider }

func (p *failingProvider) Meter(string, ...metric.MeterOption) metric.Meter { return failingMeter{} }

type failingMeter struct{ onceMeter }

func (failingMeter) RegisterCallback(metric.Callback, ...metric.Observable) (metric.Registration, error) {
	return failingRegistration{}, nil
}

type failingRegistration struct{ onceRegistration }

var errUnregister = errors.New("unregister failed")

func (failingRegistration) Unregister() error { return errUnregister }

// TestMetrics_CloseReportsAFailedUnregister: Close returns the provider's
// failure to unregister the callback, wrapped, on every call. (Mutant:
// the failure dropped.)
func TestMetrics_CloseReportsAFailedUnregister(t *testing.T) {
	m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: &failingProvider{}, Verifiers: []otelmetrics.Source{newFixture(t).v}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := m.Close(); !errors.Is(err, errUnregister) {
			t.Errorf("Close %d = %v, want %v", i+1, err, errUnregister)
		}
	}
}

// ownJWTVerifier is an application's JWT verifier, without Stats.
type ownJWTVerifier struct{}

func (ownJWTVerifier) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return verifier.Claims{}, errors.New("not used")
}

// TestNew_CombinedWithAJWTVerifierWithoutStatsObservesItsIntrospection: a
// Combined whose JWT verifier is the application's own, with no Stats this
// package reads, is accepted, and its introspection Verifier observed.
// (Mutant: the JWT part required to have Stats.)
func TestNew_CombinedWithAJWTVerifierWithoutStatsObservesItsIntrospection(t *testing.T) {
	f := newFixture(t)
	opaque := introspector(t, introspect.Config{Endpoint: f.iss.URL() + "/introspect", Issuer: f.iss.URL(), ClientID: "rs", ClientSecret: "s", Audiences: []string{f.iss.Audience()}})
	combined, err := introspect.Combine(ownJWTVerifier{}, opaque)
	if err != nil {
		t.Fatal(err)
	}
	reader := observing(t, nil, combined)
	if _, ok := collect(t, reader)["grpcauth.introspection.requests"]; !ok {
		t.Error("grpcauth.introspection.requests not observed")
	}
}
