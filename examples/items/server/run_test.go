package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// cancelOnServing is run's out: it cancels the run once run prints the
// "serving on" line, so that run returns right after logging whether it
// accepts tokens.
type cancelOnServing struct {
	cancel context.CancelFunc
	buf    bytes.Buffer
}

func (w *cancelOnServing) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), "serving on ") {
		w.cancel()
	}
	return len(p), nil
}

// run logs "accepting tokens" only when the issuer's keys loaded before it
// serves; when they did not (an issuer that answers 503, here), it warns
// that it serves without them instead. Before, it logged "accepting
// tokens" either way, right after the warning that the keys were not
// loaded.
func TestRun_LogsAcceptingTokensOnlyOnceTheIssuersKeysLoaded(t *testing.T) {
	t.Run("keys loaded", func(t *testing.T) {
		iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
		got := runUntilServing(t, iss.URL(), iss.Audience(), func(context.CancelFunc) {})
		if !strings.Contains(got, "accepting tokens") || strings.Contains(got, "serving without the issuer's keys") {
			t.Errorf("run logged %q, want accepting tokens and no warning", got)
		}
	})
	t.Run("keys not loaded", func(t *testing.T) {
		var once sync.Once
		var cancelRun context.CancelFunc
		down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			once.Do(cancelRun) // run's wait for the keys ends now, not after readyTimeout
			http.Error(w, "down", http.StatusServiceUnavailable)
		}))
		t.Cleanup(down.Close)
		got := runUntilServing(t, down.URL, "items", func(c context.CancelFunc) { cancelRun = c })
		if strings.Contains(got, "accepting tokens") || !strings.Contains(got, "serving without the issuer's keys") {
			t.Errorf("run logged %q, want the warning and no accepting tokens", got)
		}
	})
}

// runUntilServing runs the server for issuer and audience (no web page,
// any port) until it prints its "serving on" line, handing setCancel the
// run's cancel first, and returns its log.
func runUntilServing(t *testing.T, issuer, audience string, setCancel func(context.CancelFunc)) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	setCancel(cancel)
	var logs bytes.Buffer
	cfg := config{issuer: issuer, audiences: []string{audience}, addr: "127.0.0.1:0", webAddr: "off"}
	if err := run(ctx, cfg, &cancelOnServing{cancel: cancel}, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatalf("run: %v", err)
	}
	return logs.String()
}
