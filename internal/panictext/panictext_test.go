package panictext

import (
	"errors"
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
