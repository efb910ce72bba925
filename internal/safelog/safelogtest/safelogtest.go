package safelogtest

import (
	"context"
	"log/slog"
	"strings"
)

// Value is what Handler panics with.
const Value = "safelogtest: handler bug"

// Handler writes records through Next, but panics with Value on each
// record whose message contains On (every record when On is empty),
// having sent the message to Panicked (when set, and unless its buffer
// is full: it never blocks).
type Handler struct {
	Next     slog.Handler
	On       string
	Panicked chan<- string
}

// Enabled reports Next's answer.
func (h Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.Next.Enabled(ctx, l) }

// Handle panics on a record of On's, and hands the others to Next.
func (h Handler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.On) {
		select {
		case h.Panicked <- r.Message:
		default:
		}
		panic(Value)
	}
	return h.Next.Handle(ctx, r)
}

// WithAttrs returns h with Next's handler with attrs.
func (h Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h.Next = h.Next.WithAttrs(attrs)
	return h
}

// WithGroup returns h with Next's handler with the group.
func (h Handler) WithGroup(name string) slog.Handler {
	h.Next = h.Next.WithGroup(name)
	return h
}
