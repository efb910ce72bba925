package otelmetrics_test

import (
	"context"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/otelmetrics"
	"github.com/grpcauth/grpcauth/verifier"
)

// instrument is how an instrument was created: its kind (the name of the
// Meter method) and unit.
type instrument struct{ kind, unit string }

// recordingMeter is an SDK meter that records each instrument created.
type recordingMeter struct {
	metric.Meter
	mu  sync.Mutex
	got map[string]instrument
}

func (r *recordingMeter) note(name, kind, unit string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[name] = instrument{kind, unit}
}

func (r *recordingMeter) Int64Counter(name string, o ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	r.note(name, "Int64Counter", metric.NewInt64CounterConfig(o...).Unit())
	return r.Meter.Int64Counter(name, o...)
}

func (r *recordingMeter) Int64UpDownCounter(name string, o ...metric.Int64UpDownCounterOption) (metric.Int64UpDownCounter, error) {
	r.note(name, "Int64UpDownCounter", metric.NewInt64UpDownCounterConfig(o...).Unit())
	return r.Meter.Int64UpDownCounter(name, o...)
}

func (r *recordingMeter) Int64Histogram(name string, o ...metric.Int64HistogramOption) (metric.Int64Histogram, error) {
	r.note(name, "Int64Histogram", metric.NewInt64HistogramConfig(o...).Unit())
	return r.Meter.Int64Histogram(name, o...)
}

func (r *recordingMeter) Int64Gauge(name string, o ...metric.Int64GaugeOption) (metric.Int64Gauge, error) {
	r.note(name, "Int64Gauge", metric.NewInt64GaugeConfig(o...).Unit())
	return r.Meter.Int64Gauge(name, o...)
}

func (r *recordingMeter) Int64ObservableCounter(name string, o ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	r.note(name, "Int64ObservableCounter", metric.NewInt64ObservableCounterConfig(o...).Unit())
	return r.Meter.Int64ObservableCounter(name, o...)
}

func (r *recordingMeter) Int64ObservableUpDownCounter(name string, o ...metric.Int64ObservableUpDownCounterOption) (metric.Int64ObservableUpDownCounter, error) {
	r.note(name, "Int64ObservableUpDownCounter", metric.NewInt64ObservableUpDownCounterConfig(o...).Unit())
	return r.Meter.Int64ObservableUpDownCounter(name, o...)
}

func (r *recordingMeter) Int64ObservableGauge(name string, o ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	r.note(name, "Int64ObservableGauge", metric.NewInt64ObservableGaugeConfig(o...).Unit())
	return r.Meter.Int64ObservableGauge(name, o...)
}

func (r *recordingMeter) Float64Counter(name string, o ...metric.Float64CounterOption) (metric.Float64Counter, error) {
	r.note(name, "Float64Counter", metric.NewFloat64CounterConfig(o...).Unit())
	return r.Meter.Float64Counter(name, o...)
}

func (r *recordingMeter) Float64UpDownCounter(name string, o ...metric.Float64UpDownCounterOption) (metric.Float64UpDownCounter, error) {
	r.note(name, "Float64UpDownCounter", metric.NewFloat64UpDownCounterConfig(o...).Unit())
	return r.Meter.Float64UpDownCounter(name, o...)
}

func (r *recordingMeter) Float64Histogram(name string, o ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	r.note(name, "Float64Histogram", metric.NewFloat64HistogramConfig(o...).Unit())
	return r.Meter.Float64Histogram(name, o...)
}

func (r *recordingMeter) Float64Gauge(name string, o ...metric.Float64GaugeOption) (metric.Float64Gauge, error) {
	r.note(name, "Float64Gauge", metric.NewFloat64GaugeConfig(o...).Unit())
	return r.Meter.Float64Gauge(name, o...)
}

func (r *recordingMeter) Float64ObservableCounter(name string, o ...metric.Float64ObservableCounterOption) (metric.Float64ObservableCounter, error) {
	r.note(name, "Float64ObservableCounter", metric.NewFloat64ObservableCounterConfig(o...).Unit())
	return r.Meter.Float64ObservableCounter(name, o...)
}

func (r *recordingMeter) Float64ObservableUpDownCounter(name string, o ...metric.Float64ObservableUpDownCounterOption) (metric.Float64ObservableUpDownCounter, error) {
	r.note(name, "Float64ObservableUpDownCounter", metric.NewFloat64ObservableUpDownCounterConfig(o...).Unit())
	return r.Meter.Float64ObservableUpDownCounter(name, o...)
}

func (r *recordingMeter) Float64ObservableGauge(name string, o ...metric.Float64ObservableGaugeOption) (metric.Float64ObservableGauge, error) {
	r.note(name, "Float64ObservableGauge", metric.NewFloat64ObservableGaugeConfig(o...).Unit())
	return r.Meter.Float64ObservableGauge(name, o...)
}

// recordingProvider hands out one recordingMeter.
type recordingProvider struct {
	metric.MeterProvider
	meter *recordingMeter
}

func (p *recordingProvider) Meter(name string, o ...metric.MeterOption) metric.Meter {
	if name != otelmetrics.ScopeName {
		panic("meter " + name)
	}
	p.meter.Meter = p.MeterProvider.Meter(name, o...)
	return p.meter
}

// documentedInstrument is a row of docs/observability.md's instrument table.
type documentedInstrument struct {
	kind, unit string
	attrKeys   [][]string // the documented attribute key sets, sorted
}

// documentedInstruments parses the table under "### Instruments" of
// docs/observability.md.
func documentedInstruments(t *testing.T) map[string]documentedInstrument {
	t.Helper()
	b, err := os.ReadFile("../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "\n### Instruments\n")
	if !ok {
		t.Fatal(`docs/observability.md has no "### Instruments" section`)
	}
	table, _, _ = strings.Cut(table, "\n\n`grpcauth.verify.duration` uses")
	code := regexp.MustCompile("`([^`]*)`")
	values := regexp.MustCompile(`\([^)]*\)`)
	docs := make(map[string]documentedInstrument)
	for line := range strings.Lines(table) {
		cells := strings.Split(line, " | ")
		if len(cells) < 5 || !strings.HasPrefix(cells[0], "| `grpcauth.") {
			continue
		}
		unquote := func(s string) string { return strings.Trim(strings.TrimSpace(s), "`") }
		name := unquote(strings.TrimPrefix(cells[0], "|"))
		d := documentedInstrument{kind: unquote(cells[1]), unit: unquote(cells[2])}
		attrCell := values.ReplaceAllString(cells[3], "") // "(`positive`, `negative`)" are values, not keys
		var keys []string
		for _, m := range code.FindAllStringSubmatch(attrCell, -1) {
			keys = append(keys, m[1])
		}
		if len(keys) > 0 {
			sort.Strings(keys)
			d.attrKeys = append(d.attrKeys, keys)
		}
		if strings.Contains(attrCell, "none") {
			d.attrKeys = append(d.attrKeys, nil)
		}
		if _, dup := docs[name]; dup {
			t.Errorf("docs/observability.md lists %s twice", name)
		}
		docs[name] = d
	}
	if len(docs) == 0 {
		t.Fatal("docs/observability.md: no instrument rows found")
	}
	return docs
}

// attrKeySets returns the attribute key sets of a metric's data points.
func attrKeySets(t *testing.T, m metricdata.Metrics) [][]string {
	t.Helper()
	var points []attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		points = pointSets(d.DataPoints)
	case metricdata.Gauge[int64]:
		points = pointSets(d.DataPoints)
	case metricdata.Gauge[float64]:
		points = pointSets(d.DataPoints)
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			points = append(points, p.Attributes)
		}
	default:
		t.Errorf("%s: unexpected data %T", m.Name, m.Data)
	}
	var sets [][]string
	for _, p := range points {
		keys := setKeys(p)
		sort.Strings(keys)
		if !slices.ContainsFunc(sets, func(s []string) bool { return slices.Equal(s, keys) }) {
			sets = append(sets, keys)
		}
	}
	return sets
}

// pointSets returns the attribute sets of points.
func pointSets[N int64 | float64](points []metricdata.DataPoint[N]) []attribute.Set {
	sets := make([]attribute.Set, len(points))
	for i, p := range points {
		sets[i] = p.Attributes
	}
	return sets
}

// The instrument table of docs/observability.md is what operators write
// their alerts from: every instrument New registers must be in it, and
// every row must name an instrument New registers, with its kind, unit and
// attribute keys.
func TestMetrics_DocumentedInstrumentsMatchTheRegisteredOnes(t *testing.T) {
	docs := documentedInstruments(t)

	now := func() time.Time { return t0 }
	quiet := slog.New(slog.DiscardHandler)
	rs := grpcauthtest.Client{ID: "rs", Secret: "rs-secret"}
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Now: now, Clients: []grpcauthtest.Client{rs}})
	multi, err := verifier.NewMulti(context.Background(),
		verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}, Now: now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { multi.Close() })
	if err := multi.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	opaque := introspector(t, introspect.Config{
		Endpoint: iss.IntrospectionURL(), Issuer: iss.URL(), ClientID: rs.ID, ClientSecret: rs.Secret,
		Audiences: []string{iss.Audience()}, Now: now,
	})
	combined, err := introspect.Combine(multi, opaque)
	if err != nil {
		t.Fatal(err)
	}

	reader := sdkmetric.NewManualReader()
	sdk := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { sdk.Shutdown(context.Background()) })
	rec := &recordingMeter{got: make(map[string]instrument)}
	m, err := otelmetrics.New(otelmetrics.Config{
		MeterProvider: &recordingProvider{MeterProvider: sdk, meter: rec},
		Verifiers:     []otelmetrics.Source{combined}, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	m.OnDecision(t.Context(), grpcauth.Decision{Method: mInherited, Allowed: true, Latency: time.Microsecond})
	collected := collectMetrics(t, reader)

	for name, got := range rec.got {
		d, ok := docs[name]
		if !ok {
			t.Errorf("%s (%s, %s) is registered but not in docs/observability.md", name, got.kind, got.unit)
			continue
		}
		if d.kind != got.kind || d.unit != got.unit {
			t.Errorf("%s: documented %s in %q, registered %s in %q", name, d.kind, d.unit, got.kind, got.unit)
		}
		cm, ok := collected[name]
		if !ok {
			t.Errorf("%s: no data point collected", name)
			continue
		}
		if gotKeys := attrKeySets(t, cm); !slices.EqualFunc(sortSets(gotKeys), sortSets(d.attrKeys), slices.Equal) {
			t.Errorf("%s: attribute keys %q, documented %q", name, gotKeys, d.attrKeys)
		}
	}
	for name := range docs {
		if _, ok := rec.got[name]; !ok {
			t.Errorf("docs/observability.md lists %s, which New does not register", name)
		}
	}

	// The package comment's summary table too: name, kind and unit.
	summary := packageCommentInstruments(t)
	for name, got := range rec.got {
		s, ok := summary[name]
		if !ok {
			t.Errorf("%s is registered but not in the package comment (doc.go)", name)
			continue
		}
		if !strings.HasSuffix(strings.ToLower(got.kind), s.kind) || s.unit != got.unit {
			t.Errorf("doc.go: %s is a %s in %q, registered %s in %q", name, s.kind, s.unit, got.kind, got.unit)
		}
	}
	for name := range summary {
		if _, ok := rec.got[name]; !ok {
			t.Errorf("doc.go lists %s, which New does not register", name)
		}
	}
}

// packageCommentInstruments parses the instrument lines of the package
// comment in doc.go ("//\tgrpcauth.x  counter  {unit}  attributes"): their
// kind (counter, gauge, histogram) and unit.
func packageCommentInstruments(t *testing.T) map[string]instrument {
	t.Helper()
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]instrument)
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "//\tgrpcauth.")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 3 {
			t.Errorf("doc.go: short instrument line %q", line)
			continue
		}
		name := "grpcauth." + f[0]
		if _, dup := got[name]; dup {
			t.Errorf("doc.go lists %s twice", name)
		}
		got[name] = instrument{kind: f[1], unit: f[2]}
	}
	if len(got) == 0 {
		t.Fatal("doc.go: no instrument lines found")
	}
	return got
}

// setKeys returns the keys of s.
func setKeys(s attribute.Set) []string {
	var keys []string
	for _, kv := range s.ToSlice() {
		keys = append(keys, string(kv.Key))
	}
	return keys
}

// sortSets returns sets in a fixed order.
func sortSets(sets [][]string) [][]string {
	s := slices.Clone(sets)
	slices.SortFunc(s, func(a, b []string) int { return strings.Compare(strings.Join(a, ","), strings.Join(b, ",")) })
	return s
}
