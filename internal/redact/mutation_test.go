package redact

import (
	"fmt"
	"testing"
)

// A "//" starts the authority only after a scheme (RFC 3986: a letter,
// then letters, digits, "+", "-" or "."; then ":") or at the start: after
// anything else it is the user info's own, and all of it up to the "@" is
// hidden, the user name included. Whatever precedes the "@" in the
// authority is replaced, even when empty.
func TestUserInfo_OnlyASchemeKeepsWhatPrecedesTheSlashes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// Schemes whose first or last letter is a or z, in either case.
		{"a://alice:hunter2@app.example.com", "a://…@app.example.com"},
		{"z://alice:hunter2@app.example.com", "z://…@app.example.com"},
		{"A://alice:hunter2@app.example.com", "A://…@app.example.com"},
		{"Z://alice:hunter2@app.example.com", "Z://…@app.example.com"},
		// Not schemes: no ":", an empty name, a digit first.
		{"alice//hunter2@app.example.com", "…@app.example.com"},
		{"://alice:hunter2@app.example.com", "…@app.example.com"},
		{"1a://alice:hunter2@app.example.com", "…@app.example.com"},
		{"+a://alice:hunter2@app.example.com", "…@app.example.com"},
		// Not letters: the characters that differ from letters in bit 0x20 only.
		{"_a://alice:hunter2@app.example.com", "…@app.example.com"},
		{"a[b://alice:hunter2@app.example.com", "…@app.example.com"},
		// An empty user info is marked as any other.
		{"https://@app.example.com", "https://…@app.example.com"},
		{"@app.example.com", "…@app.example.com"},
	} {
		if got := UserInfo(tc.in); got != tc.want {
			t.Errorf("UserInfo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// cfg is a struct of the kind WriteStruct prints; shown is the type whose
// Format method prints it.
type (
	cfg struct {
		Name string
		N    int
		P    *int
	}
	shown cfg
)

func (c shown) Format(f fmt.State, verb rune) {
	WriteStruct(f, verb, cfg(c), "redact.cfg", "redact.shown")
}

// The verbs for which fmt prints a struct's pointers as addresses (%v,
// %b, %o, %d, %x, %X) print it as fmt does, flags and all: only the others
// become %v.
func TestWriteStruct_KeepsTheVerbsThatPrintPointersAsAddresses(t *testing.T) {
	n := 7
	c := cfg{Name: "issuer", N: 12, P: &n}
	for _, format := range []string{"%v", "%+v", "%b", "%o", "%d", "%x", "%X", "% x", "%08d"} {
		if got, want := fmt.Sprintf(format, shown(c)), fmt.Sprintf(format, c); got != want {
			t.Errorf("%s: %q, want %q", format, got, want)
		}
	}
}
