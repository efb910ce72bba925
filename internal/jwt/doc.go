// Package jwt is the one parser of compact JWS tokens that the verifier, the
// MultiVerifier's issuer routing and introspect.Combined share. It splits a
// token once, decodes its parts with strict base64url, and decodes the JOSE
// header and the registered claims with encoding/json/v2 (the Go 1.27
// standard library package, taken from its mirror module
// github.com/go-json-experiment/json while the module supports Go 1.26):
// its jsontext decoder reads the outermost object member by member
// (members), decoding the registered members into Header and Claims and
// skipping every other member without keeping it. It checks form and
// types only: signatures, times and values are the verifier's business.
//
//	parts, err := jwt.Split(token)
//	if err != nil {
//		return err
//	}
//	buf := parts.Buffer() // one buffer for the header, then the payload, then the signing input
//	hb, err := jwt.DecodeInto(buf, parts.Header)
//	if err != nil {
//		return err
//	}
//	h, err := jwt.ParseHeader(hb) // copies out what it keeps: buf is reused below
//	if err != nil {
//		return err
//	}
//	payload, err := jwt.DecodeInto(buf, parts.Payload)
//	if err != nil {
//		return err
//	}
//	reg, err := jwt.ParseClaims(payload) // form and types only: h (alg, crit, b64), the signature and reg's times are the caller's to check
//
// encoding/json/v2's defaults are the strict ones a token parser wants:
// invalid UTF-8 and anything after the object are errors. Member names
// match exactly (no case folding), and one that differs from a registered
// name only in case is refused (see scan). A repeated member name keeps
// its last value, as with encoding/json (see decodeOptions), except aud.
//
// A header whose members are all strings of printable ASCII without
// escapes, as issuers write them, is read by hand (plainHeader), without
// the decoder's setting up, and so is a scope array of such strings
// (PlainStrings, for the verifier); FuzzPlainHeader and FuzzPlainStrings
// check that the decoder reads them alike. Any other well-formed header,
// and a payload, without nested objects is read once, by the decoder; a
// linear pre-pass (scan) runs first only on a text that could nest too
// deep or has nested objects, and after the decoder on one it refuses, so
// that each input gets the error of the pre-pass-first
// order (see decodeObject).
//
// Cost is bounded by the input: nesting deeper than MaxDepth is refused
// before the decoder sees the input, aud arrays longer than MaxAudiences
// and escaped string values longer than 1 KiB while it decodes them, no
// member name is unescaped on the heap, and no invalid text reaches the
// decoder while long or costly member names (costlyName: escaped, or
// holding '&', '<', '>' or a byte past ASCII) could be on its path (its
// syntax errors name the path), so that rejecting a token allocates at
// most twice its length plus a small constant. See docs/verifier.md.
package jwt
