package otelmetrics

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/logonce"
	"github.com/grpcauth/grpcauth/internal/panictext"
)

// ScopeName is the instrumentation scope (meter) name of every instrument.
const ScopeName = "github.com/grpcauth/grpcauth"

// UnknownMethod is the grpcauth.method attribute of decisions about methods that
// neither the descriptors nor the configuration know
// (grpcauth.Decision.UnknownMethod): their names are chosen by callers, so
// they must not become attribute values.
const UnknownMethod = "unknown"

// The attribute keys, in the grpcauth namespace, as OpenTelemetry's
// attribute naming guidance asks of a library's own attributes: a bare
// "method" or "issuer" may clash with another instrumentation's. (The
// semantic conventions' rpc.method names a method without the leading
// "/", and an unknown one "_OTHER": not this attribute.)
const (
	attrNamespace = "grpcauth."
	attrMethod    = attribute.Key(attrNamespace + "method")
	attrOutcome   = attribute.Key(attrNamespace + "outcome")
	attrReason    = attribute.Key(attrNamespace + "reason")
	attrIssuer    = attribute.Key(attrNamespace + "issuer")
	attrCacheType = attribute.Key(attrNamespace + "introspection.cache.type") // positive, negative
)

// DurationBuckets are the histogram bucket boundaries of
// grpcauth.verify.duration, in seconds: from 100 ns through the half
// microsecond of a call whose token is cached and the tens of µs of a
// signature check to the seconds a key-set fetch may take.
var DurationBuckets = []float64{
	1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
	1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// maxAttributeSets bounds the cache of attribute sets. Methods are bounded
// by the server's services, outcomes and reasons by this module, so a real
// server stays far below it; past it, sets are built per call.
const maxAttributeSets = 4096

// Config configures Metrics.
type Config struct {
	// MeterProvider creates the meter. Default otel.GetMeterProvider(),
	// the global provider, which records nothing until an SDK is
	// installed with otel.SetMeterProvider.
	MeterProvider metric.MeterProvider
	// Verifiers are observed for the cache, key-set and introspection
	// instruments, each figure labelled with its issuer: pass the
	// grpcauth.Config.Verifier (see Source for what is read from each
	// kind). Each issuer's figures may come from one Source only, and a
	// verifier should be observed by one Metrics per MeterProvider: the
	// SDK adds up the observations of two callbacks too. Default: none
	// (only the decision instruments are reported).
	Verifiers []Source
	// Now returns the current time, for the key sets' age. Default
	// time.Now; give the verifiers' Config.Now if they have one. It is
	// called once a collection, on a goroutine of its own that the
	// collection waits for like a Source's Stats, within StatsTimeout:
	// one that panics there, calls runtime.Goexit, or has not returned in
	// time leaves grpcauth.jwks.age out of that collection, and the
	// callback gives otel.Handle an error saying so (see Source), rather
	// than end the process or hold the reader up. While a call has not
	// returned, later collections neither call Now nor wait for it, and
	// leave the age out. A Now that returns the zero time (a clock of your own
	// not set yet) gives no time to measure from: that collection reads
	// time.Now instead. A Now behind the verifiers' clock, earlier than
	// the key set's fetch, reports an age of 0, not a negative one.
	Now func() time.Time
	// StatsTimeout bounds how long a collection waits for the Sources'
	// Stats and for Now: a Source whose Stats have not returned by then,
	// or by the end of the reader's context if that comes first, is
	// observed with its last good figures (see Source), a Now that has
	// not leaves the key sets' age out, and the callback gives
	// otel.Handle an error. Default (zero or negative) DefaultStatsTimeout.
	StatsTimeout time.Duration
}

// DefaultStatsTimeout is the default Config.StatsTimeout. The Stats of
// this module's verifiers return in microseconds: they make no network
// call and take no lock of the verification path.
const DefaultStatsTimeout = time.Second

// Metrics records grpcauth decisions and verifier figures. Create it with
// New, pass its OnDecision method as grpcauth.Config.OnDecision, and Close
// it when the verifiers are closed. It is safe for concurrent use.
type Metrics struct {
	decisions metric.Int64Counter
	duration  metric.Float64Histogram
	reg       metric.Registration // nil without Verifiers
	stop      chan struct{}       // closed by Close: collections stop waiting for Stats; nil without Verifiers

	closing  sync.Once // Close unregisters reg once, whatever the provider's Registration does twice
	closeErr error

	mu   sync.Mutex                           // serialises additions to sets
	sets atomic.Pointer[map[setKey]*attrOpts] // copy-on-write
}

type setKey struct{ method, outcome, reason string }

// attrOpts are one attribute set's options, as the slices the instruments'
// variadic parameters take: passing them with ... allocates nothing.
type attrOpts struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

// New creates the instruments and registers the callback that observes
// cfg.Verifiers. It fails when a Verifier is nil, not a Source it can
// read, or not built by its constructor (a zero value, whose Stats name no
// issuer; see Source), when its Stats (or a Combined's Parts) panic as New
// reads its issuers, when two of them report one issuer's figures, or
// when the MeterProvider refuses an instrument.
func New(cfg Config) (*Metrics, error) {
	mp := cfg.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	meter := mp.Meter(ScopeName)
	m := &Metrics{}
	m.sets.Store(&map[setKey]*attrOpts{})
	var err error
	if m.decisions, err = meter.Int64Counter("grpcauth.decisions", metric.WithUnit("{call}"),
		metric.WithDescription("Calls decided by the grpcauth interceptors, by method, outcome (allowed, denied, would_deny) and reason.")); err != nil {
		return nil, fmt.Errorf("otelmetrics: %w", err)
	}
	if m.duration, err = meter.Float64Histogram("grpcauth.verify.duration", metric.WithUnit("s"),
		metric.WithDescription("Time the grpcauth interceptors took to decide a call, token verification included."),
		metric.WithExplicitBucketBoundaries(DurationBuckets...)); err != nil {
		return nil, fmt.Errorf("otelmetrics: %w", err)
	}
	if len(cfg.Verifiers) == 0 {
		return m, nil
	}
	var src sources
	for _, v := range cfg.Verifiers {
		// add reads v's Stats (and a Combined's Parts) for its issuers.
		var err error
		if text, panicked := recovered(func() { err = src.add(v, true) }); panicked {
			return nil, fmt.Errorf("otelmetrics: Config.Verifiers: reading a %T panicked: %s", v, text)
		}
		if err != nil {
			return nil, err
		}
	}
	o, err := newObserved(meter)
	if err != nil {
		return nil, fmt.Errorf("otelmetrics: %w", err)
	}
	timeout := cfg.StatsTimeout
	if timeout <= 0 {
		timeout = DefaultStatsTimeout
	}
	m.stop = make(chan struct{})
	m.reg, err = meter.RegisterCallback(newCollector(o, now, timeout, m.stop, &src).collect, o.instruments()...)
	if err != nil {
		return nil, fmt.Errorf("otelmetrics: %w", err)
	}
	return m, nil
}

// OnDecision records one decision: it adds 1 to grpcauth.decisions and
// records d.Latency in grpcauth.verify.duration, unless it is zero (a
// stream cut at its token's expiry or on re-verification is a decision
// that took no deciding time: a zero sample would drag the quantiles
// down). Use it as grpcauth.Config.OnDecision, or call it from your own
// OnDecision.
//
// OnDecision of a Metrics New did not build (a nil *Metrics, New's result
// with its error ignored, or a zero Metrics) records nothing, and logs one
// error record saying so through slog.Default() for the process: it never
// panics on the request path, where grpc-go would not recover it.
func (m *Metrics) OnDecision(ctx context.Context, d grpcauth.Decision) {
	if !m.built() {
		notBuiltLog.Error("otelmetrics: OnDecision of a Metrics not built with New (nil, or a zero Metrics): decisions are not recorded")
		return
	}
	method := d.Method
	if d.UnknownMethod {
		method = UnknownMethod
	}
	opts := m.attributes(setKey{method, d.Outcome(), d.Reason})
	m.decisions.Add(ctx, 1, opts.add...)
	if d.Latency > 0 {
		m.duration.Record(ctx, d.Latency.Seconds(), opts.rec...)
	}
}

// notBuiltLog logs, once for the process, that OnDecision met a Metrics New
// did not build.
var notBuiltLog logonce.Once

// built reports whether m was made by New: not nil, and not a zero Metrics,
// which has no instruments. New always sets decisions.
func (m *Metrics) built() bool { return m != nil && m.decisions != nil }

// attributes returns the measurement options for k, built once per key.
func (m *Metrics) attributes(k setKey) *attrOpts {
	if opts, ok := (*m.sets.Load())[k]; ok {
		return opts
	}
	// A copy: the method may be a substring of a larger string the caller
	// sent (grpc.Server.ServeHTTP names the method by the request's
	// URL.Path, which shares the :path's query), and the set is kept for
	// good, here and in the SDK's aggregation.
	k.method = strings.Clone(k.method)
	set := metric.WithAttributeSet(attribute.NewSet(
		attrMethod.String(k.method),
		attrOutcome.String(k.outcome),
		attrReason.String(k.reason),
	))
	opts := &attrOpts{add: []metric.AddOption{set}, rec: []metric.RecordOption{set}}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.sets.Load()
	if len(old) >= maxAttributeSets {
		return opts
	}
	next := make(map[setKey]*attrOpts, len(old)+1)
	maps.Copy(next, old)
	next[k] = opts
	m.sets.Store(&next)
	return opts
}

// recovered runs f and reports whether it panicked, with the panic's text
// clipped to endpoint.MaxErrorText. The callback runs on the reader's
// goroutine (a PeriodicReader's, an exporter's handler), and a Source's
// Stats and Config.Now each on a goroutine the callback starts, where the
// program cannot recover a panic of a Source of its own, or of its
// Config.Now: one would end the process, and the other Sources would not
// be observed.
// The callback gives otel.Handle an error instead (see collector.collect
// for why it does not return it), and keeps what it observed. A panic(nil)
// under GODEBUG=panicnil=1 recovers as nil: f not returning is what marks
// the panic, so that it fails alike rather than pass as a reading.
func recovered(f func()) (text string, panicked bool) { return panictext.Run(f, endpoint.MaxErrorText) }

// Close unregisters the callback that observes the verifiers, so that the
// MeterProvider no longer calls into them once Close returns (a read of
// a Source's Stats that has not returned yet goes on, on its goroutine,
// until they do; see Source). The OpenTelemetry SDK runs a collection's
// callbacks under the lock that unregistering takes, so Close waits for a
// collection that is running: Close ends its wait for the Sources' Stats,
// so that a Source whose Stats never return does not make Close hang.
// Decisions may still be recorded. Close is safe to
// call more than once, also concurrently: it unregisters once, and every
// call returns the result of that. Close of a nil *Metrics returns nil.
//
// A verifier that replaces one of these (a configuration reload: Close,
// then New with the new verifier) counts from 0 under the same issuer.
// Under cumulative temporality the series drops, which Prometheus's rate
// and increase take for a counter reset. Under delta temporality the SDK
// reports the drop as a negative delta, unless the reader collects between
// this Close and that New (a PeriodicReader does in the MeterProvider's
// ForceFlush): the series is then missing from a collection, the SDK
// forgets it, and it reports the new verifier's whole count. The
// MultiVerifiers' unattributed sums are shared by every Metrics of the
// MeterProvider: closing one that observes a MultiVerifier while another
// observes one makes them drop, with no gap to separate the two.
func (m *Metrics) Close() error {
	if m == nil {
		return nil
	}
	m.closing.Do(func() {
		if m.reg == nil {
			return
		}
		close(m.stop)
		if err := m.reg.Unregister(); err != nil {
			m.closeErr = fmt.Errorf("otelmetrics: %w", err)
		}
	})
	return m.closeErr
}
