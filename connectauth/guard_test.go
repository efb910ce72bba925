package connectauth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

const withheldLog = "withheld the response of a call that no grpcauth interceptor judged"

// unguarded counts what the handlers mounted without the interceptor did.
type unguarded struct {
	unary, streamSends atomic.Int32
}

// guardedMux is the application of the guard tests: the test procedures
// behind the interceptor (connectHandlers), Public and ServerStream of a
// second mount ("/second/...") built without it, as a team that forgets
// connect.WithInterceptors mounts them, each answering with the caller
// "secret" and setting a header and a trailer, and two plain HTTP
// handlers.
func guardedMux(f *fixture, u *unguarded, extra ...connect.HandlerOption) *http.ServeMux {
	mux := connectHandlers(f, extra...)
	mux.Handle("/second/authtest.v1.TestService/Public", connect.NewUnaryHandler("/authtest.v1.TestService/Public",
		func(context.Context, *connect.Request[authtestv1.PublicRequest]) (*connect.Response[authtestv1.PublicResponse], error) {
			u.unary.Add(1)
			res := connect.NewResponse(&authtestv1.PublicResponse{Caller: &authtestv1.Caller{Subject: "secret"}})
			res.Header().Set("X-Leak", "secret")
			res.Trailer().Set("X-Leak-Trailer", "secret")
			return res, nil
		}, append([]connect.HandlerOption{connect.WithSchema(method("TestService", "Public"))}, extra...)...))
	mux.Handle("/second/authtest.v1.TestService/ServerStream", connect.NewServerStreamHandler("/authtest.v1.TestService/ServerStream",
		func(_ context.Context, _ *connect.Request[authtestv1.ServerStreamRequest], ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
			ss.ResponseHeader().Set("X-Leak", "secret")
			for range 3 {
				if err := ss.Send(&authtestv1.ServerStreamResponse{Caller: &authtestv1.Caller{Subject: "secret"}}); err != nil {
					return err
				}
				u.streamSends.Add(1)
			}
			ss.ResponseTrailer().Set("X-Leak-Trailer", "secret")
			return nil
		}, connect.WithSchema(method("TestService", "ServerStream"))))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("POST /api/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.Copy(w, r.Body)
	})
	return mux
}

// unaryProtocols are the protocols of the guard tests' unary calls: the
// three, and the Connect protocol's GET.
var unaryProtocols = map[string][]connect.ClientOption{
	"connect":     nil,
	"connect GET": {connect.WithHTTPGet(), connect.WithIdempotency(connect.IdempotencyNoSideEffects)},
	"grpc":        protocols["grpc"],
	"grpcweb":     protocols["grpcweb"],
}

// isWithheld fails the test unless err is the refusal of a withheld
// response: CodeInternal, the fixed message, INTERNAL_ERROR, and none of
// the handler's headers or trailers.
func isWithheld(t *testing.T, err error) {
	t.Helper()
	if got, want := connectOutcome(err), (outcome{codes.Internal, grpcauth.ReasonInternalError}); got != want {
		t.Fatalf("got %v %q (%v), want %v %q", got.code, got.reason, err, want.code, want.reason)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Message() != "connectauth: internal error" {
		t.Fatalf("message of %v, want the fixed connectauth: internal error", err)
	}
	for _, k := range []string{"X-Leak", "X-Leak-Trailer"} {
		if v := ce.Meta().Get(k); v != "" {
			t.Errorf("the refusal carries the handler's %s: %q", k, v)
		}
	}
}

// unguardedApp serves guardedMux through WrapHandler, its handlers
// without the interceptor idempotent (a Connect GET reaches them), and
// over HTTP/1.1 as h1; it captures the default log.
func unguardedApp(t *testing.T) (logged *syncBuffer, u *unguarded, h http.Handler, h1 *httptest.Server) {
	logged, u = captureDefaultLog(t), new(unguarded)
	h = connectauth.WrapHandler(guardedMux(newFixture(t), u, connect.WithIdempotency(connect.IdempotencyNoSideEffects)))
	h1 = httptest.NewServer(h)
	t.Cleanup(h1.Close)
	return logged, u, h, h1
}

// A connect-go handler mounted inside WrapHandler without the interceptor
// does not answer: its response (message, headers, trailers) is replaced
// with CodeInternal "connectauth: internal error" (INTERNAL_ERROR), for a
// unary call in each protocol (a Connect GET too) and for a server
// stream, whose client receives no message, over HTTP/2 and HTTP/1.1; and
// it is logged once per procedure, at Error. The unary handler has run all the same (the guard
// withholds the answer, not the side effects); the stream's first Send
// fails, so the handler stops there.
func TestWrapHandler_WithholdsTheResponseOfAHandlerWithoutTheInterceptor(t *testing.T) {
	logged, u, h, h1 := unguardedApp(t)

	// The second server, and each second round, logs nothing more.
	for _, srv := range []*httptest.Server{serveTLS(t, h), h1, serveTLS(t, h), h1} {
		name := map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[srv.TLS != nil]
		for pname, opts := range unaryProtocols {
			t.Run(name+"/"+pname+"/unary", func(t *testing.T) {
				before := u.unary.Load()
				res, err := connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](srv.Client(), srv.URL+"/second/authtest.v1.TestService/Public", opts...).
					CallUnary(t.Context(), connect.NewRequest(&authtestv1.PublicRequest{}))
				if res != nil {
					t.Fatalf("the caller got the response %v", res.Msg)
				}
				isWithheld(t, err)
				if u.unary.Load() != before+1 {
					t.Fatal("the handler did not run: the test does not reach it")
				}
			})
		}
		for pname, opts := range protocols {
			t.Run(name+"/"+pname+"/stream", func(t *testing.T) {
				before := u.streamSends.Load()
				stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+"/second/authtest.v1.TestService/ServerStream", opts...).
					CallServerStream(t.Context(), connect.NewRequest(&authtestv1.ServerStreamRequest{Count: 3}))
				if err != nil {
					t.Fatal(err)
				}
				defer stream.Close()
				for stream.Receive() {
					t.Fatalf("the caller received %v", stream.Msg())
				}
				isWithheld(t, stream.Err())
				if v := stream.ResponseHeader().Get("X-Leak"); v != "" {
					t.Errorf("the stream's headers carry the handler's X-Leak: %q", v)
				}
				if u.streamSends.Load() != before {
					t.Fatal("a Send of the handler succeeded")
				}
			})
		}
	}
	records := strings.Count(logged.String(), withheldLog)
	if records != 2 {
		t.Fatalf("%d error records of a withheld response, want 2 (one per procedure); log:\n%s", records, logged)
	}
	for _, path := range []string{"/second/authtest.v1.TestService/Public", "/second/authtest.v1.TestService/ServerStream"} {
		if !strings.Contains(logged.String(), "level=ERROR msg=\"connectauth: WrapHandler "+withheldLog) || !strings.Contains(logged.String(), "path="+path) {
			t.Errorf("no error record names %s; log:\n%s", path, logged)
		}
	}
}

// Beside a handler without the interceptor, the handlers behind it answer
// as before in every protocol (admitted with the scopes, refused
// without), streams too, and plain HTTP handlers of the same mux (a GET,
// a JSON POST) are untouched; nothing is logged.
func TestWrapHandler_JudgedCallsAndPlainHTTPAreUntouched(t *testing.T) {
	f := newFixture(t)
	logged := captureDefaultLog(t)
	srv := serveTLS(t, connectauth.WrapHandler(guardedMux(f, &unguarded{}, connect.WithIdempotency(connect.IdempotencyNoSideEffects))))

	for pname, opts := range unaryProtocols {
		t.Run(pname, func(t *testing.T) {
			client := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/AllOf", opts...)
			req := connect.NewRequest(&authtestv1.AllOfRequest{})
			req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read", "test:write"))
			res, err := client.CallUnary(t.Context(), req)
			if err != nil || res.Msg.GetCaller().GetClientId() != grpcauthtest.DefaultClientID {
				t.Fatalf("admitted call: %v, %v", res, err)
			}
			_, err = client.CallUnary(t.Context(), connect.NewRequest(&authtestv1.AllOfRequest{}))
			if got, want := connectOutcome(err), (outcome{codes.Unauthenticated, grpcauth.ReasonCredentialsMissing}); got != want {
				t.Fatalf("call without a token: got %v %q, want %v %q", got.code, got.reason, want.code, want.reason)
			}
		})
	}
	for pname, opts := range protocols {
		t.Run(pname+"/stream", func(t *testing.T) {
			req := connect.NewRequest(&authtestv1.ServerStreamRequest{Count: 3})
			req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read", "test:stream"))
			stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/ServerStream", opts...).CallServerStream(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			n := 0
			for stream.Receive() {
				n++
			}
			if n != 3 || stream.Err() != nil {
				t.Fatalf("received %d messages, then %v; want 3 and the stream's end", n, stream.Err())
			}
		})
	}

	res, err := srv.Client().Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("plain GET: %d %q, want 200 ok", res.StatusCode, body)
	}
	res, err = srv.Client().Post(srv.URL+"/api/echo", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != `{"a":1}` {
		t.Fatalf("plain JSON POST: %d %q, want 200 and the body echoed", res.StatusCode, body)
	}
	if strings.Contains(logged.String(), "connectauth:") {
		t.Fatalf("logged:\n%s", logged)
	}
}

// What a server answers before any decision, for a call the interceptor
// would have judged, goes out as it is, unlogged: connect-go's answer to a
// malformed request (a gRPC timeout it cannot parse: InvalidArgument), the
// mux's 404 for a procedure nothing serves, grpc-go's Unimplemented for a
// method it does not know, and a gRPC status that a handler writes in its
// headers with an explicit 200 (both without a body). Only a
// message is withheld, so the guard raises no false alarm that a client
// can trigger.
func TestWrapHandler_ErrorsBeforeAnyDecisionGoOutAsTheyAre(t *testing.T) {
	f := newFixture(t)
	logged := captureDefaultLog(t)
	mux := guardedMux(f, &unguarded{})
	mux.Handle("/authtest.v1.UnannotatedService/", grpcServer(f))
	mux.HandleFunc("/authtest.v1.TestService/Inherited", func(w http.ResponseWriter, _ *http.Request) {
		// a gRPC status in the headers, written as such: no message
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", fmt.Sprint(int(codes.NotFound)))
		w.WriteHeader(http.StatusOK)
	})
	srv := serveTLS(t, connectauth.WrapHandler(mux))

	_, err := connect.NewClient[authtestv1.InheritedRequest, authtestv1.InheritedResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/Inherited", protocols["grpc"]...).
		CallUnary(t.Context(), connect.NewRequest(&authtestv1.InheritedRequest{}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("status written in the headers: %v, want not_found", err)
	}

	_, err = connect.NewClient[authtestv1.UnannotatedRequest, authtestv1.UnannotatedResponse](srv.Client(), srv.URL+"/authtest.v1.UnannotatedService/NoSuchMethod", protocols["grpc"]...).
		CallUnary(t.Context(), connect.NewRequest(&authtestv1.UnannotatedRequest{}))
	if connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Fatalf("method grpc-go does not know: %v, want grpc-go's unimplemented", err)
	}

	for _, ct := range []string{"application/grpc", "application/grpc-web"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/authtest.v1.TestService/AllOf", strings.NewReader("\x00\x00\x00\x00\x00"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Grpc-Timeout", "bogus")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if got := res.Header.Get("Grpc-Status") + res.Trailer.Get("Grpc-Status"); got != fmt.Sprint(int(codes.InvalidArgument)) {
			t.Fatalf("%s: grpc-status %q, want %d (connect-go's own answer)", ct, got, codes.InvalidArgument)
		}
	}

	_, err = connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/NoSuchMethod").
		CallUnary(t.Context(), connect.NewRequest(&authtestv1.PublicRequest{}))
	if connect.CodeOf(err) != connect.CodeUnimplemented { // Connect's reading of a 404
		t.Fatalf("unknown procedure: %v, want the 404 (unimplemented)", err)
	}
	if strings.Contains(logged.String(), "connectauth:") {
		t.Fatalf("logged:\n%s", logged)
	}
}

// A grpc-go server inside WrapHandler, mounted in the mux directly
// (grpc.Server.ServeHTTP) or behind vanguard's transcoder, is judged by
// the grpcauth interceptors, which mark the request as connectauth's
// Interceptor does: its admitted calls are answered. The same server
// without them is withheld like a connect-go handler without the
// Interceptor.
func TestWrapHandler_GRPCGoServerIsJudgedByItsInterceptors(t *testing.T) {
	f := newFixture(t)
	captureDefaultLog(t)
	bare := grpc.NewServer()
	authtestv1.RegisterTestServiceServer(bare, service{})
	for name, h := range map[string]http.Handler{
		"ServeHTTP":                  grpcServer(f),
		"vanguard":                   vanguardHandler(t, grpcServer(f)),
		"ServeHTTP, no interceptors": bare,
		"vanguard, no interceptors":  vanguardHandler(t, bare),
	} {
		t.Run(name, func(t *testing.T) {
			srv := serveTLS(t, connectauth.WrapHandler(h))
			for pname, opts := range protocols {
				if strings.HasPrefix(name, "ServeHTTP") && pname != "grpc" {
					continue // grpc-go serves gRPC only
				}
				req := connect.NewRequest(&authtestv1.AllOfRequest{})
				req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read", "test:write"))
				_, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/AllOf", opts...).CallUnary(t.Context(), req)
				if strings.HasSuffix(name, "no interceptors") {
					isWithheld(t, err)
				} else if err != nil {
					t.Fatalf("%s: admitted call: %v", pname, err)
				}
			}
		})
	}
}

// A handler without the interceptor mounted under a prefix serves paths
// of the client's choosing: the guard logs the first 64, then once that it
// logs no more, and nothing after.
func TestWrapHandler_LogsABoundedNumberOfPaths(t *testing.T) {
	logged := captureDefaultLog(t)
	mux := http.NewServeMux()
	mux.Handle("/any/", connect.NewUnaryHandler("/authtest.v1.TestService/Public",
		func(context.Context, *connect.Request[authtestv1.PublicRequest]) (*connect.Response[authtestv1.PublicResponse], error) {
			return connect.NewResponse(&authtestv1.PublicResponse{}), nil
		}))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	for i := range 80 {
		_, err := connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](srv.Client(), fmt.Sprintf("%s/any/%d", srv.URL, i), protocols["grpc"]...).
			CallUnary(t.Context(), connect.NewRequest(&authtestv1.PublicRequest{}))
		isWithheld(t, err)
	}
	if n := strings.Count(logged.String(), withheldLog); n != 64 {
		t.Errorf("%d paths logged, want 64", n)
	}
	if n := strings.Count(logged.String(), "they are no longer logged"); n != 1 {
		t.Errorf("%d records that no more paths are logged, want 1", n)
	}
}

// WrapHandler recognises an RPC request by what its client must or does
// send: the gRPC, gRPC-Web and Connect streaming media types (with a
// codec or none, any case, with parameters) on a POST, the Connect unary
// binary type, and the Connect protocol version (header, or a GET's query
// parameter); and a hand-made Connect unary call by its path too, a JSON
// POST or a GET with encoding and message to /package.Service/Method
// (under a prefix too) naming a method of a registered service. Anything
// else, a JSON POST to a REST route, to a path whose service has no
// package, or to one of a procedure's shape that names no registered
// service's method, is plain HTTP and passes untouched.
func TestWrapHandler_RecognisesRPCRequestsByWhatTheirClientsSend(t *testing.T) {
	for _, c := range []struct {
		method, target, contentType, version, want string
	}{
		{"POST", "/s.S/M", "application/grpc", "", "grpc"},
		{"POST", "/s.S/M", "application/grpc+proto", "", "grpc"},
		{"POST", "/s.S/M", "Application/GRPC; charset=utf-8", "", "grpc"},
		{"POST", "/s.S/M", "application/grpc-web", "", "grpc-web"},
		{"POST", "/s.S/M", "application/grpc-web+json", "", "grpc-web"},
		{"POST", "/s.S/M", "application/connect+proto", "", "connect streaming"},
		{"POST", "/s.S/M", "application/proto", "", "connect"},
		{"POST", "/s.S/M", "application/json", "1", "connect"},
		{"GET", "/s.S/M?encoding=json&message=%7B%7D&connect=v1", "", "", "connect"},
		{"GET", "/s.S/M?encoding=json", "", "1", "connect"},
		{"POST", "/api/items", "application/json", "", "none"},
		{"POST", "/authtest.v1.TestService/Public", "application/json", "", "connect"},
		{"POST", "/api/authtest.v1.ConditionService/Own", "Application/JSON; charset=utf-8", "", "connect"},
		{"GET", "/authtest.v1.TestService/Public?encoding=json&message=%7B%7D", "", "", "connect"},
		{"GET", "/api/authtest.v1.TestService/AllOf?message=&encoding=proto&base64=1", "", "", "connect"},
		{"GET", "/authtest.v1.TestService/Public?encoding=json", "", "", "none"}, // connect-go answers it an error
		// The shape of a procedure's path, but no registered service's
		// method: a plain route's.
		{"POST", "/s.S/M", "application/json", "", "none"},
		{"POST", "/hooks/example.com/receive", "application/json", "", "none"},
		{"GET", "/s.S/M?encoding=json&message=%7B%7D", "", "", "none"},
		{"POST", "/authtest.v1.TestService/Nonexistent", "application/json", "", "none"},
		{"POST", "/authtest.v1.PublicRequest/Caller", "application/json", "", "none"}, // a message, not a service
		{"POST", "/authtest.v1/TestService", "application/json", "", "none"},          // a package
		{"GET", "/healthz?encoding=json&message=x", "", "", "none"},
		{"POST", "/Service/Method", "application/json", "", "none"}, // no package: a REST route's shape
		{"POST", "/api/v1.2/items", "application/json", "", "none"},
		{"POST", "/s.S/M/", "application/json", "", "none"},
		{"POST", "/s..S/M", "application/json", "", "none"},
		{"POST", "/s.S/M", "application/x-www-form-urlencoded", "", "none"},
		{"PUT", "/s.S/M", "application/json", "", "none"},
		{"GET", "/healthz?connected=1", "", "", "none"},
		{"POST", "/s.S/M", "application/grpc-web-text", "", "none"}, // no connect-go handler serves it
		{"POST", "/s.S/M", "application/grpcx", "", "none"},
		{"PUT", "/s.S/M", "application/grpc", "1", "none"},
		{"POST", "/upload", "multipart/form-data; boundary=x", "", "none"},
	} {
		r, err := http.NewRequest(c.method, "https://example.test"+c.target, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.contentType != "" {
			r.Header.Set("Content-Type", c.contentType)
		}
		if c.version != "" {
			r.Header.Set("Connect-Protocol-Version", c.version)
		}
		if got := connectauth.RPCProtocolOf(r); got != c.want {
			t.Errorf("%s %s %q (version %q): %q, want %q", c.method, c.target, c.contentType, c.version, got, c.want)
		}
	}
}
