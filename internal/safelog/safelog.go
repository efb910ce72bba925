package safelog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/grpcauth/grpcauth/internal/panictext"
)

// maxPanicText bounds the text of a handler's panic in Handle's error.
const maxPanicText = 256

// New returns a Logger that writes through l's handler, and whose records
// a panic of that handler (in Enabled, Handle, WithAttrs or WithGroup)
// loses, nothing more: the panic is recovered. It returns l itself when l
// is nil or wraps its handler so already.
func New(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	h := l.Handler()
	if _, ok := h.(handler); ok {
		return l
	}
	return slog.New(handler{h})
}

// handler is a slog.Handler that recovers the panics of the one it holds.
type handler struct{ h slog.Handler }

// Enabled reports h's answer, or false when h panics: the record is not
// built.
func (s handler) Enabled(ctx context.Context, level slog.Level) (enabled bool) {
	defer func() { _ = recover() }() // enabled stays false
	return s.h.Enabled(ctx, level)
}

// Handle hands r to h, and returns an error in place of h's panic (which
// slog.Logger drops, as it drops every error of Handle).
func (s handler) Handle(ctx context.Context, r slog.Record) (err error) {
	returned := false
	defer func() {
		if !returned {
			// recover's value may be nil (panic(nil) under
			// GODEBUG=panicnil=1): h did not return all the same.
			err = fmt.Errorf("safelog: the handler panicked: %s", panictext.Text(recover(), maxPanicText))
		}
	}()
	err = s.h.Handle(ctx, r)
	returned = true
	return err
}

// WithAttrs returns h's handler with attrs, wrapped, or, when h panics,
// one that discards every record: none is written without attrs.
func (s handler) WithAttrs(attrs []slog.Attr) (out slog.Handler) {
	out = handler{slog.DiscardHandler}
	defer func() { _ = recover() }()
	return handler{s.h.WithAttrs(attrs)}
}

// WithGroup returns h's handler with the group, wrapped, or, when h
// panics, one that discards every record: none is written outside it.
func (s handler) WithGroup(name string) (out slog.Handler) {
	out = handler{slog.DiscardHandler}
	defer func() { _ = recover() }()
	return handler{s.h.WithGroup(name)}
}
