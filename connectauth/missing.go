package connectauth

import (
	"fmt"
	"log/slog"
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/internal/isnil"
)

// missing reports whether h is no handler: nil, or an interface holding a
// nil pointer, func or channel (a *http.ServeMux variable never assigned,
// http.HandlerFunc(nil)), whose ServeHTTP would panic on the first
// request. A nil map or slice type with a ServeHTTP method is a handler
// (an empty collection of routes, say).
func missing(h http.Handler) bool { return isnil.Reference(h) }

// errNoHandler describes h, a handler that missing reports, for an error
// or a log record.
func errNoHandler(fn string, h http.Handler) error {
	if h == nil {
		return fmt.Errorf("connectauth: %s: the handler is nil", fn)
	}
	return fmt.Errorf("connectauth: %s: the handler is a nil %T", fn, h)
}

// noHandler is what CORS, ChallengeHeaders and WrapHandler serve in place
// of a missing handler h, as they cannot return an error: it logs err, as
// an error record of slog.Default(), once, when it is built, and answers
// every request that reaches it with 500 Internal Server Error and a
// fixed body, rather than panic on each.
func noHandler(err error) http.Handler {
	slog.Default().Error(err.Error() + ": every request for it is answered with 500 Internal Server Error")
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
	})
}

// errInternal is what an Interceptor without an Authenticator answers
// every call with, and what WrapHandler answers a call with whose response
// it withholds (guardWriter): codes.Internal, a fixed message and the
// ErrorInfo reason grpcauth.ReasonInternalError, as connectError makes it.
var errInternal = func() error {
	st := status.New(codes.Internal, "connectauth: internal error")
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: grpcauth.ReasonInternalError, Domain: grpcauth.ErrorDomain}); err == nil {
		st = d
	}
	return st.Err()
}()

// logNoAuthenticator logs, as an error record of slog.Default(), that i
// has no Authenticator (NewInterceptor(nil), a zero Interceptor, a nil
// *Interceptor), when a streaming handler is built with it and at a unary
// handler's first call (connect-go calls WrapUnary when a client is built
// too, whose calls pass): once for an Interceptor made by NewInterceptor
// and its copies, which share noAuthLogged, and once per handler for one
// without it. Its handlers refuse each call, before the handler runs,
// with errInternal. No caller is admitted: the interceptor cannot
// tell which calls its rules would allow.
func (i *Interceptor) logNoAuthenticator() {
	if i != nil && i.noAuthLogged != nil && !i.noAuthLogged.CompareAndSwap(false, true) {
		return
	}
	slog.Default().Error("connectauth: the Interceptor has no Authenticator (NewInterceptor(nil), or an Interceptor not made by NewInterceptor): every call its handlers receive is refused with CodeInternal")
}

// internalError is errInternal as a connect.Error.
func internalError() error { return connectError(errInternal, nil) }
