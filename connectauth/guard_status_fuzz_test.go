package connectauth

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzWebTrailerStatus checks that a gRPC-Web trailers frame that the
// guard reads as an error is one to both JavaScript clients, as modelled
// here from their sources: grpc-web's (grpcwebclientreadablestream.js:
// bytes as Latin-1, the whole trimmed, lines split at CRLF, each name and
// value trimmed, the last "grpc-status" kept, read with Number, no status
// being OK) and @connectrpc/connect-web's (trailer.ts, trailer-status.ts:
// UTF-8, lines split at CRLF, a name before a colon past the first byte,
// names of any case joined with ", ", "0" alone OK, a name or value that
// Headers refuses an error).
func FuzzWebTrailerStatus(f *testing.F) {
	for _, s := range []string{"grpc-status: 13\r\n", "grpc-status: 13\r\ngrpc-status: 0\r\n", "Grpc-Status: 13\r\n",
		"x-a: b\ngrpc-status: 13\r\n", "grpc-status: 13\rgrpc-status: 0\r\n", "grpc-status: 0x0\r\n", "grpc-status:\xa013",
		"\xa0grpc-status: 0\r\ngrpc-status: 13", " grpc-status : 7 \r\ngrpc-message: no\r\n", "grpc-status: 0.0e5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		if !webTrailerStatus(payload).isError() {
			return
		}
		if grpcWebJSReadsOK(payload) {
			t.Fatalf("%q: an error to the guard, OK to grpc-web", payload)
		}
		if connectWebReadsOK(payload) {
			t.Fatalf("%q: an error to the guard, OK to connect-web", payload)
		}
	})
}

// jsTrim is JavaScript's String.prototype.trim.
func jsTrim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		switch r {
		case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
			return true
		}
		return 0x2000 <= r && r <= 0x200a
	})
}

var (
	jsDecimal = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
	jsRadix   = regexp.MustCompile(`^0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)$`)
)

// jsNumberIsZero reports whether JavaScript's Number(s) is 0 (or -0).
func jsNumberIsZero(s string) bool {
	s = jsTrim(s)
	switch {
	case s == "":
		return true
	case jsDecimal.MatchString(s):
		mantissa, _, _ := strings.Cut(strings.ToLower(s), "e")
		return strings.Trim(mantissa, "+-0.") == ""
	case jsRadix.MatchString(s):
		return strings.Trim(s[2:], "0") == ""
	}
	return false // NaN, Infinity
}

// grpcWebJSReadsOK models grpc-web's parseHttp1Headers_ and its reading
// of the status.
func grpcWebJSReadsOK(payload string) bool {
	runes := make([]rune, len(payload)) // String.fromCharCode of each byte
	for i := range len(payload) {
		runes[i] = rune(payload[i])
	}
	headers := map[string]string{}
	for chunk := range strings.SplitSeq(jsTrim(string(runes)), "\r\n") {
		key, value := "", jsTrim(chunk)
		if pos := strings.IndexByte(chunk, ':'); pos >= 0 {
			key, value = jsTrim(chunk[:pos]), jsTrim(chunk[pos+1:])
		}
		headers[key] = value
	}
	status, ok := headers["grpc-status"]
	return !ok || jsNumberIsZero(status)
}

// connectWebReadsOK models connect-web's trailerParse and
// findTrailerError, the details aside (the guard decodes those as it
// does).
func connectWebReadsOK(payload string) bool {
	text := strings.ToValidUTF8(payload, string(utf8.RuneError)) // TextDecoder
	var statuses []string
	for line := range strings.SplitSeq(text, "\r\n") {
		i := strings.IndexByte(line, ':')
		if line == "" || i <= 0 {
			continue
		}
		name, value := jsTrim(line[:i]), jsTrim(line[i+1:])
		if name == "" || strings.ContainsFunc(name, func(r rune) bool {
			return r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
		}) || strings.ContainsAny(value, "\x00\r\n") {
			return false // Headers.append throws: the call fails
		}
		if strings.EqualFold(name, "grpc-status") {
			statuses = append(statuses, strings.Trim(value, " \t"))
		}
	}
	return len(statuses) > 0 && strings.Join(statuses, ", ") == "0"
}
