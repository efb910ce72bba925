package grpcauth

import (
	"context"
	"net"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// logRecord is one record of go-grpc-middleware's logging interceptor.
type logRecord struct {
	msg    string
	method string
	fields map[string]any
}

// recordingLogger is a logging.Logger that keeps its records.
type recordingLogger struct {
	mu      sync.Mutex
	records []logRecord
}

func (l *recordingLogger) Log(_ context.Context, _ logging.Level, msg string, fields ...any) {
	r := logRecord{msg: msg, fields: map[string]any{}}
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		r.fields[k] = fields[i+1]
	}
	r.method, _ = r.fields["grpc.method"].(string)
	l.mu.Lock()
	l.records = append(l.records, r)
	l.mu.Unlock()
}

// finished returns the "finished call" records of method.
func (l *recordingLogger) finished(method string) []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logRecord
	for _, r := range l.records {
		if r.msg == "finished call" && r.method == method {
			out = append(out, r)
		}
	}
	return out
}

// panicOn is an interceptor, innermost in the chain, that panics in place
// of the handler of method.
func panicOn(method string) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if info.FullMethod == method {
				panic("handler bug")
			}
			return h(ctx, req)
		}, func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if info.FullMethod == method {
				panic("handler bug")
			}
			return h(srv, ss)
		}
}

// allServicesBut is docs/middleware.md's selector.Matcher: every call
// but those grpc-go routes to service, whose name is the path up to its
// last '/' (c.Service ends at the first).
func allServicesBut(service string) selector.Matcher {
	return selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		routed, _ := path.Split(c.FullMethod())
		return routed != "/"+service+"/"
	})
}

// middlewareEnv is newEnv's issuer, verifier and Authenticator behind the
// chain docs/middleware.md recommends: recovery, then the Authenticator
// (through selector, skipping UnannotatedService), then logging with
// LogFields; a handler panic on Authenticated.
func middlewareEnv(t *testing.T) (*env, *recordingLogger) {
	t.Helper()
	base := newEnv(t)
	logger := &recordingLogger{}
	authenticated := allServicesBut("authtest.v1.UnannotatedService")
	panicUnary, panicStream := panicOn(authtestv1.TestService_Authenticated_FullMethodName)
	// A fixed message: the panic's value is for the server's log only.
	recovered := recovery.WithRecoveryHandler(func(any) error { return status.Error(codes.Internal, "internal error") })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, lis, base.svc,
		grpc.ChainUnaryInterceptor(
			recovery.UnaryServerInterceptor(recovered),
			selector.UnaryServerInterceptor(base.auth.UnaryServerInterceptor(), authenticated),
			logging.UnaryServerInterceptor(logger, logging.WithFieldsFromContext(LogFields)),
			panicUnary,
		),
		grpc.ChainStreamInterceptor(
			recovery.StreamServerInterceptor(recovered),
			selector.StreamServerInterceptor(base.auth.StreamServerInterceptor(), authenticated),
			logging.StreamServerInterceptor(logger, logging.WithFieldsFromContext(LogFields)),
			panicStream,
		),
	)
	return base.via(t, lis.Addr().String()), logger
}

func TestMiddleware_ChainWithRecoveryLoggingAndSelector(t *testing.T) {
	e, logger := middlewareEnv(t)
	tok := withAuth(t.Context(), bearer(e.scoped(t, "test:read", "test:stream")))
	identity := map[string]any{"grpcauth.subject": "user-1", "grpcauth.client_id": "test-client", "grpcauth.issuer": e.iss.URL()}

	tests := []struct {
		name   string
		ctx    context.Context
		call   callKind
		method string
		code   codes.Code
		reason string         // grpcauth's ErrorInfo reason, for its refusals
		logged map[string]any // identity fields of the logging record; nil: no record
	}{
		{"allowed unary call is logged with the caller", tok, callInherited, "Inherited", codes.OK, "", identity},
		{"allowed stream is logged with the caller", tok, callBidiStream, "BidiStream", codes.OK, "", identity},
		{"refusal comes from grpcauth, before logging", t.Context(), callInherited, "Inherited", codes.Unauthenticated, ReasonCredentialsMissing, nil},
		{"lacking scope is refused by grpcauth", withAuth(t.Context(), bearer(e.scoped(t, "other"))), callInherited, "Inherited", codes.PermissionDenied, ReasonScopeInsufficient, nil},
		{"panic behind grpcauth is recovered as Internal", tok, callAuthenticated, "Authenticated", codes.Internal, "", nil},
		{"service the selector skips needs no token", t.Context(), callUnannotated, "Unannotated", codes.OK, "", map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(logger.finished(tt.method))
			_, err := tt.call(tt.ctx, e)
			if tt.reason != "" {
				checkStatus(t, err, tt.code, tt.reason)
			} else if got := status.Code(err); got != tt.code {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.code)
			}
			records := logger.finished(tt.method)[before:]
			if tt.logged == nil {
				if len(records) != 0 {
					t.Errorf("logging interceptor recorded %v; a call grpcauth refuses never reaches it, a panic unwinds through it", records)
				}
				return
			}
			if len(records) != 1 {
				t.Fatalf("%d finished-call records, want 1", len(records))
			}
			for _, k := range []string{"grpcauth.subject", "grpcauth.client_id", "grpcauth.issuer"} {
				if got, want := records[0].fields[k], tt.logged[k]; got != want {
					t.Errorf("field %s = %v, want %v", k, got, want)
				}
			}
		})
	}
}

func TestLogFields_NoClaimsNoFields(t *testing.T) {
	if f := LogFields(t.Context()); f != nil {
		t.Errorf("LogFields without claims = %v, want none", f)
	}
	f := LogFields(ContextWithClaims(t.Context(), mustClaims(t, "a")))
	if !slices.Contains(f, "grpcauth.subject") || len(f) != 6 {
		t.Errorf("LogFields = %v, want subject, client id and issuer", f)
	}
}

// A token's sub, client id and iss may be as long as the token (64 KiB by
// default), and the logging interceptor puts LogFields in every record of
// the call: they are clipped to 256 bytes and their length, as in
// grpcauth's own record.
func TestLogFields_LongTokenValuesAreClipped(t *testing.T) {
	c, err := verifier.NewClaims(map[string]any{"sub": strings.Repeat("s", 15000), "cid": strings.Repeat("c", 15000),
		"iss": "https://idp.example/" + strings.Repeat("i", 15000)})
	if err != nil {
		t.Fatal(err)
	}
	f := LogFields(ContextWithClaims(t.Context(), c))
	if len(f) != 6 {
		t.Fatalf("LogFields = %.200v, want subject, client id and issuer", f)
	}
	for i := 1; i < len(f); i += 2 {
		if v, _ := f[i].(string); len(v) > 300 || !strings.Contains(v, "…(") {
			t.Errorf("%v is %d bytes (%.40q…), want 256 and its length", f[i-1], len(v), v)
		}
	}
}

// A selector that skips grpcauth for one service skips only the calls
// grpc-go routes to that service: a path that merely starts with its name
// ("/authtest.v1.UnannotatedService/x/Unannotated", which grpc-go hands to
// an UnknownServiceHandler, a proxy say, as the service
// "authtest.v1.UnannotatedService/x") is still grpcauth's to refuse. A
// matcher on CallMeta.Service, which ends at the path's first '/', let it
// through to the proxy without a token.
func TestMiddleware_SelectorSkipsOnlyTheCallsRoutedToTheSkippedService(t *testing.T) {
	base := newEnv(t)
	skip := allServicesBut("authtest.v1.UnannotatedService")
	reached := make(chan string, 4)
	_, addr := serve(t, base.svc, grpc.UnknownServiceHandler(recordingHandler(reached)),
		grpc.ChainUnaryInterceptor(selector.UnaryServerInterceptor(base.auth.UnaryServerInterceptor(), skip)),
		grpc.ChainStreamInterceptor(selector.StreamServerInterceptor(base.auth.StreamServerInterceptor(), skip)))
	conn := dial(t, addr, insecure.NewCredentials())
	for _, tt := range []struct {
		name    string
		method  string
		code    codes.Code
		proxied bool // reached the UnknownServiceHandler
	}{
		{"a method of the skipped service", "/authtest.v1.UnannotatedService/Unannotated", codes.OK, false},
		{"a name the skipped service lacks", "/authtest.v1.UnannotatedService/Other", codes.OK, true},
		{"a path under the skipped service's name", "/authtest.v1.UnannotatedService/x/Unannotated", codes.Unauthenticated, false},
		// grpc-go strips one '/' and routes "/authtest.v1.UnannotatedService"
		// (unknown) to the proxy; CallMeta.FullMethod keeps both.
		{"a path with a doubled leading '/'", "//authtest.v1.UnannotatedService/Unannotated", codes.Unauthenticated, false},
		// grpc-go refuses a path without its leading '/' before any
		// interceptor runs.
		{"a path without its leading '/'", "authtest.v1.UnannotatedService/Unannotated", codes.Unimplemented, false},
		{"another service's method", mAllOf, codes.Unauthenticated, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := conn.Invoke(bounded(t), tt.method, &emptypb.Empty{}, &emptypb.Empty{})
			// The handler records the call before it answers.
			select {
			case m := <-reached:
				if !tt.proxied {
					t.Errorf("%s reached the UnknownServiceHandler without a token", m)
				}
			default:
				if tt.proxied {
					t.Error("the call did not reach the UnknownServiceHandler")
				}
			}
			if got := status.Code(err); got != tt.code {
				t.Errorf("code = %v (%v), want %v", got, err, tt.code)
			}
		})
	}
}
