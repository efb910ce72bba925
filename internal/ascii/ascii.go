// Package ascii holds case mapping for protocol elements whose case is
// defined in ASCII only (URI schemes and hosts, RFC 3986, section 6.2.2.1),
// where strings.ToLower, which maps Unicode, would make distinct names
// equal: "İ" (U+0130) becomes "i", the Kelvin sign (U+212A) "k".
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
