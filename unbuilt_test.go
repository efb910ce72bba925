package grpcauth

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// unbuiltAuthenticators are the Authenticators New did not build: a nil
// pointer (a variable whose New error went unchecked) and a zero value.
func unbuiltAuthenticators() []struct {
	name string
	a    *Authenticator
} {
	var zero Authenticator
	return []struct {
		name string
		a    *Authenticator
	}{{"nil pointer", nil}, {"new(Authenticator)", new(Authenticator)}, {"zero variable", &zero}}
}

// notBuiltRecords captures slog.Default()'s records of an Authenticator New
// did not build (logNotBuilt), by the entry point that logged them.
type notBuiltRecords struct {
	mu      sync.Mutex
	entries []string
}

func (h *notBuiltRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h *notBuiltRecords) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *notBuiltRecords) WithGroup(string) slog.Handler            { return h }
func (h *notBuiltRecords) Handle(_ context.Context, r slog.Record) error {
	if r.Level != slog.LevelError || !strings.HasPrefix(r.Message, "grpcauth: the Authenticator was not built with New") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "entry" {
			h.mu.Lock()
			h.entries = append(h.entries, a.Value.String())
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *notBuiltRecords) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.entries
	h.entries = nil
	return e
}

// captureNotBuilt makes slog.Default() record logNotBuilt's records until
// the test ends, and forgets which entry points logged already.
func captureNotBuilt(t *testing.T) *notBuiltRecords {
	h := &notBuiltRecords{}
	prev := slog.Default()
	slog.SetDefault(slog.New(h))
	forget := func() {
		for i := range notBuiltLogged {
			notBuiltLogged[i].Forget()
		}
	}
	forget()
	t.Cleanup(func() {
		slog.SetDefault(prev)
		forget()
	})
	return h
}

// checkInternalRefusal asserts err is the fixed refusal of an
// Authenticator New did not build.
func checkInternalRefusal(t *testing.T, err error) {
	t.Helper()
	checkStatus(t, err, codes.Internal, ReasonInternalError)
	if msg := status.Convert(err).Message(); msg != "grpcauth: internal error" {
		t.Fatalf("message = %q, want the fixed %q", msg, "grpcauth: internal error")
	}
}

// TestUnbuiltAuthenticator_EveryEntryPointFailsClosedWithoutPanic calls
// every exported method of an Authenticator New did not build (nil, or a
// zero value): the interceptors through a real loopback gRPC server, with
// and without a token, whose handlers must never run; ServeCall, unary and
// streaming, whose serve must never run; Check and Requirement, which
// return the error. Before, each call panicked, and grpc-go does not
// recover an interceptor's panic: the server process crashed.
func TestUnbuiltAuthenticator_EveryEntryPointFailsClosedWithoutPanic(t *testing.T) {
	for _, u := range unbuiltAuthenticators() {
		t.Run(u.name, func(t *testing.T) {
			logged := captureNotBuilt(t)
			a := u.a
			svc := &testService{}
			_, addr := serve(t, svc, grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()),
				grpc.ChainStreamInterceptor(a.StreamServerInterceptor()))
			if got, want := logged.take(), []string{"UnaryServerInterceptor", "StreamServerInterceptor"}; !slices.Equal(got, want) {
				t.Errorf("records when the interceptors are built: %q, want %q", got, want)
			}
			client := authtestv1.NewTestServiceClient(dial(t, addr, insecure.NewCredentials()))
			for _, md := range []struct {
				name string
				ctx  func(context.Context) context.Context
			}{
				{"without a token", func(ctx context.Context) context.Context { return ctx }},
				{"with a token", func(ctx context.Context) context.Context { return withAuth(ctx, bearer("x.y.z")) }},
			} {
				t.Run("unary interceptor "+md.name, func(t *testing.T) {
					for _, call := range []func(ctx context.Context) error{
						func(ctx context.Context) error {
							_, err := client.AllOf(ctx, &authtestv1.AllOfRequest{})
							return err
						},
						func(ctx context.Context) error {
							_, err := client.Public(ctx, &authtestv1.PublicRequest{}) // public under a built Authenticator
							return err
						},
					} {
						checkInternalRefusal(t, call(md.ctx(bounded(t))))
					}
				})
				t.Run("stream interceptor "+md.name, func(t *testing.T) {
					stream, err := client.ServerStream(md.ctx(bounded(t)), &authtestv1.ServerStreamRequest{})
					if err == nil {
						_, err = stream.Recv()
					}
					checkInternalRefusal(t, err)
				})
			}
			t.Run("ServeCall", func(t *testing.T) {
				for _, stream := range []bool{false, true} {
					for range 3 {
						err := a.ServeCall(bounded(t), mAllOf, stream, &authtestv1.AllOfRequest{}, func(context.Context, *Guard) error {
							t.Fatal("serve ran on an Authenticator New did not build")
							return nil
						})
						checkInternalRefusal(t, err)
					}
				}
				checkInternalRefusal(t, a.ServeCall(bounded(t), mAllOf, false, nil, nil))
				if got, want := logged.take(), []string{"ServeCall"}; !slices.Equal(got, want) {
					t.Errorf("records after 7 ServeCalls: %q, want %q (once, not per call)", got, want)
				}
			})
			t.Run("Check", func(t *testing.T) {
				srv := grpc.NewServer()
				authtestv1.RegisterTestServiceServer(srv, svc)
				for _, s := range []ServiceInfoProvider{srv, nil} {
					if err := a.Check(s); !errors.Is(err, errNotBuilt) {
						t.Errorf("Check(%T) = %v, want %v", s, err, errNotBuilt)
					}
				}
			})
			t.Run("Requirement", func(t *testing.T) {
				req, err := a.Requirement(mAllOf)
				if !errors.Is(err, errNotBuilt) || errors.Is(err, ErrNoRule) || errors.Is(err, ErrInvalidRule) {
					t.Errorf("Requirement error = %v, want %v alone", err, errNotBuilt)
				}
				if req.Method != mAllOf || !req.Denied || req.Public || req.Source != SourceNone || req.Alternatives() != nil {
					t.Errorf("Requirement = %+v, want Method and Denied alone", req)
				}
			})
			if got := logged.take(); len(got) != 0 {
				t.Errorf("records per call: %q, want none", got)
			}
		})
	}
}

// TestUnbuiltAuthenticator_InterceptorsBuiltPerCallLogOnce: a server that
// builds the interceptors on every call, to use whichever Authenticator an
// atomic.Pointer holds at the time (one swapped on reload, say), and finds
// none there (a nil *Authenticator, New's error unchecked) refuses every
// call and logs one record per entry point in the process, as ServeCall
// does, not one per call, which any caller could multiply. Before, each
// call logged a record.
func TestUnbuiltAuthenticator_InterceptorsBuiltPerCallLogOnce(t *testing.T) {
	logged := captureNotBuilt(t)
	var current atomic.Pointer[Authenticator] // never stored: nil
	_, addr := serve(t, &testService{},
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return current.Load().UnaryServerInterceptor()(ctx, req, info, h)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return current.Load().StreamServerInterceptor()(srv, ss, info, h)
		}))
	client := authtestv1.NewTestServiceClient(dial(t, addr, insecure.NewCredentials()))
	for range 5 {
		_, err := client.AllOf(bounded(t), &authtestv1.AllOfRequest{})
		checkInternalRefusal(t, err)
		stream, err := client.ServerStream(bounded(t), &authtestv1.ServerStreamRequest{})
		if err == nil {
			_, err = stream.Recv()
		}
		checkInternalRefusal(t, err)
	}
	if got, want := logged.take(), []string{"UnaryServerInterceptor", "StreamServerInterceptor"}; !slices.Equal(got, want) {
		t.Errorf("records after 5 unary calls and 5 streams: %q, want %q (once each, not per call)", got, want)
	}
}
