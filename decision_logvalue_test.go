package grpcauth_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
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
	d := grpcauth.Decision{
		Method:        "/" + long,
		UnknownMethod: true,
		Code:          codes.PermissionDenied,
		Reason:        grpcauth.ReasonScopeInsufficient,
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
			"decision.reason=" + grpcauth.ReasonScopeInsufficient, `decision.subject="xxx`, "(70000 bytes)",
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
