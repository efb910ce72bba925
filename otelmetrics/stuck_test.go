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

// stuckStats is a Source whose Stats return for their first free calls
// (New's reading is the first) and then block until release is closed,
// each blocked call announced on entered.
type stuckStats struct {
	issuer  string
	free    int32
	calls   *atomic.Int32
	entered chan struct{}
	release chan struct{}
	unblock func() // closes release
}

// newStuck returns a stuckStats; t.Cleanup releases its Stats, if the
// test has not (unblock).
func newStuck(t *testing.T, issuer string, free int32) stuckStats {
	s := stuckStats{issuer: issuer, free: free, calls: &atomic.Int32{},
		entered: make(chan struct{}, 16), release: make(chan struct{})}
	s.unblock = sync.OnceFunc(func() { close(s.release) })
	t.Cleanup(s.unblock)
	return s
}

func (s stuckStats) Stats() verifier.Stats {
	if s.calls.Add(1) > s.free {
		s.entered <- struct{}{}
		<-s.release
	}
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
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp, Verifiers: srcs,
		Now: func() time.Time { return t0.Add(time.Minute) }, StatsTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		within(t, "Close", func() { m.Close() })
		within(t, "Shutdown", func() { mp.Shutdown(context.Background()) })
	})
	return m, reader
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
		collectTook := func() (sums map[series]int64, gauges map[series]bool, took time.Duration) {
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

		sums, gauges, _ := collectTook()
		if sums[hits(stuck.issuer)] != 7 || !gauges[age(stuck.issuer)] {
			t.Fatalf("first collection: hits %d, age observed %v; want 7, true", sums[hits(stuck.issuer)], gauges[age(stuck.issuer)])
		}

		// The second collection's Stats block: it waits StatsTimeout and
		// returns.
		n.Store(6)
		sums, gauges, took := collectTook()
		if took != timeout {
			t.Errorf("second collection took %v, want StatsTimeout %v", took, timeout)
		}
		if got := sums[hits("https://healthy.example")]; got != 6 {
			t.Errorf("healthy source's hits = %d, want 6", got)
		}
		if got, ok := sums[hits(stuck.issuer)]; got != 7 || !ok {
			t.Errorf("stuck source's hits = %d (observed %v), want its last good 7", got, ok)
		}
		entries := series{"grpcauth.cache.entries", attribute.NewSet(attribute.String(issuerKey, stuck.issuer))}
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
		sums, _, took = collectTook()
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
		sums, gauges, _ = collectTook()
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
	m, reader := stuckMetrics(t, time.Hour, stuck)
	collected := make(chan error, 1)
	go func() {
		var rm metricdata.ResourceMetrics
		collected <- reader.Collect(context.Background(), &rm)
	}()
	<-stuck.entered
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
	stuck.unblock()
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
		var rm metricdata.ResourceMetrics
		returned := make(chan bool, 1)
		go func() { // the reader's goroutine
			ok := false
			defer func() { returned <- ok }() // runs on a Goexit too
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Error(err)
			}
			ok = true
		}()
		if !<-returned {
			t.Fatalf("collection %d ended the reader's goroutine", i)
		}
		sums, _ := sumPoints(&rm)
		if got := sums[hits]; got != 4 {
			t.Errorf("collection %d: hits = %d, want 4", i, got)
		}
	}
	if err := <-errs; !strings.Contains(err.Error(), "runtime.Goexit") {
		t.Errorf("reported %q, want it to name runtime.Goexit", err)
	}
}
