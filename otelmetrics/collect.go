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
// collection has its counters observed with those, so that no counter
// series is missing from a collection (under delta temporality the SDK
// forgets a missing series, and the next collection would report its
// whole count again), and its gauges, figures of now, left out.
type collector struct {
	o   *observed
	now func() time.Time

	// mu makes collections take turns: a MeterProvider with several
	// readers runs the callback once for each, concurrently, and each
	// must find the last good Stats of the one before. It is held across
	// the sources' Stats, and waited for whatever the callback's context
	// says: a callback that returned without observing would leave every
	// series out of its collection, which a delta exporter would count
	// twice after.
	mu    sync.Mutex
	keyed []*watched[verifier.Stats]
	multi []*watched[verifier.MultiStats]
	intro []*watched[introspect.Stats]
}

// watched is one source and its last good Stats.
type watched[T any] struct {
	src   Source
	stats func() T // src's Stats
	last  T        // its last Stats read without a panic
	seen  bool     // whether last has been read
}

func watch[T any](src Source, stats func() T) *watched[T] {
	return &watched[T]{src: src, stats: stats}
}

// read reads w's Stats into w.last and reports whether they are fresh. When
// they panic, w.last keeps the Stats of before (w.seen is false if there
// were none) and errs gains the panic's error.
func (w *watched[T]) read(errs []error) (fresh bool, _ []error) {
	n := len(errs)
	errs = appendPanic(errs, w.src, func() { w.last = w.stats() })
	fresh = len(errs) == n
	w.seen = w.seen || fresh
	return fresh, errs
}

func newCollector(o *observed, now func() time.Time, src *sources) *collector {
	c := &collector{o: o, now: now}
	for _, s := range src.keyed {
		c.keyed = append(c.keyed, watch(s, s.Stats))
	}
	for _, s := range src.multi {
		c.multi = append(c.multi, watch(s, s.Stats))
	}
	for _, s := range src.intro {
		c.intro = append(c.intro, watch(s, s.Stats))
	}
	return c
}

// collect is the callback: it observes every source, each with its fresh
// Stats or, when they panic, its counters from its last good ones, and
// reports the panics' errors through handleError once the next collection
// may read the sources (the handler is the program's, and may be slow). It
// returns nil: a PeriodicReader exports nothing of a collection whose
// callbacks return an error, so one panicking Source would cost the export
// of every instrument of the MeterProvider, and under delta temporality
// their figures of that interval for good.
func (c *collector) collect(_ context.Context, ob metric.Observer) error {
	if err := c.observe(ob); err != nil {
		handleError(err)
	}
	return nil
}

// observe observes every source in its turn (see collect) and returns the
// panics' errors.
func (c *collector) observe(ob metric.Observer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t time.Time // zero, and no key-set age, if Config.Now panics
	var errs []error
	if text, panicked := recovered(func() { t = c.now() }); panicked {
		errs = append(errs, fmt.Errorf("otelmetrics: Config.Now panicked: %s", text))
	}
	for _, w := range c.keyed {
		var fresh bool
		if fresh, errs = w.read(errs); w.seen {
			c.o.observe(ob, w.last, t, fresh)
		}
	}
	if len(c.multi) > 0 {
		// One observation each, of the sum over the MultiVerifiers (the
		// SDK's handling of two for one attribute set is not the API's
		// promise), each with its last good figures if its Stats panicked:
		// a sum without them would make the counters go backwards. None
		// until one of them has been read.
		var unknown, malformed int64
		var seen bool
		for _, w := range c.multi {
			var fresh bool
			if fresh, errs = w.read(errs); !w.seen {
				continue
			}
			for _, st := range w.last.Issuers {
				c.o.observe(ob, st, t, fresh)
			}
			unknown += w.last.UnknownIssuers
			malformed += w.last.Malformed
			seen = true
		}
		if seen {
			ob.ObserveInt64(c.o.unknownIssuers, unknown)
			ob.ObserveInt64(c.o.malformed, malformed)
		}
	}
	for _, w := range c.intro {
		var fresh bool
		if fresh, errs = w.read(errs); w.seen {
			c.o.observeIntrospection(ob, w.last, fresh)
		}
	}
	return errors.Join(errs...)
}

// handleError reports the errors of a collection: otel.Handle, the SDK's
// own way for errors a reader's goroutine has no caller to return to.
var handleError = otel.Handle
