package connectauth_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// revoking is a grpcauth.Revalidator that accepts a token as the verifier
// it wraps does when the stream opens, and refuses it (revoked) on the
// re-verification, once release is closed.
type revoking struct {
	grpcauth.TokenVerifier
	calls   atomic.Int32
	release chan struct{}
}

func (r *revoking) VerifyAccessToken(ctx context.Context, token string) (verifier.Claims, error) {
	if r.calls.Add(1) == 1 {
		return r.TokenVerifier.VerifyAccessToken(ctx, token)
	}
	select {
	case <-r.release:
		return verifier.Claims{}, errors.New("test: revoked")
	case <-ctx.Done():
		return verifier.Claims{}, ctx.Err()
	}
}

// RevalidateAt asks for the re-verification at once (grpcauth waits
// MinRevalidateInterval).
func (r *revoking) RevalidateAt(string, verifier.Claims) time.Time { return time.Now() }

// receiving is a connect.Interceptor, installed outside the Authenticator's,
// whose streams signal entered each time a Receive reaches the transport.
type receiving struct{ entered chan struct{} }

func (receiving) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc { return next }
func (receiving) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (r receiving) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, &signallingConn{conn, r.entered})
	}
}

type signallingConn struct {
	connect.StreamingHandlerConn
	entered chan struct{}
}

func (c *signallingConn) Receive(m any) error {
	c.entered <- struct{}{}
	return c.StreamingHandlerConn.Receive(m)
}

// A client stream whose token is refused while the handler waits in
// Receive, and which the client then closes, ends in the handler with the
// cut, as behind grpc-go: the handler must not take the cut stream's close
// for a complete upload.
func TestConnect_CloseAfterTheCutIsTheCutInTheHandler(t *testing.T) {
	f := newFixture(t)
	v := &revoking{TokenVerifier: issuerVerifier(t, f.iss), release: make(chan struct{})}
	cut := make(chan grpcauth.Decision, 1)
	auth, err := grpcauth.New(grpcauth.Config{Verifier: v, Logger: slog.New(slog.DiscardHandler), OnDecision: func(_ context.Context, d grpcauth.Decision) {
		if !d.Allowed {
			cut <- d
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	rec := receiving{entered: make(chan struct{}, 2)}
	saw := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("/authtest.v1.TestService/ClientStream", connect.NewClientStreamHandler("/authtest.v1.TestService/ClientStream",
		func(_ context.Context, s *connect.ClientStream[authtestv1.ClientStreamRequest]) (*connect.Response[authtestv1.ClientStreamResponse], error) {
			for s.Receive() {
			}
			saw <- s.Err()
			return connect.NewResponse(&authtestv1.ClientStreamResponse{}), nil // an upload taken as complete
		}, connect.WithSchema(method("TestService", "ClientStream")), connect.WithInterceptors(rec, connectauth.NewInterceptor(auth))))
	srv := serveTLS(t, connectauth.WrapHandler(mux))

	stream := connect.NewClient[authtestv1.ClientStreamRequest, authtestv1.ClientStreamResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/ClientStream").CallClientStream(t.Context())
	stream.RequestHeader().Set("Authorization", "Bearer "+f.token(t, "test:write"))
	if err := stream.Send(&authtestv1.ClientStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	<-rec.entered // the first Receive
	<-rec.entered // the second, waiting for a message the client does not send
	close(v.release)
	if d := <-cut; d.Reason != grpcauth.ReasonTokenRevoked {
		t.Fatalf("cut %+v, want %s", d, grpcauth.ReasonTokenRevoked)
	}
	_, err = stream.CloseAndReceive()
	if got := connectOutcome(err); got.reason != grpcauth.ReasonTokenRevoked {
		t.Errorf("caller got %v %q, want %s", got.code, got.reason, grpcauth.ReasonTokenRevoked)
	}
	if err := <-saw; connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("the handler's Receive after the cut ended with %v, want the cut (Unauthenticated)", err)
	}
}
