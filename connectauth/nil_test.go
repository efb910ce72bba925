package connectauth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// captureDefaultLog sends slog.Default()'s records to the returned buffer
// until the test ends.
func captureDefaultLog(t *testing.T) *syncBuffer {
	t.Helper()
	var logged syncBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &logged
}

// nilHandlers are the handlers a caller may pass by mistake: nothing, and
// a variable of a handler type that was never assigned, whose ServeHTTP
// panics.
var nilHandlers = map[string]http.Handler{
	"nil":                  nil,
	"nil *http.ServeMux":   (*http.ServeMux)(nil),
	"nil http.HandlerFunc": http.HandlerFunc(nil),
}

// A nil handler given to a constructor is refused when it is built:
// NewCORS returns an error, and CORS, WrapHandler and ChallengeHeaders,
// which return no error, log it once and answer each request with a 500
// instead of panicking on every request (net/http would recover the
// panic, log its stack and cut the connection).
func TestConstructors_NilHandlerIsRefusedWhenBuiltNeverPanicsOnARequest(t *testing.T) {
	const origin = "https://app.example"
	for name, h := range nilHandlers {
		built, err := connectauth.NewCORS(h, connectauth.CORSConfig{Origins: []string{origin}})
		if err == nil || built != nil || !strings.HasPrefix(err.Error(), "connectauth: NewCORS: the handler is ") {
			t.Errorf("NewCORS(%s) = %v, %v; want an error", name, built, err)
		}
	}
	wrappers := []struct {
		name string
		wrap func(http.Handler) http.Handler
	}{
		{"WrapHandler", connectauth.WrapHandler},
		{"ChallengeHeaders", connectauth.ChallengeHeaders},
		{"CORS", func(h http.Handler) http.Handler { return connectauth.CORS(h, origin) }},
	}
	for _, w := range wrappers {
		for name, h := range nilHandlers {
			t.Run(w.name+"/"+name, func(t *testing.T) {
				logged := captureDefaultLog(t)
				built := w.wrap(h)
				srv := httptest.NewServer(built)
				t.Cleanup(srv.Close)
				if w.name == "CORS" { // a listed origin's preflight never reaches h
					if rec := preflight(built, origin); rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != origin {
						t.Errorf("CORS: a listed origin's preflight got %d, Allow-Origin %q; want 204 allowing it", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
					}
				}
				for range 2 {
					req, err := http.NewRequest(http.MethodPost, srv.URL+"/authtest.v1.TestService/AllOf", strings.NewReader("{}"))
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Origin", origin)
					resp, err := srv.Client().Do(req)
					if err != nil {
						t.Fatalf("request: %v, want a 500", err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusInternalServerError || string(body) != "Internal Server Error\n" {
						t.Errorf("answer %d %q, want 500 Internal Server Error", resp.StatusCode, body)
					}
					if w.name == "CORS" && resp.Header.Get("Access-Control-Allow-Origin") != origin {
						t.Errorf("CORS: the 500 is not readable by the listed origin: Allow-Origin %q", resp.Header.Get("Access-Control-Allow-Origin"))
					}
				}
				want := "connectauth: " + w.name + ": the handler is "
				if got := logged.String(); strings.Count(got, want) != 1 || !strings.Contains(got, "level=ERROR") {
					t.Errorf("logged %q, want one error record %q..., when built", got, want)
				}
			})
		}
	}
}

// An Interceptor without an Authenticator (NewInterceptor(nil), a zero
// Interceptor, a nil *Interceptor) fails closed: every call, unary or
// streaming (server, client and bidi), in every protocol, is refused with
// CodeInternal and INTERNAL_ERROR before the handler runs, and the
// misconfiguration is logged when a streaming handler is built and at a
// unary handler's first call, once per handler (once in all for
// NewInterceptor's), never per call. Before, each call panicked in the
// handler.
func TestInterceptor_WithoutAuthenticatorRefusesEveryCall(t *testing.T) {
	const noAuth = "connectauth: the Interceptor has no Authenticator"
	for name, ic := range noAuthInterceptors() {
		t.Run(name, func(t *testing.T) {
			logged := captureDefaultLog(t)
			var ran atomic.Int32
			mux := countingMux(ic, &ran)
			// Once per handler (the three streaming ones now, the unary
			// one at its first call), or once in all for NewInterceptor's.
			wantBuilt, wantAll := 3, 4
			if name == "NewInterceptor(nil)" {
				wantBuilt, wantAll = 1, 1
			}
			if got := logged.String(); strings.Count(got, noAuth) != wantBuilt || !strings.Contains(got, "level=ERROR") {
				t.Errorf("building the handlers logged %q, want the missing Authenticator %d times", got, wantBuilt)
			}
			srv := serveTLS(t, connectauth.WrapHandler(mux))

			callEveryKind(t, srv, "connectauth: internal error")
			if n := ran.Load(); n != 0 {
				t.Errorf("the handlers ran %d times", n)
			}
			got := logged.String()
			if n := strings.Count(got, noAuth); n != wantAll || strings.Count(got, "\n") != n {
				t.Errorf("after three calls of each handler, logged %q, want only the missing Authenticator, %d times", got, wantAll)
			}
		})
	}
}

// An Interceptor without an Authenticator does nothing on a client, as
// with one: connect-go calls its WrapUnary when a client is built, and
// each client's calls pass, unlogged. Before, building each client logged
// that every call is refused (for a nil *Interceptor, each client built:
// a record per call where clients are built per call).
func TestInterceptor_WithoutAuthenticatorOnAClientPassesUnlogged(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/authtest.v1.TestService/AllOf", connect.NewUnaryHandler("/authtest.v1.TestService/AllOf",
		func(context.Context, *connect.Request[authtestv1.AllOfRequest]) (*connect.Response[authtestv1.AllOfResponse], error) {
			return connect.NewResponse(&authtestv1.AllOfResponse{}), nil
		}))
	mux.Handle("/authtest.v1.TestService/ServerStream", connect.NewServerStreamHandler("/authtest.v1.TestService/ServerStream",
		func(_ context.Context, _ *connect.Request[authtestv1.ServerStreamRequest], ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
			return ss.Send(&authtestv1.ServerStreamResponse{})
		}))
	srv := serveTLS(t, mux)
	for name, ic := range noAuthInterceptors() {
		t.Run(name, func(t *testing.T) {
			logged := captureDefaultLog(t)
			for proto, copts := range protocols {
				copts = append(slices.Clone(copts), connect.WithInterceptors(ic))
				for range 2 { // a client per call
					_, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/AllOf", copts...).
						CallUnary(t.Context(), connect.NewRequest(&authtestv1.AllOfRequest{}))
					if err != nil {
						t.Errorf("%s unary: %v, want it to pass", proto, err)
					}
					stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/ServerStream", copts...).
						CallServerStream(t.Context(), connect.NewRequest(&authtestv1.ServerStreamRequest{}))
					if err == nil {
						if !stream.Receive() {
							t.Errorf("%s stream: no message", proto)
						}
						err = errors.Join(stream.Err(), stream.Close())
					}
					if err != nil {
						t.Errorf("%s stream: %v, want it to pass", proto, err)
					}
				}
			}
			if got := logged.String(); got != "" {
				t.Errorf("clients logged %q", got)
			}
		})
	}
}

// noAuthInterceptors returns, by name, Interceptors without an
// Authenticator, each new.
func noAuthInterceptors() map[string]*connectauth.Interceptor {
	return map[string]*connectauth.Interceptor{
		"NewInterceptor(nil)": connectauth.NewInterceptor(nil),
		"zero Interceptor":    {},
		"nil *Interceptor":    nil,
	}
}

// checkInternal checks that err is CodeInternal with the message msg and
// the reason INTERNAL_ERROR.
func checkInternal(t *testing.T, what string, err error, msg string) {
	t.Helper()
	var ce *connect.Error
	if o := connectOutcome(err); o.code != codes.Internal || o.reason != grpcauth.ReasonInternalError ||
		!errors.As(err, &ce) || ce.Message() != msg {
		t.Errorf("%s: %v (%+v), want internal: %s with INTERNAL_ERROR", what, err, o, msg)
	}
}

// An Interceptor with an Authenticator that grpcauth.New did not build (a
// zero grpcauth.Authenticator) fails closed through its ServeCall: every
// call, unary or streaming, in every protocol, is refused with CodeInternal, grpcauth's own
// message and INTERNAL_ERROR before the handler runs, and grpcauth logs it
// at most once in the process, never per call. Before, each call panicked
// in the handler.
func TestInterceptor_WithUnbuiltAuthenticatorRefusesEveryCall(t *testing.T) {
	const unbuiltLog = "grpcauth: the Authenticator was not built with New"
	logged := captureDefaultLog(t)
	var ran atomic.Int32
	srv := serveTLS(t, connectauth.WrapHandler(countingMux(connectauth.NewInterceptor(new(grpcauth.Authenticator)), &ran)))
	callEveryKind(t, srv, "grpcauth: internal error")
	if n := ran.Load(); n != 0 {
		t.Errorf("the handlers ran %d times", n)
	}
	if got := logged.String(); strings.Count(got, "\n") > 1 || got != "" && !strings.Contains(got, unbuiltLog) {
		t.Errorf("twelve refused calls logged %q, want at most one record of the unbuilt Authenticator", got)
	}
}

// CORS without any origin (none given, or none left once those no browser
// sends are dropped) serves every request without CORS headers, as if it
// were not there: a misconfiguration that NewCORS refuses and CORS, which
// returns no error, logs when it is built.
func TestCORS_WithoutAnyOriginIsLogged(t *testing.T) {
	for name, origins := range map[string][]string{"no origins": nil, "only a refused origin": {"*"}} {
		logged := captureDefaultLog(t)
		h := connectauth.CORS(http.NotFoundHandler(), origins...)
		if got := logged.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "connectauth: CORS: no origin") {
			t.Errorf("%s: logged %q, want an error record naming the missing origins", name, got)
		}
		if got := preflight(h, "https://app.example").Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s: a preflight was allowed: Allow-Origin %q", name, got)
		}
	}
	logged := captureDefaultLog(t)
	connectauth.CORS(http.NotFoundHandler(), "https://app.example")
	if got := logged.String(); got != "" {
		t.Errorf("CORS with an origin logged %q", got)
	}
}

// An Interceptor is a plain value, as before it refused a missing
// Authenticator: code that copies one (a struct field holding it by value,
// *connectauth.NewInterceptor(auth)) passes go vet, whose copylocks check
// flags a copy of any value holding a lock or an atomic (such as
// atomic.Bool, which an Interceptor held by value).
func TestInterceptor_CopyingIsNoLockCopy(t *testing.T) {
	if path := lockIn(reflect.TypeFor[connectauth.Interceptor](), "Interceptor"); path != "" {
		t.Errorf("%s holds a lock by value: go vet's copylocks flags every copy of an Interceptor", path)
	}
}

// lockIn returns the path to a value in t, held by value, whose pointer has
// Lock and Unlock methods (sync.Mutex, or the noCopy of atomic.Bool), as go
// vet's copylocks finds it, or "" when there is none.
func lockIn(t reflect.Type, path string) string {
	p := reflect.PointerTo(t)
	if _, ok := p.MethodByName("Lock"); ok {
		if _, ok := p.MethodByName("Unlock"); ok {
			return path
		}
	}
	switch t.Kind() {
	case reflect.Struct:
		for f := range t.Fields() {
			if l := lockIn(f.Type, path+"."+f.Name); l != "" {
				return l
			}
		}
	case reflect.Array:
		return lockIn(t.Elem(), path+"[]")
	}
	return ""
}

// countingMux returns a mux of TestService's AllOf, ServerStream,
// ClientStream and BidiStream handlers, each built with ic and counting
// its runs in ran.
func countingMux(ic *connectauth.Interceptor, ran *atomic.Int32) *http.ServeMux {
	opts := func(m string) connect.HandlerOption {
		return connect.WithHandlerOptions(connect.WithSchema(method("TestService", m)), connect.WithInterceptors(ic))
	}
	mux := http.NewServeMux()
	mux.Handle("/authtest.v1.TestService/AllOf", connect.NewUnaryHandler("/authtest.v1.TestService/AllOf",
		func(context.Context, *connect.Request[authtestv1.AllOfRequest]) (*connect.Response[authtestv1.AllOfResponse], error) {
			ran.Add(1)
			return connect.NewResponse(&authtestv1.AllOfResponse{}), nil
		}, opts("AllOf")))
	mux.Handle("/authtest.v1.TestService/ServerStream", connect.NewServerStreamHandler("/authtest.v1.TestService/ServerStream",
		func(context.Context, *connect.Request[authtestv1.ServerStreamRequest], *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
			ran.Add(1)
			return nil
		}, opts("ServerStream")))
	mux.Handle("/authtest.v1.TestService/ClientStream", connect.NewClientStreamHandler("/authtest.v1.TestService/ClientStream",
		func(context.Context, *connect.ClientStream[authtestv1.ClientStreamRequest]) (*connect.Response[authtestv1.ClientStreamResponse], error) {
			ran.Add(1)
			return connect.NewResponse(&authtestv1.ClientStreamResponse{}), nil
		}, opts("ClientStream")))
	mux.Handle("/authtest.v1.TestService/BidiStream", connect.NewBidiStreamHandler("/authtest.v1.TestService/BidiStream",
		func(context.Context, *connect.BidiStream[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse]) error {
			ran.Add(1)
			return nil
		}, opts("BidiStream")))
	return mux
}

// callEveryKind makes one call of each kind (unary, server, client and
// bidi stream) to countingMux's handlers on srv in every protocol, and
// checks that each is refused with CodeInternal, INTERNAL_ERROR and msg.
func callEveryKind(t *testing.T, srv *httptest.Server, msg string) {
	t.Helper()
	for proto, copts := range protocols {
		_, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/AllOf", copts...).
			CallUnary(t.Context(), connect.NewRequest(&authtestv1.AllOfRequest{}))
		checkInternal(t, proto+" unary", err, msg)

		stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/ServerStream", copts...).
			CallServerStream(t.Context(), connect.NewRequest(&authtestv1.ServerStreamRequest{Count: 1}))
		if err == nil {
			for stream.Receive() {
				t.Errorf("%s server stream: received a message", proto)
			}
			err = stream.Err()
			_ = stream.Close()
		}
		checkInternal(t, proto+" server stream", err, msg)

		cs := connect.NewClient[authtestv1.ClientStreamRequest, authtestv1.ClientStreamResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/ClientStream", copts...).
			CallClientStream(t.Context())
		_ = cs.Send(&authtestv1.ClientStreamRequest{}) // the refusal comes with the response
		_, err = cs.CloseAndReceive()
		checkInternal(t, proto+" client stream", err, msg)

		bs := connect.NewClient[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/BidiStream", copts...).
			CallBidiStream(t.Context())
		_ = bs.Send(&authtestv1.BidiStreamRequest{})
		_ = bs.CloseRequest()
		if _, err = bs.Receive(); err == nil {
			t.Errorf("%s bidi stream: received a message", proto)
		}
		_ = bs.CloseResponse()
		checkInternal(t, proto+" bidi stream", err, msg)
	}
}
