package connectauth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
				srv := httptest.NewServer(w.wrap(h))
				t.Cleanup(srv.Close)
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
// streaming, in every protocol, is refused with CodeInternal and
// INTERNAL_ERROR before the handler runs, and the misconfiguration is
// logged when the handlers are built, never per call. So does an
// Interceptor with an Authenticator that grpcauth.New did not build (a
// zero grpcauth.Authenticator), whose ServeCall refuses every call with
// grpcauth's own message and logs on its first call in the process.
// Before, each call panicked in the handler.
func TestInterceptor_WithoutAuthenticatorRefusesEveryCall(t *testing.T) {
	const unbuiltLog = "grpcauth: the Authenticator was not built with New"
	for name, ic := range map[string]*connectauth.Interceptor{
		"NewInterceptor(nil)":                         connectauth.NewInterceptor(nil),
		"zero Interceptor":                            {},
		"nil *Interceptor":                            nil,
		"NewInterceptor(new(grpcauth.Authenticator))": connectauth.NewInterceptor(new(grpcauth.Authenticator)),
	} {
		t.Run(name, func(t *testing.T) {
			unbuilt := strings.Contains(name, "grpcauth.Authenticator")
			msg := "connectauth: internal error"
			if unbuilt {
				msg = "grpcauth: internal error"
			}
			logged := captureDefaultLog(t)
			var ran atomic.Int32
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
			built := logged.String()
			if n := strings.Count(built, "connectauth: the Interceptor has no Authenticator"); unbuilt && built != "" || !unbuilt && (n == 0 || n > 1 && name != "nil *Interceptor") {
				t.Errorf("building two handlers logged %q, want the missing Authenticator once", built)
			}
			srv := serveTLS(t, connectauth.WrapHandler(mux))

			for proto, copts := range protocols {
				_, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/AllOf", copts...).
					CallUnary(t.Context(), connect.NewRequest(&authtestv1.AllOfRequest{}))
				checkNoAuthenticator(t, proto+" unary", err, msg)

				stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/ServerStream", copts...).
					CallServerStream(t.Context(), connect.NewRequest(&authtestv1.ServerStreamRequest{Count: 1}))
				if err == nil {
					for stream.Receive() {
						t.Errorf("%s stream: received a message", proto)
					}
					err = stream.Err()
					_ = stream.Close()
				}
				checkNoAuthenticator(t, proto+" stream", err, msg)
			}
			if n := ran.Load(); n != 0 {
				t.Errorf("the handlers ran %d times", n)
			}
			// grpcauth logs an unbuilt Authenticator's first ServeCall in
			// the process, never per call.
			if got := strings.TrimPrefix(logged.String(), built); got != "" && !(unbuilt && strings.Count(got, "\n") == 1 && strings.Contains(got, unbuiltLog)) {
				t.Errorf("the calls logged %q", got)
			}
		})
	}
}

// checkNoAuthenticator checks that err is the refusal, with message msg,
// of an Interceptor without an Authenticator (or with one New did not
// build).
func checkNoAuthenticator(t *testing.T, what string, err error, msg string) {
	t.Helper()
	var ce *connect.Error
	if o := connectOutcome(err); o.code != codes.Internal || o.reason != grpcauth.ReasonInternalError ||
		!errors.As(err, &ce) || ce.Message() != msg {
		t.Errorf("%s: %v (%+v), want internal: %s with INTERNAL_ERROR", what, err, o, msg)
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
