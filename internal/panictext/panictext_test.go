package panictext

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

// nested is a panic value whose String method panics with another nested.
type nested struct{}

func (nested) String() string { panic(nested{}) }

// once is a panic value whose Error method panics with a string.
type once struct{}

func (once) Error() string { panic("error method bug") }

func TestText_IsBoundedAndNeverPanics(t *testing.T) {
	for _, tc := range []struct {
		v    any
		max  int
		want string
	}{
		{"bug", 10, "bug"},
		{errors.New("bug"), 10, "bug"},
		{42, 10, "42"},
		{strings.Repeat("é", 1000), 11, strings.Repeat("é", 5) + "…(2000 bytes)"},
		{once{}, 100, "%!v(PANIC=Error method: error method bug)"},
		{nested{}, 100, "a panictext.nested, whose String or Error method panicked"},
	} {
		if got := Text(tc.v, tc.max); got != tc.want {
			t.Errorf("Text(%T) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestRun_ReportsWhetherFReturned(t *testing.T) {
	ran := false
	if text, panicked := Run(func() { ran = true }, 10); panicked || text != "" || !ran {
		t.Errorf("Run(returning f) = %q, %v (ran %v), want \"\", false (ran true)", text, panicked, ran)
	}
	if text, panicked := Run(func() { panic(strings.Repeat("x", 20)) }, 10); !panicked || text != strings.Repeat("x", 10)+"…(20 bytes)" {
		t.Errorf("Run(panicking f) = %q, %v, want the clipped text, true", text, panicked)
	}
}

// Under GODEBUG=panicnil=1 recover returns nil for a panic(nil): f did not
// return all the same, and Run says so.
func TestRun_PanicNilUnderPanicNilFailsAlike(t *testing.T) {
	t.Setenv("GODEBUG", "panicnil=1")
	if text, panicked := Run(func() { panic(nil) }, 10); !panicked || text != "<nil>" {
		t.Errorf("Run(panic(nil)) = %q, %v, want \"<nil>\", true", text, panicked)
	}
}

// Catch tells a panic from a return and a runtime.Goexit whatever the
// panic's value: under GODEBUG=panicnil=1 a panic(nil) is (nil, true),
// and a Goexit ends the goroutine within Catch, which never returns.
func TestCatch_TellsPanicNilFromGoexit(t *testing.T) {
	t.Setenv("GODEBUG", "panicnil=1")
	if v, panicked := Catch(func() {}); panicked || v != nil {
		t.Errorf("Catch(returning f) = %v, %v, want nil, false", v, panicked)
	}
	if v, panicked := Catch(func() { panic(nil) }); !panicked || v != nil {
		t.Errorf("Catch(panic(nil)) = %v, %v, want nil, true", v, panicked)
	}
	returned := make(chan bool, 1)
	go func() {
		caught := false
		defer func() { returned <- caught }()
		Catch(runtime.Goexit)
		caught = true
	}()
	if <-returned {
		t.Error("Catch(runtime.Goexit) returned; want the goroutine ended within it")
	}
}
