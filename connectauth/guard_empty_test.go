package connectauth_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/grpcauth/grpcauth/connectauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// emptyStreamMux serves, without the interceptor, streams that end
// without a message: a server stream and a bidi stream that set a header
// and a trailer and return nil under /second, a server stream that sets
// nothing under /bare (gRPC-Web's trailers-only answer), and a server
// stream that sets a header and fails with NotFound under /failing; and a
// plain handler under /flushed that answers a gRPC call with a header
// flushed before it sets grpc-status 0 and a trailer.
func emptyStreamMux(f *fixture) *http.ServeMux {
	mux := connectHandlers(f)
	serverStream := func(path string, run func(*connect.ServerStream[authtestv1.ServerStreamResponse]) error) {
		mux.Handle(path, connect.NewServerStreamHandler("/authtest.v1.TestService/ServerStream",
			func(_ context.Context, _ *connect.Request[authtestv1.ServerStreamRequest], ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
				return run(ss)
			}, connect.WithSchema(method("TestService", "ServerStream"))))
	}
	serverStream("/second/authtest.v1.TestService/ServerStream", func(ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
		ss.ResponseHeader().Set("X-Leak", "secret")
		ss.ResponseTrailer().Set("X-Leak-Trailer", "secret")
		return nil
	})
	serverStream("/bare/authtest.v1.TestService/ServerStream", func(*connect.ServerStream[authtestv1.ServerStreamResponse]) error { return nil })
	serverStream("/failing/authtest.v1.TestService/ServerStream", func(ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
		ss.ResponseHeader().Set("X-Handler", "failing")
		return connect.NewError(connect.CodeNotFound, errors.New("no items"))
	})
	mux.Handle("/second/authtest.v1.TestService/BidiStream", connect.NewBidiStreamHandler("/authtest.v1.TestService/BidiStream",
		func(_ context.Context, s *connect.BidiStream[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse]) error {
			s.ResponseHeader().Set("X-Leak", "secret")
			s.ResponseTrailer().Set("X-Leak-Trailer", "secret")
			for {
				if _, err := s.Receive(); err != nil {
					return nil //nolint:nilerr // the client closed its side: end OK
				}
			}
		}, connect.WithSchema(method("TestService", "BidiStream"))))
	mux.HandleFunc("/flushed/authtest.v1.TestService/ServerStream", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("X-Leak", "secret")
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		w.Header().Set(http.TrailerPrefix+"X-Leak-Trailer", "secret")
	})
	return mux
}

// noGzip is a client that does not accept gzip: the answer's envelopes
// are not compressed.
var noGzip = connect.WithAcceptCompression("gzip", nil, nil)

// streamEnd is how a stream that received no message ended: its error,
// and the headers and trailers that reached the client.
func streamEnd(t *testing.T, srv *httptest.Server, path string, bidi bool, opts ...connect.ClientOption) (error, http.Header, http.Header) {
	t.Helper()
	if bidi {
		stream := connect.NewClient[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse](srv.Client(), srv.URL+path, opts...).CallBidiStream(t.Context())
		if err := stream.Send(&authtestv1.BidiStreamRequest{}); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		if err := stream.CloseRequest(); err != nil {
			t.Fatal(err)
		}
		_, err := stream.Receive()
		if err == nil {
			t.Fatal("the caller received a message")
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
		defer stream.CloseResponse()
		return err, stream.ResponseHeader(), stream.ResponseTrailer()
	}
	stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+path, opts...).
		CallServerStream(t.Context(), connect.NewRequest(&authtestv1.ServerStreamRequest{}))
	if err != nil {
		return err, nil, nil
	}
	defer stream.Close()
	for stream.Receive() {
		t.Fatalf("the caller received %v", stream.Msg())
	}
	return stream.Err(), stream.ResponseHeader(), stream.ResponseTrailer()
}

// An unjudged stream (a handler mounted without the interceptor) that
// ends OK without sending a message (a server stream with no items, a
// bidi stream that answers nothing) reaches the caller as the guard's
// refusal, in every protocol (gRPC, gRPC-Web, Connect streaming), its
// end compressed or not, over HTTP/2 and HTTP/1.1: CodeInternal,
// INTERNAL_ERROR, none of the handler's headers and trailers; and its
// path is logged once. A gRPC-Web stream that set no metadata (which
// connect-go answers trailers-only, its status in the headers) is refused
// too. One that ends with an error before any message goes out as it is,
// unlogged, as an error written before any decision does, and a judged
// stream without a message ends OK.
func TestWrapHandler_WithholdsAnUnjudgedStreamThatEndsWithoutAMessage(t *testing.T) {
	logged, f := captureDefaultLog(t), newFixture(t)
	h := connectauth.WrapHandler(emptyStreamMux(f))
	h1 := httptest.NewServer(h)
	t.Cleanup(h1.Close)
	for _, srv := range []*httptest.Server{serveTLS(t, h), h1, h1} {
		name := map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[srv.TLS != nil]
		for pname, opts := range protocols {
			for cname, copts := range map[string][]connect.ClientOption{"gzip": nil, "identity": {noGzip}} {
				opts := append(append([]connect.ClientOption{}, opts...), copts...)
				t.Run(name+"/"+pname+"/"+cname, func(t *testing.T) {
					paths := map[string]bool{"/second/authtest.v1.TestService/ServerStream": false, "/bare/authtest.v1.TestService/ServerStream": false}
					if srv.TLS != nil { // connect-go's bidi streams need HTTP/2
						paths["/second/authtest.v1.TestService/BidiStream"] = true
					}
					for path, bidi := range paths {
						err, header, trailer := streamEnd(t, srv, path, bidi, opts...)
						isWithheld(t, err)
						if v := header.Get("X-Leak") + trailer.Get("X-Leak-Trailer"); v != "" {
							t.Errorf("%s: the handler's header or trailer reached the caller: %q", path, v)
						}
					}
					err, header, _ := streamEnd(t, srv, "/failing/authtest.v1.TestService/ServerStream", false, opts...)
					var ce *connect.Error
					if connect.CodeOf(err) != connect.CodeNotFound || !errors.As(err, &ce) || ce.Message() != "no items" {
						t.Fatalf("failing stream: %v, want the handler's not_found", err)
					}
					if header.Get("X-Handler")+ce.Meta().Get("X-Handler") == "" {
						t.Error("the failing stream's answer lost the handler's header")
					}
					req := connect.NewRequest(&authtestv1.ServerStreamRequest{}) // Count 0
					req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read", "test:stream"))
					stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/ServerStream", opts...).CallServerStream(t.Context(), req)
					if err != nil {
						t.Fatal(err)
					}
					defer stream.Close()
					if stream.Receive() || stream.Err() != nil {
						t.Fatalf("judged stream without a message: %v, want its OK end", stream.Err())
					}
				})
			}
		}
	}
	for _, path := range []string{"/second/authtest.v1.TestService/ServerStream", "/bare/authtest.v1.TestService/ServerStream", "/second/authtest.v1.TestService/BidiStream"} {
		if n := strings.Count(logged.String(), "path="+path+" "); n != 1 {
			t.Errorf("%s logged %d times, want once; log:\n%s", path, n, logged)
		}
	}
	if n := strings.Count(logged.String(), withheldLog); n != 3 {
		t.Errorf("%d error records of a withheld response, want 3 (the failing stream's error is not one); log:\n%s", n, logged)
	}
}

// A handler that flushes its headers (WriteHeader, then
// http.ResponseController's Flush) before it ends an unjudged gRPC call
// with grpc-status 0 and no message gets nothing of them to the caller:
// the guard holds a stream's headers back until its body begins, drops
// the Flush, and refuses the call when it ends without a message. The
// caller gets grpc-status 13, without the handler's header or trailer.
func TestWrapHandler_WithholdsFlushedHeadersOfAnUnjudgedStreamWithoutAMessage(t *testing.T) {
	logged := captureDefaultLog(t)
	h := connectauth.WrapHandler(emptyStreamMux(newFixture(t)))
	for _, srv := range []*httptest.Server{serveTLS(t, h), httptest.NewServer(h)} {
		a := rawGRPCCall(t, srv, "/flushed/authtest.v1.TestService/ServerStream")
		srv.Close()
		if a.grpcStatus() != "13" || a.contains("secret") {
			t.Fatalf("answer %+v, want grpc-status 13 and none of the handler's headers and trailers", a)
		}
	}
	if n := strings.Count(logged.String(), withheldLog); n != 1 {
		t.Fatalf("%d error records, want 1; log:\n%s", n, logged)
	}
}

// An unjudged Connect unary answer with an empty message (a zero-length
// body, which connect-go writes without a status, net/http's implicit
// 200 being the Connect protocol's OK), POST or GET, uncompressed,
// reaches the caller as the refusal, without the handler's header, and
// its path is logged once.
func TestWrapHandler_WithholdsAnUnjudgedEmptyConnectUnaryMessage(t *testing.T) {
	logged := captureDefaultLog(t)
	mux := http.NewServeMux()
	mux.Handle("/authtest.v1.TestService/Public", connect.NewUnaryHandler("/authtest.v1.TestService/Public",
		func(context.Context, *connect.Request[authtestv1.PublicRequest]) (*connect.Response[authtestv1.PublicResponse], error) {
			res := connect.NewResponse(&authtestv1.PublicResponse{})
			res.Header().Set("X-Leak", "secret")
			return res, nil
		}, connect.WithSchema(method("TestService", "Public")), connect.WithIdempotency(connect.IdempotencyNoSideEffects)))
	h := connectauth.WrapHandler(mux)
	for _, srv := range []*httptest.Server{serveTLS(t, h), httptest.NewServer(h)} {
		for _, pname := range []string{"connect", "connect GET"} {
			for cname, copts := range map[string][]connect.ClientOption{"gzip": nil, "identity": {noGzip}} {
				res, err := connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/Public", append(append([]connect.ClientOption{}, unaryProtocols[pname]...), copts...)...).
					CallUnary(t.Context(), connect.NewRequest(&authtestv1.PublicRequest{}))
				if res != nil {
					t.Fatalf("%s %s: the caller got the response %v", pname, cname, res.Msg)
				}
				isWithheld(t, err)
			}
		}
		srv.Close()
	}
	if n := strings.Count(logged.String(), withheldLog); n != 1 {
		t.Fatalf("%d error records, want 1; log:\n%s", n, logged)
	}
}

// An unjudged gRPC call that ends without a message and a grpc-status
// that is 0 written otherwise ("00", "+0", "-0": grpc-go's client parses
// it with strconv.ParseInt, and takes it for OK) is refused as one that
// ends with "0": it reports no error.
func TestWrapHandler_WithholdsAnUnjudgedStreamWhoseStatusIsZeroWrittenOtherwise(t *testing.T) {
	captureDefaultLog(t)
	mux := http.NewServeMux()
	for _, status := range []string{"00", "+0", "-0"} {
		mux.HandleFunc("/"+status+"/authtest.v1.TestService/ServerStream", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("X-Leak", "secret")
			w.WriteHeader(http.StatusOK)
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", status)
		})
	}
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	for _, status := range []string{"00", "+0", "-0"} {
		if a := rawGRPCCall(t, srv, "/"+status+"/authtest.v1.TestService/ServerStream"); a.grpcStatus() != "13" || a.contains("secret") {
			t.Errorf("grpc-status %q: answer %+v, want grpc-status 13 and none of the handler's headers", status, a)
		}
	}
}
