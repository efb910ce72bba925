package main

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// TestNewServer_PassesTheStartUpCheck: the example's Config and services
// pass Authenticator.Check (every method has a rule, every Config name
// matches a registered service), so newServer logs no warning.
func TestNewServer_PassesTheStartUpCheck(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	var logs bytes.Buffer
	s, err := newServer(v, iss.URL(), iss.Audience(), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.grpc.Stop)
	if logs.Len() != 0 {
		t.Errorf("newServer logged:\n%s", logs.String())
	}
}
