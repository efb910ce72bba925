package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestServe_HealthWatchEndsWhenShutdownBegins: an open health Watch, which
// gRPC's client-side health checking keeps open and any caller may open
// (the service needs no token), ends with Unavailable as soon as the
// server begins to shut down, as WatchItems does. Before, it held the
// graceful stop for all of stopTimeout, which then cut the calls still
// running and logged a warning.
func TestServe_HealthWatchEndsWhenShutdownBegins(t *testing.T) {
	var logs bytes.Buffer // written by serve, read once it has returned
	_, addr, stop := serveInProcess(t, slog.New(slog.NewTextHandler(&logs, nil)))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	watch, err := healthpb.NewHealthClient(conn).Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch answer: %v, %v; want SERVING", r, err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	for {
		_, err = watch.Recv() // NOT_SERVING may come first
		if err != nil {
			break
		}
	}
	if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != "server is shutting down" {
		t.Errorf("open Watch at shutdown ended with %v, want Unavailable: server is shutting down", err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "graceful stop timed out") {
		t.Errorf("the graceful stop waited for the Watch stream:\n%s", logs.String())
	}
}
