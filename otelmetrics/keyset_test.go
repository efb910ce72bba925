package otelmetrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/otelmetrics"
	"github.com/grpcauth/grpcauth/verifier"
)

// observedVerifier returns a ready Verifier of cfg (quiet) and a reader of
// Metrics observing it with cfg.Now; t.Cleanup closes them.
func observedVerifier(t *testing.T, cfg verifier.Config) (*verifier.Verifier, *sdkmetric.ManualReader) {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	v, err := verifier.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	reader := observing(t, cfg.Now, v)
	if err := v.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	return v, reader
}

// observing returns a reader of Metrics observing srcs, with the clock
// now, on a MeterProvider of its own; t.Cleanup closes both.
func observing(t *testing.T, now func() time.Time, srcs ...otelmetrics.Source) *sdkmetric.ManualReader {
	t.Helper()
	_, reader := observingMetrics(t, now, srcs...)
	return reader
}

// observingMetrics is observing that also returns the Metrics.
func observingMetrics(t *testing.T, now func() time.Time, srcs ...otelmetrics.Source) (*otelmetrics.Metrics, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp, Verifiers: srcs, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, reader
}

// The key-set figures beyond fetches and failures: how often discovery
// runs, whether the keys' URL moved, and what tokens with unknown kids
// cost (refreshes, refusals, waits), each with its own value so that no
// two can be swapped unnoticed.
func TestMetrics_ObserveDiscoveryAndUnknownKidFigures(t *testing.T) {
	var elapsed atomic.Int64
	now := func() time.Time { return t0.Add(time.Duration(elapsed.Load())) }
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Now: now})
	v, reader := observedVerifier(t, verifier.Config{
		Issuer: iss.URL(), Audiences: []string{iss.Audience()}, Now: now, MinRefreshInterval: time.Minute,
	})

	verify := func(ctx context.Context, kid string) error {
		t.Helper()
		tok, err := iss.Mint(nil, grpcauthtest.WithKidHeader(kid))
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.VerifyAccessToken(ctx, tok)
		return err
	}
	// Two unknown kids a minute apart: two refreshes, each confirming its
	// kid absent.
	for _, kid := range []string{"forged-1", "forged-2"} {
		if err := verify(t.Context(), kid); !errors.Is(err, verifier.ErrUnknownKey) {
			t.Fatalf("%s = %v, want ErrUnknownKey", kid, err)
		}
		elapsed.Add(int64(time.Minute))
	}
	// The kid just confirmed absent, five times: refused without a refresh.
	for range 5 {
		if err := verify(t.Context(), "forged-2"); !errors.Is(err, verifier.ErrUnknownKey) {
			t.Fatalf("forged-2 again = %v, want ErrUnknownKey", err)
		}
	}
	// A third unknown kid gets its refresh; a fourth, within the same
	// minute, waits for the next permitted one until its deadline.
	if err := verify(t.Context(), "forged-3"); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Fatalf("forged-3 = %v, want ErrUnknownKey (its refresh is allowed)", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := verify(ctx, "forged-4"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("forged-4 = %v, want it to wait until its deadline", err)
	}

	rm := collectMetrics(t, reader)
	issuer := attrs("grpcauth.issuer", iss.URL())
	for _, c := range []struct {
		name, unit string
		counter    bool
		want       int64
	}{
		{"grpcauth.jwks.fetches", "{request}", true, 4},
		{"grpcauth.jwks.discoveries", "{request}", true, 1},
		{"grpcauth.jwks.url_changes", "{change}", true, 0},
		{"grpcauth.jwks.miss_fetches", "{refresh}", true, 3},
		{"grpcauth.jwks.misses_limited", "{lookup}", true, 5},
		{"grpcauth.jwks.miss_waits", "{lookup}", true, 1},
		{"grpcauth.jwks.key.count", "{key}", false, 1},
		{"grpcauth.jwks.key.skipped", "{key}", false, 0},
	} {
		md, ok := rm[c.name]
		if !ok {
			t.Errorf("%s not exported", c.name)
			continue
		}
		if md.Unit != c.unit || md.Description == "" {
			t.Errorf("%s: unit %q, description %q; want unit %q and a description", c.name, md.Unit, md.Description, c.unit)
		}
		if sum, isSum := md.Data.(metricdata.Sum[int64]); !isSum || sum.IsMonotonic != c.counter {
			t.Errorf("%s is a %T, want a sum, monotonic: %v", c.name, md.Data, c.counter)
		}
		p := points(t, map[string]metricdata.Aggregation{c.name: md.Data}, c.name)
		if got, ok := p[issuer]; len(p) != 1 || !ok || got != c.want {
			t.Errorf("%s = %v, want %d for the issuer", c.name, p, c.want)
		}
	}
	st := v.Stats()
	if st.KeyFetches != 4 || st.KeyMissFetches != 3 || st.KeyMissesLimited != 5 || st.KeyMissWaits != 1 {
		t.Errorf("Stats = %+v, disagreeing with the metrics", st)
	}
}

// A key set older than MaxStaleness serves no lookup (every verification
// is UNAVAILABLE), so grpcauth.jwks.key.count reports no usable key while it
// lasts, not the stale set's count; grpcauth.jwks.age keeps growing, and
// the count comes back with the next good fetch.
func TestMetrics_StaleKeySetReportsNoUsableKeys(t *testing.T) {
	var elapsed atomic.Int64
	now := func() time.Time { return t0.Add(time.Duration(elapsed.Load())) }
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Now: now})
	var failing atomic.Bool
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		resp, err := http.Get(iss.JWKSURL())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(jwks.Close)
	v, reader := observedVerifier(t, verifier.Config{
		Issuer: iss.URL(), Audiences: []string{iss.Audience()}, JWKSURL: jwks.URL, Now: now,
		MaxStaleness: time.Hour, MinRefreshInterval: time.Minute,
	})
	verify := func() error {
		t.Helper()
		tok, err := iss.Mint(nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.VerifyAccessToken(t.Context(), tok)
		return err
	}
	issuer := attrs("grpcauth.issuer", iss.URL())
	check := func(when string, keys int64, age time.Duration) {
		t.Helper()
		got := collect(t, reader)
		if p := points(t, got, "grpcauth.jwks.key.count"); len(p) != 1 || p[issuer] != keys {
			t.Errorf("%s: grpcauth.jwks.key.count = %v, want %d", when, p, keys)
		}
		ages, _ := got["grpcauth.jwks.age"].(metricdata.Gauge[float64])
		if len(ages.DataPoints) != 1 || ages.DataPoints[0].Value != age.Seconds() {
			t.Errorf("%s: grpcauth.jwks.age = %+v, want %v", when, ages.DataPoints, age)
		}
		if st := v.Stats(); int64(st.Keys) != keys {
			t.Errorf("%s: Stats().Keys = %d, want %d", when, st.Keys, keys)
		}
	}
	if err := verify(); err != nil {
		t.Fatal(err)
	}
	check("fresh", 1, 0)

	// The JWKS server fails; an hour and a minute later the set is stale.
	failing.Store(true)
	elapsed.Store(int64(time.Hour + time.Minute))
	if err := verify(); !errors.Is(err, verifier.ErrKeysUnavailable) {
		t.Fatalf("with a stale set: %v, want ErrKeysUnavailable", err)
	}
	check("stale", 0, time.Hour+time.Minute)

	// The server is back: the next refresh a lookup may start brings the
	// keys back.
	failing.Store(false)
	elapsed.Add(int64(2 * time.Minute))
	if err := verify(); err != nil {
		t.Fatalf("after the server recovered: %v", err)
	}
	check("recovered", 1, 0)
}
