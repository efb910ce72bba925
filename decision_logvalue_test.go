package grpcauth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth/verifier"
)

// A Decision a hook logs as a value (slog.Any, or as an argument) is the
// bounded decision record, not the struct: a made-up method, a token's
// long sub and a long error are clipped, and no claim beyond subject,
// client_id and issuer is shown. Before LogValue, slog printed the whole
// struct: all 70,000 bytes of each, and every claim.
func TestDecision_LogValueIsTheBoundedRecord(t *testing.T) {
	long := strings.Repeat("x", 70000)
	claims, err := verifier.NewClaims(map[string]any{"sub": long, "client_id": "reader", "iss": "https://issuer.example", "email": "someone@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	d := Decision{
		Method:        "/" + long,
		UnknownMethod: true,
		Code:          codes.PermissionDenied,
		Reason:        ReasonScopeInsufficient,
		Claims:        claims,
		Err:           errors.New(long),
	}
	for name, v := range map[string]any{"value": d, "pointer": &d} {
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("hook", "decision", v)
		out := buf.String()
		if len(out) > 4096 {
			t.Errorf("%s: the record is %d bytes; want the bounded record", name, len(out))
		}
		for _, want := range []string{
			`decision.method="/xxx`, "(70001 bytes)", "decision.outcome=denied", "decision.code=PermissionDenied",
			"decision.reason=" + ReasonScopeInsufficient, `decision.subject="xxx`, "(70000 bytes)",
			"decision.client_id=reader", "decision.issuer=https://issuer.example", `decision.error="xxx`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the record lacks %q:\n%.600s", name, want, out)
			}
		}
		if strings.Contains(out, "someone@example.com") {
			t.Errorf("%s: the record shows a claim beyond subject, client_id and issuer", name)
		}
	}
}

// The decision record a logger enabled for it writes allocates nothing
// for its attributes beyond what slog.Logger.LogAttrs allocates for the
// same attributes given at once: they are built in a buffer on
// logDecision's stack. (Sharing them with LogValue first returned a slice
// from the heap, one allocation for every record.)
func TestLog_DecisionRecordAllocatesNothingForItsAttributes(t *testing.T) {
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "client_id": "reader", "iss": "https://issuer.example"})
	if err != nil {
		t.Fatal(err)
	}
	a := mustNew(t, Config{Logger: slog.New(enabledNopHandler{})})
	ctx := context.Background()
	for name, d := range map[string]*Decision{
		"fewest attributes": {Method: mAllOf, Allowed: true},
		"most attributes":   {Method: mAllOf, Code: codes.PermissionDenied, Reason: ReasonScopeInsufficient, Claims: claims, Err: errors.New("scope")},
	} {
		attrs := d.appendAttrs(nil)
		base := testing.AllocsPerRun(100, func() { a.logger.LogAttrs(ctx, slog.LevelInfo, "m", attrs...) })
		if n := testing.AllocsPerRun(100, func() { a.logDecision(ctx, slog.LevelInfo, d) }); n != base {
			t.Errorf("%s: logging the decision record allocates %v times, want %v (the Record's own, for %d attributes)", name, n, base, len(attrs))
		}
	}
}

// enabledNopHandler is a slog.Handler enabled at every level that drops
// its records without allocating.
type enabledNopHandler struct{}

func (enabledNopHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (enabledNopHandler) Handle(context.Context, slog.Record) error { return nil }
func (h enabledNopHandler) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h enabledNopHandler) WithGroup(string) slog.Handler           { return h }
