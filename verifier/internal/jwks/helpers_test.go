package jwks

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/x25519"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait in the tests, so that a bug fails a test
// instead of hanging it. It is never used to synchronise.
const waitLimit = 10 * time.Second

var (
	keysOnce sync.Once
	rsaKeys  [3]*rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	edPub    ed25519.PublicKey
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		for i := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[i] = k
		}
		var err error
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if edPub, _, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

// jwkJSON serialises raw (any key jwk.FromRaw accepts) as a JWK with the
// given kid and alg ("" omits either) and extra members.
func jwkJSON(t testing.TB, raw any, kid, alg string, extra map[string]any) json.RawMessage {
	t.Helper()
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatalf("jwk.FromRaw: %v", err)
	}
	if kid != "" {
		must(t, k.Set(jwk.KeyIDKey, kid))
	}
	if alg != "" {
		must(t, k.Set(jwk.AlgorithmKey, alg))
	}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if len(extra) == 0 {
		return b
	}
	var m map[string]any
	must(t, json.Unmarshal(b, &m))
	for name, v := range extra {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	b, err = json.Marshal(m)
	must(t, err)
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rsaJWK is the public JWK of rsaKeys[i] with kid and alg RS256.
func rsaJWK(t testing.TB, i int, kid string) json.RawMessage {
	testKeys(t)
	return jwkJSON(t, &rsaKeys[i].PublicKey, kid, "RS256", nil)
}

func ecJWK(t testing.TB, kid string) json.RawMessage {
	testKeys(t)
	return jwkJSON(t, &ecKey.PublicKey, kid, "ES256", nil)
}

func edJWK(t testing.TB, kid string) json.RawMessage {
	testKeys(t)
	return jwkJSON(t, edPub, kid, "EdDSA", nil)
}

// jwksDoc wraps entries as a JWKS document.
func jwksDoc(t testing.TB, entries ...json.RawMessage) []byte {
	t.Helper()
	if entries == nil {
		entries = []json.RawMessage{}
	}
	b, err := json.Marshal(map[string]any{"keys": entries})
	must(t, err)
	return b
}

// reply is what the test server answers on one path.
type reply struct {
	status int // 0 means 200
	body   []byte
	header map[string]string
	hang   bool // close the connection without answering
	stall  bool // answer nothing until the client gives up
}

// testServer is an in-process issuer on 127.0.0.1 whose answers the test
// changes at will. It counts and records requests per path, and can hold
// requests until the test releases them.
type testServer struct {
	*httptest.Server
	mu      sync.Mutex
	replies map[string]reply
	counts  map[string]int
	headers map[string][]http.Header
	hold    chan struct{} // when non-nil, requests wait for it to close
	entered chan string   // receives the path of each held request
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{
		replies: map[string]reply{},
		counts:  map[string]int{},
		headers: map[string][]http.Header{},
		entered: make(chan string, 100),
	}
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(func() {
		ts.release()
		ts.Close()
	})
	return ts
}

func (ts *testServer) serve(w http.ResponseWriter, r *http.Request) {
	ts.mu.Lock()
	ts.counts[r.URL.Path]++
	ts.headers[r.URL.Path] = append(ts.headers[r.URL.Path], r.Header.Clone())
	rep, ok := ts.replies[r.URL.Path]
	hold := ts.hold
	ts.mu.Unlock()
	if hold != nil {
		ts.entered <- r.URL.Path
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	if rep.stall {
		<-r.Context().Done()
		return
	}
	if rep.hang {
		hj, _ := w.(http.Hijacker)
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.status != 0 {
		w.WriteHeader(rep.status)
	}
	w.Write(rep.body)
}

func (ts *testServer) set(path string, r reply) {
	ts.mu.Lock()
	ts.replies[path] = r
	ts.mu.Unlock()
}

func (ts *testServer) setKeys(t testing.TB, entries ...json.RawMessage) {
	ts.set("/keys", reply{body: jwksDoc(t, entries...)})
}

func (ts *testServer) count(path string) int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.counts[path]
}

func (ts *testServer) requestHeaders(path string) []http.Header {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]http.Header(nil), ts.headers[path]...)
}

// holdRequests makes every later request wait until release.
func (ts *testServer) holdRequests() {
	ts.mu.Lock()
	ts.hold = make(chan struct{})
	ts.mu.Unlock()
}

func (ts *testServer) release() {
	ts.mu.Lock()
	if ts.hold != nil {
		close(ts.hold)
		ts.hold = nil
	}
	ts.mu.Unlock()
}

// waitEntered waits until a held request for path has arrived.
func (ts *testServer) waitEntered(t *testing.T, path string) {
	t.Helper()
	for receive(t, ts.entered, "a held request") != path {
	}
}

// receive returns the next value from ch, failing the test if none arrives
// within waitLimit.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// discoveryDoc is a discovery document for issuer whose jwks_uri is uri.
func discoveryDoc(t testing.TB, issuer, uri string) []byte {
	b, err := json.Marshal(map[string]any{"issuer": issuer, "jwks_uri": uri, "token_endpoint": issuer + "/v1/token"})
	must(t, err)
	return b
}

// fakeClock is a settable Config.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeTimers replaces the background loop's timers. Each wait the loop
// starts (sleep) arrives on requests, as the timer set for its first step
// (at most maxTimerWait); the loop only asks for a wait after its fetch has
// finished, so receiving one also means "that fetch is done". The test
// fires it, a step at a time (fire) or to the end of the wait (span), to
// start the next scheduled fetch.
//
// It also replaces the timer of the refresh that rate-limited lookups wait
// for: each one scheduled arrives on afters, and the test fires it.
type fakeTimers struct {
	requests chan *fakeTimer
	afters   chan *fakeAfter
}

// fakeAfter is one scheduled call of the shared rate-limited refresh.
type fakeAfter struct {
	d     time.Duration
	f     func()
	state atomic.Int32 // 0 pending, 1 fired, 2 stopped
}

func (f *fakeTimers) afterFunc(d time.Duration, fn func()) func() bool {
	fa := &fakeAfter{d: d, f: fn}
	f.afters <- fa // buffered; a test that schedules more than it reads fails loudly by blocking
	return func() bool { return fa.state.CompareAndSwap(0, 2) }
}

// nextAfter returns the next scheduled rate-limited refresh.
func (f *fakeTimers) nextAfter(t *testing.T) *fakeAfter {
	t.Helper()
	return receive(t, f.afters, "a lookup to schedule the rate-limited refresh")
}

// fire runs the scheduled call as its timer would, unless it was stopped;
// it reports whether it ran.
func (fa *fakeAfter) fire() bool {
	if !fa.state.CompareAndSwap(0, 1) {
		return false
	}
	fa.f()
	return true
}

// fakeTimer is the timer of one of the loop's waits. Each Reset (the next
// step of the wait) and the Stop that ends the wait are reported on events,
// as the step's duration and -1. A first step shorter than maxTimerWait is
// the whole wait.
type fakeTimer struct {
	d      time.Duration // the step it is set for
	c      chan time.Time
	events chan time.Duration
}

func (f *fakeTimers) newTimer(d time.Duration) (<-chan time.Time, resettableTimer) {
	ft := &fakeTimer{d: d, c: make(chan time.Time, 1), events: make(chan time.Duration, 4)}
	select {
	case f.requests <- ft:
	default:
	}
	return ft.c, ft
}

func (ft *fakeTimer) Reset(d time.Duration) bool {
	ft.events <- d
	return false
}

func (ft *fakeTimer) Stop() bool {
	ft.events <- -1 // buffered: the test takes each step's event as it fires the step
	return true
}

func newFakeTimers() *fakeTimers {
	return &fakeTimers{requests: make(chan *fakeTimer, 16), afters: make(chan *fakeAfter, 16)}
}

// next returns the loop's next wait, i.e. waits until its fetch is done.
func (f *fakeTimers) next(t *testing.T) *fakeTimer {
	t.Helper()
	return receive(t, f.requests, "the background loop to finish its fetch")
}

// fire ends the wait's current step, as the monotonic clock would, and
// waits for the loop to set the timer for the next step (it reports true,
// and d is that step) or to stop it, the wait over and the next scheduled
// fetch started (false).
func (ft *fakeTimer) fire(t *testing.T) bool {
	t.Helper()
	ft.c <- time.Time{}
	step := receive(t, ft.events, "the background loop to set its timer again or stop it")
	if step < 0 {
		return false
	}
	ft.d = step
	return true
}

// span fires every step of the wait, moving clock (unless nil) on by each
// step before it fires, as the wall clock of a host awake throughout
// moves, and returns the time the steps added up to: the wait by the
// monotonic clock. The next scheduled fetch is then started.
func (ft *fakeTimer) span(t *testing.T, clock *fakeClock) time.Duration {
	t.Helper()
	var total time.Duration
	for {
		if ft.d > maxTimerWait || ft.d <= 0 {
			t.Fatalf("a step of the wait set for %v, want within (0, %v]", ft.d, maxTimerWait)
		}
		total += ft.d
		if clock != nil {
			clock.Advance(ft.d)
		}
		if !ft.fire(t) {
			return total
		}
		if total > 100*DefaultMaxStaleness {
			t.Fatalf("a wait still running after %v", total)
		}
	}
}

// refreshNow fires the pending wait to its end and waits until the fetch it
// starts is done, returning the wait that follows it.
func (f *fakeTimers) refreshNow(t *testing.T) *fakeTimer {
	t.Helper()
	f.next(t).span(t, nil)
	return f.peek(t)
}

// peek waits for the next wait request and puts it back.
func (f *fakeTimers) peek(t *testing.T) *fakeTimer {
	t.Helper()
	ft := f.next(t)
	f.requests <- ft
	return ft
}

// startSet starts a Set with fake timers and no jitter (random is 0.5).
func startSet(t *testing.T, cfg Config) (*Set, *fakeTimers) {
	t.Helper()
	ft := newFakeTimers()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	s := newSet(cfg, ft.newTimer, ft.afterFunc, func() float64 { return 0.5 })
	t.Cleanup(s.Close)
	return s, ft
}

// ready waits for the first set to load.
func ready(t *testing.T, s *Set) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// ecdhX25519Public returns a fresh X25519 public key in the form jwk.FromRaw
// accepts.
func ecdhX25519Public() (any, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return x25519.PublicKey(k.PublicKey().Bytes()), nil
}
