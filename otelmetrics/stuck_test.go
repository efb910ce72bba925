package otelmetrics_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/grpcauth/grpcauth/internal/waittest"
	"github.com/grpcauth/grpcauth/otelmetrics"
	"github.com/grpcauth/grpcauth/verifier"
)

// gate blocks its calls of pass after the first free until release is
// closed, each blocked call announced on entered.
type gate struct {
	free    int32
	calls   *atomic.Int32
	entered chan struct{}
	release chan struct{}
	unblock func() // closes release
}

// newGate returns a gate; t.Cleanup releases its calls, if the test has
// not (unblock).
func newGate(t *testing.T, free int32) gate {
	g := gate{free: free, calls: &atomic.Int32{}, entered: make(chan struct{}, 16), release: make(chan struct{})}
	g.unblock = sync.OnceFunc(func() { close(g.release) })
	t.Cleanup(g.unblock)
	return g
}

func (g gate) pass() {
	if g.calls.Add(1) > g.free {
		g.entered <- struct{}{}
		<-g.release
	}
}

// stuckStats is a Source whose Stats return for their first free calls
// (New's reading is the first) and then block at their gate.
type stuckStats struct {
	issuer string
	gate
}

// newStuck returns a stuckStats.
func newStuck(t *testing.T, issuer string, free int32) stuckStats {
	return stuckStats{issuer, newGate(t, free)}
}

func (s stuckStats) Stats() verifier.Stats {
	s.pass()
	return verifier.Stats{Issuer: s.issuer, CacheHits: 7, CacheEntries: 3, Keys: 2, KeysFetched: t0}
}

// issuerKey is the attribute key of the issuer-labelled instruments.
const issuerKey = "grpcauth.issuer"

// within runs f and fails the test if it has not returned after a
// generous bound: what it guards would otherwise hang for good.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	waittest.Within(t, 30*time.Second, what, f)
}

// errorsTo makes the callback's errors go to a channel for the test.
func errorsTo(t *testing.T) <-chan error {
	errs := make(chan error, 64)
	t.Cleanup(otelmetrics.HandleErrors(func(err error) { errs <- err }))
	return errs
}

// stuckMetrics is a Metrics observing srcs with timeout, on a reader of
// its own; t.Cleanup closes them.
func stuckMetrics(t *testing.T, timeout time.Duration, srcs ...otelmetrics.Source) (*otelmetrics.Metrics, *sdkmetric.ManualReader) {
	t.Helper()
	return boundedMetrics(t, otelmetrics.Config{Verifiers: srcs,
		Now: func() time.Time { return t0.Add(time.Minute) }, StatsTimeout: timeout})
}

// boundedMetrics is a Metrics of cfg on a reader of its own (cfg's
// MeterProvider is set); t.Cleanup closes them, failing t if either does
// not return.
func boundedMetrics(t *testing.T, cfg otelmetrics.Config) (*otelmetrics.Metrics, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	cfg.MeterProvider = mp
	m, err := otelmetrics.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		within(t, "Close", func() { m.Close() })
		within(t, "Shutdown", func() { mp.Shutdown(context.Background()) })
	})
	return m, reader
}

// collectTook collects reader, failing t if Collect does not return or
// returns an error, and returns its sums, which gauges it observed, and
// how long it took (a synctest bubble's time).
func collectTook(t *testing.T, reader *sdkmetric.ManualReader) (sums map[series]int64, gauges map[series]bool, took time.Duration) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	start := time.Now()
	within(t, "Collect", func() {
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Error(err)
		}
	})
	sums, gauges = sumPoints(&rm)
	return sums, gauges, time.Since(start)
}

// A Source whose Stats never return (a source of the program's own
// waiting on a lock) no longer holds every reader's collection up for
// good: the collection waits for it Config.StatsTimeout, observes the
// other Sources and the stuck one's last good figures, and reports it to
// otel.Handle; the next collections do not wait for it again, nor start a
// second read of it while the first is outstanding; and its figures come
// back once its Stats return. In a synctest bubble: the wait is the
// bubble's time.
func TestMetrics_AStuckSourceHoldsUpNoCollection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 10 * time.Second // within the bound of within
		errs := errorsTo(t)
		stuck := newStuck(t, "https://stuck.example", 2) // New's reading and the first collection's
		n := &atomic.Int64{}
		n.Store(5)
		healthy := growingKeyed{growing{"https://healthy.example", n, &atomic.Bool{}}}
		_, reader := stuckMetrics(t, timeout, stuck, healthy)
		hits := func(iss string) series {
			return series{"grpcauth.cache.hits", attribute.NewSet(attribute.String(issuerKey, iss))}
		}
		age := func(iss string) series {
			return series{"grpcauth.jwks.age", attribute.NewSet(attribute.String(issuerKey, iss))}
		}
		sums, gauges, _ := collectTook(t, reader)
		if sums[hits(stuck.issuer)] != 7 || !gauges[age(stuck.issuer)] {
			t.Fatalf("first collection: hits %d, age observed %v; want 7, true", sums[hits(stuck.issuer)], gauges[age(stuck.issuer)])
		}

		// The second collection's Stats block: it waits StatsTimeout and
		// returns.
		n.Store(6)
		sums, gauges, took := collectTook(t, reader)
		if took != timeout {
			t.Errorf("second collection took %v, want StatsTimeout %v", took, timeout)
		}
		if got := sums[hits("https://healthy.example")]; got != 6 {
			t.Errorf("healthy source's hits = %d, want 6", got)
		}
		if got, ok := sums[hits(stuck.issuer)]; got != 7 || !ok {
			t.Errorf("stuck source's hits = %d (observed %v), want its last good 7", got, ok)
		}
		entries := series{"grpcauth.cache.entry.count", attribute.NewSet(attribute.String(issuerKey, stuck.issuer))}
		if got, ok := sums[entries]; got != 3 || !ok {
			t.Errorf("stuck source's cache entries = %d (observed %v), want its last good 3", got, ok)
		}
		if gauges[age(stuck.issuer)] {
			t.Error("stuck source's key-set age observed, want it left out")
		}
		if err := <-errs; !strings.Contains(err.Error(), "did not return") || !strings.Contains(err.Error(), "stuckStats") ||
			!strings.Contains(err.Error(), "StatsTimeout") {
			t.Errorf("reported %q, want the stuck source's type, that its Stats did not return, and StatsTimeout", err)
		}

		// The third does not wait for the read still outstanding, nor
		// start another.
		sums, _, took = collectTook(t, reader)
		if took != 0 {
			t.Errorf("third collection took %v, want no wait", took)
		}
		if got := sums[hits(stuck.issuer)]; got != 7 {
			t.Errorf("stuck source's hits = %d, want its last good 7", got)
		}
		if err := <-errs; !strings.Contains(err.Error(), "not returned since an earlier collection") {
			t.Errorf("reported %q, want that its Stats have not returned since", err)
		}
		if got := stuck.calls.Load(); got != 3 {
			t.Errorf("Stats called %d times, want 3 (New, two collections): at most one outstanding", got)
		}

		// Once they return, the next collection takes them and reads
		// again.
		stuck.unblock()
		synctest.Wait()
		sums, gauges, _ = collectTook(t, reader)
		if sums[hits(stuck.issuer)] != 7 || !gauges[age(stuck.issuer)] {
			t.Errorf("after release: hits %d, age observed %v; want 7, true", sums[hits(stuck.issuer)], gauges[age(stuck.issuer)])
		}
		select {
		case err := <-errs:
			t.Errorf("after release: reported %v, want nothing", err)
		default:
		}
	})
}

// The reader's context ends the wait too, before StatsTimeout.
func TestMetrics_TheReadersContextEndsTheWaitForAStuckSource(t *testing.T) {
	errs := errorsTo(t)
	stuck := newStuck(t, "https://stuck.example", 1)
	_, reader := stuckMetrics(t, time.Hour, stuck)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stuck.entered
		cancel()
	}()
	within(t, "Collect", func() {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			t.Error(err)
		}
	})
	if err := <-errs; !strings.Contains(err.Error(), "did not return") || !strings.Contains(err.Error(), context.Canceled.Error()) {
		t.Errorf("reported %q, want that its Stats did not return, and the context's error", err)
	}
	stuck.unblock()
}

// Close returns while a collection waits for a stuck Source (the SDK
// unregisters under the lock the collection holds): the collection stops
// waiting.
func TestMetrics_CloseReturnsWhileACollectionWaitsForAStuckSource(t *testing.T) {
	stuck := newStuck(t, "https://stuck.example", 1)
	closeWhileCollecting(t, stuck.gate, otelmetrics.Config{Verifiers: []otelmetrics.Source{stuck},
		Now: func() time.Time { return t0.Add(time.Minute) }, StatsTimeout: time.Hour})
}

// closeWhileCollecting closes a Metrics of cfg while a collection waits at
// g, and fails t if Close, or the collection, does not return.
func closeWhileCollecting(t *testing.T, g gate, cfg otelmetrics.Config) {
	t.Helper()
	defer g.unblock() // before the cleanups' Close, if t fails
	m, reader := boundedMetrics(t, cfg)
	collected := make(chan error, 1)
	go func() {
		var rm metricdata.ResourceMetrics
		collected <- reader.Collect(context.Background(), &rm)
	}()
	<-g.entered
	within(t, "Close", func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	within(t, "the collection", func() {
		if err := <-collected; err != nil {
			t.Error(err)
		}
	})
}

// keyedAt is a Source whose key set was fetched at t0, for the clock
// tests: its age at blockingNow's time is 60 s.
var keyedAt = statsFunc(func() verifier.Stats {
	return verifier.Stats{Issuer: "https://keyed.example", CacheHits: 4, Keys: 2, KeysFetched: t0}
})

// blockingNow is a Config.Now that waits at g, then returns a minute
// after t0.
func blockingNow(g gate) func() time.Time {
	return func() time.Time {
		g.pass()
		return t0.Add(time.Minute)
	}
}

// A Config.Now that blocks (a clock of the program's own waiting on a
// lock) holds a collection up no longer than a stuck Source does: the
// collection waits for it Config.StatsTimeout, observes every figure but
// the key set's age, the one it serves, and reports it to otel.Handle;
// the next collections neither wait for it nor call it again while that
// call is outstanding; and the age comes back once it returns. (Before,
// Now was called on the reader's goroutine, and held every collection up
// for good.) In a synctest bubble: the wait is the bubble's time.
func TestMetrics_AConfigNowThatBlocksHoldsUpNoCollection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 10 * time.Second // within the bound of within
		errs := errorsTo(t)
		clock := newGate(t, 0)
		defer clock.unblock() // before the cleanups' Close, if t fails
		_, reader := boundedMetrics(t, otelmetrics.Config{Verifiers: []otelmetrics.Source{keyedAt},
			Now: blockingNow(clock), StatsTimeout: timeout})
		issuer := attribute.NewSet(attribute.String(issuerKey, "https://keyed.example"))
		hits := series{"grpcauth.cache.hits", issuer}
		keys := series{"grpcauth.jwks.key.count", issuer}
		age := series{"grpcauth.jwks.age", issuer}

		sums, gauges, took := collectTook(t, reader)
		if took != timeout {
			t.Errorf("first collection took %v, want StatsTimeout %v", took, timeout)
		}
		if sums[hits] != 4 || sums[keys] != 2 || gauges[age] {
			t.Errorf("first collection: hits %d, keys %d, age observed %v; want 4, 2, false", sums[hits], sums[keys], gauges[age])
		}
		if err := <-errs; !strings.Contains(err.Error(), "Config.Now did not return") || !strings.Contains(err.Error(), "StatsTimeout") {
			t.Errorf("reported %q, want that Config.Now did not return, and StatsTimeout", err)
		}

		sums, gauges, took = collectTook(t, reader)
		if took != 0 {
			t.Errorf("second collection took %v, want no wait", took)
		}
		if sums[hits] != 4 || gauges[age] {
			t.Errorf("second collection: hits %d, age observed %v; want 4, false", sums[hits], gauges[age])
		}
		if err := <-errs; !strings.Contains(err.Error(), "Config.Now: not returned since an earlier collection") {
			t.Errorf("reported %q, want that Config.Now has not returned since", err)
		}
		if got := clock.calls.Load(); got != 1 {
			t.Errorf("Config.Now called %d times, want 1: at most one outstanding", got)
		}

		clock.unblock()
		synctest.Wait()
		ages, _ := collect(t, reader)["grpcauth.jwks.age"].(metricdata.Gauge[float64])
		if len(ages.DataPoints) != 1 || ages.DataPoints[0].Value != 60 {
			t.Errorf("after release: grpcauth.jwks.age %+v, want one point of 60", ages.DataPoints)
		}
		select {
		case err := <-errs:
			t.Errorf("after release: reported %v, want nothing", err)
		default:
		}
		if got := clock.calls.Load(); got != 2 {
			t.Errorf("Config.Now called %d times, want 2", got)
		}
	})
}

// Close returns while a collection waits for a Config.Now that blocks.
// (Before, Close waited for that collection for good.)
func TestMetrics_CloseReturnsWhileACollectionWaitsForConfigNow(t *testing.T) {
	clock := newGate(t, 0)
	closeWhileCollecting(t, clock, otelmetrics.Config{Verifiers: []otelmetrics.Source{keyedAt},
		Now: blockingNow(clock), StatsTimeout: time.Hour})
}

// goexiting is a Source whose Stats call runtime.Goexit once armed (a
// t.FailNow in a source of a test's own).
type goexiting struct{ armed *atomic.Bool }

func (g goexiting) Stats() verifier.Stats {
	if g.armed.Load() {
		runtime.Goexit()
	}
	return verifier.Stats{Issuer: "https://goexit.example", CacheHits: 4}
}

// A runtime.Goexit in a Source's Stats ends the goroutine that reads
// them, not the reader's: the collection returns, with the Source's last
// good figures and an error. (Before, it ended the reader's goroutine,
// here the test's.)
func TestMetrics_SourceWhoseStatsCallGoexitFailsAlike(t *testing.T) {
	errs := errorsTo(t)
	armed := &atomic.Bool{}
	_, reader := stuckMetrics(t, time.Hour, goexiting{armed})
	hits := series{"grpcauth.cache.hits", attribute.NewSet(attribute.String(issuerKey, "https://goexit.example"))}
	for i, arm := range []bool{false, true} {
		armed.Store(arm)
		sums, _ := collectOnAReadersGoroutine(t, reader)
		if got := sums[hits]; got != 4 {
			t.Errorf("collection %d: hits = %d, want 4", i, got)
		}
	}
	if err := <-errs; !strings.Contains(err.Error(), "runtime.Goexit") {
		t.Errorf("reported %q, want it to name runtime.Goexit", err)
	}
}

// collectOnAReadersGoroutine collects reader on a goroutine of its own,
// as a PeriodicReader does, and fails t if that goroutine ended without
// Collect returning (a runtime.Goexit went through the SDK).
func collectOnAReadersGoroutine(t *testing.T, reader *sdkmetric.ManualReader) (sums map[series]int64, gauges map[series]bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	returned := make(chan bool, 1)
	go func() {
		ok := false
		defer func() { returned <- ok }() // runs on a Goexit too
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Error(err)
		}
		ok = true
	}()
	if !<-returned {
		t.Fatal("the collection ended the reader's goroutine")
	}
	return sumPoints(&rm)
}

// A runtime.Goexit in Config.Now fails the key-set age alone, as a panic
// there does (TestMetrics_ConfigNowThatPanicsFailsTheKeySetAgeAlone).
// (Before, it ended the reader's goroutine.)
func TestMetrics_ConfigNowThatCallsGoexitFailsTheKeySetAgeAlone(t *testing.T) {
	errs := errorsTo(t)
	_, reader := boundedMetrics(t, otelmetrics.Config{Verifiers: []otelmetrics.Source{keyedAt},
		Now: func() time.Time { runtime.Goexit(); return time.Time{} }, StatsTimeout: time.Hour})
	sums, gauges := collectOnAReadersGoroutine(t, reader)
	issuer := attribute.NewSet(attribute.String(issuerKey, "https://keyed.example"))
	if got := sums[series{"grpcauth.cache.hits", issuer}]; got != 4 {
		t.Errorf("grpcauth.cache.hits = %d, want 4", got)
	}
	if gauges[series{"grpcauth.jwks.age", issuer}] {
		t.Error("grpcauth.jwks.age observed without a time to take it from")
	}
	if err := <-errs; !strings.Contains(err.Error(), "Config.Now did not return (runtime.Goexit)") {
		t.Errorf("reported %q, want that Config.Now did not return (runtime.Goexit)", err)
	}
}
