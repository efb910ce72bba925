// Package ascii holds the byte-level ASCII rules that several packages
// share.
//
// Lower folds the case of ASCII letters only, as URIs and HTTP compare
// hosts and schemes (RFC 3986, section 6.2.2.1): Unicode case folding would
// turn look-alikes into ASCII ("İ" U+0130 into "i", the Kelvin sign U+212A
// into "k") and invalid UTF-8 into U+FFFD, making different hosts equal.
//
// IsNQChars is OAuth's 1*NQCHAR, the grammar of a scope-token (RFC 6749,
// section 3.3) and of a DPoP nonce (RFC 9449, section 8.1).
//
// IsVChars is 1*VCHAR (RFC 5234, appendix B.1), the bytes an access token
// may have to go in an authorization value.
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
func IsVChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}
