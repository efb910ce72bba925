// Package redact removes secrets from configuration strings that an error
// or a log record repeats.
package redact

import "strings"

// UserInfo returns s, a URL or origin as configured (valid or not), with
// the user info of its authority ("user:password@") replaced by "…@", so
// that an error naming s, which may be logged, carries no password. The
// authority starts after the first "//" that no "/", "?", "#" or "@"
// precedes (or at the start of s when there is none); its user info is
// everything from there up to the last "@" of s. That "@" may lie past
// the authority's end (the next "/", "?" or "#"), since such a character
// in a password ends the authority for url.Parse ("https://u:pa?ss@host"):
// an "@" in a path or query is taken for the user info's end too, which
// costs an error message some text, never a password.
func UserInfo(s string) string {
	start := 0
	if i := strings.Index(s, "//"); i >= 0 && !strings.ContainsAny(s[:i], "/?#@") {
		start = i + len("//") // the authority follows scheme://
	}
	if at := strings.LastIndexByte(s[start:], '@'); at >= 0 {
		return s[:start] + "…" + s[start+at:]
	}
	return s
}
