package grpcauth

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc"

	"github.com/grpcauth/grpcauth/internal/logonce"
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

// The entry points that meet an Authenticator New did not build, each of
// which logs it once per process (notBuiltLogged).
const (
	entryServeCall = iota
	entryUnary
	entryStream
	numEntries
)

// entryNames are the entry points' names, the logged record's entry.
var entryNames = [numEntries]string{"ServeCall", "UnaryServerInterceptor", "StreamServerInterceptor"}

// notBuiltLogged[e] is set once entry point e has logged that it met an
// Authenticator New did not build: each logs once per process, not per call
// (nor per interceptor built: a server may build them on every call, to use
// an Authenticator it swaps on reload, and then every call would log).
var notBuiltLogged [numEntries]logonce.Once

// logNotBuilt writes, the first time entry meets an Authenticator that New
// did not build in the process, the error record saying so, through
// slog.Default() (such an Authenticator has no Config.Logger), naming
// entry.
func logNotBuilt(entry int) {
	notBuiltLogged[entry].Error("grpcauth: the Authenticator was not built with New (nil, or a zero Authenticator): every call is refused with codes.Internal (INTERNAL_ERROR)",
		slog.String("entry", entryNames[entry]))
}

// refuseNotBuilt is ServeCall's answer on an Authenticator New did not
// build: the first time in the process it logs (logNotBuilt), and every
// time it returns the fixed codes.Internal refusal, ReasonInternalError,
// that a stream cut by a panic gets, with no challenge.
func refuseNotBuilt() error {
	logNotBuilt(entryServeCall)
	return rejInternal.err
}

// notBuiltUnary is UnaryServerInterceptor of an Authenticator New did not
// build: logged as the interceptor is built, the first time in the
// process, it refuses every call before the handler runs.
func notBuiltUnary() grpc.UnaryServerInterceptor {
	logNotBuilt(entryUnary)
	return func(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) {
		return nil, rejInternal.err
	}
}

// notBuiltStream is notBuiltUnary for StreamServerInterceptor.
func notBuiltStream() grpc.StreamServerInterceptor {
	logNotBuilt(entryStream)
	return func(any, grpc.ServerStream, *grpc.StreamServerInfo, grpc.StreamHandler) error {
		return rejInternal.err
	}
}
