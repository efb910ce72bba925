package grpcauth

import (
	"context"
	"log/slog"
	"time"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/jwxpanic"
	"github.com/grpcauth/grpcauth/internal/panictext"
)

// logRecovered writes the record of a panic recovered on a call's path (a
// condition's Eval, a DPoP check): msg and attrs at LogLevels.Problem,
// and the panic's stack, bounded by stacks at Config.Now's reading
// (stackAt). It runs where a second panic would end the process (grpc-go
// recovers none) or replace the refusal the first one earned, so neither
// code of the server's it calls may panic past it: a Config.Now that
// panics is read as the process's clock (nowOrWall), its panic's value
// added as "now_panic", and a Logger whose handler panics (or a
// LogLevels.Problem whose Level does) loses this record, nothing more.
// The decision's own record is written as before, on the call's path.
func (a *Authenticator) logRecovered(ctx context.Context, msg string, stacks *jwxpanic.StackLog, stack []byte, attrs ...slog.Attr) {
	defer func() { _ = recover() }() // the Logger's own panic: the record is lost, the refusal stands
	now, nowPanic := a.nowOrWall()
	attrs = append(attrs, slog.String("stack", a.stackAt(stacks, stack, now)))
	if nowPanic != "" {
		attrs = append(attrs, slog.String("now_panic", nowPanic))
	}
	a.logger.LogAttrs(ctx, a.levels.Problem.Level(), msg, attrs...)
}

// nowOrWall returns Config.Now's reading or, when Config.Now panics (or
// does not return: panic(nil) under GODEBUG=panicnil=1), the zero time,
// which stackAt reads as the process's clock, and the panic's value as
// text, clipped to endpoint.MaxErrorText bytes.
func (a *Authenticator) nowOrWall() (now time.Time, panicked string) {
	if text, failed := panictext.Run(func() { now = a.now() }, endpoint.MaxErrorText); failed {
		return time.Time{}, text
	}
	return now, ""
}

// stackAt returns stack, a recovered panic's, as text for its record
// when stacks lets it through at now, and otherwise the note that it was
// omitted. A zero now (Config.Now did not return, or read the zero time)
// is no time to bound by: such a stack is bounded by a.nowPanics instead,
// on the process's clock (a.wallNow), which a broken Config.Now does not
// stop. So a Config.Now that panics on every call logs one stack a
// minute, not one per call, and does not use up the minute of the other
// panics' stacks.
func (a *Authenticator) stackAt(stacks *jwxpanic.StackLog, stack []byte, now time.Time) string {
	if now.IsZero() {
		return a.nowPanics.Stack(stack, a.wallNow())
	}
	return stacks.Stack(stack, now)
}
