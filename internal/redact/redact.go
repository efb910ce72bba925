package redact

import (
	"fmt"
	"io"
	"strings"
)

// UserInfo returns s, a URL or origin as configured (valid or not), with
// the user info of its authority ("user:password@") replaced by "…@", so
// that an error naming s, which may be logged, carries no password. The
// authority starts after a "//" that begins s or follows its scheme
// ("https:", RFC 3986 3.1), and otherwise at the start of s (a "//"
// elsewhere may be the password's: "alice:pa//ss@host"); its user info is
// everything from there up to the last "@" of s. That "@" may lie past
// the authority's end (the next "/", "?" or "#"), since such a character
// in a password ends the authority for url.Parse ("https://u:pa?ss@host"):
// an "@" in a path or query is taken for the user info's end too, which
// costs an error message some text, never a password.
func UserInfo(s string) string {
	if start, end := userInfo(s); end >= 0 {
		return s[:start] + "…" + s[end:]
	}
	return s
}

// UserInfoOf returns the user info that UserInfo replaces in s, as s
// holds it (still percent-encoded), or "" if there is none: the secret an
// error text naming s in some other form would repeat.
func UserInfoOf(s string) string {
	if start, end := userInfo(s); end >= 0 {
		return s[start:end]
	}
	return ""
}

// userInfo returns where the user info of s starts and ends (the index of
// its last "@"; -1 without one), as UserInfo reads it.
func userInfo(s string) (start, end int) {
	if i := strings.Index(s, "//"); i >= 0 && (i == 0 || isScheme(s[:i])) {
		start = i + len("//") // the authority follows scheme://
	}
	if at := strings.LastIndexByte(s[start:], '@'); at >= 0 {
		return start, start + at
	}
	return start, -1
}

// isScheme reports whether s is a URL scheme and its colon: a letter, then
// letters, digits, "+", "-" or "." (RFC 3986 3.1), then ":".
func isScheme(s string) bool {
	name, ok := strings.CutSuffix(s, ":")
	if !ok || name == "" || !isLetter(name[0]) {
		return false
	}
	for _, c := range []byte(name) {
		if !isLetter(c) && !('0' <= c && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// FormatString is fmt.FormatString(f, verb) for a Format method that
// prints a struct of its fields (verifier.Config's, introspect.Config's)
// whose pointers must print as addresses: fmt prints a pointer field as
// its address for %v, %b, %o, %d, %x and %X, but for another verb (%s,
// %q, %t, ...) it prints what the pointer points to, and an *http.Client
// then shows its Transport, a value type's fields included (a credential
// it adds to every request). For those verbs it returns the format with
// %v in their place, flags and all.
func FormatString(f fmt.State, verb rune) string {
	switch verb {
	case 'v', 'b', 'o', 'd', 'x', 'X':
	default:
		verb = 'v'
	}
	return fmt.FormatString(f, verb)
}

// WriteStruct writes v, a redacted copy of a Config converted to a
// method-less type (type config Config, so that printing it does not call
// Format again), as fmt prints a struct for verb (see FormatString), with
// the type name from, which %#v shows, replaced by to ("verifier.config"
// by "verifier.Config"). verifier.Config's and introspect.Config's Format
// methods share it.
func WriteStruct(f fmt.State, verb rune, v any, from, to string) {
	s := fmt.Sprintf(FormatString(f, verb), v) // pointers as addresses
	if rest, ok := strings.CutPrefix(s, from+"{"); ok {
		s = to + "{" + rest // %#v
	}
	io.WriteString(f, s)
}
