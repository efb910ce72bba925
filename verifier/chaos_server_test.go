package verifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// This file holds the machinery of the issuer chaos tests: a loopback HTTP
// server standing in for an issuer's key endpoints whose behaviour a test
// switches at run time, a shared fake clock, and a recording transport that
// proves which URLs the verifier asked for.

// Paths served by a chaosServer.
const (
	keysPath      = "/keys"
	discoveryPath = "/.well-known/openid-configuration"
)

// faultFunc answers a request in place of the healthy server and reports
// whether it did; false falls through to the healthy answer for that path.
type faultFunc func(cs *chaosServer, w http.ResponseWriter, r *http.Request) bool

// chaosServer is a loopback HTTP server that serves a grpcauthtest issuer's
// public keys (as a JWKS it builds itself from the issuer's published keys)
// and a discovery document, unless a fault is switched on.
type chaosServer struct {
	iss *grpcauthtest.Issuer
	srv *httptest.Server

	fault atomic.Pointer[faultFunc] // nil: healthy

	// docIssuer and jwksURI are what the healthy discovery document says.
	mu        sync.Mutex
	docIssuer string
	jwksURI   string
	hits      map[string]int

	// A blocking fault sends the request's path on entered once it has
	// started to block, then waits for release (or for the client to go).
	entered     chan string
	release     chan struct{}
	releaseOnce sync.Once
}

// newChaosServer starts a healthy chaos server for iss. Its discovery
// document names the server itself as issuer, with jwks_uri URL()+keysPath.
// Cleanup releases blocked handlers and closes the server.
func newChaosServer(t testing.TB, iss *grpcauthtest.Issuer) *chaosServer {
	t.Helper()
	cs := &chaosServer{
		iss:     iss,
		hits:    make(map[string]int),
		entered: make(chan string, 64),
		release: make(chan struct{}),
	}
	cs.srv = httptest.NewServer(http.HandlerFunc(cs.serve))
	cs.docIssuer, cs.jwksURI = cs.URL(), cs.URL()+keysPath
	t.Cleanup(func() {
		cs.Release()
		cs.srv.Close()
	})
	return cs
}

// URL is the server's root, http://127.0.0.1:PORT.
func (cs *chaosServer) URL() string { return cs.srv.URL }

// Fail switches the fault on (f != nil) or off (nil: healthy).
func (cs *chaosServer) Fail(f faultFunc) {
	if f == nil {
		cs.fault.Store(nil)
		return
	}
	cs.fault.Store(&f)
}

// SetDiscovery changes what the healthy discovery document says.
func (cs *chaosServer) SetDiscovery(issuer, jwksURI string) {
	cs.mu.Lock()
	cs.docIssuer, cs.jwksURI = issuer, jwksURI
	cs.mu.Unlock()
}

// Hits returns how many requests path has received.
func (cs *chaosServer) Hits(path string) int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.hits[path]
}

// Release unblocks every blocking fault, now and later.
func (cs *chaosServer) Release() { cs.releaseOnce.Do(func() { close(cs.release) }) }

func (cs *chaosServer) serve(w http.ResponseWriter, r *http.Request) {
	cs.mu.Lock()
	cs.hits[r.URL.Path]++
	cs.mu.Unlock()
	if f := cs.fault.Load(); f != nil && (*f)(cs, w, r) {
		return
	}
	switch r.URL.Path {
	case keysPath:
		cs.writeJSON(w, cs.JWKS())
	case discoveryPath:
		cs.mu.Lock()
		doc := map[string]string{"issuer": cs.docIssuer, "jwks_uri": cs.jwksURI}
		cs.mu.Unlock()
		b, _ := json.Marshal(doc)
		cs.writeJSON(w, b)
	default:
		http.NotFound(w, r)
	}
}

func (cs *chaosServer) writeJSON(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// JWKS returns the issuer's currently published public keys as a JWKS
// document (kid, alg and use set, as identity providers publish them).
func (cs *chaosServer) JWKS() []byte {
	set := jwk.NewSet()
	for _, kid := range cs.iss.KeyIDs() {
		k, err := jwk.FromRaw(cs.iss.PublicKey(kid))
		if err != nil {
			panic(err) // the issuer's own keys always convert
		}
		_ = k.Set(jwk.KeyIDKey, kid)
		_ = k.Set(jwk.AlgorithmKey, cs.iss.Algorithm())
		_ = k.Set(jwk.KeyUsageKey, "sig")
		_ = set.AddKey(k)
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	return b
}

// block signals entered with the request's path and waits until Release or
// until the client gives up on the request.
func (cs *chaosServer) block(r *http.Request) {
	select {
	case cs.entered <- r.URL.Path:
	default: // nobody is counting; never block on the signal itself
	}
	select {
	case <-cs.release:
	case <-r.Context().Done():
	}
}

// waitEntered waits until a blocking fault has started to block.
func (cs *chaosServer) waitEntered(t testing.TB) {
	t.Helper()
	select {
	case <-cs.entered:
	case <-time.After(30 * time.Second): // watchdog only: fails a broken test instead of hanging it
		t.Fatal("no request reached the blocking fault")
	}
}

// onPath limits a fault to one path; other paths are served healthily.
func onPath(path string, f faultFunc) faultFunc {
	return func(cs *chaosServer, w http.ResponseWriter, r *http.Request) bool {
		return r.URL.Path == path && f(cs, w, r)
	}
}

// clock is a fake time source shared by an issuer and a verifier; it
// drives the key set's rate limit and staleness decisions.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Unix(1_800_000_000, 0).UnixNano())
	return c
}

func (c *clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// recordingTransport records the URL of every request the verifier makes
// and refuses, without any network access, every host that is not
// loopback, so a test can prove that a URL was never requested.
type recordingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	urls []string
}

var errNotLoopback = errors.New("recordingTransport: refusing a non-loopback host")

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.urls = append(rt.urls, r.URL.String())
	rt.mu.Unlock()
	if ip := net.ParseIP(r.URL.Hostname()); ip == nil || !ip.IsLoopback() {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, errNotLoopback
	}
	return rt.base.RoundTrip(r)
}

// Requested reports whether any request went to a URL with prefix.
func (rt *recordingTransport) Requested(prefix string) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, u := range rt.urls {
		if len(u) >= len(prefix) && u[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

// newRecordingClient returns an HTTP client whose transport records every
// request; base nil means a fresh clone of http.DefaultTransport. Cleanup
// closes its idle connections, so no keep-alive goroutine outlives the test.
func newRecordingClient(t testing.TB, base http.RoundTripper) (*http.Client, *recordingTransport) {
	t.Helper()
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	rt := &recordingTransport{base: base}
	t.Cleanup(func() {
		if c, ok := base.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	})
	return &http.Client{Transport: rt}, rt
}

// chaosFixture is an issuer, a chaos server in front of its keys, and a
// verifier configured to fetch keys only from the chaos server.
type chaosFixture struct {
	clk  *clock
	iss  *grpcauthtest.Issuer
	cs   *chaosServer
	v    *verifier.Verifier
	kid1 string // the key the verifier loaded at start
	rt   *recordingTransport
	// issuer, when set, is the "iss" of every token mint makes (for a
	// verifier whose Issuer is the chaos server itself).
	issuer string
}

// chaosMinRefresh is the verifier's MinRefreshInterval in the chaos tests;
// the fake clock decides when it has passed.
const chaosMinRefresh = 10 * time.Second

// newChaosFixture starts the issuer (ES256: fast key generation), the chaos
// server and a verifier of the issuer's tokens whose JWKSURL is the chaos
// server's, with the verified-token cache off (so every call consults the
// key set) and a one-minute FetchTimeout (so only a caller's own context can
// end its wait in these tests). mutate may change the config. It waits
// until the verifier has loaded the first key set.
func newChaosFixture(t *testing.T, mutate func(*chaosFixture, *verifier.Config)) *chaosFixture {
	t.Helper()
	f := &chaosFixture{clk: newClock()}
	f.iss = grpcauthtest.NewIssuer(t, grpcauthtest.Config{Algorithm: "ES256", Now: f.clk.Now})
	f.kid1 = f.iss.KeyID()
	f.cs = newChaosServer(t, f.iss)
	var client *http.Client
	client, f.rt = newRecordingClient(t, nil)
	cfg := verifier.Config{
		Issuer:             f.iss.URL(),
		Audiences:          []string{f.iss.Audience()},
		JWKSURL:            f.cs.URL() + keysPath,
		Now:                f.clk.Now,
		HTTPClient:         client,
		MinRefreshInterval: chaosMinRefresh,
		FetchTimeout:       time.Minute,
		Logger:             slog.New(slog.DiscardHandler),
		Cache:              verifier.CacheConfig{Disabled: true},
	}
	if mutate != nil {
		mutate(f, &cfg)
	}
	v, err := verifier.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("verifier.New: %v", err)
	}
	f.v = v
	t.Cleanup(func() { _ = v.Close() }) // runs before the servers close
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := v.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	return f
}

// newDiscoveringChaosFixture is newChaosFixture for a verifier whose Issuer
// is the chaos server and whose key-set URL comes from its discovery
// document.
func newDiscoveringChaosFixture(t *testing.T) *chaosFixture {
	t.Helper()
	return newChaosFixture(t, func(f *chaosFixture, c *verifier.Config) {
		c.Issuer, c.JWKSURL = f.cs.URL(), ""
		f.issuer = f.cs.URL()
	})
}

// mint mints a token or fails the test.
func (f *chaosFixture) mint(t testing.TB, claims map[string]any, opts ...grpcauthtest.MintOption) string {
	t.Helper()
	if f.issuer != "" {
		c := map[string]any{"iss": f.issuer}
		maps.Copy(c, claims)
		claims = c
	}
	tok, err := f.iss.Mint(claims, opts...)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

// verify verifies token under a context with the given timeout.
func (f *chaosFixture) verify(token string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := f.v.VerifyAccessToken(ctx, token)
	return err
}

// knownKeysStillVerify verifies fresh tokens signed with kid (a key the
// verifier holds) and fails unless every one verifies without a single
// request reaching the chaos server.
func (f *chaosFixture) knownKeysStillVerify(t testing.TB, kid string) {
	t.Helper()
	before := f.cs.Hits(keysPath) + f.cs.Hits(discoveryPath)
	for i := range 8 {
		tok := f.mint(t, map[string]any{"sub": fmt.Sprintf("known-%d", i)}, grpcauthtest.WithIssuerKey(kid))
		if err := f.verify(tok, 10*time.Second); err != nil {
			t.Fatalf("token with the known kid: %v", err)
		}
	}
	if after := f.cs.Hits(keysPath) + f.cs.Hits(discoveryPath); after != before {
		t.Fatalf("verifying tokens with a known kid made %d requests to the issuer, want 0", after-before)
	}
}

// forgedKids numbers the made-up kids of burst, so no two are alike.
var forgedKids atomic.Int64

// burst verifies n tokens with unknown kids concurrently, each under its own
// context with the given timeout, and returns every call's error. The first
// token is tok (signed by a real new key); the others carry made-up kids.
// Every call must return while the fault that may be slowing it is still in
// place: the 30-second watchdog only turns a caller stuck past its deadline
// into a test failure instead of a hung test.
func (f *chaosFixture) burst(t testing.TB, n int, tok string, timeout time.Duration) []error {
	t.Helper()
	toks := make([]string, n)
	toks[0] = tok
	for i := 1; i < n; i++ {
		toks[i] = f.mint(t, nil, grpcauthtest.WithKidHeader(fmt.Sprintf("forged-%d", forgedKids.Add(1))))
	}
	type result struct {
		i   int
		err error
	}
	results := make(chan result, n)
	for i, tk := range toks {
		go func() { results <- result{i, f.verify(tk, timeout)} }()
	}
	errs := make([]error, n)
	watchdog := time.NewTimer(30 * time.Second)
	defer watchdog.Stop()
	for range n {
		select {
		case r := <-results:
			errs[r.i] = r.err
		case <-watchdog.C:
			t.Fatalf("a caller was still waiting long after its %v deadline", timeout)
		}
	}
	return errs
}
