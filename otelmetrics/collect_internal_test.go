package otelmetrics

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/grpcauth/grpcauth/verifier"
)

// discardObserver observes nothing.
type discardObserver struct{ metric.Observer }

func (discardObserver) ObserveInt64(metric.Int64Observable, int64, ...metric.ObserveOption)       {}
func (discardObserver) ObserveFloat64(metric.Float64Observable, float64, ...metric.ObserveOption) {}

// panickingStats is a Source whose Stats always panic.
type panickingStats struct{}

func (panickingStats) Stats() verifier.Stats { panic("stats bug") }

// The error handler is the program's (otel.SetErrorHandler), and may be
// slow, a log sink that blocks: the collection reports a panic to it after
// its turn, so that the other readers' collections need not wait for it.
func TestMetrics_TheErrorHandlerRunsAfterTheCollectionsTurn(t *testing.T) {
	o, err := newObserved(noop.NewMeterProvider().Meter(ScopeName))
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector(o, time.Now, time.Hour, nil, &sources{keyed: []keyedSource{panickingStats{}}})
	var reported, inTurn bool
	defer HandleErrors(func(error) {
		reported = true
		if c.mu.TryLock() {
			c.mu.Unlock()
		} else {
			inTurn = true
		}
	})()
	if err := c.collect(t.Context(), discardObserver{}); err != nil {
		t.Errorf("collect = %v, want nil", err)
	}
	if !reported || inTurn {
		t.Errorf("error reported: %v, while other collections waited: %v; want reported after the turn", reported, inTurn)
	}
}
