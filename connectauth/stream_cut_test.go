package connectauth_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
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

// recording is a grpcauth.Revalidator that passes the stream's opening
// verification to the verifier it wraps, and sends every later token it is
// asked to verify (the re-verifications') on tokens.
type recording struct {
	grpcauth.TokenVerifier
	calls  atomic.Int32
	tokens chan string
}

func (r *recording) VerifyAccessToken(ctx context.Context, token string) (verifier.Claims, error) {
	if r.calls.Add(1) > 1 {
		select {
		case r.tokens <- token:
		default:
		}
	}
	return r.TokenVerifier.VerifyAccessToken(ctx, token)
}

func (r *recording) RevalidateAt(string, verifier.Claims) time.Time { return time.Now() }

// The request's header values are the metadata's, shared: a handler that
// rewrites its Authorization value in place must not change which token
// the stream is re-verified with (found in review; it also raced with the
// re-verification's read). The stream's own token is re-verified.
func TestConnect_StreamIsReverifiedWithTheTokenItOpenedWith(t *testing.T) {
	f := newFixture(t)
	v := &recording{TokenVerifier: issuerVerifier(t, f.iss), tokens: make(chan string, 1)}
	auth, err := grpcauth.New(grpcauth.Config{Verifier: v, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/authtest.v1.TestService/ClientStream", connect.NewClientStreamHandler("/authtest.v1.TestService/ClientStream",
		func(_ context.Context, s *connect.ClientStream[authtestv1.ClientStreamRequest]) (*connect.Response[authtestv1.ClientStreamResponse], error) {
			if vals := s.RequestHeader()["Authorization"]; len(vals) == 1 {
				vals[0] = "Bearer rewritten-by-the-handler"
			}
			for s.Receive() {
			}
			return connect.NewResponse(&authtestv1.ClientStreamResponse{}), nil
		}, connect.WithSchema(method("TestService", "ClientStream")), connect.WithInterceptors(connectauth.NewInterceptor(auth))))
	srv := serveTLS(t, connectauth.WrapHandler(mux))

	token := f.token(t, "test:write")
	stream := connect.NewClient[authtestv1.ClientStreamRequest, authtestv1.ClientStreamResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/ClientStream").CallClientStream(t.Context())
	stream.RequestHeader().Set("Authorization", "Bearer "+token)
	if err := stream.Send(&authtestv1.ClientStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := <-v.tokens; got != token {
		t.Errorf("the stream was re-verified with %q, want the token it opened with", got)
	}
	if _, err := stream.CloseAndReceive(); err != nil {
		t.Errorf("stream: %v", err)
	}
}

// A stream opened with a JWT whose signing key the issuer then withdraws
// (a compromised key) is cut at its next re-verification once the
// verifier's key set has dropped the key, in every protocol: the caller
// gets Unauthenticated (ACCESS_TOKEN_REVOKED), and the handler's Send
// fails from then on. The key set is refreshed and the token re-verified
// every second (MinRevalidateInterval), on real timers. The cut carries
// RFC 6750's invalid_token challenge in the stream's trailers, as the same
// refusal at the stream's start does, so that a client that refreshes its
// token on error="invalid_token" knows to; in the gRPC protocol it is left
// out, as from every refusal there (net/http drops WWW-Authenticate from
// HTTP/2 trailers).
func TestConnect_StreamWhoseJWTKeyIsWithdrawnIsCut(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()},
		RefreshInterval: 500 * time.Millisecond, MinRefreshInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	auth, err := grpcauth.New(grpcauth.Config{Verifier: v, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	const procedure = "/authtest.v1.TestService/ServerStream"
	sendAfterCut := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle(procedure, connect.NewServerStreamHandler(procedure,
		func(ctx context.Context, _ *connect.Request[authtestv1.ServerStreamRequest], ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
			if err := ss.Send(&authtestv1.ServerStreamResponse{}); err != nil {
				return err
			}
			<-ctx.Done()
			sendAfterCut <- ss.Send(&authtestv1.ServerStreamResponse{})
			return nil // a handler that takes the cut for a normal end
		}, connect.WithSchema(method("TestService", "ServerStream")), connect.WithInterceptors(connectauth.NewInterceptor(auth))))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	for pname, opts := range protocols {
		t.Run(pname, func(t *testing.T) {
			tok, err := iss.Token(grpcauthtest.DefaultClientID, "test:read", "test:stream")
			if err != nil {
				t.Fatal(err)
			}
			req := connect.NewRequest(&authtestv1.ServerStreamRequest{})
			req.Header().Set("Authorization", "Bearer "+tok)
			stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+procedure, opts...).CallServerStream(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			if !stream.Receive() {
				t.Fatalf("no first message: %v", stream.Err())
			}
			old := iss.KeyID()
			if _, err := iss.RotateKey(); err != nil {
				t.Fatal(err)
			}
			iss.RemoveKey(old)
			if stream.Receive() {
				t.Fatal("a message after the cut")
			}
			if got := connectOutcome(stream.Err()); got != (outcome{codes.Unauthenticated, grpcauth.ReasonTokenRevoked}) {
				t.Errorf("caller got %v %q, want Unauthenticated %s", got.code, got.reason, grpcauth.ReasonTokenRevoked)
			}
			if err := <-sendAfterCut; connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Errorf("the handler's Send after the cut: %v, want the cut (unauthenticated)", err)
			}
			var want []string
			if pname != "grpc" {
				want = []string{`Bearer error="invalid_token", error_description="access token no longer valid; stream ended"`}
			}
			if got := stream.ResponseTrailer().Values("WWW-Authenticate"); !slices.Equal(got, want) {
				t.Errorf("trailer WWW-Authenticate = %q, want %q", got, want)
			}
		})
	}
}

// sawKeys reports which of keys a connect-go caller saw in a response's
// headers, trailers or error metadata (where connect-go puts the
// metadata of a gRPC-Web trailers-only response, and of an error).
func sawKeys(err error, header, trailer http.Header, keys ...string) []string {
	var ce *connect.Error
	errors.As(err, &ce)
	var saw []string
	for _, k := range keys {
		if header.Get(k) != "" || trailer.Get(k) != "" || (ce != nil && ce.Meta().Get(k) != "") {
			saw = append(saw, k)
		}
	}
	return saw
}

// The response metadata a connect-go handler sets on its stream before the
// token is refused on re-verification reaches the caller with the cut, in
// every protocol, and what it sets after the cut does not: as behind
// grpc-go, a handler that goes on cannot send metadata to a caller whose
// token ended. The headers are not sent before the cut (no message went
// out), so connect-go would still send what the handler adds to them.
func TestConnect_MetadataAfterTheCutDoesNotReachTheCaller(t *testing.T) {
	const procedure = "/authtest.v1.TestService/ServerStream"
	for pname, opts := range protocols {
		t.Run(pname, func(t *testing.T) {
			f := newFixture(t)
			v := &revoking{TokenVerifier: issuerVerifier(t, f.iss), release: make(chan struct{})}
			auth, err := grpcauth.New(grpcauth.Config{Verifier: v, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			ready, done := make(chan struct{}), make(chan struct{})
			var setErr, sendErr, trailerErr error // the handler's, read once done is closed
			mux := http.NewServeMux()
			mux.Handle(procedure, connect.NewServerStreamHandler(procedure,
				func(ctx context.Context, _ *connect.Request[authtestv1.ServerStreamRequest], ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
					defer close(done)
					ss.ResponseHeader().Set("Before", "1")
					ss.ResponseTrailer().Set("Before-Trailer", "1")
					_ = grpc.SetTrailer(ctx, metadata.Pairs("before-grpc", "1"))
					_ = grpc.SetHeader(ctx, metadata.Pairs("before-grpc-header", "1"))
					close(ready)
					<-ctx.Done()
					ss.ResponseHeader().Set("After", "1")
					ss.ResponseTrailer().Set("After-Trailer", "1")
					// Handler code shared with a grpc-go server sets its
					// metadata through the context.
					setErr = grpc.SetHeader(ctx, metadata.Pairs("after-grpc", "1"))
					sendErr = grpc.SendHeader(ctx, metadata.Pairs("after-grpc-sent", "1"))
					trailerErr = grpc.SetTrailer(ctx, metadata.Pairs("after-grpc-trailer", "1"))
					return nil // a handler that takes the cut for a normal end
				}, connect.WithSchema(method("TestService", "ServerStream")), connect.WithInterceptors(connectauth.NewInterceptor(auth))))
			srv := serveTLS(t, connectauth.WrapHandler(mux))

			req := connect.NewRequest(&authtestv1.ServerStreamRequest{})
			req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read", "test:stream"))
			type opened struct {
				stream *connect.ServerStreamForClient[authtestv1.ServerStreamResponse]
				err    error
			}
			open := make(chan opened, 1)
			go func() { // the call returns once the response headers came
				s, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+procedure, opts...).CallServerStream(t.Context(), req)
				open <- opened{s, err}
			}()
			select {
			case <-ready:
			case o := <-open:
				t.Fatalf("the call ended before the handler ran: %v", o.err)
			}
			close(v.release)
			<-done
			for name, err := range map[string]error{"SetHeader": setErr, "SendHeader": sendErr, "SetTrailer": trailerErr} {
				if status.Code(err) != codes.Unauthenticated {
					t.Errorf("after the cut, grpc.%s returned %v, want the cut", name, err)
				}
			}
			o := <-open
			if o.err != nil {
				t.Fatal(o.err)
			}
			stream := o.stream
			defer stream.Close()
			if stream.Receive() {
				t.Fatal("a message after the cut")
			}
			err = stream.Err()
			if got := connectOutcome(err); got != (outcome{codes.Unauthenticated, grpcauth.ReasonTokenRevoked}) {
				t.Fatalf("caller got %v %q, want Unauthenticated %s", got.code, got.reason, grpcauth.ReasonTokenRevoked)
			}
			if saw := sawKeys(err, stream.ResponseHeader(), stream.ResponseTrailer(), "Before", "Before-Trailer", "Before-Grpc", "Before-Grpc-Header"); len(saw) != 4 {
				t.Errorf("of the metadata set before the cut, the caller saw only %q", saw)
			}
			if saw := sawKeys(err, stream.ResponseHeader(), stream.ResponseTrailer(), "After", "After-Trailer", "After-Grpc", "After-Grpc-Sent", "After-Grpc-Trailer"); len(saw) != 0 {
				t.Errorf("the metadata set after the cut reached the caller: %q", saw)
			}
			// The cut's own challenge still goes out (the gRPC protocol
			// carries none, see trailersIn).
			if saw := sawKeys(err, stream.ResponseHeader(), stream.ResponseTrailer(), "WWW-Authenticate"); len(saw) != 1 && pname != "grpc" {
				t.Errorf("the cut carries no challenge")
			}
		})
	}
}

// A stream that is not cut delivers what its handler sets through its
// context, as behind grpc-go (handler code shared with a grpc-go server):
// grpc.SetHeader's metadata with the response headers, before the first
// message, and grpc.SetTrailer's with the trailers, whether the handler
// ends normally or with an error of its own.
func TestConnect_StreamDeliversMetadataSetThroughTheContext(t *testing.T) {
	const procedure = "/authtest.v1.TestService/ServerStream"
	for pname, opts := range protocols {
		for _, handlerErr := range []error{nil, connect.NewError(connect.CodeNotFound, errors.New("no such item"))} {
			t.Run(fmt.Sprintf("%s/%v", pname, handlerErr), func(t *testing.T) {
				f := newFixture(t)
				auth, err := grpcauth.New(grpcauth.Config{Verifier: issuerVerifier(t, f.iss), Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					t.Fatal(err)
				}
				setErrs := make(chan error, 2)
				mux := http.NewServeMux()
				mux.Handle(procedure, connect.NewServerStreamHandler(procedure,
					func(ctx context.Context, _ *connect.Request[authtestv1.ServerStreamRequest], ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
						setErrs <- grpc.SetHeader(ctx, metadata.Pairs("x-from-context", "1"))
						setErrs <- grpc.SetTrailer(ctx, metadata.Pairs("x-trailer-from-context", "1"))
						if err := ss.Send(&authtestv1.ServerStreamResponse{}); err != nil {
							return err
						}
						return handlerErr
					}, connect.WithSchema(method("TestService", "ServerStream")), connect.WithInterceptors(connectauth.NewInterceptor(auth))))
				srv := serveTLS(t, connectauth.WrapHandler(mux))
				req := connect.NewRequest(&authtestv1.ServerStreamRequest{})
				req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read", "test:stream"))
				stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+procedure, opts...).CallServerStream(t.Context(), req)
				if err != nil {
					t.Fatal(err)
				}
				defer stream.Close()
				if !stream.Receive() {
					t.Fatalf("no message: %v", stream.Err())
				}
				if got := stream.ResponseHeader().Get("X-From-Context"); got != "1" {
					t.Errorf("grpc.SetHeader's metadata: %q in the response headers, want it there before the first message", got)
				}
				for stream.Receive() {
				}
				if err := stream.Err(); connect.CodeOf(err) != connect.CodeOf(handlerErr) && (err != nil || handlerErr != nil) {
					t.Fatalf("the stream ended with %v, want the handler's %v", err, handlerErr)
				}
				if saw := sawKeys(stream.Err(), stream.ResponseHeader(), stream.ResponseTrailer(), "X-Trailer-From-Context"); len(saw) != 1 {
					t.Errorf("grpc.SetTrailer's metadata did not reach the caller")
				}
				for range 2 {
					if err := <-setErrs; err != nil {
						t.Errorf("the handler's grpc.SetHeader or SetTrailer returned %v", err)
					}
				}
			})
		}
	}
}

// Response headers go out once: as behind grpc-go, grpc.SetHeader and
// grpc.SendHeader after the first message (which carried the headers) or
// after grpc.SendHeader return an error, rather than succeed and have
// their metadata silently never sent; what was set before still arrives.
func TestConnect_StreamRefusesHeadersSetAfterTheySent(t *testing.T) {
	const procedure = "/authtest.v1.TestService/ServerStream"
	for _, afterSend := range []bool{true, false} {
		t.Run(fmt.Sprintf("afterSend=%v", afterSend), func(t *testing.T) {
			f := newFixture(t)
			auth, err := grpcauth.New(grpcauth.Config{Verifier: issuerVerifier(t, f.iss), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			late := make(chan [2]error, 1)
			mux := http.NewServeMux()
			mux.Handle(procedure, connect.NewServerStreamHandler(procedure,
				func(ctx context.Context, _ *connect.Request[authtestv1.ServerStreamRequest], ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
					if afterSend {
						if err := grpc.SetHeader(ctx, metadata.Pairs("x-early", "1")); err != nil {
							return err
						}
						if err := ss.Send(&authtestv1.ServerStreamResponse{}); err != nil {
							return err
						}
					} else if err := grpc.SendHeader(ctx, metadata.Pairs("x-early", "1")); err != nil {
						return err
					}
					late <- [2]error{grpc.SetHeader(ctx, metadata.Pairs("x-late", "1")), grpc.SendHeader(ctx, metadata.Pairs("x-late", "1"))}
					return ss.Send(&authtestv1.ServerStreamResponse{})
				}, connect.WithSchema(method("TestService", "ServerStream")), connect.WithInterceptors(connectauth.NewInterceptor(auth))))
			srv := serveTLS(t, connectauth.WrapHandler(mux))
			req := connect.NewRequest(&authtestv1.ServerStreamRequest{})
			req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read", "test:stream"))
			stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+procedure).CallServerStream(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			for stream.Receive() {
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("the stream ended with %v", err)
			}
			for i, err := range <-late {
				if err == nil {
					t.Errorf("late header %d: nil error, want a refusal as grpc-go gives once the headers went out", i)
				}
			}
			if got := stream.ResponseHeader().Get("X-Early"); got != "1" {
				t.Errorf("X-Early = %q, want the headers set before they went out", got)
			}
		})
	}
}
