package introspect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/closetest"
	"github.com/grpcauth/grpcauth/internal/jitter"
	"github.com/grpcauth/grpcauth/verifier"
)

// TestMain turns the jitter of cached answers' lifetimes off (jitter.Random
// is 0): the tests expect them to end at exact times. TestVerify_
// TokensIntrospectedTogetherAreCachedUntilDifferentTimes sets its own.
func TestMain(m *testing.M) {
	jitter.Random = func() float64 { return 0 }
	goleak.VerifyTestMain(m)
}

// gate is an http.RoundTripper that holds every request until released,
// reporting each one's arrival on entered.
type gate struct {
	base    http.RoundTripper
	entered chan struct{}
	release chan struct{}
	inside  atomic.Int64 // requests currently held or running
	peak    atomic.Int64
}

func newGate(n int) *gate {
	return &gate{base: &http.Transport{DisableKeepAlives: true}, entered: make(chan struct{}, n), release: make(chan struct{})}
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	in := g.inside.Add(1)
	defer g.inside.Add(-1)
	for {
		p := g.peak.Load()
		if in <= p || g.peak.CompareAndSwap(p, in) {
			break
		}
	}
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return g.base.RoundTrip(r)
}

var rs = grpcauthtest.Client{ID: "rs", Secret: "rs-secret"}

// newGated starts an issuer and a Verifier whose requests pass through g.
func newGated(t *testing.T, g *gate, mutate func(*Config)) (*grpcauthtest.Issuer, *Verifier) {
	t.Helper()
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: []grpcauthtest.Client{rs}})
	cfg := Config{
		Endpoint: iss.IntrospectionURL(), Issuer: iss.URL(), ClientID: rs.ID, ClientSecret: rs.Secret,
		Audiences: []string{iss.Audience()}, HTTPClient: &http.Client{Transport: g},
		Logger: slog.New(slog.DiscardHandler),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return iss, v
}

func TestFlight_ConcurrentCallsWithOneTokenShareOneRequest(t *testing.T) {
	const n = 100
	g := newGate(n)
	joined := make(chan struct{}, n)
	iss, v := newGated(t, g, nil)
	v.joined = func() { joined <- struct{}{} }
	tok, err := iss.MintOpaque("svc", "items:read")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, n)
	for range n {
		go func() {
			c, err := v.VerifyAccessToken(context.Background(), tok)
			if err == nil && !c.HasScope("items:read") {
				err = fmt.Errorf("claims without the scope: %v", c.Scopes())
			}
			errs <- err
		}()
	}
	for range n {
		<-joined // every caller is waiting on the flight
	}
	<-g.entered
	close(g.release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := iss.IntrospectionRequests(); got != 1 {
		t.Fatalf("%d concurrent calls made %d introspection requests, want 1", n, got)
	}
}

func TestFlight_ConcurrencyIsBounded(t *testing.T) {
	const limit, tokens = 2, 5
	g := newGate(tokens)
	waiting := make(chan struct{}, tokens)
	iss, v := newGated(t, g, func(c *Config) { c.MaxConcurrent = limit })
	v.waitSlot = func() { waiting <- struct{}{} }
	errs := make(chan error, tokens)
	for range tokens {
		tok, err := iss.MintOpaque("svc")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			_, err := v.VerifyAccessToken(context.Background(), tok)
			errs <- err
		}()
	}
	for range limit {
		<-g.entered
	}
	for range tokens - limit {
		<-waiting // the others wait for a slot, not at the server
	}
	if got := g.inside.Load(); got != limit {
		t.Fatalf("%d requests in flight, want %d", got, limit)
	}
	close(g.release)
	for range tokens {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if p := g.peak.Load(); p != limit {
		t.Fatalf("peak of %d requests in flight, want %d", p, limit)
	}
	if got := iss.IntrospectionRequests(); got != tokens {
		t.Fatalf("%d introspection requests, want %d", got, tokens)
	}
}

// verifyAsync verifies tok with ctx in a goroutine and delivers the error.
func verifyAsync(ctx context.Context, v *Verifier, tok string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := v.VerifyAccessToken(ctx, tok)
		done <- err
	}()
	return done
}

func TestFlight_LastCallerLeavingAbandonsTheRequest(t *testing.T) {
	g := newGate(1)
	iss, v := newGated(t, g, nil)
	tok, err := iss.MintOpaque("svc")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := verifyAsync(ctx, v, tok)
	<-g.entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("caller: %v, want context.Canceled", err)
	}
	// The flight ends without the gate being released: its request was
	// cancelled. Close waits for its goroutine.
	v.Close()
	if n := len(v.flights); n != 0 {
		t.Fatalf("%d flights left", n)
	}
	if iss.IntrospectionRequests() != 0 {
		t.Fatal("the abandoned request reached the server")
	}
	// Nor is it an endpoint failure.
	if st := v.Stats(); st.Failures != 0 {
		t.Fatalf("Stats.Failures = %d for an abandoned request, want 0", st.Failures)
	}
}

// answerThenHold is an http.RoundTripper that lets the server answer the
// first request, then holds that answer, whatever the request's context
// says (as a buffering middleware would), until release; later requests
// pass straight through.
type answerThenHold struct {
	base     http.RoundTripper
	answered chan struct{}
	release  chan struct{}
	n        atomic.Int64
}

func (a *answerThenHold) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := a.base.RoundTrip(r)
	if err != nil || a.n.Add(1) != 1 {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	close(a.answered)
	<-a.release
	return resp, nil
}

// An abandoned flight's answer, arriving after a newer flight cached a
// later verdict, caches nothing: the token, revoked in between, stays
// refused rather than accepted again on the older "active".
func TestFlight_AbandonedFlightCachesNothing(t *testing.T) {
	rt := &answerThenHold{base: &http.Transport{DisableKeepAlives: true}, answered: make(chan struct{}), release: make(chan struct{})}
	iss, v := newGated(t, nil, func(c *Config) { c.HTTPClient = &http.Client{Transport: rt} })
	ran := make(chan struct{}, 4)
	v.ran = func() { ran <- struct{}{} }
	tok, err := iss.MintOpaque("svc")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := verifyAsync(ctx, v, tok)
	<-rt.answered // the server said active
	cancel()      // the only caller leaves: the flight is abandoned
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("caller: %v, want context.Canceled", err)
	}
	iss.Revoke(tok)
	if _, err := v.VerifyAccessToken(context.Background(), tok); !errors.Is(err, ErrInactive) {
		t.Fatalf("after the revocation: %v, want ErrInactive", err)
	}
	<-ran // the newer flight
	close(rt.release)
	<-ran // the abandoned one lands
	if _, err := v.VerifyAccessToken(context.Background(), tok); !errors.Is(err, ErrInactive) {
		t.Fatalf("after the abandoned answer landed: %v, want ErrInactive still", err)
	}
}

func TestCache_BoundedAndExpiring(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	c := newResultCache(3, math.MaxInt64)
	key := func(i int) tokenKey { return tokenKey{byte(i)} }
	for i := range 10 {
		c.put(key(i), result{err: ErrInactive, until: now.Add(time.Minute)}, now)
		if c.len() > 3 {
			t.Fatalf("after %d puts: %d entries, max 3", i+1, c.len())
		}
	}
	if _, ok := c.get(key(9), now); !ok {
		t.Fatal("the newest entry was evicted")
	}
	if _, ok := c.get(key(9), now.Add(time.Minute)); ok {
		t.Fatal("an entry was served at its until")
	}
	c.put(key(20), result{until: now}, now)
	if _, ok := c.get(key(20), now.Add(-time.Second)); ok {
		t.Fatal("an entry already expired when put was stored")
	}
}

func TestCheckToken_RejectsWhatIsNotABearerToken(t *testing.T) {
	v := &Verifier{s: settings{Config: Config{MaxTokenSize: 16}}}
	tests := []struct {
		token string
		want  error // nil: acceptable
	}{
		{"abc-._~+/XYZ09", nil},
		{"abc==", nil},
		{"", verifier.ErrMalformed},
		{"=abc", verifier.ErrMalformed},
		{"ab=c", verifier.ErrMalformed},
		{"a b", verifier.ErrMalformed},
		{"a\nb", verifier.ErrMalformed},
		{"a\"b", verifier.ErrMalformed},
		{"tok€n", verifier.ErrMalformed},
		{"abcdefghijklmnopq", verifier.ErrMalformed}, // 17 > 16 bytes
	}
	for _, tc := range tests {
		if err := v.checkToken(tc.token); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("checkToken(%q) = %v, want %v", tc.token, err, tc.want)
		}
	}
}

// A Close called while another waits for a cancelled request's goroutine
// to end returns only once it has.
func TestFlight_SecondCloseWaitsForTheFirstToFinish(t *testing.T) {
	tr := closetest.NewTransport()
	v, err := New(Config{Endpoint: "https://issuer.example/introspect", Issuer: "https://issuer.example",
		ClientID: rs.ID, ClientSecret: rs.Secret, Audiences: []string{"api"},
		HTTPClient: &http.Client{Transport: tr}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	caller := make(chan error, 1)
	go func() {
		_, err := v.VerifyAccessToken(context.Background(), "opaque-token")
		caller <- err
	}()
	<-tr.Entered()
	closetest.SecondCloseWaits(t, tr, v.Close)
	if err := <-caller; !errors.Is(err, verifier.ErrClosed) {
		t.Fatalf("caller waiting during Close: %v, want verifier.ErrClosed", err)
	}
}

// TestFlight_CloseReleasesWaitersWithErrClosed closes the Verifier while a
// caller waits for a held request.
func TestFlight_CloseReleasesWaitersWithErrClosed(t *testing.T) {
	g := newGate(1)
	iss, v := newGated(t, g, nil)
	tok, err := iss.MintOpaque("svc")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var got error
	wg.Go(func() { _, got = v.VerifyAccessToken(context.Background(), tok) })
	<-g.entered
	v.Close()
	wg.Wait()
	if !errors.Is(got, verifier.ErrClosed) {
		t.Fatalf("waiting caller after Close: %v, want verifier.ErrClosed", got)
	}
	if _, err := v.VerifyAccessToken(context.Background(), tok); !errors.Is(err, verifier.ErrClosed) {
		t.Fatalf("after Close: %v, want verifier.ErrClosed", err)
	}
}

// rateLimited is a Verifier with MaxRequestRate 1 on a manual clock,
// whose flights report their end on ran.
type rateLimited struct {
	*Verifier
	iss  *grpcauthtest.Issuer
	mu   sync.Mutex
	now  time.Time
	ran  chan struct{}
	toks []string // minted active
}

func newRateLimited(t *testing.T, client *http.Client, tokens int, configure ...func(*Config)) *rateLimited {
	t.Helper()
	r := &rateLimited{now: time.Now(), ran: make(chan struct{}, 8)}
	r.iss, r.Verifier = newGated(t, nil, func(c *Config) {
		c.HTTPClient = client
		c.MaxRequestRate = 1
		c.Now = r.Now
		for _, f := range configure {
			f(c)
		}
	})
	r.Verifier.ran = func() { r.ran <- struct{}{} }
	for range tokens {
		tok, err := r.iss.MintOpaque("svc")
		if err != nil {
			t.Fatal(err)
		}
		r.toks = append(r.toks, tok)
	}
	return r
}

func (r *rateLimited) Now() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now }

func (r *rateLimited) advance(d time.Duration) { r.mu.Lock(); r.now = r.now.Add(d); r.mu.Unlock() }

// verify verifies tok and waits for its flight to end.
func (r *rateLimited) verify(tok string) error {
	_, err := r.VerifyAccessToken(context.Background(), tok)
	<-r.ran
	return err
}

// checkForgotten spends the budget with a made-up token, then expects tok
// to be refused for MaxRequestRate, not passed as a known token.
func (r *rateLimited) checkForgotten(t *testing.T, tok string) {
	t.Helper()
	if err := r.verify("made-up"); !errors.Is(err, ErrInactive) {
		t.Fatalf("made-up token spending the budget: %v", err)
	}
	if err := r.verify(tok); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("the revoked token, budget spent: %v, want ErrUnavailable (capped, no longer known)", err)
	}
}

// A known token's request abandoned by its callers (which passed
// MaxRequestRate), landing after a newer request found the token revoked,
// does not make it known again: the inactive answer forgets it, so its
// next request waits for the budget as a made-up token's does.
func TestFlight_AbandonedBypassDoesNotMakeARevokedTokenKnownAgain(t *testing.T) {
	r, release, tok := abandonHeldBypass(t, nil)
	r.iss.Revoke(tok)
	if err := r.verify(tok); !errors.Is(err, ErrInactive) { // the newer flight
		t.Fatalf("after the revocation: %v, want ErrInactive", err)
	}
	release()
	<-r.ran // the abandoned one lands
	r.advance(DefaultNegativeCacheTTL)
	r.checkForgotten(t, tok)
}

// knownThenEvicted makes r.toks[0] known, then evicts its cached answer
// with r.toks[1]'s (a second later), and returns r.toks[0].
func (r *rateLimited) knownThenEvicted(t *testing.T) string {
	t.Helper()
	tok, other := r.toks[0], r.toks[1]
	if err := r.verify(tok); err != nil {
		t.Fatal(err)
	}
	_, size := r.pos.stats()
	r.pos.maxBytes = size * 3 / 2 // room for one answer
	r.advance(time.Second)
	if err := r.verify(other); err != nil { // evicts tok's answer
		t.Fatal(err)
	}
	return tok
}

// A known token whose cached answer was evicted early, found revoked by a
// request MaxRequestRate let through, is forgotten too: it does not pass
// the rate limit later, when its answer would have ended.
func TestFlight_KnownTokenFoundInactiveBeforeItsTurnIsForgotten(t *testing.T) {
	r := newRateLimited(t, nil, 2)
	tok := r.knownThenEvicted(t)
	r.iss.Revoke(tok)
	r.advance(time.Second)
	if err := r.verify(tok); !errors.Is(err, ErrInactive) {
		t.Fatalf("after the revocation: %v, want ErrInactive", err)
	}
	r.advance(DefaultCacheTTL) // when tok's answer would have ended
	r.checkForgotten(t, tok)
}

// Streams re-verifying one shared token at its cached answer's end send
// one request between them, also when some missed the cache just before
// that request's verdict was stored and look for the request only after it
// ended: they take the stored verdict (active, or inactive for a token
// revoked since) rather than ask again, which MaxRequestRate (its budget
// spent) would refuse with ErrUnavailable.
func TestFlight_CallersMissingTheCacheAsTheRequestEndsTakeItsVerdict(t *testing.T) {
	for _, revoked := range []bool{false, true} {
		t.Run(fmt.Sprintf("revoked=%v", revoked), func(t *testing.T) {
			const early, late = 4, 4
			g := newGate(early + late + 2)
			r := newRateLimited(t, &http.Client{Transport: g}, 1)
			tok := r.toks[0]
			verifyThroughGate := func(tok string) error {
				done := verifyAsync(context.Background(), r.Verifier, tok)
				<-g.entered
				g.release <- struct{}{}
				<-r.ran
				return <-done
			}
			if err := verifyThroughGate(tok); err != nil {
				t.Fatal(err)
			}
			r.advance(DefaultCacheTTL) // the answer ends; the budget is back
			if err := verifyThroughGate("made-up"); !errors.Is(err, ErrInactive) {
				t.Fatalf("made-up token spending the budget: %v", err)
			}
			var want error
			if revoked {
				r.iss.Revoke(tok)
				want = ErrInactive
			}
			missed, proceed := make(chan struct{}), make(chan struct{})
			joined := make(chan struct{}, early+late)
			r.missed = func() { missed <- struct{}{}; <-proceed }
			r.joined = func() { joined <- struct{}{} }
			errs := make(chan error, early+late)
			for range early + late {
				go func() {
					c, err := r.VerifyAccessToken(context.Background(), tok)
					switch {
					case !errors.Is(err, want) || (want == nil) != (err == nil):
						err = fmt.Errorf("re-verification: %v, want %v", err, want)
					case err == nil && c.Subject() != "svc":
						err = fmt.Errorf("claims of subject %q, want svc", c.Subject())
					default:
						err = nil
					}
					errs <- err
				}()
			}
			for range early + late {
				<-missed // every caller has missed the cache
			}
			for range early {
				proceed <- struct{}{}
				<-joined // the first starts the request, the others join it
			}
			<-g.entered
			close(g.release)
			<-r.ran // the verdict is stored and the request has ended
			for range late {
				proceed <- struct{}{}
			}
			for range early + late {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			if got := r.iss.IntrospectionRequests(); got != 3 {
				t.Fatalf("%d introspection requests, want 3: to cache the token, for the made-up one, to re-verify it", got)
			}
			if st := r.Stats(); st.RateLimited != 0 || st.Coalesced != early+late-1 {
				t.Fatalf("Stats: RateLimited %d, Coalesced %d; want 0 and %d", st.RateLimited, st.Coalesced, early+late-1)
			}
		})
	}
}

// A caller that missed the cache before a request's answer was stored, and
// looks for the request only once it has ended and the token's exp (plus
// ClockSkew) has passed, is told that the token expired
// (*verifier.TokenExpiredError, ACCESS_TOKEN_EXPIRED), as a cache hit on
// that ended answer is: not asking again, whose bare "active": false would
// be ErrInactive (or, the budget spent, ErrUnavailable).
func TestFlight_ACallerMissingTheCacheAsTheTokenExpiresIsToldItExpired(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	exp := now.Add(30 * time.Second)
	var expired atomic.Bool
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if expired.Load() {
			_, _ = io.WriteString(w, `{"active":false}`)
			return
		}
		_, _ = fmt.Fprintf(w, `{"active":true,"aud":"api://x","exp":%d}`, exp.Unix())
	}))
	defer srv.Close()
	v, err := New(Config{
		Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{"api://x"}, Logger: slog.New(slog.DiscardHandler), Now: clock,
		ClockSkew: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ran := make(chan struct{}, 2)
	v.ran = func() { ran <- struct{}{} }
	missed, proceed := make(chan struct{}), make(chan struct{})
	v.missed = func() { missed <- struct{}{}; <-proceed }
	const tok = "dG9rZW4"
	late := verifyAsync(context.Background(), v, tok)
	<-missed // late found nothing cached
	v.missed = nil
	if _, err := v.VerifyAccessToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	<-ran // the answer is cached until exp plus skew, and its request has ended
	expired.Store(true)
	mu.Lock()
	now = exp.Add(time.Second)
	mu.Unlock()
	proceed <- struct{}{}
	var expErr *verifier.TokenExpiredError
	if err := <-late; !errors.As(err, &expErr) || !expErr.Expiry.Equal(exp.Truncate(time.Second)) {
		t.Fatalf("late caller: %v, want *verifier.TokenExpiredError at the cached exp", err)
	}
	expErr.Expiry = time.Time{} // the late caller's own copy
	if _, err := v.VerifyAccessToken(context.Background(), tok); !errors.As(err, &expErr) || !expErr.Expiry.Equal(exp.Truncate(time.Second)) {
		t.Fatalf("next caller: %v, want *verifier.TokenExpiredError at the cached exp", err)
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("%d introspection requests, want 1: the expiry is known without asking", n)
	}
	// Counted once each: both callers missed the cache, the late one took
	// the cached answer's verdict (Coalesced), the last hit the negative
	// cache.
	if st := v.Stats(); st.CacheMisses != 2 || st.Coalesced != 1 || st.CacheHits != 0 || st.NegativeHits != 1 {
		t.Fatalf("Stats: CacheMisses %d, Coalesced %d, CacheHits %d, NegativeHits %d; want 2, 1, 0, 1",
			st.CacheMisses, st.Coalesced, st.CacheHits, st.NegativeHits)
	}
}
