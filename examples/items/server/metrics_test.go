package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

func TestMetrics_EndpointShowsDecisionsAndVerifierFigures(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	iss, v, m := metricsFixture(t)
	maddr, stopMetrics, err := serveMetrics(t.Context(), "127.0.0.1:0", m, metricsTimeouts, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stopMetrics()

	s, err := newServer(v, iss.URL(), iss.Audience(), log, m.OnDecision)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.serve(ctx, ln, log) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := itemsv1.NewItemServiceClient(conn)

	tok, err := iss.Mint(nil, grpcauthtest.WithScopes("items:read"))
	if err != nil {
		t.Fatal(err)
	}
	read := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
	if _, err := client.GetServerInfo(t.Context(), &itemsv1.GetServerInfoRequest{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := client.ListItems(read, &itemsv1.ListItemsRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.DeleteItem(read, &itemsv1.DeleteItemRequest{Id: "1"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("DeleteItem with items:read = %v, want PermissionDenied", err)
	}

	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v", resp.StatusCode, err)
	}
	const svc = "/items.v1.ItemService/"
	for _, want := range []string{
		`grpcauth_decisions_total{grpcauth_method="` + svc + `GetServerInfo",grpcauth_outcome="allowed",grpcauth_reason=""} 1`,
		`grpcauth_decisions_total{grpcauth_method="` + svc + `ListItems",grpcauth_outcome="allowed",grpcauth_reason=""} 2`,
		`grpcauth_decisions_total{grpcauth_method="` + svc + `DeleteItem",grpcauth_outcome="denied",grpcauth_reason="` + grpcauth.ReasonScopeInsufficient + `"} 1`,
		`grpcauth_verify_duration_seconds_count{grpcauth_method="` + svc + `ListItems",grpcauth_outcome="allowed",grpcauth_reason=""} 2`,
		`grpcauth_verify_duration_seconds_bucket{grpcauth_method="` + svc + `ListItems",grpcauth_outcome="allowed",grpcauth_reason="",le="+Inf"} 2`,
		`grpcauth_cache_hits_total{grpcauth_issuer="` + iss.URL() + `"} 2`,
		`grpcauth_cache_misses_total{grpcauth_issuer="` + iss.URL() + `"} 1`,
		`grpcauth_cache_entry_count{grpcauth_issuer="` + iss.URL() + `"} 1`,
		`grpcauth_jwks_fetches_total{grpcauth_issuer="` + iss.URL() + `"} 1`,
		`grpcauth_jwks_failures_total{grpcauth_issuer="` + iss.URL() + `"} 0`,
		`grpcauth_jwks_age_seconds{grpcauth_issuer="` + iss.URL() + `"} `,
	} {
		if !strings.Contains(string(body), want+"\n") && !strings.Contains(string(body), "\n"+want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("/metrics:\n%s", body)
	}
	if strings.Contains(string(body), tok[strings.LastIndexByte(tok, '.')+1:]) {
		t.Error("/metrics carries the token")
	}

	resp, err = http.Get("http://" + maddr + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other = %d, want 404", resp.StatusCode)
	}
}

// On loopback the metrics endpoint answers to loopback host names only, so
// a DNS-rebinding page cannot read it from a browser on this machine.
func TestMetrics_LoopbackEndpointRefusesForeignHostNames(t *testing.T) {
	_, _, m := metricsFixture(t)
	maddr, stop, err := serveMetrics(t.Context(), "127.0.0.1:0", m, metricsTimeouts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	checkLoopbackHostsOnly(t, maddr, "/metrics", http.StatusOK)
}

// The metrics endpoint cuts off a client that holds a connection without
// finishing a request (see checkSlowClientsCutOff), at metricsTimeouts
// scaled down.
func TestMetrics_SlowClientsAreCutOff(t *testing.T) {
	_, _, m := metricsFixture(t)
	maddr, stop, err := serveMetrics(t.Context(), "127.0.0.1:0", m, scaled(metricsTimeouts), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	checkSlowClientsCutOff(t, maddr, "/metrics", "/metrics")
}

// metricsFixture returns a development issuer, a verifier trusting it and
// the example's metrics fed by that verifier, all closed by t.Cleanup.
func metricsFixture(t *testing.T) (*grpcauthtest.Issuer, *verifier.Verifier, *metrics) {
	t.Helper()
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	m, err := newMetrics(v)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return iss, v, m
}

// Every metric family of /metrics is introduced by its HELP and TYPE lines,
// once, and its samples follow: without TYPE, Prometheus takes every
// family as untyped, counters and histograms alike.
func TestMetrics_TextDeclaresEachFamilyType(t *testing.T) {
	_, v, m := metricsFixture(t)
	if err := v.Ready(t.Context()); err != nil { // the key set's age is reported once it loaded
		t.Fatal(err)
	}
	m.OnDecision(t.Context(), grpcauth.Decision{Method: "/items.v1.ItemService/ListItems", Allowed: true, Latency: time.Millisecond})
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeText(&b, &rm)
	text := b.String()
	want := map[string]string{
		"grpcauth_decisions_total":         "counter",
		"grpcauth_verify_duration_seconds": "histogram",
		"grpcauth_cache_hits_total":        "counter",
		"grpcauth_cache_entry_count":       "gauge",
		"grpcauth_jwks_age_seconds":        "gauge",
		"grpcauth_cache_size_bytes":        "gauge",
	}
	types := map[string]string{}
	family, helped := "", map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch f := strings.Fields(line); {
		case strings.HasPrefix(line, "# HELP "):
			helped[f[2]] = true
		case strings.HasPrefix(line, "# TYPE "):
			if _, dup := types[f[2]]; dup {
				t.Errorf("TYPE of %s given twice", f[2])
			}
			if !helped[f[2]] {
				t.Errorf("TYPE of %s without HELP before it", f[2])
			}
			family, types[f[2]] = f[2], f[3]
		default:
			name, _, _ := strings.Cut(strings.Fields(line)[0], "{")
			if types[family] == "histogram" {
				name = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			}
			if name != family {
				t.Errorf("sample %q outside the family it belongs to (after the TYPE of %q)", line, family)
			}
		}
	}
	for name, typ := range want {
		if types[name] != typ {
			t.Errorf("TYPE of %s = %q, want %q", name, types[name], typ)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}
