package otelmetrics_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/grpcauth/grpcauth/otelmetrics"
)

// onceProvider is a MeterProvider whose callback registrations, like
// some third-party ones, refuse a second Unregister.
type onceProvider struct {
	noop.MeterProvider
	mu         sync.Mutex
	unregister int // calls of Unregister
}

func (p *onceProvider) Meter(string, ...metric.MeterOption) metric.Meter { return onceMeter{p: p} }

type onceMeter struct {
	noop.Meter
	p *onceProvider
}

func (m onceMeter) RegisterCallback(metric.Callback, ...metric.Observable) (metric.Registration, error) {
	return onceRegistration{p: m.p}, nil
}

type onceRegistration struct {
	noop.Registration
	p *onceProvider
}

func (r onceRegistration) Unregister() error {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	r.p.unregister++
	if r.p.unregister > 1 {
		return errors.New("already unregistered")
	}
	return nil
}

// Close's promise that it is safe to call more than once, also
// concurrently (a deferred Close and an explicit one), is the package's,
// not the MeterProvider's: it unregisters the callback once.
func TestMetrics_CloseTwiceUnregistersOnceWhateverTheProvider(t *testing.T) {
	p := &onceProvider{}
	m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: p, Verifiers: []otelmetrics.Source{newFixture(t).v}})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { errs <- m.Close() })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Close = %v, want nil", err)
		}
	}
	if p.unregister != 1 {
		t.Errorf("Unregister called %d times, want 1", p.unregister)
	}
}

// Collections may be running while Metrics closes (Close waits for one in
// flight, as the SDK unregisters under the lock its collections hold) and
// go on after it and the verifier's Close: none races with them, and
// collections after Close report none of the verifier's figures.
func TestMetrics_CollectingWhileClosingIsSafe(t *testing.T) {
	f := newFixture(t)
	m, reader := observingMetrics(t, nil, f.v)
	start := make(chan struct{})
	done := make(chan error)
	go func() {
		<-start
		var rm metricdata.ResourceMetrics
		for range 50 {
			if err := reader.Collect(context.Background(), &rm); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	close(start)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	f.v.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := collect(t, reader); len(got) != 0 {
		t.Errorf("after Close: %d metrics, want none", len(got))
	}
}
