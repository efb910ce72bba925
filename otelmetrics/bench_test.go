package otelmetrics_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/otelmetrics"
)

// BenchmarkOnDecision measures what OnDecision adds to a call: one counter
// Add and one histogram Record, on the SDK (with a ManualReader) and on the
// no-op provider.
//
//	go test -run '^$' -bench OnDecision -benchmem ./otelmetrics/
func BenchmarkOnDecision(b *testing.B) {
	d := grpcauth.Decision{Method: mInherited, Allowed: true, Code: codes.OK, Latency: 3 * time.Microsecond}
	for _, c := range []struct {
		name string
		mp   func() (*sdkmetric.MeterProvider, bool)
	}{
		{"sdk", func() (*sdkmetric.MeterProvider, bool) {
			return sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())), true
		}},
		{"noop", func() (*sdkmetric.MeterProvider, bool) { return nil, false }},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := otelmetrics.Config{MeterProvider: noop.NewMeterProvider()}
			if mp, ok := c.mp(); ok {
				defer mp.Shutdown(context.Background())
				cfg.MeterProvider = mp
			}
			m, err := otelmetrics.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				m.OnDecision(ctx, d)
			}
		})
	}
}
