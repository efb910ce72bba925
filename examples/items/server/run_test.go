package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

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

// logWatch is run's log: it cancels the run once a record holds want.
type logWatch struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	want   string
	cancel context.CancelFunc
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(string(p), w.want) {
		w.cancel()
	}
	return len(p), nil
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// Keys that load after run stopped waiting for them (a slow network at
// start-up) are announced: run logs "accepting tokens" when they do, after
// its warning. Before, it logged nothing once they loaded (the key set
// logs a success at debug level only), so the line the README tells a
// user to look for never came.
func TestRun_KeysLoadedLateAreAnnounced(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	target, err := url.Parse(iss.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // the first fetch is still in flight when run stops waiting
		r.URL.Path = target.Path
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	defer func(d time.Duration) { readyTimeout = d }(readyTimeout)
	readyTimeout = time.Nanosecond // the fetch is held: the wait ends unfulfilled

	// A failure bound, not a timing threshold: without the announcement,
	// run would serve until go test's timeout.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	logs := &logWatch{want: "accepting tokens", cancel: cancel}
	out := &cancelOnServing{cancel: sync.OnceFunc(func() { close(release) })}
	cfg := config{issuer: iss.URL(), jwksURI: slow.URL + "/keys", audiences: []string{iss.Audience()}, addr: "127.0.0.1:0", webAddr: "off"}
	if err := run(ctx, cfg, out, slog.New(slog.NewTextHandler(logs, nil))); err != nil {
		t.Fatalf("run: %v", err)
	}
	got := logs.String()
	warned := strings.Index(got, "serving without the issuer's keys")
	if accepted := strings.Index(got, "accepting tokens"); warned < 0 || accepted < warned {
		t.Errorf("run logged %q, want the warning, then accepting tokens", got)
	}
}

// run warns at start-up when ISSUER is an Okta org authorization server
// (issuerWarnings), and still serves. Its keys come from a loopback key
// set here (JWKS_URI), as the org's host cannot be served in a test.
func TestRun_WarnsOfAnOktaOrgAuthorizationServerAndServes(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logs bytes.Buffer
	out := &cancelOnServing{cancel: cancel}
	cfg := config{issuer: "https://dev-123456.okta.com", jwksURI: iss.JWKSURL(), audiences: []string{iss.Audience()}, addr: "127.0.0.1:0", webAddr: "off"}
	if err := run(ctx, cfg, out, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := logs.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "Okta org authorization server") {
		t.Errorf("run logged %q, want a warning about the Okta org authorization server", got)
	}
	if !strings.Contains(out.buf.String(), "serving on ") {
		t.Errorf("run printed %q, want it to serve", out.buf.String())
	}
}
