package otelmetrics_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/grpcauth/grpcauth/otelmetrics"
	"github.com/grpcauth/grpcauth/verifier"
)

// A verifier that replaces another of the same issuer (a configuration
// reload: Close the old Metrics, New one for the new verifier) counts from
// 0 under the same attributes. Under delta temporality, when a collection
// runs between the old Metrics' Close and the new one's New, the SDK has
// forgotten the series and reports the new verifier's whole count; without
// one, it reports the drop as a negative delta of a monotonic counter, as
// docs/observability.md says.
func TestMetrics_AVerifierReplacedAfterACollectionCountsFromZero(t *testing.T) {
	for _, collectBetween := range []bool{true, false} {
		reader := sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality {
			return metricdata.DeltaTemporality
		}))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		t.Cleanup(func() { mp.Shutdown(context.Background()) })
		hits := func(n int64) statsFunc {
			return func() verifier.Stats { return verifier.Stats{Issuer: "https://issuer.example", CacheHits: n} }
		}
		hitsSeries := series{"grpcauth.cache.hits", attribute.NewSet(attribute.String("grpcauth.issuer", "https://issuer.example"))}
		collect := func() int64 {
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			sums, _ := sumPoints(&rm)
			return sums[hitsSeries]
		}

		old, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp, Verifiers: []otelmetrics.Source{hits(100)}})
		if err != nil {
			t.Fatal(err)
		}
		collect()
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
		if collectBetween {
			collect()
		}
		replacement, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp, Verifiers: []otelmetrics.Source{hits(3)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { replacement.Close() })
		want := int64(3)
		if !collectBetween {
			want = -97
		}
		if got := collect(); got != want {
			t.Errorf("collection between: %v: the replacement's first delta = %d, want %d", collectBetween, got, want)
		}
	}
}
