package grpcauth

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"google.golang.org/grpc"
)

// errNotBuilt is what Check and Requirement return for an Authenticator
// that New did not build (see built).
var errNotBuilt = errors.New("grpcauth: the Authenticator was not built with New (a nil *Authenticator, or a zero Authenticator)")

// built reports whether a was made by New: not nil, and not a zero
// Authenticator (new(Authenticator), a variable declared and never
// assigned), whose every use would dereference a nil field. New always
// sets the verifier. One pointer and one field test: the check costs a
// built Authenticator's calls nothing measurable.
func (a *Authenticator) built() bool { return a != nil && a.verifier != nil }

// notBuiltLogged is set once ServeCall has logged that it was called on an
// Authenticator New did not build: it logs once per process, not per call.
var notBuiltLogged atomic.Bool

// logNotBuilt writes the error record of an Authenticator that New did not
// build, through slog.Default() (such an Authenticator has no Config.Logger),
// naming entry, the method that met it.
func logNotBuilt(entry string) {
	slog.Default().Error("grpcauth: the Authenticator was not built with New (nil, or a zero Authenticator): every call is refused with codes.Internal (INTERNAL_ERROR)",
		slog.String("entry", entry))
}

// refuseNotBuilt is ServeCall's answer on an Authenticator New did not
// build: the first time in the process it logs (logNotBuilt), and every
// time it returns the fixed codes.Internal refusal, ReasonInternalError,
// that a stream cut by a panic gets, with no challenge.
func refuseNotBuilt() error {
	if notBuiltLogged.CompareAndSwap(false, true) {
		logNotBuilt("ServeCall")
	}
	return rejInternal.err
}

// notBuiltUnary is UnaryServerInterceptor of an Authenticator New did not
// build: logged once, as the interceptor is built, it refuses every call
// before the handler runs.
func notBuiltUnary() grpc.UnaryServerInterceptor {
	logNotBuilt("UnaryServerInterceptor")
	return func(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) {
		return nil, rejInternal.err
	}
}

// notBuiltStream is notBuiltUnary for StreamServerInterceptor.
func notBuiltStream() grpc.StreamServerInterceptor {
	logNotBuilt("StreamServerInterceptor")
	return func(any, grpc.ServerStream, *grpc.StreamServerInfo, grpc.StreamHandler) error {
		return rejInternal.err
	}
}
