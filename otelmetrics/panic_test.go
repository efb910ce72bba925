package otelmetrics_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/otelmetrics"
	"github.com/grpcauth/grpcauth/verifier"
)

// panicking is a Source of the program's own whose Stats panic once armed
// (after New read its issuer).
type panicking struct {
	issuer string
	armed  *atomic.Bool
}

func (p panicking) Stats() verifier.Stats {
	if p.armed.Load() {
		panic("stats bug")
	}
	return verifier.Stats{Issuer: p.issuer}
}

type panickingMulti struct{ panicking }

func (p panickingMulti) Stats() verifier.MultiStats {
	return verifier.MultiStats{Issuers: []verifier.Stats{p.panicking.Stats()}, UnknownIssuerTokens: 7}
}

type panickingIntrospection struct{ panicking }

func (p panickingIntrospection) Stats() introspect.Stats {
	return introspect.Stats{Issuer: p.panicking.Stats().Issuer}
}

// readPanicking returns the ManualReader of Metrics observing srcs.
func readPanicking(t *testing.T, srcs ...otelmetrics.Source) *sdkmetric.ManualReader {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp, Verifiers: srcs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return reader
}

// collectRecovering collects reader into rm and returns the errors the
// callback reported through otel.Handle in that collection. It fails t if
// the collection panics (as it would on a PeriodicReader's goroutine,
// ending the process), or if Collect returns an error (a PeriodicReader
// would export nothing of the collection).
func collectRecovering(t *testing.T, reader *sdkmetric.ManualReader, rm *metricdata.ResourceMetrics) error {
	t.Helper()
	var reported []error
	defer otelmetrics.HandleErrors(func(err error) { reported = append(reported, err) })()
	defer func() {
		if v := recover(); v != nil {
			t.Fatalf("Collect panicked: %v", v)
		}
	}()
	if err := reader.Collect(context.Background(), rm); err != nil {
		t.Errorf("Collect = %v, want nil (the error reported through otel.Handle instead)", err)
	}
	return errors.Join(reported...)
}

// A collection runs the callback on the reader's goroutine (a
// PeriodicReader's, an exporter's HTTP handler), where the program cannot
// recover a panic: a Source whose Stats panic fails that Source's
// observations with an error given to otel.Handle, and the other Sources are
// observed still. A Source whose Stats never returned has no last good
// figures to observe instead.
func TestMetrics_SourceWhoseStatsPanicFailsTheCollectionNotTheProcess(t *testing.T) {
	f := newFixture(t)
	armed := &atomic.Bool{}
	reader := readPanicking(t,
		panicking{"https://keyed.example", armed},
		f.v,
		panickingMulti{panicking{"https://multi.example", armed}},
		panickingIntrospection{panicking{"https://opaque.example", armed}},
	)
	armed.Store(true)

	var rm metricdata.ResourceMetrics
	err := collectRecovering(t, reader, &rm)
	for _, typ := range []string{"otelmetrics_test.panicking", "otelmetrics_test.panickingMulti", "otelmetrics_test.panickingIntrospection"} {
		if want := "otelmetrics: the Stats of a " + typ + " panicked: stats bug"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Collect error = %v, want it to hold %q", err, want)
		}
	}
	issuers := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, mm := range sm.Metrics {
			switch mm.Name {
			case "grpcauth.cache.hits":
				for _, dp := range mm.Data.(metricdata.Sum[int64]).DataPoints {
					iss, _ := dp.Attributes.Value("grpcauth.issuer")
					issuers[iss.AsString()] = true
				}
			case "grpcauth.unknown_issuer_tokens":
				// A sum without the panicking MultiVerifier's figures
				// would make the counter go backwards, and it has
				// returned none to stand in for them.
				t.Errorf("grpcauth.unknown_issuer_tokens observed without a MultiVerifier's figures: %+v", mm.Data)
			}
		}
	}
	if len(issuers) != 1 || !issuers[f.iss.URL()] {
		t.Errorf("grpcauth.cache.hits issuers = %v, want only the working verifier's %q", issuers, f.iss.URL())
	}
}

// nilPanicking is a MultiVerifier of the program's own whose Stats
// panic(nil) once armed.
type nilPanicking struct{ armed *atomic.Bool }

func (p nilPanicking) Stats() verifier.MultiStats {
	if p.armed.Load() {
		panic(nil)
	}
	return verifier.MultiStats{Issuers: []verifier.Stats{{Issuer: "https://nil.example"}}, UnknownIssuerTokens: 5}
}

// Under GODEBUG=panicnil=1 recover returns nil for a panic(nil): it is a
// panic all the same, and the collection neither drops the errors of the
// Sources before it nor observes the unattributed sums without its figures
// (they would go backwards, 12 then 7 then 12): they hold its last good
// ones, 12 throughout.
func TestMetrics_SourceWhoseStatsPanicNilUnderPanicNilFailsAlike(t *testing.T) {
	t.Setenv("GODEBUG", "panicnil=1")
	armed := &atomic.Bool{}
	reader := readPanicking(t,
		panicking{"https://keyed.example", armed},
		nilPanicking{armed},
		panickingMulti{panicking{"https://multi.example", &atomic.Bool{}}},
	)

	for i, arm := range []bool{false, true, false} {
		armed.Store(arm)
		var rm metricdata.ResourceMetrics
		err := collectRecovering(t, reader, &rm)
		var unknown []int64
		for _, sm := range rm.ScopeMetrics {
			for _, mm := range sm.Metrics {
				if mm.Name == "grpcauth.unknown_issuer_tokens" {
					for _, dp := range mm.Data.(metricdata.Sum[int64]).DataPoints {
						unknown = append(unknown, dp.Value)
					}
				}
			}
		}
		if len(unknown) != 1 || unknown[0] != 12 {
			t.Errorf("collection %d: grpcauth.unknown_issuer_tokens %v, want [12]", i, unknown)
		}
		if !arm {
			if err != nil {
				t.Errorf("collection %d: error %v, want none", i, err)
			}
			continue
		}
		for _, typ := range []string{"otelmetrics_test.panicking", "otelmetrics_test.nilPanicking"} {
			if want := "otelmetrics: the Stats of a " + typ + " panicked: "; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("collection %d: error = %v, want it to hold %q", i, err, want)
			}
		}
	}
}

// Config.Now is read in the callback too, on the reader's goroutine: one
// that panics fails the key-set age alone (the one figure it serves), with
// an error the SDK reports, and every other figure is observed. (Before,
// the panic went through the SDK and, on a PeriodicReader's goroutine,
// ended the process.)
func TestMetrics_ConfigNowThatPanicsFailsTheKeySetAgeAlone(t *testing.T) {
	keyed := statsFunc(func() verifier.Stats {
		return verifier.Stats{Issuer: "https://keyed.example", CacheHits: 4, Keys: 2, KeysFetched: t0}
	})
	reader := observing(t, func() time.Time { panic("clock bug") }, keyed)
	var rm metricdata.ResourceMetrics
	err := collectRecovering(t, reader, &rm)
	if want := "otelmetrics: Config.Now panicked: clock bug"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Collect error = %v, want it to hold %q", err, want)
	}
	sums, gauges := sumPoints(&rm)
	issuer := attribute.NewSet(attribute.String("grpcauth.issuer", "https://keyed.example"))
	if v := sums[series{"grpcauth.cache.hits", issuer}]; v != 4 {
		t.Errorf("grpcauth.cache.hits = %d, want 4", v)
	}
	if _, ok := sums[series{"grpcauth.jwks.key.count", issuer}]; !ok {
		t.Errorf("grpcauth.jwks.key.count not observed")
	}
	if gauges[series{"grpcauth.jwks.age", issuer}] {
		t.Errorf("grpcauth.jwks.age observed without a time to take it from")
	}
}
