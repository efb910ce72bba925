// Package ascii folds the case of ASCII letters only, as URIs and HTTP
// compare hosts and schemes (RFC 3986, section 6.2.2.1): Unicode case
// folding would turn look-alikes into ASCII ("İ" U+0130 into "i", the
// Kelvin sign U+212A into "k") and invalid UTF-8 into U+FFFD, making
// different hosts equal.
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
