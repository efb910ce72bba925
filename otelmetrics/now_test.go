package otelmetrics_test

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/grpcauth/grpcauth/verifier"
)

// keySetAge collects reader's grpcauth.jwks.age points: the one of
// issuer, and whether there was one.
func keySetAge(t *testing.T, src statsFunc, now func() time.Time) (float64, bool) {
	t.Helper()
	got := collect(t, observing(t, now, src))
	age, _ := got["grpcauth.jwks.age"].(metricdata.Gauge[float64])
	if len(age.DataPoints) != 1 {
		return 0, false
	}
	return age.DataPoints[0].Value, true
}

// A Config.Now that returns the zero time (a clock of the program's own
// not set yet) is no time to measure from: time.Now is read instead, so
// that grpcauth.jwks.age, the figure operators alert on, is not lost.
func TestMetrics_ZeroConfigNowMeasuresTheKeySetAgeByTimeNow(t *testing.T) {
	fetched := time.Now().Add(-time.Hour)
	src := statsFunc(func() verifier.Stats { return verifier.Stats{Issuer: "https://zero.example", KeysFetched: fetched} })
	before := time.Since(fetched).Seconds()
	age, ok := keySetAge(t, src, func() time.Time { return time.Time{} })
	after := time.Since(fetched).Seconds()
	if !ok || age < before || age > after {
		t.Errorf("grpcauth.jwks.age = %v (observed %v), want between %v and %v", age, ok, before, after)
	}
}

// A Config.Now earlier than the key set's fetch (a clock behind the
// verifiers') reports the set as just fetched, age 0, not a negative age.
func TestMetrics_ConfigNowBeforeTheFetchReportsAgeZero(t *testing.T) {
	src := statsFunc(func() verifier.Stats { return verifier.Stats{Issuer: "https://behind.example", KeysFetched: t0} })
	age, ok := keySetAge(t, src, func() time.Time { return t0.Add(-time.Hour) })
	if !ok || age != 0 {
		t.Errorf("grpcauth.jwks.age = %v (observed %v), want 0", age, ok)
	}
}
