package otelmetrics_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/otelmetrics"
	"github.com/grpcauth/grpcauth/verifier"
)

// levels are the instruments that are up-down counters: levels held
// now, which add up over issuers (and caches). The other int64
// instruments are counters.
var levels = map[string]bool{
	"grpcauth.cache.entry.count": true, "grpcauth.cache.size": true, "grpcauth.jwks.key.count": true,
	"grpcauth.jwks.key.skipped": true, "grpcauth.introspection.cache.entry.count": true,
	"grpcauth.introspection.cache.size": true, "grpcauth.introspection.in_flight": true,
}

// points returns the int64 points of a sum, by attribute set: monotonic
// unless it is one of the levels.
func points(t *testing.T, got map[string]metricdata.Aggregation, name string) map[attribute.Set]int64 {
	t.Helper()
	d, ok := got[name].(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s = %T, want an int64 sum", name, got[name])
	}
	if d.IsMonotonic == levels[name] {
		t.Errorf("%s: monotonic %v, want %v (an up-down counter is a level)", name, d.IsMonotonic, !levels[name])
	}
	dps := d.DataPoints
	out := make(map[attribute.Set]int64, len(dps))
	for _, dp := range dps {
		out[dp.Attributes] = dp.Value
	}
	return out
}

func bearer(t *testing.T, token string) context.Context {
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+token)
}

// introspector returns an introspection Verifier of cfg, quiet unless
// cfg.Logger is set; t.Cleanup closes it.
func introspector(t *testing.T, cfg introspect.Config) *introspect.Verifier {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	v, err := introspect.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// A Combined of a MultiVerifier (two issuers) and an introspection
// Verifier, given once as the Source, yields every part's figures.
func TestMetrics_ObserveEveryPartOfACombinedVerifier(t *testing.T) {
	rs := grpcauthtest.Client{ID: "rs", Secret: "rs-secret"}
	now := func() time.Time { return t0 }
	a := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/a", Now: now, Clients: []grpcauthtest.Client{rs}})
	b := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/b", Now: now, Audience: a.Audience()})
	quiet := slog.New(slog.DiscardHandler)
	multi, err := verifier.NewMulti(context.Background(),
		verifier.Config{Issuer: a.URL(), Audiences: []string{a.Audience()}, Now: now, Logger: quiet},
		verifier.Config{Issuer: b.URL(), Audiences: []string{a.Audience()}, Now: now, Logger: quiet},
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { multi.Close() })
	opaque := introspector(t, introspect.Config{
		Endpoint: a.IntrospectionURL(), Issuer: a.URL(), ClientID: rs.ID, ClientSecret: rs.Secret,
		Audiences: []string{a.Audience()}, Now: now,
		MaxRequestRate: 2, // the clock stands still: two requests, then none
	})
	combined, err := introspect.Combine(multi, opaque)
	if err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp, Verifiers: []otelmetrics.Source{combined}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	client := serve(t, grpcauth.Config{Verifier: combined, OnDecision: m.OnDecision})

	call := func(token string, want codes.Code) {
		t.Helper()
		_, err := client.Inherited(bearer(t, token), &authtestv1.InheritedRequest{})
		if status.Code(err) != want {
			t.Fatalf("call: %v, want %v", err, want)
		}
	}
	op, err := a.MintOpaque("svc", "test:read")
	if err != nil {
		t.Fatal(err)
	}
	jwtA, err := a.Mint(nil, grpcauthtest.WithScopes("test:read"))
	if err != nil {
		t.Fatal(err)
	}
	jwtB, err := b.Mint(nil, grpcauthtest.WithScopes("test:read"))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		call(op, codes.OK) // 1 miss, 1 request, 2 hits
	}
	for range 2 {
		call("bm90LWlzc3VlZA", codes.Unauthenticated) // 1 miss, 1 request (inactive), 1 negative hit
	}
	call(jwtA, codes.OK)
	call(jwtA, codes.OK)
	call(jwtB, codes.OK)
	call("e30.@@.e30", codes.Unauthenticated) // a JWT whose payload the MultiVerifier cannot read
	call("abc!def", codes.Unauthenticated)    // not a JWT, nor a b64token: refused without a request
	call("dGhpcmQtb25l", codes.Unavailable)   // a third request would exceed MaxRequestRate

	got := collect(t, reader)
	issA, issB := attrs("grpcauth.issuer", a.URL()), attrs("grpcauth.issuer", b.URL())
	for name, want := range map[string]map[attribute.Set]int64{
		"grpcauth.introspection.cache.hits":          {issA: 2},
		"grpcauth.introspection.cache.negative_hits": {issA: 1},
		"grpcauth.introspection.cache.misses":        {issA: 3}, // one of them rate-limited
		"grpcauth.introspection.requests":            {issA: 2},
		"grpcauth.introspection.failures":            {issA: 0},
		"grpcauth.introspection.inactive":            {issA: 1},
		"grpcauth.introspection.coalesced":           {issA: 0},
		"grpcauth.introspection.in_flight":           {issA: 0},
		"grpcauth.introspection.malformed":           {issA: 1},
		"grpcauth.introspection.rate_limited":        {issA: 1},
		"grpcauth.introspection.cache.entry.count": {
			attrs("grpcauth.introspection.cache.type", "positive", "grpcauth.issuer", a.URL()): 1,
			attrs("grpcauth.introspection.cache.type", "negative", "grpcauth.issuer", a.URL()): 1,
		},
		"grpcauth.introspection.cache.size": {issA: opaque.Stats().CacheBytes},
		// The MultiVerifier's figures, per issuer.
		"grpcauth.cache.hits":        {issA: 1, issB: 0},
		"grpcauth.cache.misses":      {issA: 1, issB: 1},
		"grpcauth.cache.entry.count": {issA: 1, issB: 1},
		"grpcauth.jwks.fetches":      {issA: 1, issB: 1},
		"grpcauth.jwks.key.count":    {issA: 1, issB: 1},
		// Refused by the MultiVerifier itself: no issuer attribute.
		"grpcauth.malformed_tokens": {issA: 0, issB: 0, *attribute.EmptySet(): 1},
	} {
		p := points(t, got, name)
		if len(p) != len(want) {
			t.Errorf("%s has %d series, want %d", name, len(p), len(want))
		}
		for set, w := range want {
			if v, ok := p[set]; !ok || v != w {
				t.Errorf("%s{%s} = %d (present %v), want %d", name, set.Encoded(attribute.DefaultEncoder()), v, ok, w)
			}
		}
	}
	if st := opaque.Stats(); st.CacheBytes == 0 {
		t.Errorf("Stats().CacheBytes is 0 with an entry cached")
	}
	if st := opaque.Stats(); st.Requests != a.IntrospectionRequests() {
		t.Errorf("Stats().Requests %d, the server saw %d", st.Requests, a.IntrospectionRequests())
	}
}

func TestNew_RejectsAVerifierWithoutStats(t *testing.T) {
	_, err := otelmetrics.New(otelmetrics.Config{Verifiers: []otelmetrics.Source{struct{}{}}})
	if err == nil || !strings.Contains(err.Error(), "otelmetrics: Config.Verifiers: struct {}") {
		t.Fatalf("New = %v, want an error naming the type", err)
	}
}

// A token refused within the Retry-After of the authorization server's 429
// counts in rate_limited, as Stats.RateLimited does, and the instrument's
// description names that cause beside MaxRequestRate: a dashboard must not
// blame the Verifier's own cap for the server's refusals.
func TestMetrics_RateLimitedCountsTheServersRetryAfterAndSaysSo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	now := func() time.Time { return t0 }
	v := introspector(t, introspect.Config{
		Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "rs-secret",
		Audiences: []string{"api://x"}, Now: now,
	})
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp, Verifiers: []otelmetrics.Source{v}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	for _, tok := range []string{"Zmlyc3Q", "c2Vjb25k"} { // the first gets the 429, the second its pause
		if _, err := v.VerifyAccessToken(t.Context(), tok); !errors.Is(err, introspect.ErrUnavailable) {
			t.Fatalf("token %s: %v, want ErrUnavailable", tok, err)
		}
	}
	md := collectMetrics(t, reader)["grpcauth.introspection.rate_limited"]
	if p := points(t, map[string]metricdata.Aggregation{md.Name: md.Data}, md.Name); p[attrs("grpcauth.issuer", "https://issuer.example")] != 1 {
		t.Errorf("rate_limited = %v, want 1 for the issuer", p)
	}
	if !strings.Contains(md.Description, "MaxRequestRate") || !strings.Contains(md.Description, "Retry-After") {
		t.Errorf("rate_limited's description %q does not name both MaxRequestRate and Retry-After", md.Description)
	}
}
