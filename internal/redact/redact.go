// Package redact removes secrets from configuration strings that an error
// or a log record repeats.
package redact

import "strings"

// UserInfo returns s, a URL or origin as configured (valid or not), with
// the user info of its authority ("user:password@") replaced by "…@", so
// that an error naming s, which may be logged, carries no password. The
// authority starts after the first "//" that no "/", "?", "#" or "@"
// precedes (or at the start of s when there is none), and ends at the
// next "/", "?" or "#"; its user info is everything up to its last "@".
func UserInfo(s string) string {
	start := 0
	if i := strings.Index(s, "//"); i >= 0 && !strings.ContainsAny(s[:i], "/?#@") {
		start = i + len("//") // the authority follows scheme://
	}
	end := len(s)
	if i := strings.IndexAny(s[start:], "/?#"); i >= 0 {
		end = start + i
	}
	if at := strings.LastIndexByte(s[start:end], '@'); at >= 0 {
		return s[:start] + "…" + s[start+at:]
	}
	return s
}
