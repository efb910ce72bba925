package jwxpanic

import (
	"errors"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/grpcauth/grpcauth/internal/panictext"
	"github.com/grpcauth/grpcauth/internal/ratelog"
)

// MaxValue bounds the text of a recovered panic's value, in bytes, at
// every site: jwx may format its input (a token's signing input, a proof,
// a key set's entry) into a panic's value, and the value reaches errors
// and logs. 160 bytes hold a bug's message, not a whole token or proof.
const MaxValue = 160

// Error is a recovered panic. Its text, "panicked in jwx: …" or "panicked
// outside jwx: …", quotes the panic's value (clipped); the stack is for
// the server's log only, never for an error's text or a client.
type Error struct {
	// Value is the panic's value as text, clipped to MaxValue bytes
	// (panictext.Text).
	Value string
	// InJWX reports a panic raised in jwx, or in what jwx called (the
	// standard library: math/big, crypto/ecdsa), rather than in
	// grpcauth's own code or what that code called.
	InJWX bool
	// Stack is the panicking goroutine's stack (runtime/debug.Stack), from
	// the recovering function down through the panic.
	Stack []byte
}

// Error returns "panicked in jwx: " or "panicked outside jwx: " and the
// panic's value, quoted: a line break in it stays escaped.
func (e *Error) Error() string {
	where := "in jwx"
	if !e.InJWX {
		where = "outside jwx, in grpcauth's code"
	}
	return "panicked " + where + ": " + strconv.Quote(e.Value)
}

// New returns the Error for v, a panic's value that the calling deferred
// function has just recovered. It reads the stack of the panic, so it
// must be called from that deferred function (directly or through
// Recover), before the panic's frames are unwound. New never panics.
func New(v any) *Error {
	return &Error{Value: panictext.Text(v, MaxValue), InJWX: raisedInJWX(), Stack: debug.Stack()}
}

// Recover, deferred directly by a function whose named error result err
// points to, recovers a panic of the function (jwx's, on input from the
// network) and sets *err to wrap(the Error). Without a panic it does
// nothing. wrap makes the refusal the function's callers expect (an
// invalid proof, a bad signature), and should wrap the Error with %w, so
// that Find finds it.
func Recover(err *error, wrap func(*Error) error) {
	if v := recover(); v != nil {
		*err = wrap(New(v))
	}
}

// errRecovered is what every Error is (Is), so that Find looks for one
// without allocating (errors.Is) before it takes it (errors.As).
var errRecovered = errors.New("jwxpanic: a panic was recovered")

// Is reports whether target is errRecovered, which every Error is.
func (e *Error) Is(target error) bool { return target == errRecovered }

// Find returns the Error that err wraps, if any: a panic was recovered on
// the way to err (the fuzz targets fail on one, with its stack). It
// allocates nothing when err wraps none, so a refusal's path may call it.
func Find(err error) (*Error, bool) {
	if !errors.Is(err, errRecovered) {
		return nil, false
	}
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// jwxPrefix and ownPrefix are the import paths of jwx's packages and of
// grpcauth's.
const (
	jwxPrefix = "github.com/lestrrat-go/jwx/"
	ownPrefix = "github.com/grpcauth/grpcauth"
)

// raisedInJWX reports whether the panic being recovered was raised in jwx:
// walking out from where it was raised (past the runtime's frames), the
// first frame of jwx or of grpcauth is jwx's. A frame of any other
// package (the standard library) is what one of them called.
func raisedInJWX() bool {
	var pcs [128]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs[:])])
	panicking := false
	for {
		f, more := frames.Next()
		switch {
		case !panicking:
			panicking = f.Function == "runtime.gopanic"
		case strings.HasPrefix(f.Function, "runtime."):
		case strings.HasPrefix(f.Function, jwxPrefix):
			return true
		case strings.HasPrefix(f.Function, ownPrefix):
			return false
		}
		if !more {
			return false
		}
	}
}

// StackEvery is how often a site logs a recovered panic's stack
// (StackLog.Stack).
const StackEvery = time.Minute

// stackOmitted is what StackLog.Stack returns in place of a stack.
const stackOmitted = "omitted: a site logs one stack a minute"

// StackLog bounds the stacks one site logs: the panic it recovers may be
// raised by a token or a DPoP proof that any caller, unauthenticated,
// sends as often as it likes, and a stack is a few KB. The zero StackLog
// lets the first stack through; keep one per site and per instance (a
// Verifier's signature check, an Authenticator's DPoP check).
type StackLog struct {
	w ratelog.Window // the minute since the last stack let through
}

// Stack returns stack (a recovered panic's, such as Error.Stack), as text
// for a log record, when no stack was
// let through in the StackEvery before now, and otherwise a short note
// that it was omitted: the site still logs each panic, without the
// stack. A now before the last stack's time (a clock set back) lets the
// stack through.
func (l *StackLog) Stack(stack []byte, now time.Time) string {
	if ok, _ := l.w.Allow(now, StackEvery); !ok {
		return stackOmitted
	}
	return string(stack)
}
