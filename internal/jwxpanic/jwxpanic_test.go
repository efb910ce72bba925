package jwxpanic_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/internal/jwxpanic"
	"github.com/grpcauth/grpcauth/internal/jwxpanic/jwxpanictest"
)

// check runs f under Recover, as the code that hands input to jwx does.
func check(f func()) (err error) {
	defer jwxpanic.Recover(&err, func(e *jwxpanic.Error) error { return fmt.Errorf("pkg: checking %w", e) })
	f()
	return nil
}

func TestRecover_PanicRaisedInJWXIsLabelledInJWXWithItsStack(t *testing.T) {
	err := check(jwxpanictest.Panic)
	e, ok := jwxpanic.Find(err)
	if !ok || !e.InJWX || e.Value != jwxpanictest.Text {
		t.Fatalf("check = %v (%+v); want a panic in jwx", err, e)
	}
	if want := `pkg: checking panicked in jwx: "` + jwxpanictest.Text + `"`; err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
	if s := string(e.Stack); !strings.Contains(s, "github.com/lestrrat-go/jwx/v2/jwk.") || !strings.Contains(s, "jwxpanictest.Panic") {
		t.Fatalf("stack does not show jwx's frames:\n%s", s)
	}
}

// A panic of grpcauth's own code inside the recovered span, or of the
// standard library it calls, is recovered alike but never blamed on jwx;
// its value is quoted and clipped to MaxValue bytes.
func TestRecover_PanicRaisedOutsideJWXIsNotLabelledInJWX(t *testing.T) {
	var m map[string]int
	for name, f := range map[string]func(){
		"panic":                func() { panic("our bug\n" + strings.Repeat("x", 5000)) },
		"runtime error":        func() { m["a"]++ },
		"the standard library": func() { _ = strings.Repeat("x", -1) },
	} {
		err := check(f)
		e, ok := jwxpanic.Find(err)
		if !ok || e.InJWX {
			t.Fatalf("%s: check = %v; want a panic outside jwx", name, err)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "pkg: checking panicked outside jwx, in grpcauth's code: \"") || strings.ContainsRune(msg, '\n') || len(msg) > 80+jwxpanic.MaxValue {
			t.Fatalf("%s: error = %q; want the value quoted and clipped, outside jwx", name, msg)
		}
	}
}

func TestRecover_WithoutAPanicLeavesTheErrorAlone(t *testing.T) {
	want := errors.New("refused")
	f := func() (err error) {
		defer jwxpanic.Recover(&err, func(e *jwxpanic.Error) error { return e })
		return want
	}
	if err := f(); err != want {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if _, ok := jwxpanic.Find(want); ok {
		t.Fatal("Find found a panic in an error without one")
	}
}

// fatalRecorder is a testing.TB whose Fatalf records instead of failing.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper()                        {}
func (r *fatalRecorder) Fatalf(format string, a ...any) { r.msg = fmt.Sprintf(format, a...) }

func TestFailOnRecovered_FailsOnARecoveredPanicWithItsStack(t *testing.T) {
	r := &fatalRecorder{TB: t}
	jwxpanictest.FailOnRecovered(r, check(jwxpanictest.Panic))
	if !strings.Contains(r.msg, "panicked in jwx") || !strings.Contains(r.msg, "jwxpanictest.Panic") {
		t.Fatalf("FailOnRecovered on a recovered panic: %q; want a failure with the panic's stack", r.msg)
	}
	r = &fatalRecorder{TB: t}
	jwxpanictest.FailOnRecovered(r, errors.New("pkg: invalid"))
	jwxpanictest.FailOnRecovered(r, nil)
	if r.msg != "" {
		t.Fatalf("FailOnRecovered on a refusal without a panic: %q", r.msg)
	}
}

// A StackLog lets the first stack through, then at most one per
// StackEvery, and a note for the others; a clock set back lets the next
// stack through rather than silence the site until it catches up.
func TestStackLog_LetsOneStackThroughPerInterval(t *testing.T) {
	e, _ := jwxpanic.Find(check(jwxpanictest.Panic))
	var l jwxpanic.StackLog
	t0 := time.Unix(1_800_000_000, 0)
	for i, step := range []struct {
		at        time.Time
		wantStack bool
	}{
		{t0, true},
		{t0, false},
		{t0.Add(jwxpanic.StackEvery - 1), false},
		{t0.Add(jwxpanic.StackEvery), true},
		{t0.Add(jwxpanic.StackEvery + 1), false},
		{t0, true}, // the clock set back
		{t0.Add(1), false},
	} {
		got := l.Stack(e.Stack, step.at)
		if gotStack := got == string(e.Stack); gotStack != step.wantStack || len(got) == 0 {
			t.Fatalf("step %d: Stack = %.80q…; want the stack: %v", i, got, step.wantStack)
		}
	}
}

// Find is called on refusals (a bad signature, an invalid proof): on an
// error that wraps no panic it allocates nothing.
func TestFind_WithoutAPanicAllocatesNothing(t *testing.T) {
	err := fmt.Errorf("pkg: invalid: %w", errors.New("bad signature"))
	if n := testing.AllocsPerRun(100, func() { _, _ = jwxpanic.Find(err) }); n != 0 {
		t.Fatalf("Find on a refusal without a panic: %v allocations, want 0", n)
	}
}
