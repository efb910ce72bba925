package main

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// TestNewServer_PassesTheStartUpCheck: the example's Config and services
// pass Authenticator.Check (every method has a rule, every Config name
// matches a registered service), so newServer logs no warning.
func TestNewServer_PassesTheStartUpCheck(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	var logs bytes.Buffer
	s := newTestServer(t, iss, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(s.grpc.Stop)
	if logs.Len() != 0 {
		t.Errorf("newServer logged:\n%s", logs.String())
	}
}
