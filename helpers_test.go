package grpcauth

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/jitter"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// TestMain turns the jitter off (jitter.Random is 0) unless a test asks for
// it (withRandom, stream_jitter_test.go): the stream tests expect
// re-verifications, and the introspection Verifier's cached answers to end,
// at exact times.
func TestMain(m *testing.M) {
	jitter.Random = func() float64 { return 0 }
	goleak.VerifyTestMain(m)
}

// failAfter bounds every wait of a test for an event that must come: a
// timer set, a handler started or ended, a stream's status. When a
// defence is removed, the test then fails with a message saying what did
// not come, instead of hanging until go test's timeout. It is a failure
// bound, not a timing threshold: no test passes or fails by how soon an
// event comes.
const failAfter = 30 * time.Second

// awaitOK returns the next value received from ch, or, when none comes
// within failAfter, reports what did not come with t.Errorf and returns
// false: it may run on a goroutine other than the test's.
func awaitOK[T any](t testing.TB, ch <-chan T, what string) (T, bool) {
	t.Helper()
	bound := time.NewTimer(failAfter)
	defer bound.Stop()
	select {
	case v := <-ch:
		return v, true
	case <-bound.C:
		t.Errorf("%s (waited %v)", what, failAfter)
		var zero T
		return zero, false
	}
}

// await is awaitOK that stops the test when nothing came: call it on the
// test's goroutine.
func await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	v, ok := awaitOK(t, ch, what)
	if !ok {
		t.FailNow()
	}
	return v
}

// bounded returns the test's context, ended after failAfter: a client's
// call on it whose status never comes (a cut removed, say) fails with
// codes.DeadlineExceeded instead of hanging.
func bounded(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), failAfter)
	t.Cleanup(cancel)
	return ctx
}

// t0 is the fixed "now" of tests that control time.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// testService implements both test services: every method reports the
// claims its context carried.
type testService struct {
	authtestv1.UnimplementedTestServiceServer
	authtestv1.UnimplementedUnannotatedServiceServer

	// streamStarted receives once per ServerStream/BidiStream call after
	// the handler has sent its first response.
	streamStarted chan struct{}
	// streamEnded receives the error each ServerStream handler returns.
	streamEnded chan error
	// bidiReceived, when set, receives once per message a BidiStream
	// handler's Recv returns: each message the handler would act on.
	bidiReceived chan struct{}
	// bidiHold, when set, holds a BidiStream handler whose Recv failed
	// (other than at the end of the stream) until it is closed, after
	// sending that error to bidiRefused.
	bidiHold    chan struct{}
	bidiRefused chan error
	// bidiCause, when set, receives, once a BidiStream handler's Recv
	// failed (other than at the end of the stream), its context's cause
	// at that moment: nil while the context is still live.
	bidiCause chan error
	// bidiApart, when set, makes BidiStream receive on a goroutine of its
	// own and return when its context ends, as gRPC advises, and receives
	// the error that ends that goroutine's receive.
	bidiApart chan error
}

func caller(ctx context.Context) *authtestv1.Caller {
	c, ok := ClaimsFromContext(ctx)
	if !ok {
		return &authtestv1.Caller{}
	}
	return &authtestv1.Caller{Authenticated: true, Subject: c.Subject(), ClientId: c.ClientID(), Scopes: c.Scopes()}
}

func (s *testService) AllOf(ctx context.Context, _ *authtestv1.AllOfRequest) (*authtestv1.AllOfResponse, error) {
	return &authtestv1.AllOfResponse{Caller: caller(ctx)}, nil
}

func (s *testService) AnyOf(ctx context.Context, _ *authtestv1.AnyOfRequest) (*authtestv1.AnyOfResponse, error) {
	return &authtestv1.AnyOfResponse{Caller: caller(ctx)}, nil
}

func (s *testService) Public(ctx context.Context, _ *authtestv1.PublicRequest) (*authtestv1.PublicResponse, error) {
	return &authtestv1.PublicResponse{Caller: caller(ctx)}, nil
}

func (s *testService) Authenticated(ctx context.Context, _ *authtestv1.AuthenticatedRequest) (*authtestv1.AuthenticatedResponse, error) {
	return &authtestv1.AuthenticatedResponse{Caller: caller(ctx)}, nil
}

func (s *testService) Inherited(ctx context.Context, _ *authtestv1.InheritedRequest) (*authtestv1.InheritedResponse, error) {
	return &authtestv1.InheritedResponse{Caller: caller(ctx)}, nil
}

func (s *testService) Unannotated(ctx context.Context, _ *authtestv1.UnannotatedRequest) (*authtestv1.UnannotatedResponse, error) {
	return &authtestv1.UnannotatedResponse{Caller: caller(ctx)}, nil
}

// ServerStream sends Count responses, then waits for its context to end and
// returns nil: a handler that treats cancellation as a normal end, which the
// stream-expiry status must override.
func (s *testService) ServerStream(req *authtestv1.ServerStreamRequest, stream grpc.ServerStreamingServer[authtestv1.ServerStreamResponse]) error {
	for range req.GetCount() {
		if err := stream.Send(&authtestv1.ServerStreamResponse{Caller: caller(stream.Context())}); err != nil {
			return err
		}
	}
	if req.GetCount() == 0 {
		return nil
	}
	s.signal()
	<-stream.Context().Done()
	if s.streamEnded != nil {
		s.streamEnded <- stream.Send(&authtestv1.ServerStreamResponse{})
	}
	return nil
}

func (s *testService) ClientStream(stream grpc.ClientStreamingServer[authtestv1.ClientStreamRequest, authtestv1.ClientStreamResponse]) error {
	var n int32
	for {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&authtestv1.ClientStreamResponse{Caller: caller(stream.Context()), Received: n})
		}
		if err != nil {
			return err
		}
		n++
	}
}

// BidiStream answers each request; it returns the first Recv error.
func (s *testService) BidiStream(stream grpc.BidiStreamingServer[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse]) error {
	if s.bidiApart != nil {
		return s.bidiRecvApart(stream)
	}
	first := true
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if s.bidiCause != nil {
				s.bidiCause <- context.Cause(stream.Context())
			}
			if s.bidiHold != nil {
				s.bidiRefused <- err
				<-s.bidiHold
			}
			return err
		}
		if s.bidiReceived != nil {
			s.bidiReceived <- struct{}{}
		}
		if err := stream.Send(&authtestv1.BidiStreamResponse{Caller: caller(stream.Context())}); err != nil {
			return err
		}
		if first {
			first = false
			s.signal()
		}
	}
}

// bidiRecvApart receives on a goroutine of its own, answering the first
// message, and returns when the stream's context ends.
func (s *testService) bidiRecvApart(stream grpc.BidiStreamingServer[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse]) error {
	received := make(chan struct{})
	go func() {
		_, err := stream.Recv()
		close(received)
		if err == nil {
			_, err = stream.Recv() // blocks until the stream ends
		}
		s.bidiApart <- err
	}()
	select {
	case <-received:
		if err := stream.Send(&authtestv1.BidiStreamResponse{Caller: caller(stream.Context())}); err != nil {
			return err
		}
		s.signal()
	case <-stream.Context().Done():
	}
	<-stream.Context().Done()
	return nil
}

func (s *testService) signal() {
	if s.streamStarted != nil {
		s.streamStarted <- struct{}{}
	}
}

// env is one test server behind an Authenticator, with a real verifier and
// a grpcauthtest issuer.
type env struct {
	iss    *grpcauthtest.Issuer
	v      *verifier.Verifier
	auth   *Authenticator
	srv    *grpc.Server
	svc    *testService
	addr   string // the server's loopback address
	conn   *grpc.ClientConn
	client authtestv1.TestServiceClient
	other  authtestv1.UnannotatedServiceClient
}

type envOption func(*Config, *verifier.Config)

// newEnv starts an issuer, a verifier, a plaintext loopback TCP server with
// both test services behind an Authenticator (cfg.Verifier is filled in),
// and a client. Everything is closed by t.Cleanup.
func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	return newEnvWith(t, insecure.NewCredentials(), insecure.NewCredentials(), opts...)
}

// newEnvWith is newEnv with the server's and the client's transport
// credentials.
func newEnvWith(t testing.TB, serverCreds, clientCreds credentials.TransportCredentials, opts ...envOption) *env {
	t.Helper()
	e := &env{svc: &testService{}}
	e.iss = grpcauthtest.NewIssuer(t, grpcauthtest.Config{Now: func() time.Time { return t0 }})
	vcfg := verifier.Config{
		Issuer:    e.iss.URL(),
		Audiences: []string{e.iss.Audience()},
		Now:       func() time.Time { return t0 },
	}
	cfg := Config{Logger: discardLogger()}
	for _, o := range opts {
		o(&cfg, &vcfg)
	}
	ctx := context.Background()
	v, err := verifier.New(ctx, vcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	e.v = v
	if cfg.Verifier == nil {
		cfg.Verifier = v
	}
	e.auth, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.addr = serve(t, e.svc, grpc.Creds(serverCreds), grpc.ChainUnaryInterceptor(e.auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(e.auth.StreamServerInterceptor()))
	e.conn = dial(t, e.addr, clientCreds)
	e.client = authtestv1.NewTestServiceClient(e.conn)
	e.other = authtestv1.NewUnannotatedServiceClient(e.conn)
	return e
}

// serve runs svc on a loopback TCP server with opts and returns it and its
// address.
func serve(t testing.TB, svc *testService, opts ...grpc.ServerOption) (*grpc.Server, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, lis, svc, opts...), lis.Addr().String()
}

// serveOn runs svc on lis with opts until the test ends.
func serveOn(t testing.TB, lis net.Listener, svc *testService, opts ...grpc.ServerOption) *grpc.Server {
	t.Helper()
	srv := grpc.NewServer(opts...)
	authtestv1.RegisterTestServiceServer(srv, svc)
	authtestv1.RegisterUnannotatedServiceServer(srv, svc)
	runServer(t, srv, lis)
	return srv
}

// runServer serves srv on lis until the test ends.
func runServer(t testing.TB, srv *grpc.Server, lis net.Listener) {
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(lis) })
	t.Cleanup(func() {
		srv.Stop()
		wg.Wait()
	})
}

// dial returns a client connection to addr with creds, closed by
// t.Cleanup (before the server stops).
func dial(t testing.TB, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// via returns a copy of e whose clients call the server at addr.
func (e *env) via(t testing.TB, addr string) *env {
	t.Helper()
	c := *e
	c.addr = addr
	c.conn = dial(t, addr, insecure.NewCredentials())
	c.client = authtestv1.NewTestServiceClient(c.conn)
	c.other = authtestv1.NewUnannotatedServiceClient(c.conn)
	return &c
}

// token mints a token with the given scopes, failing the test on error.
func (e *env) token(t testing.TB, claims map[string]any, opts ...grpcauthtest.MintOption) string {
	t.Helper()
	tok, err := e.iss.Mint(claims, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) scoped(t testing.TB, scopes ...string) string {
	return e.token(t, map[string]any{"sub": "user-1"}, grpcauthtest.WithScopes(scopes...))
}

// withAuth returns ctx with the given authorization metadata values.
func withAuth(ctx context.Context, values ...string) context.Context {
	kv := make([]string, 0, 2*len(values))
	for _, v := range values {
		kv = append(kv, "authorization", v)
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

func bearer(tok string) string { return "Bearer " + tok }

// errorInfo returns the grpcauth ErrorInfo of a status error, or nil.
func errorInfo(err error) *errdetails.ErrorInfo {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			return info
		}
	}
	return nil
}

// checkStatus asserts err's code and ErrorInfo reason (codes.OK: no error).
func checkStatus(t testing.TB, err error, code codes.Code, reason string) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("code = %v (%v), want %v", got, err, code)
	}
	if code == codes.OK {
		return
	}
	info := errorInfo(err)
	if info == nil {
		t.Fatalf("error %v has no grpcauth ErrorInfo", err)
	}
	if info.GetReason() != reason {
		t.Fatalf("reason = %q, want %q", info.GetReason(), reason)
	}
}

// fakeClock is a controllable Now and afterFunc. Its Now starts at t0 and
// moves only when a test moves it: not when a timer fires, as a wall clock
// that a suspend of the host or a step skips past timers.
type fakeClock struct {
	mu      sync.Mutex
	timers  []*fakeTimer
	added   chan *fakeTimer
	elapsed atomic.Int64 // Now's time past t0
}

type fakeTimer struct {
	d          time.Duration
	set        time.Time // Now when the timer was set
	f          func()
	fired      atomic.Bool
	stopped    atomic.Bool
	stopOnce   sync.Once
	stopCalled chan struct{} // closed by the first Stop
}

func newFakeClock() *fakeClock { return &fakeClock{added: make(chan *fakeTimer, 16)} }

func (c *fakeClock) AfterFunc(d time.Duration, f func()) timer {
	ft := &fakeTimer{d: d, set: c.Now(), f: f, stopCalled: make(chan struct{})}
	c.mu.Lock()
	c.timers = append(c.timers, ft)
	c.mu.Unlock()
	c.added <- ft
	return ft
}

// next returns the next timer set (on the test's goroutine).
func (c *fakeClock) next(t testing.TB) *fakeTimer {
	t.Helper()
	return await(t, c.added, "no timer was set")
}

// Now is the clock's wall-clock time, for Config.Now.
func (c *fakeClock) Now() time.Time { return t0.Add(time.Duration(c.elapsed.Load())) }

// setNow moves Now to at.
func (c *fakeClock) setNow(at time.Time) { c.elapsed.Store(int64(at.Sub(t0))) }

// pastExpiry moves Now a day on: past the exp, plus the clock skew, of
// every test's token, so that a stream's expiry timer that fires cuts it.
func (c *fakeClock) pastExpiry() { c.setNow(c.Now().Add(24 * time.Hour)) }

// expire fires ft, a stream's expiry timer, with Now past the token's
// expiry (pastExpiry): the stream is cut.
func (c *fakeClock) expire(ft *fakeTimer) {
	c.pastExpiry()
	ft.fire()
}

// fireNext fires ft and returns the timer its function set, or nil.
func (c *fakeClock) fireNext(ft *fakeTimer) *fakeTimer {
	c.mu.Lock()
	n := len(c.timers)
	c.mu.Unlock()
	ft.fire()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == n {
		return nil
	}
	return c.timers[len(c.timers)-1]
}

// checkCutIn checks that ft, a stream's expiry timer, cuts the stream want
// after it was set (the token's exp plus the clock skew), not before: ft
// waits want, or maxTimerWait if less; fired a nanosecond before the cut,
// it is set again for that nanosecond; fired then, it cuts the stream, and
// sets no other.
func (c *fakeClock) checkCutIn(t *testing.T, ft *fakeTimer, want time.Duration) {
	t.Helper()
	if ft.d != min(want, maxTimerWait) {
		t.Fatalf("expiry timer set for %v, want %v: the cut in %v, or at most %v", ft.d, min(want, maxTimerWait), want, maxTimerWait)
	}
	cut := ft.set.Add(want)
	c.setNow(cut.Add(-time.Nanosecond))
	next := c.fireNext(ft)
	if next == nil || next.d != time.Nanosecond {
		t.Fatalf("expiry timer fired a nanosecond before the cut in %v: set again %v, want for 1ns", want, next)
	}
	c.setNow(cut)
	if again := c.fireNext(next); again != nil {
		t.Fatalf("expiry timer fired at the cut in %v: set again for %v, want the cut", want, again.d)
	}
}

// Stop reports whether it stopped the timer before it fired.
func (ft *fakeTimer) Stop() bool {
	defer ft.stopOnce.Do(func() { close(ft.stopCalled) })
	if ft.fired.Load() {
		return false
	}
	return !ft.stopped.Swap(true)
}

// fire runs the timer's function, as its expiry would, unless stopped.
func (ft *fakeTimer) fire() {
	if ft.stopped.Load() || ft.fired.Swap(true) {
		return
	}
	ft.f()
}

// reverify walks ft, a stream's re-verification timer just set, to the
// re-verification it is set for, as a host would that sleeps for suspend
// (monotonic timers standing still) right after ft was set: it moves the
// wall clock, with advance, by suspend, then fires ft and each timer its
// firing sets again, each after moving the wall clock by its wait, until a
// firing re-verifies (reverified reports true) or sets no timer (the
// stream was cut; reverified may be nil). It returns when that was, by the
// wall clock, after ft was set; how long the timers waited (by the
// monotonic clock, which stood still for suspend); and the timer the last
// firing set, or nil.
func (c *fakeClock) reverify(t *testing.T, ft *fakeTimer, advance func(time.Duration), suspend time.Duration, reverified func() bool) (at, waited time.Duration, next *fakeTimer) {
	t.Helper()
	advance(suspend)
	at = suspend
	for range 10000 {
		advance(ft.d)
		at += ft.d
		waited += ft.d
		ft.fire()
		select {
		case next = <-c.added:
		default:
			return at, waited, nil
		}
		if reverified != nil && reverified() {
			return at, waited, next
		}
		ft = next
	}
	t.Fatalf("no re-verification %v after the timer was set", at)
	return
}

// runOut fires ft, a stream's timer, and each timer its firing sets
// again, each once its wait has passed (Now moved on by it, then moved by
// step, when not nil, just before the firing), until a firing sets none:
// the timer's function ran. It returns how long the timers waited, by
// their own (monotonic) clock.
func (c *fakeClock) runOut(ft *fakeTimer, step func()) (waited time.Duration) {
	for ft != nil {
		waited += ft.d
		c.advance(ft.d)
		if step != nil {
			step()
		}
		ft = c.fireNext(ft)
		for len(c.added) > 0 {
			<-c.added // only fireNext follows the timers; nothing waits here
		}
	}
	return waited
}

// advance moves Now on by d.
func (c *fakeClock) advance(d time.Duration) { c.elapsed.Add(int64(d)) }
