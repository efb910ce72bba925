package otelmetrics_test

import (
	"context"
	"fmt"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/otelmetrics"
)

func Example() {
	reader := sdkmetric.NewManualReader() // in production: an OTLP or Prometheus exporter
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	m, err := otelmetrics.New(otelmetrics.Config{
		MeterProvider: provider,
		// Verifiers: []otelmetrics.Source{v}, // a *verifier.Verifier, for cache and JWKS figures
	})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	// grpcauth.New(grpcauth.Config{Verifier: v, OnDecision: m.OnDecision})
	// calls OnDecision once per call; here, by hand:
	m.OnDecision(context.Background(), grpcauth.Decision{
		Method: "/items.v1.ItemService/DeleteItem", Code: codes.PermissionDenied,
		Reason: grpcauth.ReasonScopeInsufficient, Latency: 40 * time.Microsecond,
	})

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, md := range rm.ScopeMetrics[0].Metrics {
		switch d := md.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				method, _ := p.Attributes.Value("grpcauth.method")
				outcome, _ := p.Attributes.Value("grpcauth.outcome")
				reason, _ := p.Attributes.Value("grpcauth.reason")
				fmt.Println(md.Name, method.Emit(), outcome.Emit(), reason.Emit(), p.Value)
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				fmt.Println(md.Name, md.Unit, p.Count, p.Sum)
			}
		}
	}
	// Output:
	// grpcauth.decisions /items.v1.ItemService/DeleteItem denied ACCESS_TOKEN_SCOPE_INSUFFICIENT 1
	// grpcauth.verify.duration s 1 4e-05
}
