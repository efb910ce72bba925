package otelmetrics_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/otelmetrics"
	"github.com/grpcauth/grpcauth/verifier"
)

// statsFunc is a Source of a func type, as an application adapting its own
// verifier might write one.
type statsFunc func() verifier.Stats

func (f statsFunc) Stats() verifier.Stats { return f() }

// A nil verifier of a readable type is refused by New: accepted, its Stats
// would panic in the collection callback, on the first scrape (or in New,
// which reads it for the issuer). Pointer or not.
func TestNew_RejectsANilVerifier(t *testing.T) {
	for _, s := range []otelmetrics.Source{
		(*verifier.Verifier)(nil), (*verifier.MultiVerifier)(nil),
		(*introspect.Verifier)(nil), (*introspect.Combined)(nil),
		statsFunc(nil),
	} {
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		t.Cleanup(func() { mp.Shutdown(context.Background()) })
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("New(%T nil) panicked: %v", s, p)
				}
			}()
			m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp, Verifiers: []otelmetrics.Source{s}})
			if err == nil {
				defer m.Close()
				t.Errorf("New(%T nil) = nil error, want one", s)
			} else if !strings.HasPrefix(err.Error(), "otelmetrics: Config.Verifiers: ") {
				t.Errorf("New(%T nil) = %v, want an otelmetrics: Config.Verifiers error", s, err)
			}
		}()
	}
}

// The SDK adds up what a callback observes twice for one attribute set, so
// an issuer observed through two sources would count its cache hits, key
// fetches and requests twice: New refuses it, naming the issuer.
func TestNew_RejectsAnIssuerObservedTwice(t *testing.T) {
	f := newFixture(t)
	quiet := slog.New(slog.DiscardHandler)
	now := func() time.Time { return t0 }
	multi, err := verifier.NewMulti(context.Background(),
		verifier.Config{Issuer: f.iss.URL(), Audiences: []string{f.iss.Audience()}, JWKSURL: f.iss.JWKSURL(), Now: now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { multi.Close() })
	opaque := introspector(t, introspect.Config{
		Endpoint: f.iss.IntrospectionURL(), Issuer: f.iss.URL(), ClientID: "rs", ClientSecret: "rs-secret",
		Audiences: []string{f.iss.Audience()}, Now: now,
	})
	combined, err := introspect.Combine(f.v, opaque)
	if err != nil {
		t.Fatal(err)
	}
	for name, srcs := range map[string][]otelmetrics.Source{
		"the same verifier twice":               {f.v, f.v},
		"a verifier and a MultiVerifier":        {f.v, multi},
		"a Combined and its JWT verifier":       {combined, f.v},
		"a Combined and its opaque verifier":    {opaque, combined},
		"the same introspection verifier twice": {opaque, opaque},
		"the same MultiVerifier twice":          {multi, multi},
	} {
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		t.Cleanup(func() { mp.Shutdown(context.Background()) })
		m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp, Verifiers: srcs})
		if err == nil {
			m.Close()
			t.Errorf("%s: New = nil error, want one", name)
			continue
		}
		if !strings.Contains(err.Error(), f.iss.URL()) {
			t.Errorf("%s: New = %v, want an error naming the issuer", name, err)
		}
	}
	// A JWT verifier and an introspection verifier of one issuer feed
	// different instruments: that is not a double count.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp, Verifiers: []otelmetrics.Source{combined}})
	if err != nil {
		t.Fatalf("New(Combined of one issuer's JWT and introspection verifiers) = %v", err)
	}
	m.Close()
}

// New reads each Source's Stats for its issuers: a Source whose Stats (or
// Parts) panic there, a source of the program's own say, makes New return
// an error naming its type and the panic, rather than panic at start-up.
// (Before, New panicked.)
func TestNew_ASourceWhoseStatsPanicIsAnError(t *testing.T) {
	armed := &atomic.Bool{}
	armed.Store(true)
	for _, s := range []otelmetrics.Source{
		panicking{"https://keyed.example", armed},
		panickingMulti{panicking{"https://multi.example", armed}},
		panickingIntrospection{panicking{"https://opaque.example", armed}},
	} {
		var err error
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Errorf("New(%T) panicked: %v", s, v)
				}
			}()
			var m *otelmetrics.Metrics
			if m, err = otelmetrics.New(otelmetrics.Config{MeterProvider: noop.NewMeterProvider(), Verifiers: []otelmetrics.Source{s}}); err == nil {
				m.Close()
			}
		}()
		if want := fmt.Sprintf("otelmetrics: Config.Verifiers: reading a %T panicked: stats bug", s); err == nil || err.Error() != want {
			t.Errorf("New(%T) = %v, want %q", s, err, want)
		}
	}
}
