package otelmetrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// collector is the callback that observes the sources. It keeps each
// source's last Stats read without a panic: a source whose Stats panic in a
// collection, or do not return in time, has its sums (counters and
// up-down counters) observed with those, so that no sum series is missing
// from a collection (under delta temporality the SDK forgets a missing
// series, and the next collection would report its whole count again),
// and its gauge, the key set's age, a figure of now, left out. Config.Now
// is read alike, and bounded alike: when it panics or does not return in
// time, the key sets' age is left out (its last good time would be no
// time of this collection).
type collector struct {
	o       *observed
	now     *watched[time.Time] // Config.Now
	timeout time.Duration       // Config.StatsTimeout
	stop    <-chan struct{}     // closed by Metrics.Close

	// mu makes collections take turns: a MeterProvider with several
	// readers runs the callback once for each, concurrently, and each
	// must find the last good Stats of the one before. It is held while
	// the collection waits for the sources' Stats and Config.Now, at most
	// timeout (or until the callback's context ends, or Close), and waited for
	// whatever the callback's context says: a callback that returned
	// without observing would leave every series out of its collection,
	// which a delta exporter would count twice after.
	mu    sync.Mutex
	keyed []*watched[verifier.Stats]
	multi []*watched[verifier.MultiStats]
	intro []*watched[introspect.Stats]
}

// watched is one function of the program's, a source's Stats or
// Config.Now, and its last good result. It is called on a goroutine of its
// own, so that a collection can stop waiting for it and a panic or
// runtime.Goexit of it ends no goroutine of the reader's, and at most one
// call is outstanding: one that never returns keeps one goroutine, no
// more.
type watched[T any] struct {
	what    string   // the function, in errors: "the Stats of a *verifier.Verifier", "Config.Now"
	instead string   // what a collection observes when it fails, in errors
	stats   func() T // the function
	last    T        // its last result without a panic
	seen    bool     // whether last has been read

	pending chan reading[T] // the outstanding read, nil when none
	started bool            // whether this collection started pending
}

// reading is what one read of a source's Stats gave: its Stats, or err.
type reading[T any] struct {
	stats T
	err   error
}

// watchStats watches a source's Stats.
func watchStats[T any](src Source, stats func() T) *watched[T] {
	return &watched[T]{what: fmt.Sprintf("the Stats of a %T", src), instead: "their last good figures stand in", stats: stats}
}

// begin starts a read of w (a call of its function), unless the read an
// earlier collection started has not returned yet: that one is left to
// return in its own time, and this collection does not wait for it. One that has returned
// since is taken as a read of before, its error reported in errs.
func (w *watched[T]) begin(errs []error) []error {
	w.started = false
	if w.pending != nil {
		select {
		case r := <-w.pending:
			errs = w.take(r, errs)
		default:
			return errs
		}
	}
	ch := make(chan reading[T], 1)
	w.pending, w.started = ch, true
	go func() {
		var r reading[T]
		returned := false
		defer func() {
			if !returned && r.err == nil { // runtime.Goexit
				r.err = fmt.Errorf("otelmetrics: %s did not return (runtime.Goexit)", w.what)
			}
			ch <- r
		}()
		if text, panicked := recovered(func() { r.stats = w.stats() }); panicked {
			r.err = fmt.Errorf("otelmetrics: %s panicked: %s", w.what, text)
		}
		returned = true
	}()
	return errs
}

// take ends the outstanding read with r: its result becomes w.last, or its
// error is appended to errs.
func (w *watched[T]) take(r reading[T], errs []error) []error {
	w.pending = nil
	if r.err != nil {
		return append(errs, r.err)
	}
	w.last, w.seen = r.stats, true
	return errs
}

// read waits for the read begin started, until ctx ends or the Metrics
// closes, and reports whether w.last is fresh: read in this collection.
// Otherwise w.last keeps the result of before (w.seen is false if there
// were none) and errs gains why.
func (w *watched[T]) read(ctx context.Context, stop <-chan struct{}, errs []error) (fresh bool, _ []error) {
	if !w.started {
		return false, append(errs, fmt.Errorf("otelmetrics: %s: not returned since an earlier collection; %s", w.what, w.instead))
	}
	var r reading[T]
	select { // a read that has returned wins over an ended wait, which select would pick at random
	case r = <-w.pending:
	default:
		select {
		case r = <-w.pending:
		case <-ctx.Done():
			return false, append(errs, fmt.Errorf("otelmetrics: %s did not return in this collection (%w); %s", w.what, context.Cause(ctx), w.instead))
		case <-stop:
			return false, errs // Close: the collection's figures go nowhere
		}
	}
	n := len(errs)
	errs = w.take(r, errs)
	return len(errs) == n, errs
}

func newCollector(o *observed, now func() time.Time, timeout time.Duration, stop <-chan struct{}, src *sources) *collector {
	c := &collector{o: o, timeout: timeout, stop: stop,
		now: &watched[time.Time]{what: "Config.Now", instead: "grpcauth.jwks.age is left out", stats: now}}
	for _, s := range src.keyed {
		c.keyed = append(c.keyed, watchStats(s, s.Stats))
	}
	for _, s := range src.multi {
		c.multi = append(c.multi, watchStats(s, s.Stats))
	}
	for _, s := range src.intro {
		c.intro = append(c.intro, watchStats(s, s.Stats))
	}
	return c
}

// collect is the callback: it observes every source, each with its fresh
// Stats or, when they panic or do not return in time, its sums from its
// last good ones, and reports the errors through handleError once the
// next collection may read the sources (the handler is the program's, and
// may be slow). It returns nil: a PeriodicReader exports nothing of a
// collection whose callbacks return an error, so one failing Source would
// cost the export of every instrument of the MeterProvider, and under
// delta temporality their figures of that interval for good.
func (c *collector) collect(ctx context.Context, ob metric.Observer) error {
	if err := c.observe(ctx, ob); err != nil {
		handleError(err)
	}
	return nil
}

// errStatsTimeout is the cause of a collection's end of waiting for Stats
// at Config.StatsTimeout.
var errStatsTimeout = errors.New("Config.StatsTimeout passed")

// observe observes every source in its turn (see collect) and returns the
// errors of their reads.
func (c *collector) observe(ctx context.Context, ob metric.Observer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, errStatsTimeout)
	defer cancel()
	var errs []error
	// Every read starts before any is waited for: the collection waits
	// for the slowest, not their sum.
	errs = c.now.begin(errs)
	for _, w := range c.keyed {
		errs = w.begin(errs)
	}
	for _, w := range c.multi {
		errs = w.begin(errs)
	}
	for _, w := range c.intro {
		errs = w.begin(errs)
	}
	var t time.Time // zero, and no key-set age, unless Config.Now returned in this collection
	timed, errs := c.now.read(ctx, c.stop, errs)
	if timed {
		if t = c.now.last; t.IsZero() { // no time to measure from: a clock not set yet
			t = time.Now()
		}
	}
	for _, w := range c.keyed {
		var fresh bool
		if fresh, errs = w.read(ctx, c.stop, errs); w.seen {
			c.o.observe(ob, w.last, t, fresh)
		}
	}
	if len(c.multi) > 0 {
		// One observation each, of the sum over the MultiVerifiers (the
		// SDK's handling of two for one attribute set is not the API's
		// promise), each with its last good figures if its Stats failed:
		// a sum without them would make the counters go backwards. None
		// until one of them has been read.
		var unknown, malformed int64
		var seen bool
		for _, w := range c.multi {
			var fresh bool
			if fresh, errs = w.read(ctx, c.stop, errs); !w.seen {
				continue
			}
			for _, st := range w.last.Issuers {
				c.o.observe(ob, st, t, fresh)
			}
			unknown += w.last.UnknownIssuerTokens
			malformed += w.last.Malformed
			seen = true
		}
		if seen {
			ob.ObserveInt64(c.o.unknownIssuerTokens, unknown)
			ob.ObserveInt64(c.o.malformed, malformed)
		}
	}
	for _, w := range c.intro {
		if _, errs = w.read(ctx, c.stop, errs); w.seen {
			c.o.observeIntrospection(ob, w.last)
		}
	}
	return errors.Join(errs...)
}

// handleError reports the errors of a collection: otel.Handle, the SDK's
// own way for errors a reader's goroutine has no caller to return to.
var handleError = otel.Handle
