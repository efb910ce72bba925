package grpcauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// settableClock is a Now shared by the issuer, the introspection Verifier
// and the Authenticator.
type settableClock struct{ ns atomic.Int64 }

func (c *settableClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *settableClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// revalidationEnv is a server whose Authenticator verifies opaque tokens by
// introspection at a grpcauthtest issuer, with a settable clock and fake
// timers, and a ServerStream opened with an opaque token valid for an hour.
type revalidationEnv struct {
	*env
	iss   *grpcauthtest.Issuer // the introspecting one
	clk   *settableClock
	fake  *fakeClock
	token string
	rec   recorder // every Decision
}

func newRevalidationEnv(t *testing.T, claims map[string]any, mutate func(*introspect.Config), opts ...envOption) *revalidationEnv {
	t.Helper()
	rs := grpcauthtest.Client{ID: "rs", Secret: "rs-secret"}
	r := &revalidationEnv{clk: &settableClock{}, fake: newFakeClock()}
	r.clk.ns.Store(t0.UnixNano())
	r.iss = grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/org", Now: r.clk.Now, Clients: []grpcauthtest.Client{rs}})
	cfg := introspect.Config{Endpoint: r.iss.IntrospectionURL(), Issuer: r.iss.URL(), ClientID: rs.ID, ClientSecret: rs.Secret,
		Audiences: []string{r.iss.Audience()}, Now: r.clk.Now, Logger: discardLogger()}
	if mutate != nil {
		mutate(&cfg)
	}
	iv, err := introspect.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { iv.Close() })
	r.env = newEnv(t, append([]envOption{func(c *Config, _ *verifier.Config) {
		c.Verifier = iv
		c.Now = r.clk.Now
		c.afterFunc = r.fake.AfterFunc
		c.OnDecision = r.rec.record
	}}, opts...)...)
	r.svc.streamStarted = make(chan struct{}, 1)
	r.svc.streamEnded = make(chan error, 1)
	claims["sub"] = "user-1"
	claims["scope"] = "test:read test:stream"
	if r.token, err = r.iss.MintOpaqueClaims(claims); err != nil {
		t.Fatal(err)
	}
	return r
}

// open starts a ServerStream with the token and waits for its handler.
func (r *revalidationEnv) open(t *testing.T) authtestv1.TestService_ServerStreamClient {
	t.Helper()
	return openStreamVia(t, r.env, r.client, withAuth(bounded(t), bearer(r.token)))
}

// stillRunning fails the test if the stream's handler has ended (its
// streamEnded has received).
func (e *env) stillRunning(t *testing.T) {
	t.Helper()
	select {
	case err := <-e.svc.streamEnded:
		t.Fatalf("the stream ended: %v", err)
	default:
	}
}

// TestStream_RevokedOpaqueTokenEndsTheStreamAtTheNextRevalidation opens a
// stream with an opaque token, re-verifies it when its cached answer ends
// (still active: the stream goes on), revokes it at the authorization
// server, and sees the stream cut with ACCESS_TOKEN_REVOKED at the next
// re-verification, one Cache.TTL later.
func TestStream_RevokedOpaqueTokenEndsTheStreamAtTheNextRevalidation(t *testing.T) {
	r := newRevalidationEnv(t, map[string]any{"exp": t0.Add(time.Hour)}, nil)
	s := r.open(t)
	expiry, recheck := r.fake.next(t), r.fake.next(t)
	if expiry.d != maxTimerWait {
		t.Fatalf("expiry timer %v, want %v: the cut in 1h plus skew, capped", expiry.d, maxTimerWait)
	}
	if recheck.d != introspect.DefaultCacheTTL {
		t.Fatalf("re-verification timer %v, want the cache TTL %v", recheck.d, introspect.DefaultCacheTTL)
	}

	r.clk.Advance(introspect.DefaultCacheTTL)
	recheck.fire() // still active
	if got := r.iss.IntrospectionRequests(); got != 2 {
		t.Fatalf("%d introspection requests, want 2", got)
	}
	recheck = r.fake.next(t)
	if recheck.d != introspect.DefaultCacheTTL {
		t.Fatalf("next re-verification in %v, want %v", recheck.d, introspect.DefaultCacheTTL)
	}
	r.stillRunning(t)

	r.iss.Revoke(r.token)
	r.clk.Advance(recheck.d)
	recheck.fire()
	if err := await(t, r.svc.streamEnded, "the stream's handler did not end: its context was not cancelled"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Send after the revocation = %v, want Unauthenticated", err)
	}
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenRevoked)
	await(t, expiry.stopCalled, "the expiry timer was never stopped")
	// The cut is a Decision too (docs/observability.md's revoked-streams
	// query counts it): denied, ACCESS_TOKEN_REVOKED, after the allowed
	// start.
	if d := r.rec.last(t); d.Allowed || d.Reason != ReasonTokenRevoked || d.Method != "/authtest.v1.TestService/ServerStream" ||
		d.Claims.Subject() != "user-1" || !errors.Is(d.Err, introspect.ErrInactive) {
		t.Errorf("last decision = %+v, want denied %s for the stream's method, with its claims and the re-verification's error", d, ReasonTokenRevoked)
	}
}

// TestStream_OpaqueTokenExpiringIsAccessTokenExpired: the re-verification
// after the token's exp, when the server calls it inactive, ends the stream
// with ACCESS_TOKEN_EXPIRED, as the expiry timer would.
func TestStream_OpaqueTokenExpiringIsAccessTokenExpired(t *testing.T) {
	r := newRevalidationEnv(t, map[string]any{"exp": t0.Add(90 * time.Second)}, nil)
	s := r.open(t)
	_, recheck := r.fake.next(t), r.fake.next(t)
	r.clk.Advance(recheck.d) // 60s: still active, cached until exp plus skew
	recheck.fire()
	recheck = r.fake.next(t)
	if recheck.d != introspect.DefaultCacheTTL {
		t.Fatalf("next re-verification in %v, want %v", recheck.d, introspect.DefaultCacheTTL)
	}
	r.clk.Advance(recheck.d) // 120s: inactive, after its exp
	recheck.fire()
	await(t, r.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
}

// downTransport fails every request while down is set, and sends the
// others with base.
type downTransport struct {
	base http.RoundTripper
	down *atomic.Bool
}

func (d downTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if d.down.Load() {
		return nil, errors.New("test: endpoint down")
	}
	return d.base.RoundTrip(r)
}

// TestStream_OpaqueTokenExpiringAfterAnOutageIsAccessTokenExpired: a
// re-verification that gets no answer (the endpoint down) once the
// token's cached answer has ended does not make the Verifier forget the
// exp that answer gave: the next one, after exp, when the server calls the
// token inactive, ends the stream with ACCESS_TOKEN_EXPIRED (on which
// clients refresh), as the expiry timer would, not ACCESS_TOKEN_REVOKED.
func TestStream_OpaqueTokenExpiringAfterAnOutageIsAccessTokenExpired(t *testing.T) {
	var down atomic.Bool
	r := newRevalidationEnv(t, map[string]any{"exp": t0.Add(90 * time.Second)}, func(c *introspect.Config) {
		c.HTTPClient = &http.Client{Transport: downTransport{base: &http.Transport{DisableKeepAlives: true}, down: &down}}
	})
	s := r.open(t)
	_, recheck := r.fake.next(t), r.fake.next(t)
	r.clk.Advance(recheck.d) // 60s: still active, cached until 120s
	recheck.fire()
	recheck = r.fake.next(t)
	down.Store(true)
	r.clk.Advance(recheck.d) // 120s: past exp, but no answer: the stream goes on
	recheck.fire()
	recheck = r.fake.next(t)
	r.stillRunning(t)
	down.Store(false)
	r.clk.Advance(recheck.d) // 130s: inactive, after its exp, before exp plus skew
	recheck.fire()
	await(t, r.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
}

// TestStream_IntrospectionOutageDoesNotEndTheStream: when the
// re-verification gets no answer, the stream goes on and is re-verified
// again Cache.NegativeTTL later; the outage is logged at LogLevels.Problem
// with the stream's method.
func TestStream_IntrospectionOutageDoesNotEndTheStream(t *testing.T) {
	var logs bytes.Buffer // written only at Error: by the re-verification, in recheck.fire
	r := newRevalidationEnv(t, map[string]any{"exp": t0.Add(time.Hour)}, nil, func(c *Config, _ *verifier.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))
		c.LogLevels.Problem = slog.LevelError
	})
	s := r.open(t)
	_, recheck := r.fake.next(t), r.fake.next(t)
	r.iss.Close()
	r.clk.Advance(recheck.d)
	recheck.fire()
	recheck = r.fake.next(t)
	if recheck.d != introspect.DefaultNegativeCacheTTL {
		t.Fatalf("retry in %v, want %v", recheck.d, introspect.DefaultNegativeCacheTTL)
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "could not be re-verified") ||
		!strings.Contains(l, "method=/authtest.v1.TestService/ServerStream") {
		t.Errorf("log %q: want the outage at LogLevels.Problem (ERROR) with the stream's method", l)
	}
	r.stillRunning(t)
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
}

// outageVerifier is an introspection Verifier whose VerifyAccessToken
// fails with err while down is set.
type outageVerifier struct {
	*introspect.Verifier
	down *atomic.Bool
	err  error
}

func (o outageVerifier) VerifyAccessToken(ctx context.Context, token string) (verifier.Claims, error) {
	if o.down.Load() {
		return verifier.Claims{}, o.err
	}
	return o.Verifier.VerifyAccessToken(ctx, token)
}

// TestStream_LongReVerificationErrorIsClippedInTheRecord: a Verifier of
// the server's own may fail with an error as long as it makes it; the
// record of a re-verification that got no answer clips it to 1 KiB and its
// length, as a decision's record does.
func TestStream_LongReVerificationErrorIsClippedInTheRecord(t *testing.T) {
	var logs bytes.Buffer // written only at Error: by the re-verification, in recheck.fire
	var down atomic.Bool
	long := fmt.Errorf("%w: %s", introspect.ErrUnavailable, strings.Repeat("x", 100_000))
	r := newRevalidationEnv(t, map[string]any{"exp": t0.Add(time.Hour)}, nil, func(c *Config, _ *verifier.Config) {
		c.Verifier = outageVerifier{Verifier: c.Verifier.(*introspect.Verifier), down: &down, err: long}
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))
		c.LogLevels.Problem = slog.LevelError
	})
	s := r.open(t)
	_, recheck := <-r.fake.added, <-r.fake.added
	down.Store(true)
	r.clk.Advance(recheck.d)
	recheck.fire()
	<-r.fake.added // the next re-verification is set: the stream goes on
	recs := jsonRecords(t, &logs)
	if len(recs) != 1 || recs[0]["msg"] != "grpcauth: stream token could not be re-verified; the stream goes on" {
		t.Fatalf("records %.300v, want the re-verification's", recs)
	}
	if e, _ := recs[0]["error"].(string); !strings.Contains(e, "xxxx") || len(e) > 1100 ||
		!strings.HasSuffix(e, fmt.Sprintf("…(%d bytes)", len(long.Error()))) {
		t.Errorf("error is %d bytes (%.80q…), want the verifier's error clipped to 1 KiB and its length", len(e), e)
	}
	r.stillRunning(t)
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
}

// TestStream_TokenWithoutExpIsStillRevalidated: a token accepted without
// exp (introspect.Config.SkipExpiryRequirement) sets no expiry timer, but
// is still re-verified, and its stream cut when it is revoked.
func TestStream_TokenWithoutExpIsStillRevalidated(t *testing.T) {
	r := newRevalidationEnv(t, map[string]any{"exp": nil}, func(c *introspect.Config) { c.SkipExpiryRequirement = true })
	s := r.open(t)
	recheck := r.fake.next(t)
	if recheck.d != introspect.DefaultCacheTTL {
		t.Fatalf("the one timer is set for %v, want the re-verification at %v", recheck.d, introspect.DefaultCacheTTL)
	}
	r.iss.Revoke(r.token)
	r.clk.Advance(recheck.d)
	recheck.fire()
	await(t, r.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenRevoked)
}

// TestServeCall_RevokedTokenEndsTheStream: adapters (connectauth) get the
// same re-verification through ServeCall: the Guard reports the cut and
// ServeCall returns ACCESS_TOKEN_REVOKED once the token is refused.
func TestServeCall_RevokedTokenEndsTheStream(t *testing.T) {
	r := newRevalidationEnv(t, map[string]any{"exp": t0.Add(time.Hour)}, nil)
	started := make(chan *Guard, 1)
	result := make(chan error, 1)
	go func() {
		result <- r.auth.ServeCall(adapterContext(bearer(r.token)), "/authtest.v1.TestService/BidiStream", true, nil,
			func(ctx context.Context, g *Guard) error {
				started <- g
				<-ctx.Done()
				return nil
			})
	}()
	g := await(t, started, "serve did not start")
	_, recheck := r.fake.next(t), r.fake.next(t)
	if err := g.Err(); err != nil {
		t.Fatalf("Err() = %v before any re-verification", err)
	}
	r.iss.Revoke(r.token)
	r.clk.Advance(recheck.d)
	recheck.fire()
	checkStatus(t, await(t, result, "ServeCall did not return: the stream was not cut"), codes.Unauthenticated, ReasonTokenRevoked)
	checkStatus(t, g.Err(), codes.Unauthenticated, ReasonTokenRevoked)
}

// TestStream_RevalidationFloorDoesNotDelayTheExpiryCut: a token whose
// cached answer ends with it, less than MinRevalidateInterval after the
// stream opens, has its re-verification held back to the floor, but its
// stream is cut at exp plus the skew all the same: the expiry has a timer
// of its own, which neither the floor nor the jitter moves.
func TestStream_RevalidationFloorDoesNotDelayTheExpiryCut(t *testing.T) {
	r := newRevalidationEnv(t, map[string]any{"exp": t0.Add(time.Second)}, func(c *introspect.Config) { c.ClockSkew = -1 })
	r.clk.Advance(500 * time.Millisecond)
	s := r.open(t)
	expiry, recheck := r.fake.next(t), r.fake.next(t)
	if expiry.d != 500*time.Millisecond || recheck.d != MinRevalidateInterval {
		t.Fatalf("expiry in %v, re-verification in %v; want 500ms (exp, no skew) and the floor %v", expiry.d, recheck.d, MinRevalidateInterval)
	}
	r.clk.Advance(expiry.d)
	expiry.fire()
	await(t, r.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
}

// TestStream_RevokedOpaqueTokenEndsTheStreamDespiteAFloodOfMadeUpTokens:
// while a flood of made-up opaque tokens holds introspect's
// MaxRequestRate, a stream's token, which the server called active, is
// still re-verified when its cached answer ends, so the stream is cut once
// the token is revoked. Before, the flood held the re-verification back,
// which counts as an outage: the stream went on until exp.
func TestStream_RevokedOpaqueTokenEndsTheStreamDespiteAFloodOfMadeUpTokens(t *testing.T) {
	r := newRevalidationEnv(t, map[string]any{"exp": t0.Add(time.Hour)}, func(c *introspect.Config) { c.MaxRequestRate = 1 })
	s := r.open(t)
	_, recheck := r.fake.next(t), r.fake.next(t)
	r.revokeDuringAFlood(t, s, recheck)
}

// revokeDuringAFlood revokes the stream s's opaque token, spends
// MaxRequestRate's budget on made-up tokens once the token's cached answer
// has ended, fires the stream's re-verification, recheck, and checks that
// the stream is cut with ACCESS_TOKEN_REVOKED.
func (r *revalidationEnv) revokeDuringAFlood(t *testing.T, s authtestv1.TestService_ServerStreamClient, recheck *fakeTimer) {
	t.Helper()
	r.iss.Revoke(r.token)
	r.clk.Advance(recheck.d)
	for i := 0; ; i++ {
		_, err := r.client.Authenticated(withAuth(bounded(t), bearer(fmt.Sprintf("made-up-%d", i))), &authtestv1.AuthenticatedRequest{})
		if status.Code(err) == codes.Unavailable {
			break // the budget is spent
		}
		if status.Code(err) != codes.Unauthenticated || i == 100 {
			t.Fatalf("made-up token %d: %v", i, err)
		}
	}
	recheck.fire()
	select {
	case err := <-r.svc.streamEnded:
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("Send after the revocation = %v, want Unauthenticated", err)
		}
	case next := <-r.fake.added:
		t.Fatalf("the stream went on, re-verified again in %v", next.d)
	}
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenRevoked)
}

// TestStream_OpaqueStreamThroughCombinedIsCutDespiteAFloodOfMadeUpTokens:
// behind an introspect.Combined, a stream opened with an opaque token is
// re-verified when its cached introspection answer ends (Combined routes
// RevalidateAt by the claims' provenance), which passes MaxRequestRate
// while a flood of made-up opaque tokens holds it, so the revoked token's
// stream is cut with ACCESS_TOKEN_REVOKED, not at its exp. A JWT stream
// through the same Combined is re-verified locally, whatever the flood,
// and goes on, as do the JWT's unary calls.
func TestStream_OpaqueStreamThroughCombinedIsCutDespiteAFloodOfMadeUpTokens(t *testing.T) {
	jiss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Now: func() time.Time { return t0 }})
	jv, err := verifier.New(context.Background(), verifier.Config{Issuer: jiss.URL(), Audiences: []string{jiss.Audience()},
		Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jv.Close() })
	r := newRevalidationEnv(t, map[string]any{"exp": t0.Add(time.Hour)}, func(c *introspect.Config) { c.MaxRequestRate = 1 },
		func(c *Config, _ *verifier.Config) {
			cv, err := introspect.Combine(jv, c.Verifier.(*introspect.Verifier))
			if err != nil {
				t.Fatal(err)
			}
			c.Verifier = cv
		})
	s := r.open(t)
	_, recheck := r.fake.next(t), r.fake.next(t) // the opaque stream's expiry, then its re-verification
	jwt, err := jiss.Token("app", "test:read", "test:stream")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.ServerStream(withAuth(bounded(t), bearer(jwt)), &authtestv1.ServerStreamRequest{Count: 1}); err != nil {
		t.Fatal(err)
	}
	await(t, r.svc.streamStarted, "the stream's handler did not start")
	_, jwtRecheck := r.fake.next(t), r.fake.next(t)

	r.revokeDuringAFlood(t, s, recheck)

	jwtRecheck.fire()
	r.fake.next(t) // re-verified, and scheduled again
	r.stillRunning(t)
	if _, err := r.client.Authenticated(withAuth(bounded(t), bearer(jwt)), &authtestv1.AuthenticatedRequest{}); err != nil {
		t.Fatalf("the JWT's unary call during the flood: %v", err)
	}
}

// The times a stream's timers are due at compare with Config.Now by the
// wall clock. time.Now's readings carry the monotonic clock's too, and
// Go compares two times that both carry one by that alone (see package
// time), which stands still while the host is suspended: a re-verification
// due at a reading of time.Now (RevalidateAt's, with the default Now) would
// wait out the suspend again. Go offers no way to make a reading whose
// monotonic part lags its wall clock, so this checks the due time itself:
// it carries no monotonic reading.
func TestStream_TimersAreDueByTheWallClockOnly(t *testing.T) {
	fake := newFakeClock()
	w := &streamWatch{ctx: t.Context(), a: &Authenticator{now: time.Now, afterFunc: fake.AfterFunc, random: func() float64 { return 0 }}}
	w.schedule(time.Now().Add(time.Hour)) // as verifier.Verifier.RevalidateAt answers
	fake.next(t)
	w.stop()
	if due := w.recheck.due; due != due.Round(0) {
		t.Errorf("re-verification due at %v: want no monotonic reading (m=), so that Config.Now is compared with it by the wall clock", due)
	}
}

// outageRevalidator is a TokenVerifier and Revalidator that accepts any
// token with fixed claims the first time, and finds its dependency down
// (ErrKeysUnavailable) every later time, asking for re-verification a
// minute on. once, when set, runs as RevalidateAt is asked after a failed
// re-verification.
type outageRevalidator struct {
	claims verifier.Claims
	calls  atomic.Int32
	once   func()
}

func (o *outageRevalidator) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	if o.calls.Add(1) == 1 {
		return o.claims, nil
	}
	return verifier.Claims{}, fmt.Errorf("%w: endpoint down", verifier.ErrKeysUnavailable)
}

func (o *outageRevalidator) RevalidateAt(string, verifier.Claims) time.Time {
	if f := o.once; f != nil && o.calls.Load() > 1 {
		o.once = nil
		f()
	}
	return t0.Add(time.Minute)
}

// outageEnv starts a server whose verifier is an outageRevalidator, on
// clock's fake timers, logging records at Warn and above to logs (opts
// apply to its Config last), whose streams signal their start.
func outageEnv(t *testing.T, opts ...envOption) (e *env, o *outageRevalidator, clock *fakeClock, logs *bytes.Buffer) {
	t.Helper()
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scope": "test:read test:stream", "exp": t0.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	o, clock, logs = &outageRevalidator{claims: claims}, newFakeClock(), &bytes.Buffer{}
	e = newEnv(t, append([]envOption{func(c *Config, _ *verifier.Config) {
		c.Verifier, c.Now, c.afterFunc = o, clock.Now, clock.AfterFunc
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}}, opts...)...)
	e.svc.streamStarted = make(chan struct{}, 1)
	return e, o, clock, logs
}

// A stream whose client finishes normally while its token's
// re-verification is running, and failing for want of an answer, is not
// logged as a stream that "goes on" despite an outage: it has ended, and
// there is nothing for an operator to look at. While the stream runs, the
// same outage is logged (TestStream_IntrospectionOutageDoesNotEndTheStream).
func TestStream_EndingDuringAFailedReverificationIsNotLogged(t *testing.T) {
	e, o, clock, logs := outageEnv(t)
	s := startBidi(t, withAuth(bounded(t), bearer("opaque-token")), e)
	clock.next(t) // the expiry timer
	recheck := clock.next(t)
	o.once = func() { // the client finishes, and the handler returns, meanwhile
		if err := s.CloseSend(); err != nil {
			t.Error(err)
		}
		if _, err := s.Recv(); !errors.Is(err, io.EOF) {
			t.Errorf("Recv = %v, want io.EOF: the stream ended normally", err)
		}
	}
	clock.setNow(t0.Add(time.Minute))
	recheck.fire()
	if o.once != nil {
		t.Fatal("the re-verification did not fail, or did not ask when to retry")
	}
	if l := logs.String(); l != "" {
		t.Errorf("log %q: want nothing for a stream that ended", l)
	}
}

// A re-verification timer that fires as the stream's handler returns (its
// goroutine on its way when the timers are stopped) verifies nothing: the
// stream has ended, and the verifier (user code, possibly slow) is not
// called for it.
func TestStream_ReverificationFiringAfterTheStreamEndedVerifiesNothing(t *testing.T) {
	e, o, clock, _ := outageEnv(t)
	s := startBidi(t, withAuth(bounded(t), bearer("opaque-token")), e)
	clock.next(t) // the expiry timer
	recheck := clock.next(t)
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv = %v, want io.EOF: the stream ended normally", err)
	}
	clock.setNow(t0.Add(time.Minute)) // the re-verification is due
	recheck.f()                       // its goroutine was on its way
	if n := o.calls.Load(); n != 1 {
		t.Errorf("the token was verified %d times, want once (as the stream opened)", n)
	}
}

// A re-verification that gets no answer just as the stream is cut (it was
// running when the expiry timer cut the stream, and ends while the cut is
// reported, before the stream's context is cancelled) is not logged as a
// stream that "goes on", and sets no timer: the stream is cut.
func TestStream_ReverificationFailingDuringTheCutIsNotLogged(t *testing.T) {
	var during atomic.Pointer[func()]
	e, o, clock, logs := outageEnv(t, onNextDenial(&during))
	s := startBidi(t, withAuth(bounded(t), bearer("opaque-token")), e)
	expiry, recheck := clock.next(t), clock.next(t)
	inFlight, proceed, reverified := make(chan struct{}), make(chan struct{}), make(chan struct{})
	o.once = func() { // the verification has failed; the re-verification runs on
		close(inFlight)
		<-proceed
	}
	clock.setNow(t0.Add(time.Minute))
	go func() {
		defer close(reverified)
		recheck.fire()
	}()
	await(t, inFlight, "the re-verification did not run")
	n := len(clock.added)
	finish := func() {
		close(proceed)
		await(t, reverified, "the re-verification did not end")
		if len(clock.added) != n {
			t.Error("the re-verification set a timer for a cut stream")
		}
	}
	cutReporting(t, s, clock, expiry, &during, finish)
	if l := logs.String(); strings.Contains(l, "could not be re-verified") {
		t.Errorf("log %q: want no 'goes on' record for a cut stream", l)
	}
}

// A stream whose client gives up while its token's re-verification runs,
// and fails for want of an answer, is not logged as a stream that "goes
// on", and sets no timer, even while its handler has not returned yet:
// the stream's context has ended.
func TestStream_ClientGoingDuringAFailedReverificationIsNotLogged(t *testing.T) {
	e, o, clock, logs := outageEnv(t)
	handlerCtx, hold := make(chan context.Context, 1), make(chan struct{})
	defer close(hold)
	handler := func(_ any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, _ grpc.StreamHandler) error {
		handlerCtx <- ss.Context()
		<-hold // returns only once the test is over
		return nil
	}
	_, addr := serve(t, e.svc, grpc.ChainStreamInterceptor(e.auth.StreamServerInterceptor(), handler))
	ctx, cancel := context.WithCancel(bounded(t))
	defer cancel()
	if _, err := e.via(t, addr).client.BidiStream(withAuth(ctx, bearer("opaque-token"))); err != nil {
		t.Fatal(err)
	}
	hctx := await(t, handlerCtx, "the stream's handler did not start")
	clock.next(t) // the expiry timer
	recheck := clock.next(t)
	o.once = func() { // the client gives up meanwhile; its handler has not returned
		cancel()
		await(t, hctx.Done(), "the handler's context was not cancelled when its client went")
	}
	clock.setNow(t0.Add(time.Minute))
	n := len(clock.added)
	recheck.fire()
	if o.once != nil {
		t.Fatal("the re-verification did not fail, or did not ask when to retry")
	}
	if len(clock.added) != n {
		t.Error("the re-verification set a timer for a stream whose client went")
	}
	if l := logs.String(); l != "" {
		t.Errorf("log %q: want nothing for a stream whose client went", l)
	}
}

// A stream's timer that fires as the watch stops (its Stop too late to
// keep its function from running) finds the watch done and returns: it
// neither cuts the stream nor logs that the timer's code did not return.
func TestStream_TimerFiringAsTheWatchStopsLogsNothing(t *testing.T) {
	fake := newFakeClock()
	var logs bytes.Buffer
	w := &streamWatch{ctx: t.Context(), a: &Authenticator{
		now: time.Now, afterFunc: fake.AfterFunc, random: func() float64 { return 0 },
		logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), levels: LogLevels{}.withDefaults(),
	}}
	w.schedule(time.Now().Add(time.Hour))
	ft := fake.next(t)
	w.stop()
	ft.f() // as the runtime runs a timer whose Stop came too late
	if logs.Len() != 0 {
		t.Errorf("logged %q, want nothing", logs.String())
	}
	if err := w.cutErr(); err != nil {
		t.Errorf("stream cut with %v, want not cut", err)
	}
}
