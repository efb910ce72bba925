// Package conditiontest runs the test services of conditions.proto
// (ConditionService, BrokenConditionService) on a loopback gRPC server
// behind a grpcauth.Authenticator, with a grpcauthtest issuer and a real
// verifier. It serves the tests of grpcauth's step-up authentication and of
// the celcond package. Not part of the public API.
package conditiontest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// Now is the fixed time of the issuer, the verifier and the Authenticator.
var Now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Env is a running server and a client for its services.
type Env struct {
	Issuer *grpcauthtest.Issuer
	Auth   *grpcauth.Authenticator
	Server *grpc.Server
	Client authtestv1.ConditionServiceClient
	Broken authtestv1.BrokenConditionServiceClient
	// Handled counts the messages the stream handlers received: a refused
	// message never reaches them.
	Handled chan struct{}
}

// New starts an Env whose Authenticator has cfg (Verifier and, when nil,
// Now and Logger filled in). Everything stops at the end of t. With wrap, the
// Authenticator's Verifier is wrap of the Env's own.
func New(t testing.TB, cfg grpcauth.Config, wrap ...func(*verifier.Verifier) grpcauth.TokenVerifier) *Env {
	t.Helper()
	now := func() time.Time { return Now }
	e := &Env{Handled: make(chan struct{}, 64)}
	e.Issuer = grpcauthtest.NewIssuer(t, grpcauthtest.Config{Now: now})
	v, err := verifier.New(context.Background(), verifier.Config{Issuer: e.Issuer.URL(), Audiences: []string{e.Issuer.Audience()}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	cfg.Verifier = v
	if cfg.Now == nil {
		cfg.Now = now
	}
	for _, w := range wrap {
		cfg.Verifier = w(v)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if e.Auth, err = grpcauth.New(cfg); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.Server = grpc.NewServer(grpc.ChainUnaryInterceptor(e.Auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(e.Auth.StreamServerInterceptor()))
	svc := &service{handled: e.Handled}
	authtestv1.RegisterConditionServiceServer(e.Server, svc)
	authtestv1.RegisterBrokenConditionServiceServer(e.Server, svc)
	var wg sync.WaitGroup
	wg.Go(func() { _ = e.Server.Serve(lis) })
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		e.Server.Stop()
		wg.Wait()
	})
	e.Client = authtestv1.NewConditionServiceClient(conn)
	e.Broken = authtestv1.NewBrokenConditionServiceClient(conn)
	return e
}

// Token mints a token for subject "alice" and client "client-1" with
// scopes, claims and opts, failing t on error. scopes win over a
// WithScopes in opts. opts is not changed, nor its spare capacity: tests
// may share one options slice.
func (e *Env) Token(t testing.TB, claims map[string]any, scopes []string, opts ...grpcauthtest.MintOption) string {
	t.Helper()
	all := map[string]any{"sub": "alice", "cid": "client-1"}
	for k, v := range claims {
		all[k] = v
	}
	tok, err := e.Issuer.Mint(all, append(slices.Clip(opts), grpcauthtest.WithScopes(scopes...))...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Bearer returns ctx carrying tok as its bearer token.
func Bearer(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// CheckStatus asserts err's code and, unless codes.OK, its grpcauth
// ErrorInfo reason, and returns that ErrorInfo (nil for codes.OK).
func CheckStatus(t testing.TB, err error, code codes.Code, reason string) *errdetails.ErrorInfo {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("code = %v (%v), want %v", st.Code(), err, code)
	}
	if code == codes.OK {
		return nil
	}
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetDomain() == grpcauth.ErrorDomain {
			if ei.GetReason() != reason {
				t.Fatalf("reason = %q, want %q", ei.GetReason(), reason)
			}
			return ei
		}
	}
	t.Fatalf("%v has no grpcauth ErrorInfo", err)
	return nil
}

// service implements both services: unary methods return the caller's
// subject; stream methods count and answer every message.
type service struct {
	authtestv1.UnimplementedConditionServiceServer
	authtestv1.UnimplementedBrokenConditionServiceServer
	handled chan struct{}
}

func caller(ctx context.Context) *authtestv1.Caller {
	c, ok := grpcauth.ClaimsFromContext(ctx)
	if !ok {
		return &authtestv1.Caller{}
	}
	return &authtestv1.Caller{Authenticated: true, Subject: c.Subject(), ClientId: c.ClientID(), Scopes: c.Scopes()}
}

func (s *service) Own(ctx context.Context, _ *authtestv1.OwnRequest) (*authtestv1.OwnResponse, error) {
	return &authtestv1.OwnResponse{Caller: caller(ctx)}, nil
}

func (s *service) InheritedOwn(ctx context.Context, _ *authtestv1.InheritedOwnRequest) (*authtestv1.InheritedOwnResponse, error) {
	return &authtestv1.InheritedOwnResponse{Caller: caller(ctx)}, nil
}

func (s *service) Tenant(ctx context.Context, _ *authtestv1.TenantRequest) (*authtestv1.TenantResponse, error) {
	return &authtestv1.TenantResponse{Caller: caller(ctx)}, nil
}

func (s *service) Method(ctx context.Context, _ *authtestv1.MethodRequest) (*authtestv1.MethodResponse, error) {
	return &authtestv1.MethodResponse{Caller: caller(ctx)}, nil
}

func (s *service) StepUp(ctx context.Context, _ *authtestv1.StepUpRequest) (*authtestv1.StepUpResponse, error) {
	return &authtestv1.StepUpResponse{Caller: caller(ctx)}, nil
}

func (s *service) Typo(ctx context.Context, _ *authtestv1.TypoRequest) (*authtestv1.TypoResponse, error) {
	return &authtestv1.TypoResponse{Caller: caller(ctx)}, nil
}

func (s *service) OwnServerStream(req *authtestv1.OwnServerStreamRequest, stream grpc.ServerStreamingServer[authtestv1.OwnServerStreamResponse]) error {
	s.handled <- struct{}{}
	for range req.GetCount() {
		if err := stream.Send(&authtestv1.OwnServerStreamResponse{Caller: caller(stream.Context())}); err != nil {
			return err
		}
	}
	return nil
}

func (s *service) OwnClientStream(stream grpc.ClientStreamingServer[authtestv1.OwnClientStreamRequest, authtestv1.OwnClientStreamResponse]) error {
	var n int32
	for {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&authtestv1.OwnClientStreamResponse{Caller: caller(stream.Context()), Received: n})
		}
		if err != nil {
			return err
		}
		s.handled <- struct{}{}
		n++
	}
}

// OwnBidiStream answers every message. After a Recv error it still tries
// to answer, as a careless handler might: the refusal must stand.
func (s *service) OwnBidiStream(stream grpc.BidiStreamingServer[authtestv1.OwnBidiStreamRequest, authtestv1.OwnBidiStreamResponse]) error {
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if stream.Send(&authtestv1.OwnBidiStreamResponse{Caller: caller(stream.Context())}) == nil {
				return errors.New("conditiontest: Send succeeded after a refused message")
			}
			return nil // swallow the error: the interceptor must still refuse
		}
		s.handled <- struct{}{}
		if err := stream.Send(&authtestv1.OwnBidiStreamResponse{Caller: caller(stream.Context())}); err != nil {
			return err
		}
	}
}

func (s *service) StepUpStream(stream grpc.BidiStreamingServer[authtestv1.StepUpStreamRequest, authtestv1.StepUpStreamResponse]) error {
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := stream.Send(&authtestv1.StepUpStreamResponse{Caller: caller(stream.Context())}); err != nil {
			return err
		}
	}
}

// failAfter bounds how long Await waits for an event that should come: a
// failure bound, not a timing threshold (no test passes or fails by how
// soon the event comes).
const failAfter = 30 * time.Second

// Await returns the next value received from ch, or stops the test,
// naming what did not come, when none comes within failAfter, instead of
// hanging until go test's timeout. Call it on the test's goroutine.
func Await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	bound := time.NewTimer(failAfter)
	defer bound.Stop()
	select {
	case v := <-ch:
		return v
	case <-bound.C:
		t.Fatalf("%s (waited %v)", what, failAfter)
		panic("unreachable")
	}
}
