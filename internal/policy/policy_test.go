package policy

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/internal/safelog/safelogtest"
)

var defaults = Defaults{ScopeClaims: []string{"scp"}, ClockSkew: time.Minute, MaxTokenSize: 100, MaxResponseSize: 1000}

func valid() Policy { return Policy{Issuer: "https://issuer.example", Audiences: []string{"api"}} }

func TestValidate_RejectsWithTheFieldsName(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Policy)
		want   string // the whole error
	}{
		{"no issuer", func(p *Policy) { p.Issuer = "" }, "Issuer is required"},
		{"no audience", func(p *Policy) { p.Audiences = nil }, "Audiences is required (or set SkipAudienceCheck)"},
		{"empty audience", func(p *Policy) { p.Audiences = []string{"a", ""} }, "Audiences contains an empty string"},
		{"audiences and skipping them", func(p *Policy) { p.SkipAudienceCheck = true }, "SkipAudienceCheck and Audiences are both set; the audiences would not be checked, so set one"},
		{"empty client id", func(p *Policy) { p.ClientIDs = []string{""} }, "ClientIDs contains an empty string"},
		{"empty scope claim", func(p *Policy) { p.ScopeClaims = []string{""} }, "ScopeClaims contains an empty string"},
		{"negative MaxTokenSize", func(p *Policy) { p.MaxTokenSize = -1 }, "MaxTokenSize must not be negative"},
		{"negative MaxResponseSize", func(p *Policy) { p.MaxResponseSize = -1 }, "MaxResponseSize must not be negative"},
		{"the first of two", func(p *Policy) { p.MaxTokenSize, p.MaxResponseSize = -1, -1 }, "MaxTokenSize must not be negative"},
		{"Logger on a nil handler", func(p *Policy) { p.Logger = slog.New((*slog.JSONHandler)(nil)) }, "Logger has no handler (built on a nil *slog.JSONHandler): build it with slog.New, or leave Logger nil for slog.Default()"},
		{"Logger without a handler", func(p *Policy) { p.Logger = &slog.Logger{} }, "Logger has no handler (a zero slog.Logger): build it with slog.New, or leave Logger nil for slog.Default()"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := valid()
			tc.mutate(&p)
			if _, err := Validate(p, defaults); err == nil || err.Error() != tc.want {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestValidate_AppliesDefaultsAndCopiesSlices(t *testing.T) {
	in := valid()
	in.ClientIDs = []string{"c"}
	got, err := Validate(in, defaults)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClockSkew != time.Minute || got.MaxTokenSize != 100 || got.MaxResponseSize != 1000 ||
		got.Now == nil || got.Logger == nil || got.HTTPClient != nil || !slices.Equal(got.ScopeClaims, []string{"scp"}) {
		t.Fatalf("defaults not applied: %+v", got)
	}
	in.Audiences[0], in.ClientIDs[0], defaults.ScopeClaims[0] = "x", "x", "x"
	defer func() { defaults.ScopeClaims[0] = "scp" }()
	if got.Audiences[0] != "api" || got.ClientIDs[0] != "c" || got.ScopeClaims[0] != "scp" {
		t.Fatalf("slices alias the caller's: %+v", got)
	}
}

func TestValidate_ClockSkew(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{{0, time.Minute}, {-1, 0}, {5 * time.Second, 5 * time.Second}} {
		p := valid()
		p.ClockSkew = tc.in
		got, err := Validate(p, defaults)
		if err != nil || got.ClockSkew != tc.want {
			t.Errorf("ClockSkew %v: got %v, %v; want %v", tc.in, got.ClockSkew, err, tc.want)
		}
	}
}

func TestValidate_SkipAudienceCheckNeedsNoAudience(t *testing.T) {
	if _, err := Validate(Policy{Issuer: "i", SkipAudienceCheck: true}, defaults); err != nil {
		t.Fatal(err)
	}
}

func TestPositive_KeepsTheFirstError(t *testing.T) {
	var err error
	if got := Positive(&err, "A", 0, 7); got != 7 || err != nil {
		t.Fatalf("zero: %v, %v; want the default", got, err)
	}
	if got := Positive(&err, "B", 3, 7); got != 3 || err != nil {
		t.Fatalf("positive: %v, %v; want it kept", got, err)
	}
	Positive(&err, "C", -1, 7)
	first := err
	Positive(&err, "D", -2, 7)
	if err == nil || err.Error() != "C must not be negative" || !errors.Is(err, first) {
		t.Fatalf("err = %v, want C's", err)
	}
}

// The Logger Validate returns loses a record its handler panics on, and
// writes the others: verifier and introspect log where a panic would end
// the process or fail a request.
func TestValidate_LoggerLosesTheRecordItsHandlerPanicsOn(t *testing.T) {
	var out bytes.Buffer
	in := valid()
	in.Logger = slog.New(safelogtest.Handler{Next: slog.NewTextHandler(&out, nil), On: "boom"})
	got, err := Validate(in, defaults)
	if err != nil {
		t.Fatal(err)
	}
	got.Logger.Info("boom")
	got.Logger.Info("after")
	if s := out.String(); strings.Contains(s, "boom") || !strings.Contains(s, "msg=after") {
		t.Fatalf("log = %q; want the record after the panic alone", s)
	}
}
