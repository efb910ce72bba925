package safelog_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/internal/safelog"
	"github.com/grpcauth/grpcauth/internal/safelog/safelogtest"
)

// panicky writes records through its Handler, and panics in Enabled,
// WithAttrs or WithGroup when its field says so.
type panicky struct {
	slog.Handler
	inEnabled, inAttrs, inGroup bool
}

func (p panicky) Enabled(ctx context.Context, l slog.Level) bool {
	if p.inEnabled {
		panic("handler bug: Enabled")
	}
	return p.Handler.Enabled(ctx, l)
}

func (p panicky) WithAttrs(attrs []slog.Attr) slog.Handler {
	if p.inAttrs {
		panic("handler bug: WithAttrs")
	}
	p.Handler = p.Handler.WithAttrs(attrs)
	return p
}

func (p panicky) WithGroup(name string) slog.Handler {
	if p.inGroup {
		panic("handler bug: WithGroup")
	}
	p.Handler = p.Handler.WithGroup(name)
	return p
}

// A handler that panics on a record loses that record alone: the panic
// goes no further, and the records before and after it are written.
func TestNew_HandlerPanicLosesItsRecordAlone(t *testing.T) {
	var out bytes.Buffer
	log := safelog.New(slog.New(safelogtest.Handler{Next: slog.NewTextHandler(&out, nil), On: "boom"}))
	log.Info("before")
	log.Info("boom")
	log.Info("after")
	got := out.String()
	if !strings.Contains(got, "msg=before") || !strings.Contains(got, "msg=after") || strings.Contains(got, "boom") {
		t.Fatalf("log = %q; want the records before and after the panic, not the one that panicked", got)
	}
}

// The error Handle returns in place of a panic names it; a handler that
// returns keeps its own answer.
func TestNew_HandleReturnsTheHandlersPanicAsAnError(t *testing.T) {
	h := safelog.New(slog.New(safelogtest.Handler{Next: slog.DiscardHandler, On: "boom"})).Handler()
	if err := h.Handle(context.Background(), slog.NewRecord(testTime, slog.LevelInfo, "boom", 0)); err == nil || !strings.Contains(err.Error(), safelogtest.Value) {
		t.Fatalf("Handle = %v; want the panic as an error", err)
	}
	if err := h.Handle(context.Background(), slog.NewRecord(testTime, slog.LevelInfo, "fine", 0)); err != nil {
		t.Fatalf("Handle of a record the handler takes = %v", err)
	}
}

// A handler whose Enabled panics is asked nothing more: the record is not
// built, and the caller goes on.
func TestNew_EnabledPanicReportsDisabled(t *testing.T) {
	log := safelog.New(slog.New(panicky{Handler: slog.DiscardHandler, inEnabled: true}))
	if log.Enabled(context.Background(), slog.LevelError) {
		t.Fatal("Enabled = true for a handler whose Enabled panicked")
	}
	log.Error("lost") // no panic
}

// A handler whose WithAttrs or WithGroup panics gives a Logger that
// discards its records (none is written without its attributes or
// group); the Logger it came from still writes.
func TestNew_WithAttrsOrGroupPanicDiscardsTheDerivedLoggersRecords(t *testing.T) {
	for _, tt := range []struct {
		name   string
		h      panicky
		derive func(*slog.Logger) *slog.Logger
	}{
		{"WithAttrs", panicky{inAttrs: true}, func(l *slog.Logger) *slog.Logger { return l.With("k", "v") }},
		{"WithGroup", panicky{inGroup: true}, func(l *slog.Logger) *slog.Logger { return l.WithGroup("g") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tt.h.Handler = slog.NewTextHandler(&out, nil)
			log := safelog.New(slog.New(tt.h))
			derived := tt.derive(log)
			derived.Info("derived")
			log.Info("base")
			if got := out.String(); strings.Contains(got, "derived") || !strings.Contains(got, "msg=base") {
				t.Fatalf("log = %q; want the base Logger's record alone", got)
			}
		})
	}
}

// Derived Loggers keep the recovery, and write with their attributes.
func TestNew_DerivedLoggersKeepTheRecovery(t *testing.T) {
	var out bytes.Buffer
	log := safelog.New(slog.New(safelogtest.Handler{Next: slog.NewTextHandler(&out, nil), On: "boom"})).With("k", "v").WithGroup("g")
	log.Info("boom")
	log.Info("fine", "a", 1)
	if got := out.String(); strings.Contains(got, "boom") || !strings.Contains(got, "k=v") || !strings.Contains(got, "g.a=1") {
		t.Fatalf("log = %q; want the derived Logger's record with its attributes, not the one that panicked", got)
	}
}

// New wraps once: a Logger it returned comes back as it is, and nil stays
// nil.
func TestNew_WrapsOnce(t *testing.T) {
	if safelog.New(nil) != nil {
		t.Fatal("New(nil) != nil")
	}
	log := safelog.New(slog.New(slog.DiscardHandler))
	if safelog.New(log) != log {
		t.Fatal("New of a Logger New returned wrapped it again")
	}
}

var testTime = time.Unix(1_800_000_000, 0)
