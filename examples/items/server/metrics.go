package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/otelmetrics"
	"github.com/grpcauth/grpcauth/verifier"
)

// metrics is the example's metrics endpoint: grpcauth's metrics
// (otelmetrics) on an OpenTelemetry SDK MeterProvider whose ManualReader is
// collected on every GET /metrics and written in the Prometheus text
// format. A real server would rather install an exporter (OTLP,
// Prometheus) on its MeterProvider; the wiring of otelmetrics is the same.
type metrics struct {
	reader   *sdkmetric.ManualReader
	provider *sdkmetric.MeterProvider
	*otelmetrics.Metrics
}

func newMetrics(v *verifier.Verifier) (*metrics, error) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: provider, Verifiers: []otelmetrics.Source{v}})
	if err != nil {
		return nil, fmt.Errorf("server: metrics: %w", err)
	}
	return &metrics{reader: reader, provider: provider, Metrics: m}, nil
}

// Close stops observing the verifier and shuts the provider down.
func (m *metrics) Close() {
	_ = m.Metrics.Close()
	_ = m.provider.Shutdown(context.Background())
}

// ServeHTTP answers GET /metrics.
func (m *metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(r.Context(), &rm); err != nil {
		http.Error(w, "collecting metrics failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	writeText(w, &rm)
}

// serveMetrics serves m on addr, with the timeouts tm (metricsTimeouts),
// until ctx ends. It returns the address it listens on.
func serveMetrics(ctx context.Context, addr string, m *metrics, tm httpTimeouts, log *slog.Logger) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("server: metrics: %w", err)
	}
	// On loopback, loopback host names only: no DNS-rebinding page reads
	// the metrics from a browser on this machine.
	hs := tm.server(endpoint.LoopbackHostsOnly(ln.Addr(), m))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(limitConns(ln)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics endpoint failed", "err", err)
		}
	}()
	stop := func() {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		<-done
	}
	return ln.Addr().String(), stop, nil
}

// writeText writes rm in the Prometheus text exposition format: dots
// become underscores, counters get _total, seconds _seconds, bytes (By)
// _bytes, as OpenTelemetry's Prometheus exporter names them; each family
// starts with its HELP (the description) and TYPE lines. Metrics are
// sorted by name and series by labels, so the output is stable.
func writeText(w io.Writer, rm *metricdata.ResourceMetrics) {
	var all []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		all = append(all, sm.Metrics...)
	}
	slices.SortFunc(all, func(a, b metricdata.Metrics) int { return strings.Compare(a.Name, b.Name) })
	for _, m := range all {
		name := strings.ReplaceAll(m.Name, ".", "_")
		switch m.Unit {
		case "s":
			name += "_seconds"
		case "By":
			name += "_bytes"
		}
		var lines []string
		typ := "gauge"
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			if d.IsMonotonic {
				name, typ = name+"_total", "counter"
			}
			for _, p := range d.DataPoints {
				lines = append(lines, sample(name, p.Attributes, "", strconv.FormatInt(p.Value, 10)))
			}
		case metricdata.Gauge[int64]:
			for _, p := range d.DataPoints {
				lines = append(lines, sample(name, p.Attributes, "", strconv.FormatInt(p.Value, 10)))
			}
		case metricdata.Gauge[float64]:
			for _, p := range d.DataPoints {
				lines = append(lines, sample(name, p.Attributes, "", formatFloat(p.Value)))
			}
		case metricdata.Histogram[float64]:
			typ = "histogram"
			for _, p := range d.DataPoints {
				// One string per series keeps its buckets in order.
				var b strings.Builder
				var cum uint64
				for i, bound := range p.Bounds {
					cum += p.BucketCounts[i]
					b.WriteString(sample(name+"_bucket", p.Attributes, formatFloat(bound), strconv.FormatUint(cum, 10)) + "\n")
				}
				b.WriteString(sample(name+"_bucket", p.Attributes, "+Inf", strconv.FormatUint(p.Count, 10)) + "\n")
				b.WriteString(sample(name+"_sum", p.Attributes, "", formatFloat(p.Sum)) + "\n")
				b.WriteString(sample(name+"_count", p.Attributes, "", strconv.FormatUint(p.Count, 10)))
				lines = append(lines, b.String())
			}
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, helpEscaper.Replace(m.Description), name, typ)
		slices.Sort(lines)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// sample formats one line: name{labels} value, with le added when set.
func sample(name string, attrs attribute.Set, le, value string) string {
	var b strings.Builder
	b.WriteString(name)
	var labels []string
	for _, kv := range attrs.ToSlice() {
		// grpcauth.issuer as grpcauth_issuer: a label name has no dots.
		labels = append(labels, strings.ReplaceAll(string(kv.Key), ".", "_")+`="`+labelEscaper.Replace(kv.Value.Emit())+`"`)
	}
	if le != "" {
		labels = append(labels, `le="`+le+`"`)
	}
	if len(labels) > 0 {
		b.WriteString("{" + strings.Join(labels, ",") + "}")
	}
	b.WriteString(" " + value)
	return b.String()
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
