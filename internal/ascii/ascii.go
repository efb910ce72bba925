package ascii

// Lower returns s with its ASCII upper-case letters, and only those, in
// lower case; every other byte, valid UTF-8 or not, is kept as it is.
func Lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// IsNQChars reports whether s is one or more NQCHAR (RFC 6749, appendix A:
// %x21 / %x23-5B / %x5D-7E), that is printable ASCII other than space, '"'
// and '\'. It judges bytes, so no non-ASCII text, valid UTF-8 or not, passes.
func IsNQChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// IsVChars reports whether s is one or more VCHAR (RFC 5234, appendix B.1:
// %x21-7E), that is printable ASCII other than space. It judges bytes, so
// no non-ASCII text, valid UTF-8 or not, passes.
func IsVChars(s string) bool { return isPrintable(s, 0x21) }

// IsVSChars reports whether s is one or more VSCHAR (RFC 6749, appendix A:
// %x20-7E), that is printable ASCII, space included: the characters of an
// OAuth 2.0 state. It judges bytes, so no non-ASCII text, valid UTF-8 or
// not, passes.
func IsVSChars(s string) bool { return isPrintable(s, 0x20) }

// isPrintable reports whether s is not empty and each of its bytes is
// from lowest to 0x7e.
func isPrintable(s string, lowest byte) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < lowest || c > 0x7e {
			return false
		}
	}
	return true
}
