// Package ascii holds the byte-level ASCII rules that several packages
// share.
//
//	if !ascii.IsNQChars(scope) {
//		return errors.New("a scope is not a scope-token (RFC 6749, 3.3)")
//	}
//	sameHost := ascii.Lower(a.Host) == ascii.Lower(b.Host) // never Unicode folding
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
