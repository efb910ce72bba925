package connectauth_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/celcond"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// conditionServer serves ConditionService's Own (a condition on the
// request: the item's owner is the caller, or the caller has test:admin)
// and OwnClientStream (the same on every message) behind the Interceptor,
// with CEL conditions compiled by celcond.
func conditionServer(t *testing.T) (*grpcauthtest.Issuer, string, *http.Client) {
	t.Helper()
	iss, auth := conditionAuth(t)
	opts := func(name string) []connect.HandlerOption { return conditionOptions(auth, name) }
	mux := http.NewServeMux()
	mux.Handle("/authtest.v1.ConditionService/Own", connect.NewUnaryHandler("/authtest.v1.ConditionService/Own",
		func(ctx context.Context, _ *connect.Request[authtestv1.OwnRequest]) (*connect.Response[authtestv1.OwnResponse], error) {
			return connect.NewResponse(&authtestv1.OwnResponse{Caller: caller(ctx)}), nil
		}, opts("Own")...))
	mux.Handle("/authtest.v1.ConditionService/OwnClientStream", connect.NewClientStreamHandler("/authtest.v1.ConditionService/OwnClientStream",
		func(ctx context.Context, s *connect.ClientStream[authtestv1.OwnClientStreamRequest]) (*connect.Response[authtestv1.OwnClientStreamResponse], error) {
			n := int32(0)
			for s.Receive() {
				n++
			}
			if err := s.Err(); err != nil {
				return nil, err
			}
			return connect.NewResponse(&authtestv1.OwnClientStreamResponse{Caller: caller(ctx), Received: n}), nil
		}, opts("OwnClientStream")...))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	return iss, srv.URL, srv.Client()
}

// conditionAuth returns an issuer and an Authenticator verifying its
// tokens, with CEL conditions compiled by celcond.
// aliceWriter mints a token of iss for alice with test:write, the caller
// the condition tests use.
func aliceWriter(t *testing.T, iss *grpcauthtest.Issuer) string {
	t.Helper()
	tok, err := iss.Mint(map[string]any{"sub": "alice"}, grpcauthtest.WithScopes("test:write"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func conditionAuth(t *testing.T) (*grpcauthtest.Issuer, *grpcauth.Authenticator) {
	t.Helper()
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	cel, err := celcond.New(celcond.Config{})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := grpcauth.New(grpcauth.Config{Verifier: issuerVerifier(t, iss), Conditions: cel, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return iss, auth
}

// conditionOptions are the handler options of ConditionService's method
// name behind auth's Interceptor.
func conditionOptions(auth *grpcauth.Authenticator, name string) []connect.HandlerOption {
	return []connect.HandlerOption{connect.WithSchema(method("ConditionService", name)), connect.WithInterceptors(connectauth.NewInterceptor(auth))}
}

// A message the condition refuses does not stay behind in the handler's
// connect.ClientStream: after Receive reports false, Msg is not the
// refused message, as it never reaches a grpc-go handler either.
func TestConnect_RefusedMessageIsNotLeftInTheClientStream(t *testing.T) {
	iss, auth := conditionAuth(t)
	last := make(chan *authtestv1.OwnClientStreamRequest, 1)
	const path = "/authtest.v1.ConditionService/OwnClientStream"
	mux := http.NewServeMux()
	mux.Handle(path, connect.NewClientStreamHandler(path,
		func(_ context.Context, s *connect.ClientStream[authtestv1.OwnClientStreamRequest]) (*connect.Response[authtestv1.OwnClientStreamResponse], error) {
			for s.Receive() {
			}
			last <- s.Msg()
			return nil, s.Err()
		}, conditionOptions(auth, "OwnClientStream")...))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	tok := aliceWriter(t, iss)
	stream := connect.NewClient[authtestv1.OwnClientStreamRequest, authtestv1.OwnClientStreamResponse](srv.Client(), srv.URL+path).CallClientStream(t.Context())
	stream.RequestHeader().Set("Authorization", "Bearer "+tok)
	for _, o := range []string{"alice", "bob"} {
		if err := stream.Send(&authtestv1.OwnClientStreamRequest{Owner: o}); err != nil {
			break
		}
	}
	_, err := stream.CloseAndReceive()
	if got := connectOutcome(err); got != (outcome{codes.PermissionDenied, grpcauth.ReasonConditionFailed}) {
		t.Fatalf("got %v %q, want %s", got.code, got.reason, grpcauth.ReasonConditionFailed)
	}
	if m := <-last; m.GetOwner() == "bob" {
		t.Error("the handler's Msg is the refused message")
	}
}

func TestConnect_ConditionOnTheRequest(t *testing.T) {
	iss, url, hc := conditionServer(t)
	tok := aliceWriter(t, iss)
	tests := []struct {
		owner  string
		want   codes.Code
		reason string
	}{
		{"alice", codes.OK, ""},
		{"bob", codes.PermissionDenied, grpcauth.ReasonConditionFailed},
	}
	for _, tc := range tests {
		for pname, popts := range protocols {
			t.Run(tc.owner+"/"+pname, func(t *testing.T) {
				req := connect.NewRequest(&authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: tc.owner}})
				req.Header().Set("Authorization", "Bearer "+tok)
				_, err := connect.NewClient[authtestv1.OwnRequest, authtestv1.OwnResponse](hc, url+"/authtest.v1.ConditionService/Own", popts...).CallUnary(t.Context(), req)
				if got := connectOutcome(err); got != (outcome{tc.want, tc.reason}) {
					t.Fatalf("got %v %q, want %v %q", got.code, got.reason, tc.want, tc.reason)
				}
			})
		}
	}
}

func TestConnect_ConditionOnEveryStreamMessage(t *testing.T) {
	iss, url, hc := conditionServer(t)
	tok := aliceWriter(t, iss)
	tests := []struct {
		name   string
		owners []string
		want   codes.Code
		reason string
	}{
		{"every message passes", []string{"alice", "alice"}, codes.OK, ""},
		{"the second message fails", []string{"alice", "bob", "alice"}, codes.PermissionDenied, grpcauth.ReasonConditionFailed},
	}
	for _, tc := range tests {
		for _, pname := range []string{"connect", "grpc"} { // gRPC-Web has no client streams
			t.Run(tc.name+"/"+pname, func(t *testing.T) {
				stream := connect.NewClient[authtestv1.OwnClientStreamRequest, authtestv1.OwnClientStreamResponse](hc, url+"/authtest.v1.ConditionService/OwnClientStream", protocols[pname]...).CallClientStream(t.Context())
				stream.RequestHeader().Set("Authorization", "Bearer "+tok)
				for _, o := range tc.owners {
					if err := stream.Send(&authtestv1.OwnClientStreamRequest{Owner: o}); err != nil {
						break // the server ended the stream; CloseAndReceive has the status
					}
				}
				res, err := stream.CloseAndReceive()
				if got := connectOutcome(err); got != (outcome{tc.want, tc.reason}) {
					t.Fatalf("got %v %q, want %v %q", got.code, got.reason, tc.want, tc.reason)
				}
				if tc.want == codes.OK && res.Msg.GetReceived() != int32(len(tc.owners)) {
					t.Fatalf("handler received %d messages, want %d", res.Msg.GetReceived(), len(tc.owners))
				}
			})
		}
	}
}

// The response metadata a connect-go handler sets on its client stream
// before a received message fails the condition reaches the caller with
// the refusal, and what it sets after does not, on the stream nor on a
// response it returns anyway (which connect-go merges into the stream's
// metadata): as behind grpc-go, a refused stream cannot go on talking to
// its caller.
func TestConnect_MetadataAfterARefusedMessageDoesNotReachTheCaller(t *testing.T) {
	iss, auth := conditionAuth(t)
	const path = "/authtest.v1.ConditionService/OwnClientStream"
	mux := http.NewServeMux()
	mux.Handle(path, connect.NewClientStreamHandler(path,
		func(ctx context.Context, s *connect.ClientStream[authtestv1.OwnClientStreamRequest]) (*connect.Response[authtestv1.OwnClientStreamResponse], error) {
			s.Conn().ResponseHeader().Set("Before", "1")
			s.Conn().ResponseTrailer().Set("Before-Trailer", "1")
			_ = grpc.SetTrailer(ctx, metadata.Pairs("before-grpc", "1"))
			for s.Receive() {
			}
			s.Conn().ResponseHeader().Set("After", "1")
			s.Conn().ResponseTrailer().Set("After-Trailer", "1")
			_ = grpc.SetHeader(ctx, metadata.Pairs("after-grpc", "1"))
			_ = grpc.SetTrailer(ctx, metadata.Pairs("after-grpc-trailer", "1"))
			res := connect.NewResponse(&authtestv1.OwnClientStreamResponse{})
			res.Header().Set("After-Response", "1")
			res.Trailer().Set("After-Response-Trailer", "1")
			return res, nil // a handler that takes the refusal for a normal end
		}, conditionOptions(auth, "OwnClientStream")...))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	tok := aliceWriter(t, iss)
	for _, pname := range []string{"connect", "grpc"} { // gRPC-Web has no client streams
		t.Run(pname, func(t *testing.T) {
			stream := connect.NewClient[authtestv1.OwnClientStreamRequest, authtestv1.OwnClientStreamResponse](srv.Client(), srv.URL+path, protocols[pname]...).CallClientStream(t.Context())
			stream.RequestHeader().Set("Authorization", "Bearer "+tok)
			for _, o := range []string{"alice", "bob"} {
				if err := stream.Send(&authtestv1.OwnClientStreamRequest{Owner: o}); err != nil {
					break // the server ended the stream; CloseAndReceive has the status
				}
			}
			_, err := stream.CloseAndReceive()
			if got := connectOutcome(err); got != (outcome{codes.PermissionDenied, grpcauth.ReasonConditionFailed}) {
				t.Fatalf("got %v %q, want %s", got.code, got.reason, grpcauth.ReasonConditionFailed)
			}
			if saw := sawKeys(err, nil, nil, "Before", "Before-Trailer", "Before-Grpc"); len(saw) != 3 {
				t.Errorf("of the metadata set before the refusal, the caller saw only %q", saw)
			}
			if saw := sawKeys(err, nil, nil, "After", "After-Trailer", "After-Response", "After-Response-Trailer", "After-Grpc", "After-Grpc-Trailer"); len(saw) != 0 {
				t.Errorf("the metadata set after the refusal reached the caller: %q", saw)
			}
		})
	}
}

// A unary call whose request fails the condition never reaches the
// handler, in every protocol: nothing the handler would set (response
// headers and trailers, on the call or on its response) can reach the
// caller.
func TestConnect_UnaryRequestThatFailsTheConditionNeverRunsTheHandler(t *testing.T) {
	iss, auth := conditionAuth(t)
	var ran atomic.Int32
	const path = "/authtest.v1.ConditionService/Own"
	mux := http.NewServeMux()
	mux.Handle(path, connect.NewUnaryHandler(path,
		func(ctx context.Context, _ *connect.Request[authtestv1.OwnRequest]) (*connect.Response[authtestv1.OwnResponse], error) {
			ran.Add(1)
			if ci, ok := connect.CallInfoForHandlerContext(ctx); ok {
				ci.ResponseHeader().Set("Handler", "1")
				ci.ResponseTrailer().Set("Handler-Trailer", "1")
			}
			res := connect.NewResponse(&authtestv1.OwnResponse{})
			res.Header().Set("Handler-Response", "1")
			return res, nil
		}, conditionOptions(auth, "Own")...))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	tok := aliceWriter(t, iss)
	for pname, popts := range protocols {
		t.Run(pname, func(t *testing.T) {
			req := connect.NewRequest(&authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "bob"}})
			req.Header().Set("Authorization", "Bearer "+tok)
			_, err := connect.NewClient[authtestv1.OwnRequest, authtestv1.OwnResponse](srv.Client(), srv.URL+path, popts...).CallUnary(t.Context(), req)
			if got := connectOutcome(err); got != (outcome{codes.PermissionDenied, grpcauth.ReasonConditionFailed}) {
				t.Fatalf("got %v %q, want %s", got.code, got.reason, grpcauth.ReasonConditionFailed)
			}
			if saw := sawKeys(err, nil, nil, "Handler", "Handler-Trailer", "Handler-Response"); len(saw) != 0 {
				t.Errorf("the handler's metadata reached the caller: %q", saw)
			}
			if n := ran.Load(); n != 0 {
				t.Errorf("the handler ran %d times", n)
			}
		})
	}
	// The same handler does run, and its metadata does reach the caller,
	// for a request that passes: the checks above can fail.
	req := connect.NewRequest(&authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "alice"}})
	req.Header().Set("Authorization", "Bearer "+tok)
	res, err := connect.NewClient[authtestv1.OwnRequest, authtestv1.OwnResponse](srv.Client(), srv.URL+path).CallUnary(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if saw := sawKeys(nil, res.Header(), res.Trailer(), "Handler", "Handler-Trailer", "Handler-Response"); len(saw) != 3 || ran.Load() != 1 {
		t.Errorf("a passing request: handler ran %d times, caller saw %q", ran.Load(), saw)
	}
}

// On a bidi stream whose handler already sent a message (and with it the
// response headers), the trailers it sets before a received message fails
// the condition reach the caller with the refusal, and what it sets after
// does not, through the stream nor through grpc.SetTrailer on its context.
func TestConnect_BidiTrailersAfterARefusedMessageDoNotReachTheCaller(t *testing.T) {
	iss, auth := conditionAuth(t)
	const path = "/authtest.v1.ConditionService/OwnBidiStream"
	mux := http.NewServeMux()
	mux.Handle(path, connect.NewBidiStreamHandler(path,
		func(ctx context.Context, s *connect.BidiStream[authtestv1.OwnBidiStreamRequest, authtestv1.OwnBidiStreamResponse]) error {
			s.ResponseHeader().Set("Before", "1")
			for {
				if _, err := s.Receive(); err != nil {
					break
				}
				s.ResponseTrailer().Set("Before-Trailer", "1")
				if err := s.Send(&authtestv1.OwnBidiStreamResponse{}); err != nil {
					break
				}
			}
			s.ResponseTrailer().Set("After-Trailer", "1")
			_ = grpc.SetTrailer(ctx, metadata.Pairs("after-grpc-trailer", "1"))
			return nil // a handler that takes the refusal for a normal end
		}, conditionOptions(auth, "OwnBidiStream")...))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	tok := aliceWriter(t, iss)
	for _, pname := range []string{"connect", "grpc"} { // gRPC-Web has no bidi streams
		t.Run(pname, func(t *testing.T) {
			stream := connect.NewClient[authtestv1.OwnBidiStreamRequest, authtestv1.OwnBidiStreamResponse](srv.Client(), srv.URL+path, protocols[pname]...).CallBidiStream(t.Context())
			stream.RequestHeader().Set("Authorization", "Bearer "+tok)
			if err := stream.Send(&authtestv1.OwnBidiStreamRequest{Owner: "alice"}); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Receive(); err != nil {
				t.Fatal(err) // the headers went out with this message
			}
			_ = stream.Send(&authtestv1.OwnBidiStreamRequest{Owner: "bob"})
			_ = stream.CloseRequest()
			_, err := stream.Receive()
			if got := connectOutcome(err); got != (outcome{codes.PermissionDenied, grpcauth.ReasonConditionFailed}) {
				t.Fatalf("got %v %q, want %s", got.code, got.reason, grpcauth.ReasonConditionFailed)
			}
			if saw := sawKeys(err, stream.ResponseHeader(), stream.ResponseTrailer(), "Before", "Before-Trailer"); len(saw) != 2 {
				t.Errorf("of the metadata set before the refusal, the caller saw only %q", saw)
			}
			if saw := sawKeys(err, stream.ResponseHeader(), stream.ResponseTrailer(), "After-Trailer", "After-Grpc-Trailer"); len(saw) != 0 {
				t.Errorf("the metadata set after the refusal reached the caller: %q", saw)
			}
			_ = stream.CloseResponse()
		})
	}
}

// Trailers a client-stream handler set with grpc.SetTrailer before a
// received message failed the condition go with the refusal, but in the
// gRPC protocol, whose trailers are HTTP trailers, not those net/http
// forbids there (Cache-Control, If-*, Authorization): net/http would drop
// them and log "ignoring invalid trailer" for each, on every call.
func TestConnect_RefusalInGRPCLeavesOutTrailersNetHTTPForbids(t *testing.T) {
	iss, auth := conditionAuth(t)
	const path = "/authtest.v1.ConditionService/OwnClientStream"
	h := connect.NewClientStreamHandler(path,
		func(ctx context.Context, s *connect.ClientStream[authtestv1.OwnClientStreamRequest]) (*connect.Response[authtestv1.OwnClientStreamResponse], error) {
			_ = grpc.SetTrailer(ctx, metadata.Pairs("cache-control", "no-store", "if-match", "x", "before-grpc", "1"))
			for s.Receive() {
			}
			return nil, s.Err()
		}, conditionOptions(auth, "OwnClientStream")...)
	srv, errorLog := loggedTLSServer(t, connectauth.WrapHandler(h))
	tok := aliceWriter(t, iss)
	stream := connect.NewClient[authtestv1.OwnClientStreamRequest, authtestv1.OwnClientStreamResponse](srv.Client(), srv.URL+path, protocols["grpc"]...).CallClientStream(t.Context())
	stream.RequestHeader().Set("Authorization", "Bearer "+tok)
	for _, o := range []string{"alice", "bob"} {
		if err := stream.Send(&authtestv1.OwnClientStreamRequest{Owner: o}); err != nil {
			break // the server ended the stream; CloseAndReceive has the status
		}
	}
	_, err := stream.CloseAndReceive()
	if got := connectOutcome(err); got != (outcome{codes.PermissionDenied, grpcauth.ReasonConditionFailed}) {
		t.Fatalf("got %v %q, want %s", got.code, got.reason, grpcauth.ReasonConditionFailed)
	}
	if saw := sawKeys(err, nil, nil, "Before-Grpc"); len(saw) != 1 {
		t.Errorf("the handler's trailer did not come with the refusal")
	}
	if s := errorLog.String(); s != "" {
		t.Errorf("the server logged %q", s)
	}
}
