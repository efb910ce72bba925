package isnil

import (
	"io"
	"strings"
	"testing"
)

func TestValue(t *testing.T) {
	var (
		r   *strings.Reader
		f   func()
		m   map[string]int
		s   []int
		c   chan int
		rdr io.Reader = r // a nil *strings.Reader: not == nil
	)
	for _, tc := range []struct {
		name string
		v    any
		want bool // Value's; Reference's too, but for nil maps and slices
	}{
		{"nil", nil, true},
		{"nil pointer in an interface", rdr, true},
		{"nil func", f, true},
		{"nil map", m, true},
		{"nil slice", s, true},
		{"nil channel", c, true},
		{"pointer", strings.NewReader(""), false},
		{"value", 0, false},
		{"empty struct", struct{}{}, false},
		{"empty slice", []int{}, false},
	} {
		if got := Value(tc.v); got != tc.want {
			t.Errorf("%s: Value = %v, want %v", tc.name, got, tc.want)
		}
		wantRef := tc.want && tc.name != "nil map" && tc.name != "nil slice"
		if got := Reference(tc.v); got != wantRef {
			t.Errorf("%s: Reference = %v, want %v", tc.name, got, wantRef)
		}
	}
}
