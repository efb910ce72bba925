package verifier

import (
	"bytes"
	"encoding/json"
)

// A strict, allocation-free JSON scanner for the fast path of header and
// claims decoding. It accepts exactly RFC 8259 JSON, but only the subset the
// fast path handles: an object whose member names are plain printable ASCII
// without escapes, nested at most maxScanDepth deep. For anything else it
// reports false and the caller falls back to encoding/json, so results never
// differ from encoding/json's; FuzzScanObject checks that.

// maxScanDepth bounds nesting on the fast path; deeper input falls back to
// encoding/json (whose own limit is 10000).
const maxScanDepth = 64

// rawMember is one member of a scanned object: its name's bytes (no
// quotes) and its value's bytes (no surrounding whitespace), both in the
// scanned input.
type rawMember struct{ name, value []byte }

// scanObject reports whether b is one JSON object, optionally surrounded by
// whitespace, that the fast path handles, and appends its members to out in
// order. Pass a stack array's slice as out to scan without allocating.
func scanObject(b []byte, out []rawMember) ([]rawMember, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return out, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return out, skipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return out, false
		}
		end, plain := scanString(b, i)
		if end < 0 || !plain {
			return out, false
		}
		name := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return out, false
		}
		start := skipSpace(b, i+1)
		if i = scanValue(b, start, 1); i < 0 {
			return out, false
		}
		out = append(out, rawMember{name, b[start:i]})
		if i = skipSpace(b, i); i >= len(b) {
			return out, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return out, skipSpace(b, i+1) == len(b)
		default:
			return out, false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString scans the string starting at b[i] == '"'. It returns the index
// after the closing quote (-1 when invalid) and whether the string is plain:
// printable ASCII with no escapes, so its bytes are its value.
func scanString(b []byte, i int) (end int, plain bool) {
	plain = true
	for i++; i < len(b); i++ {
		if plainByte[b[i]] {
			continue
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, plain
		case c == '\\':
			plain = false
			if i++; i >= len(b) {
				return -1, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 {
					return -1, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return -1, false
					}
				}
				i += 4
			default:
				return -1, false
			}
		case c < 0x20:
			return -1, false
		case c >= 0x7f:
			plain = false
		}
	}
	return -1, false
}

// plainByte marks the bytes a plain string consists of: printable ASCII
// other than '"' and '\'.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanValue scans the value starting at b[i] and returns the index after it,
// or -1 when it is invalid or nested deeper than maxScanDepth.
func scanValue(b []byte, i, depth int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		end, _ := scanString(b, i)
		return end
	case c == '{', c == '[':
		if depth >= maxScanDepth {
			return -1
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closing {
			return i + 1
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return -1
				}
				if i, _ = scanString(b, i); i < 0 {
					return -1
				}
				if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
					return -1
				}
				i = skipSpace(b, i+1)
			}
			if i = scanValue(b, i, depth+1); i < 0 {
				return -1
			}
			if i = skipSpace(b, i); i >= len(b) {
				return -1
			}
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
			case closing:
				return i + 1
			default:
				return -1
			}
		}
	case c == '-' || isDigit(c):
		return scanNumber(b, i)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	}
	return -1
}

func scanLiteral(b []byte, i int, lit string) int {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit)
	}
	return -1
}

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func scanNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i
}

// plainString returns the value of a JSON string value that is plain
// (printable ASCII, no escapes), and false for anything else. The result
// shares v's memory (see aliasString).
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	for _, c := range v[1 : len(v)-1] {
		if !plainByte[c] {
			return "", false
		}
	}
	return aliasString(v[1 : len(v)-1]), true
}

// decodeString decodes a JSON value that must be a string, as json.Unmarshal
// into a string would (including its treatment of null: "" and ok).
func decodeString(v []byte) (string, bool) {
	if s, ok := plainString(v); ok {
		return s, true
	}
	var s string
	return s, json.Unmarshal(v, &s) == nil
}

// plainStringArray decodes a JSON array of plain strings; false for anything
// else (the caller then uses encoding/json). The strings share v's memory.
func plainStringArray(v []byte) ([]string, bool) {
	if len(v) < 2 || v[0] != '[' {
		return nil, false
	}
	out := make([]string, 0, bytes.Count(v, []byte{','})+1)
	i := skipSpace(v, 1)
	if i < len(v) && v[i] == ']' {
		return out, skipSpace(v, i+1) == len(v)
	}
	for {
		if i >= len(v) || v[i] != '"' {
			return nil, false
		}
		end, plain := scanString(v, i)
		if end < 0 || !plain {
			return nil, false
		}
		out = append(out, aliasString(v[i+1:end-1]))
		if i = skipSpace(v, end); i >= len(v) {
			return nil, false
		}
		switch v[i] {
		case ',':
			i = skipSpace(v, i+1)
		case ']':
			return out, i+1 == len(v)
		default:
			return nil, false
		}
	}
}
