package logonce

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
)

// TestOnce_LogsTheFirstCallOnlyUnderConcurrentCalls: of many concurrent
// calls, one writes its record, at level Error; after Forget, the next
// writes again.
func TestOnce_LogsTheFirstCallOnlyUnderConcurrentCalls(t *testing.T) {
	h := &countingHandler{}
	old := slog.Default()
	slog.SetDefault(slog.New(h))
	t.Cleanup(func() { slog.SetDefault(old) })

	var o Once
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() { o.Error("test: not built", "n", 1) })
	}
	wg.Wait()
	if n := h.errors.Load(); n != 1 {
		t.Fatalf("%d error records after 16 concurrent calls, want 1", n)
	}
	o.Forget()
	o.Error("test: not built", "n", 2)
	if n := h.errors.Load(); n != 2 {
		t.Fatalf("%d error records after Forget and one more call, want 2", n)
	}
}

// countingHandler counts the error records it is given.
type countingHandler struct{ errors atomic.Int64 }

func (*countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelError {
		h.errors.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
