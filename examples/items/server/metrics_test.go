package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

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
	maddr, stopMetrics, err := serveMetrics(t.Context(), "127.0.0.1:0", m, log)
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
		`grpcauth_decisions_total{method="` + svc + `GetServerInfo",outcome="allowed",reason=""} 1`,
		`grpcauth_decisions_total{method="` + svc + `ListItems",outcome="allowed",reason=""} 2`,
		`grpcauth_decisions_total{method="` + svc + `DeleteItem",outcome="denied",reason="` + grpcauth.ReasonScopeInsufficient + `"} 1`,
		`grpcauth_verify_duration_seconds_count{method="` + svc + `ListItems",outcome="allowed",reason=""} 2`,
		`grpcauth_verify_duration_seconds_bucket{method="` + svc + `ListItems",outcome="allowed",reason="",le="+Inf"} 2`,
		`grpcauth_cache_hits_total{issuer="` + iss.URL() + `"} 2`,
		`grpcauth_cache_misses_total{issuer="` + iss.URL() + `"} 1`,
		`grpcauth_cache_entries{issuer="` + iss.URL() + `"} 1`,
		`grpcauth_jwks_fetches_total{issuer="` + iss.URL() + `"} 1`,
		`grpcauth_jwks_failures_total{issuer="` + iss.URL() + `"} 0`,
		`grpcauth_jwks_age_seconds{issuer="` + iss.URL() + `"} `,
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
	maddr, stop, err := serveMetrics(t.Context(), "127.0.0.1:0", m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	checkLoopbackHostsOnly(t, maddr, "/metrics", http.StatusOK)
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
