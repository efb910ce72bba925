package otelmetrics_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/otelmetrics"
	"github.com/grpcauth/grpcauth/verifier"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

type service struct {
	authtestv1.UnimplementedTestServiceServer
}

func (service) Inherited(context.Context, *authtestv1.InheritedRequest) (*authtestv1.InheritedResponse, error) {
	return &authtestv1.InheritedResponse{}, nil
}

func (service) AllOf(context.Context, *authtestv1.AllOfRequest) (*authtestv1.AllOfResponse, error) {
	return &authtestv1.AllOfResponse{}, nil
}

func (service) ClientStream(s grpc.ClientStreamingServer[authtestv1.ClientStreamRequest, authtestv1.ClientStreamResponse]) error {
	for {
		if _, err := s.Recv(); err == io.EOF {
			return s.SendAndClose(&authtestv1.ClientStreamResponse{})
		} else if err != nil {
			return err
		}
	}
}

type fixture struct {
	iss    *grpcauthtest.Issuer
	v      *verifier.Verifier
	reader *sdkmetric.ManualReader
	client authtestv1.TestServiceClient
}

// newFixture starts an issuer, a verifier, Metrics on an SDK MeterProvider
// with a ManualReader, and a loopback gRPC server behind the interceptors
// reporting to the Metrics.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{reader: sdkmetric.NewManualReader()}
	f.iss = grpcauthtest.NewIssuer(t, grpcauthtest.Config{Now: func() time.Time { return t0 }})
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer: f.iss.URL(), Audiences: []string{f.iss.Audience()}, JWKSURL: f.iss.JWKSURL(),
		Now: func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	f.v = v
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	m, err := otelmetrics.New(otelmetrics.Config{
		MeterProvider: mp,
		Verifiers:     []otelmetrics.Source{v},
		Now:           func() time.Time { return t0.Add(90 * time.Second) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	f.client = serve(t, grpcauth.Config{Verifier: v, OnDecision: m.OnDecision})
	return f
}

// serve starts a loopback gRPC server behind the interceptors of cfg and
// returns a client of it.
func serve(t *testing.T, cfg grpcauth.Config) authtestv1.TestServiceClient {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	auth, err := grpcauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()))
	authtestv1.RegisterTestServiceServer(srv, service{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authtestv1.NewTestServiceClient(conn)
}

func (f *fixture) token(t *testing.T, scopes ...string) context.Context {
	t.Helper()
	tok, err := f.iss.Mint(nil, grpcauthtest.WithScopes(scopes...))
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
}

func (f *fixture) collect(t *testing.T) map[string]metricdata.Aggregation {
	t.Helper()
	return collect(t, f.reader)
}

// newManual returns Metrics without verifiers on a meter provider read by
// the returned manual reader; both are shut down by t.Cleanup.
func newManual(t *testing.T) (*otelmetrics.Metrics, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	return m, reader
}

// collect reads every metric of reader, by name.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]metricdata.Aggregation {
	t.Helper()
	got := make(map[string]metricdata.Aggregation)
	for name, m := range collectMetrics(t, reader) {
		got[name] = m.Data
	}
	return got
}

// collectMetrics reads every metric of reader, by name, with its unit and
// description.
func collectMetrics(t *testing.T, reader *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := make(map[string]metricdata.Metrics)
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelmetrics.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otelmetrics.ScopeName)
		}
		for _, m := range sm.Metrics {
			got[m.Name] = m
		}
	}
	return got
}

func attrs(kv ...string) attribute.Set {
	var a []attribute.KeyValue
	for i := 0; i < len(kv); i += 2 {
		a = append(a, attribute.String(kv[i], kv[i+1]))
	}
	return attribute.NewSet(a...)
}

const (
	mInherited = "/authtest.v1.TestService/Inherited"
	mAllOf     = "/authtest.v1.TestService/AllOf"
	mStream    = "/authtest.v1.TestService/ClientStream"
)

func TestMetrics_CountDecisionsAndVerifierFiguresFromRealCalls(t *testing.T) {
	f := newFixture(t)
	read := f.token(t, "test:read")
	for range 2 {
		if _, err := f.client.Inherited(read, &authtestv1.InheritedRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.client.AllOf(read, &authtestv1.AllOfRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("AllOf with test:read = %v, want PermissionDenied", err)
	}
	if _, err := f.client.Inherited(t.Context(), &authtestv1.InheritedRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Inherited without a token = %v, want Unauthenticated", err)
	}
	s, err := f.client.ClientStream(f.token(t, "test:write"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}

	got := f.collect(t)
	wantCalls := map[attribute.Set]int64{
		attrs("grpcauth.method", mInherited, "grpcauth.outcome", "allowed", "grpcauth.reason", ""):                               2,
		attrs("grpcauth.method", mAllOf, "grpcauth.outcome", "denied", "grpcauth.reason", grpcauth.ReasonScopeInsufficient):      1,
		attrs("grpcauth.method", mInherited, "grpcauth.outcome", "denied", "grpcauth.reason", grpcauth.ReasonCredentialsMissing): 1,
		attrs("grpcauth.method", mStream, "grpcauth.outcome", "allowed", "grpcauth.reason", ""):                                  1,
	}
	sum, ok := got["grpcauth.decisions"].(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("grpcauth.decisions = %T, want an int64 sum", got["grpcauth.decisions"])
	}
	if !sum.IsMonotonic || len(sum.DataPoints) != len(wantCalls) {
		t.Errorf("grpcauth.decisions has %d series (monotonic %v), want %d", len(sum.DataPoints), sum.IsMonotonic, len(wantCalls))
	}
	for _, dp := range sum.DataPoints {
		if want, ok := wantCalls[dp.Attributes]; !ok || dp.Value != want {
			t.Errorf("grpcauth.decisions{%v} = %d, want %d", dp.Attributes.Encoded(attribute.DefaultEncoder()), dp.Value, want)
		}
	}
	hist, ok := got["grpcauth.verify.duration"].(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("grpcauth.verify.duration = %T, want a float64 histogram", got["grpcauth.verify.duration"])
	}
	var n uint64
	for _, dp := range hist.DataPoints {
		if want := wantCalls[dp.Attributes]; int64(dp.Count) != want || dp.Sum <= 0 {
			t.Errorf("grpcauth.verify.duration{%v}: count %d sum %v, want count %d and a positive sum",
				dp.Attributes.Encoded(attribute.DefaultEncoder()), dp.Count, dp.Sum, want)
		}
		if len(dp.Bounds) != len(otelmetrics.DurationBuckets) {
			t.Errorf("buckets %v, want DurationBuckets", dp.Bounds)
		}
		n += dp.Count
	}
	if n != 5 {
		t.Errorf("grpcauth.verify.duration counted %d calls, want 5", n)
	}

	// One token verified three times (one miss, two hits), one stream token
	// (one miss); the call without a token never reached the verifier.
	iss := attrs("grpcauth.issuer", f.iss.URL())
	for name, want := range map[string]int64{
		"grpcauth.cache.hits": 2, "grpcauth.cache.misses": 2, "grpcauth.jwks.fetches": 1, "grpcauth.jwks.failures": 0,
	} {
		sum, ok := got[name].(metricdata.Sum[int64])
		if !ok || !sum.IsMonotonic || len(sum.DataPoints) != 1 || sum.DataPoints[0].Attributes != iss || sum.DataPoints[0].Value != want {
			t.Errorf("%s = %+v, want one monotonic point %d for the issuer", name, got[name], want)
		}
	}
	for name, want := range map[string]int64{"grpcauth.cache.entry.count": 2, "grpcauth.jwks.key.count": 1} {
		g, ok := got[name].(metricdata.Sum[int64])
		if !ok || g.IsMonotonic || len(g.DataPoints) != 1 || g.DataPoints[0].Attributes != iss || g.DataPoints[0].Value != want {
			t.Errorf("%s = %+v, want %d", name, got[name], want)
		}
	}
	age, ok := got["grpcauth.jwks.age"].(metricdata.Gauge[float64])
	if !ok || len(age.DataPoints) != 1 || age.DataPoints[0].Value != 90 {
		t.Errorf("grpcauth.jwks.age = %+v, want 90 s", got["grpcauth.jwks.age"])
	}
	// The cache's size, in bytes: what Stats says, for the two tokens.
	size := collectMetrics(t, f.reader)["grpcauth.cache.size"]
	g, ok := size.Data.(metricdata.Sum[int64])
	if want := f.v.Stats().CacheBytes; !ok || g.IsMonotonic || size.Unit != "By" || len(g.DataPoints) != 1 || g.DataPoints[0].Attributes != iss ||
		g.DataPoints[0].Value != want || want <= 0 {
		t.Errorf("grpcauth.cache.size = %+v, want %d By", size, want)
	}
}

func TestMetrics_UnknownMethodsShareOneAttributeValue(t *testing.T) {
	m, reader := newManual(t)
	for _, name := range []string{"/a.B/C", "/x.Y/Z", "garbage"} {
		m.OnDecision(t.Context(), grpcauth.Decision{Method: name, UnknownMethod: true, Code: codes.Unauthenticated,
			Reason: grpcauth.ReasonCredentialsMissing, Latency: time.Microsecond})
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	sum := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Sum[int64])
	want := attrs("grpcauth.method", otelmetrics.UnknownMethod, "grpcauth.outcome", "denied", "grpcauth.reason", grpcauth.ReasonCredentialsMissing)
	if len(sum.DataPoints) != 1 || sum.DataPoints[0].Attributes != want || sum.DataPoints[0].Value != 3 {
		t.Errorf("decisions = %+v, want 3 under method=unknown", sum.DataPoints)
	}
}

// A decision without latency, such as a stream's cut, is counted but adds
// no sample to the duration histogram, whose quantiles it would drag down.
func TestMetrics_DecisionWithoutLatencyAddsNoDurationSample(t *testing.T) {
	m, reader := newManual(t)
	m.OnDecision(t.Context(), grpcauth.Decision{Method: "/a.B/C", Allowed: true, Latency: time.Microsecond})
	m.OnDecision(t.Context(), grpcauth.Decision{Method: "/a.B/C", Code: codes.Unauthenticated, Reason: grpcauth.ReasonTokenRevoked})
	got := collect(t, reader)
	sum := got["grpcauth.decisions"].(metricdata.Sum[int64])
	hist := got["grpcauth.verify.duration"].(metricdata.Histogram[float64])
	var decisions, samples uint64
	for _, dp := range sum.DataPoints {
		decisions += uint64(dp.Value)
	}
	for _, dp := range hist.DataPoints {
		samples += dp.Count
	}
	if decisions != 2 || samples != 1 {
		t.Errorf("%d decisions and %d duration samples, want 2 and 1", decisions, samples)
	}
}

func TestMetrics_CloseStopsObservingVerifiers(t *testing.T) {
	m, reader := observingMetrics(t, nil, newFixture(t).v)
	count := func() int {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, sm := range rm.ScopeMetrics {
			n += len(sm.Metrics)
		}
		return n
	}
	if n := count(); n == 0 {
		t.Fatal("no verifier figures before Close")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("%d metrics after Close, want none", n)
	}
}

// A call whose token is in the cache is decided in about half a
// microsecond (BenchmarkInterceptor/unary/verifier; 0.45 µs in
// docs/dpop.md): the histogram must tell 300 ns from 800 ns, or every cache
// hit lands in its first bucket and its quantiles say nothing.
func TestMetrics_DurationBucketsSeparateSubMicrosecondCacheHits(t *testing.T) {
	m, reader := newManual(t)
	for _, d := range []time.Duration{300 * time.Nanosecond, 800 * time.Nanosecond} {
		m.OnDecision(t.Context(), grpcauth.Decision{Method: "/a.B/C", Allowed: true, Latency: d})
	}
	hist := collect(t, reader)["grpcauth.verify.duration"].(metricdata.Histogram[float64])
	if len(hist.DataPoints) != 1 {
		t.Fatalf("%d duration points, want 1", len(hist.DataPoints))
	}
	for i, n := range hist.DataPoints[0].BucketCounts {
		if n > 1 {
			t.Errorf("bucket %d (bounds %v) holds both 300 ns and 800 ns", i, hist.DataPoints[0].Bounds)
		}
	}
}
