package jwxpanic_test

// Tests for checks a hand-run mutation test found no test held: each
// fails with the mutant named in its comment.

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/grpcauth/grpcauth/internal/jwxpanic"
	"github.com/grpcauth/grpcauth/internal/jwxpanic/jwxpanictest"
)

// panickingClaim is a claim value whose MarshalJSON, grpcauth's code,
// panics when jwx calls it.
type panickingClaim struct{}

func (panickingClaim) MarshalJSON() ([]byte, error) { panic("our claim's bug") }

// A panic raised in grpcauth's code that jwx called (a value's
// MarshalJSON, a callback) is labelled outside jwx: the nearest frame of
// jwx's or grpcauth's below the panic decides, not any jwx frame further
// down. (Mutant: grpcauth's frames not ending the walk.)
func TestRecover_PanicInOurCodeCalledByJWXIsNotLabelledInJWX(t *testing.T) {
	tok := jwt.New()
	if err := tok.Set("claim", panickingClaim{}); err != nil {
		t.Fatal(err)
	}
	err := check(func() { _, _ = json.Marshal(tok) })
	e, ok := jwxpanic.Find(err)
	if !ok || e.InJWX || !strings.Contains(e.Value, "our claim's bug") {
		t.Fatalf("check = %v (%+v); want a panic outside jwx", err, e)
	}
	if !strings.Contains(string(e.Stack), "github.com/lestrrat-go/jwx/v2/jwt.") {
		t.Fatalf("the panic's stack does not pass through jwx, so the test shows nothing:\n%s", e.Stack)
	}
}

// A recovered panic matches its own sentinel only: errors.Is with another
// error, such as a caller's refusal, reports false. (Mutant: Error.Is
// reporting true for any target.)
func TestError_IsMatchesNoOtherError(t *testing.T) {
	other := errors.New("pkg: invalid")
	if err := check(jwxpanictest.Panic); errors.Is(err, other) {
		t.Fatalf("errors.Is(%v, another error) = true, want false", err)
	}
}

// A panic's value is clipped to 160 bytes, as the docs say, its size
// noted after the cut. (Mutants:
// MaxValue one more, or the clip one longer than MaxValue.)
func TestRecover_PanicValueIsClippedTo160Bytes(t *testing.T) {
	err := check(func() { panic(strings.Repeat("x", 5000)) })
	e, ok := jwxpanic.Find(err)
	if want := strings.Repeat("x", 160) + "…(5000 bytes)"; !ok || e.Value != want {
		t.Fatalf("Value %q (%v), want %q", e.Value, ok, want)
	}
}

// The first stack a StackLog is asked for is let through whatever the
// clock reads, its zero included (an injected clock may start there).
// (Mutant: the first stack judged by its distance from the zero time.)
func TestStackLog_FirstStackIsLetThroughAtTheZeroTime(t *testing.T) {
	e, _ := jwxpanic.Find(check(jwxpanictest.Panic))
	var l jwxpanic.StackLog
	if got := l.Stack(e.Stack, time.Time{}.Add(time.Second)); got != string(e.Stack) {
		t.Fatalf("first Stack = %.80q…, want the stack", got)
	}
}

// A StackLog lets a stack through once a minute, as the docs say.
// (Mutant: StackEvery not a minute.)
func TestStackLog_LetsAStackThroughAMinuteAfterTheLast(t *testing.T) {
	e, _ := jwxpanic.Find(check(jwxpanictest.Panic))
	var l jwxpanic.StackLog
	t0 := time.Unix(1_800_000_000, 0)
	l.Stack(e.Stack, t0)
	if got := l.Stack(e.Stack, t0.Add(time.Minute-time.Nanosecond)); got == string(e.Stack) {
		t.Fatal("a stack let through under a minute after the last")
	}
	if got := l.Stack(e.Stack, t0.Add(time.Minute)); got != string(e.Stack) {
		t.Fatalf("Stack a minute after the last = %.80q…, want the stack", got)
	}
}
