package otelmetrics_test

import (
	"context"
	"maps"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/otelmetrics"
	"github.com/grpcauth/grpcauth/verifier"
)

// growing is a source whose counters and levels are all n, and whose Stats
// panic while fail is set.
type growing struct {
	issuer string
	n      *atomic.Int64
	fail   *atomic.Bool
}

func (g growing) figure() int64 {
	if g.fail.Load() {
		panic("stats bug")
	}
	return g.n.Load()
}

func (g growing) keyedStats() verifier.Stats {
	n := g.figure()
	return verifier.Stats{Issuer: g.issuer, CacheHits: n, KeyFetches: n, Malformed: n, CacheEntries: int(n), Keys: int(n), KeysFetched: t0}
}

type growingKeyed struct{ growing }

func (g growingKeyed) Stats() verifier.Stats { return g.keyedStats() }

type growingMulti struct{ growing }

func (g growingMulti) Stats() verifier.MultiStats {
	st := g.keyedStats()
	return verifier.MultiStats{Issuers: []verifier.Stats{st}, UnknownIssuerTokens: st.CacheHits, Malformed: st.CacheHits}
}

type growingIntrospection struct{ growing }

func (g growingIntrospection) Stats() introspect.Stats {
	n := g.figure()
	return introspect.Stats{Issuer: g.issuer, CacheHits: n, Requests: n, InFlight: int(n)}
}

// series names one point of a collection: the instrument and its
// attributes.
type series struct {
	name  string
	attrs attribute.Set
}

// sumPoints returns the points of every int64 sum of rm, and the names of
// the int64 gauges with their attribute sets.
func sumPoints(rm *metricdata.ResourceMetrics) (sums map[series]int64, gauges map[series]bool) {
	sums, gauges = map[series]int64{}, map[series]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, mm := range sm.Metrics {
			switch d := mm.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					sums[series{mm.Name, dp.Attributes}] = dp.Value
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					gauges[series{mm.Name, dp.Attributes}] = true
				}
			case metricdata.Gauge[float64]:
				for _, dp := range d.DataPoints {
					gauges[series{mm.Name, dp.Attributes}] = true
				}
			}
		}
	}
	return sums, gauges
}

// A source whose Stats panic in one collection (a source of the
// program's own, a verifier's Config.Now that panics) keeps its counter
// series in that collection at their last good values, and the
// MultiVerifiers' unattributed sums with its last good share: under delta
// temporality a series missing from a collection is forgotten by the SDK,
// and the next collection reported its whole count again (10 + 15 hits for
// 15); under cumulative temporality a counter still never goes down. Its
// levels (cache entries, keys, in-flight requests) are sums too, which
// the SDK forgets alike: they stand in with their last good values. Its
// gauge, the key-set age, a figure of now, is left out of that collection.
func TestMetrics_ASourceThatPanicsOnceDoesNotCountTwice(t *testing.T) {
	for _, temporality := range []metricdata.Temporality{metricdata.DeltaTemporality, metricdata.CumulativeTemporality} {
		t.Run(temporality.String(), func(t *testing.T) {
			n, fail := &atomic.Int64{}, &atomic.Bool{}
			steady := &atomic.Int64{}
			failing := func(iss string) growing { return growing{iss, n, fail} }
			reader := sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality {
				return temporality
			}))
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			t.Cleanup(func() { mp.Shutdown(context.Background()) })
			m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp, Verifiers: []otelmetrics.Source{
				growingKeyed{failing("https://keyed.example")},
				growingMulti{failing("https://multi.example")},
				growingMulti{growing{"https://steady.example", steady, &atomic.Bool{}}},
				growingIntrospection{failing("https://opaque.example")},
			}, Now: func() time.Time { return t0 }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })

			var first map[series]int64
			total := map[series]int64{}  // delta: the points added up
			latest := map[series]int64{} // cumulative: the last point
			for i, c := range []struct {
				n, steady int64
				fail      bool
			}{{10, 10, false}, {12, 12, true}, {15, 15, false}} {
				n.Store(c.n)
				steady.Store(c.steady)
				fail.Store(c.fail)
				var rm metricdata.ResourceMetrics
				err := collectRecovering(t, reader, &rm)
				if c.fail != (err != nil && strings.Contains(err.Error(), "panicked: stats bug")) {
					t.Fatalf("collection %d: error %v", i, err)
				}
				sums, gauges := sumPoints(&rm)
				for s, v := range sums {
					if temporality == metricdata.DeltaTemporality {
						if v < 0 {
							t.Errorf("collection %d: %s{%s} = %d, a monotonic counter's delta below 0", i, s.name, s.attrs.Encoded(attribute.DefaultEncoder()), v)
						}
						total[s] += v
						continue
					}
					if v < latest[s] {
						t.Errorf("collection %d: %s{%s} = %d, down from %d", i, s.name, s.attrs.Encoded(attribute.DefaultEncoder()), v, latest[s])
					}
					latest[s] = v
				}
				switch i {
				case 0:
					first = sums
				case 1:
					for s := range first {
						if _, ok := sums[s]; !ok {
							t.Errorf("collection %d: %s{%s} missing", i, s.name, s.attrs.Encoded(attribute.DefaultEncoder()))
						}
					}
					steadyIss := attribute.NewSet(attribute.String("grpcauth.issuer", "https://steady.example"))
					for s := range gauges {
						if s.attrs != steadyIss {
							t.Errorf("collection %d: gauge %s{%s} observed from a source whose Stats panicked", i, s.name, s.attrs.Encoded(attribute.DefaultEncoder()))
						}
					}
					// The steady MultiVerifier's key-set age: the levels
					// (cache entries and size, keys) are sums.
					if len(gauges) != 1 {
						t.Errorf("collection %d: %d gauge series, want the steady MultiVerifier's 1", i, len(gauges))
					}
				}
			}
			got := total
			if temporality == metricdata.CumulativeTemporality {
				got = latest
			}
			none := *attribute.EmptySet()
			for _, c := range []struct {
				name, issuer string
				want         int64
			}{
				{"grpcauth.cache.hits", "https://keyed.example", 15},
				{"grpcauth.jwks.fetches", "https://keyed.example", 15},
				{"grpcauth.cache.hits", "https://multi.example", 15},
				{"grpcauth.malformed_tokens", "https://multi.example", 15},
				{"grpcauth.cache.hits", "https://steady.example", 15},
				{"grpcauth.unknown_issuer_tokens", "", 30},
				{"grpcauth.malformed_tokens", "", 30},
				{"grpcauth.introspection.cache.hits", "https://opaque.example", 15},
				{"grpcauth.introspection.requests", "https://opaque.example", 15},
			} {
				set := none
				if c.issuer != "" {
					set = attribute.NewSet(attribute.String("grpcauth.issuer", c.issuer))
				}
				if v := got[series{c.name, set}]; v != c.want {
					t.Errorf("%s{issuer=%q} counted %d, want %d", c.name, c.issuer, v, c.want)
				}
			}
		})
	}
}

// flipping is a source whose counter grows at every read of its Stats, and
// whose every other read panics. It notes two reads at once in overlapped.
type flipping struct {
	reads, inside *atomic.Int64
	overlapped    *atomic.Bool
}

func (f flipping) Stats() verifier.Stats {
	if f.inside.Add(1) != 1 {
		f.overlapped.Store(true)
	}
	defer f.inside.Add(-1)
	runtime.Gosched() // let another collection in, if nothing keeps it out
	n := f.reads.Add(1)
	if n%2 == 0 {
		panic("stats bug")
	}
	return verifier.Stats{Issuer: "https://flipping.example", CacheHits: n}
}

// Two readers of one MeterProvider (a Prometheus handler and an OTLP
// exporter) run the callback concurrently: their collections take turns
// reading the Sources (never two reads of one at once), each finds the
// last good Stats that the collections before it read, whichever reader
// ran them, so no delta of either goes below 0 (a stand-in older than a
// figure the reader reported already would), and the race detector finds
// nothing.
func TestMetrics_TwoReadersCollectingAtOnceNeverGoBackwards(t *testing.T) {
	delta := sdkmetric.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality { return metricdata.DeltaTemporality })
	readers := []*sdkmetric.ManualReader{sdkmetric.NewManualReader(delta), sdkmetric.NewManualReader(delta)}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(readers[0]), sdkmetric.WithReader(readers[1]))
	src := flipping{&atomic.Int64{}, &atomic.Int64{}, &atomic.Bool{}}
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp, Verifiers: []otelmetrics.Source{src}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	t.Cleanup(otelmetrics.HandleErrors(func(error) {})) // every other read panics
	start := make(chan struct{})
	negative := make(chan int64, 2)
	for _, r := range readers {
		go func() {
			<-start
			least := int64(0)
			for range 200 {
				var rm metricdata.ResourceMetrics
				if err := r.Collect(context.Background(), &rm); err != nil {
					t.Errorf("Collect = %v, want nil", err)
				}
				sums, _ := sumPoints(&rm)
				for _, v := range sums {
					least = min(least, v)
				}
			}
			negative <- least
		}()
	}
	close(start)
	for range readers {
		if least := <-negative; least < 0 {
			t.Errorf("a reader's grpcauth.cache.hits delta went to %d, want never below 0", least)
		}
	}
	if src.overlapped.Load() {
		t.Error("two collections read the Source's Stats at once, want them to take turns")
	}
}

// deltaExporter is an OTLP-like push exporter of delta temporality that
// adds up the points of every int64 sum it is given.
type deltaExporter struct {
	mu    sync.Mutex
	total map[series]int64
}

func (*deltaExporter) Temporality(sdkmetric.InstrumentKind) metricdata.Temporality {
	return metricdata.DeltaTemporality
}

func (*deltaExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (e *deltaExporter) Export(_ context.Context, rm *metricdata.ResourceMetrics) error {
	sums, _ := sumPoints(rm)
	e.mu.Lock()
	defer e.mu.Unlock()
	for s, v := range sums {
		e.total[s] += v
	}
	return nil
}

func (e *deltaExporter) totals() map[series]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.total)
}

func (*deltaExporter) ForceFlush(context.Context) error { return nil }
func (*deltaExporter) Shutdown(context.Context) error   { return nil }

// A PeriodicReader (the reader of an OTLP exporter, the usual one of delta
// temporality) exports nothing of a collection whose callbacks return an
// error: a Source whose Stats panic must not cost the export of the other
// Sources' figures, of the decisions, and of every other instrument of the
// MeterProvider, whose deltas of that interval would be lost for good.
// Its panic reaches otel.Handle all the same.
func TestMetrics_ASourceThatPanicsLosesNothingOfAPeriodicExport(t *testing.T) {
	var reported atomic.Int64
	t.Cleanup(otelmetrics.HandleErrors(func(error) { reported.Add(1) }))
	exp := &deltaExporter{total: map[series]int64{}}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	n, fail := &atomic.Int64{}, &atomic.Bool{}
	steady := &atomic.Int64{}
	m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp, Verifiers: []otelmetrics.Source{
		growingKeyed{growing{"https://keyed.example", n, fail}},
		growingKeyed{growing{"https://steady.example", steady, &atomic.Bool{}}},
	}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	for i, c := range []struct {
		n    int64
		fail bool
	}{{10, false}, {12, true}, {15, false}} {
		n.Store(c.n)
		steady.Store(c.n)
		fail.Store(c.fail)
		m.OnDecision(t.Context(), grpcauth.Decision{Method: "/a.B/C", Allowed: true})
		if err := mp.ForceFlush(context.Background()); err != nil {
			t.Errorf("flush %d: ForceFlush = %v, want nil", i, err)
		}
		if got := reported.Swap(0); c.fail != (got == 1) {
			t.Errorf("flush %d: %d errors reported through otel.Handle", i, got)
		}
	}
	got := exp.totals()
	for _, c := range []struct {
		s    series
		want int64
	}{
		{series{"grpcauth.cache.hits", attribute.NewSet(attribute.String("grpcauth.issuer", "https://keyed.example"))}, 15},
		{series{"grpcauth.cache.hits", attribute.NewSet(attribute.String("grpcauth.issuer", "https://steady.example"))}, 15},
		{series{"grpcauth.decisions", attribute.NewSet(attribute.String("grpcauth.method", "/a.B/C"), attribute.String("grpcauth.outcome", "allowed"), attribute.String("grpcauth.reason", ""))}, 3},
	} {
		if v := got[c.s]; v != c.want {
			t.Errorf("%s{%s} exported %d in all, want %d", c.s.name, c.s.attrs.Encoded(attribute.DefaultEncoder()), v, c.want)
		}
	}
}
