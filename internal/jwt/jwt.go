// Package jwt is the one parser of compact JWS tokens that the verifier, the
// MultiVerifier's issuer routing and introspect.Combined share. It splits a
// token once, decodes its parts with strict base64url, and decodes the JOSE
// header and the registered claims with encoding/json into tagged structs,
// which skip every other member without keeping it. It checks form and
// types only: signatures, times and values are the verifier's business.
//
// Cost is bounded by the input: nesting deeper than MaxDepth and aud arrays
// longer than MaxAudiences are refused before encoding/json sees them, so
// that decoding allocates at most about twice the token's length plus a
// small constant. See docs/verifier.md.
package jwt

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors. The verifier wraps them in its ErrMalformed; none carries token
// bytes.
var (
	ErrParts    = errors.New("not a compact JWS (want 3 dot-separated parts)")
	ErrEncoding = errors.New("bad base64url encoding")
	ErrHeader   = errors.New("header is not a JSON object with string alg, kid and typ")
	ErrClaims   = errors.New("claims are not a JSON object")
	ErrDepth    = errors.New("JSON nested deeper than allowed")
	ErrAud      = errors.New(`claim "aud" is not a string or an array of at most 64 strings`)
	ErrDate     = errors.New("a NumericDate claim (exp, nbf, iat) is not a number from 0 to year 9999")
	ErrCase     = errors.New("a member name differs from a registered one only in case")
)

// MaxDepth bounds the nesting of arrays and objects in a header or claims
// object. Real tokens nest 2-4 deep; encoding/json's own limit (10000)
// would let a 10 KB token make its scanner allocate 80 KB.
const MaxDepth = 32

// MaxAudiences bounds the elements of an aud array: decoding one allocates
// a 16-byte string header per element, far more than the 3 bytes an empty
// element takes in the token.
const MaxAudiences = 64

var b64 = base64.RawURLEncoding.Strict()

// Parts is a compact JWS split in three, each part still encoded.
type Parts struct {
	Header, Payload, Signature string
}

// Split splits token into its three parts. It refuses anything but exactly
// two dots, and CR or LF anywhere (the base64 decoder would skip them, so
// two token strings could decode alike).
func Split(token string) (Parts, error) {
	d1 := strings.IndexByte(token, '.')
	if d1 < 0 {
		return Parts{}, ErrParts
	}
	d2 := strings.IndexByte(token[d1+1:], '.')
	if d2 < 0 {
		return Parts{}, ErrParts
	}
	d2 += d1 + 1
	if strings.IndexByte(token[d2+1:], '.') >= 0 {
		return Parts{}, ErrParts // JWE (5 parts) or worse
	}
	if strings.IndexByte(token, '\n') >= 0 || strings.IndexByte(token, '\r') >= 0 {
		return Parts{}, ErrEncoding
	}
	return Parts{Header: token[:d1], Payload: token[d1+1 : d2], Signature: token[d2+1:]}, nil
}

// SigningInput returns the bytes the signature covers: header.payload.
func (p Parts) SigningInput() []byte {
	b := make([]byte, 0, len(p.Header)+1+len(p.Payload))
	b = append(b, p.Header...)
	b = append(b, '.')
	return append(b, p.Payload...)
}

// Decode decodes one part: unpadded base64url with canonical trailing bits,
// so no two strings decode to the same bytes. The result is exactly sized.
func Decode(part string) ([]byte, error) {
	b, err := b64.DecodeString(part)
	if err != nil {
		return nil, ErrEncoding
	}
	return b, nil
}

// Header is the part of the JOSE header a verifier uses. jku, x5u, x5c and
// jwk are deliberately not decoded: keys come only from the configured set.
type Header struct {
	// Alg is the alg member; HasAlg reports whether it was present.
	Alg    string
	HasAlg bool
	Kid    string
	Typ    string
	// Crit reports a crit member (of any value).
	Crit bool
}

type rawHeader struct {
	Alg  json.RawMessage `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// ParseHeader decodes a JOSE header: one JSON object whose alg, kid and typ,
// when present, are strings. A member name differing from alg, kid, typ or
// crit only in case is ErrCase (see scan). On ErrHeader the Header holds what did decode: HasAlg is
// true when the header is an object whose alg is a string.
func ParseHeader(b []byte) (Header, error) {
	if !object(b) {
		return Header{}, ErrHeader
	}
	switch sh := scan(b, HeaderNames[:]); {
	case sh.depth > MaxDepth:
		return Header{}, ErrHeader
	case sh.caseVariant:
		return Header{}, ErrCase
	}
	var r rawHeader
	err := json.Unmarshal(b, &r)
	var te *json.UnmarshalTypeError
	if err != nil && !errors.As(err, &te) {
		return Header{}, ErrHeader // not JSON
	}
	h := Header{Kid: r.Kid, Typ: r.Typ, Crit: r.Crit != nil}
	if len(r.Alg) > 0 && r.Alg[0] == '"' {
		h.HasAlg = json.Unmarshal(r.Alg, &h.Alg) == nil
	} else if r.Alg != nil && string(r.Alg) != "null" {
		err = ErrHeader // alg of another type
	}
	if err != nil {
		return h, ErrHeader
	}
	return h, nil
}

// Claims are the registered claims of a payload. An absent or null claim
// is the zero value.
type Claims struct {
	Issuer    string      `json:"iss"`
	Subject   string      `json:"sub"`
	ID        string      `json:"jti"`
	Audience  Audience    `json:"aud"`
	Expiry    NumericDate `json:"exp"`
	NotBefore NumericDate `json:"nbf"`
	IssuedAt  NumericDate `json:"iat"`
	Cid       string      `json:"cid"`
	ClientID  string      `json:"client_id"`
	Azp       string      `json:"azp"`
	Nonce     string      `json:"nonce"`
	// Scp and Scope are the JSON text of the usual scope claims.
	Scp   json.RawMessage `json:"scp"`
	Scope json.RawMessage `json:"scope"`
	// Members is at least the number of members of the object (exact but
	// for the empty object, counted 1).
	Members int `json:"-"`
}

// RegisteredNames are the member names Claims decodes.
var RegisteredNames = [...]string{"iss", "sub", "jti", "aud", "exp", "nbf", "iat", "cid", "client_id", "azp", "nonce", "scp", "scope"}

// HeaderNames are the member names Header decodes.
var HeaderNames = [...]string{"alg", "kid", "typ", "crit"}

// ParseClaims decodes the registered claims of a payload that must be
// exactly one JSON object. A registered claim of the wrong type is an
// error (an *json.UnmarshalTypeError naming the claim, or ErrAud/ErrDate).
func ParseClaims(b []byte) (Claims, error) {
	var c Claims
	if !object(b) {
		return c, ErrClaims
	}
	sh := scan(b, RegisteredNames[:])
	switch {
	case sh.depth > MaxDepth:
		return c, ErrDepth
	case sh.caseVariant:
		return c, ErrCase
	}
	err := json.Unmarshal(b, &c)
	c.Members = sh.commas + 1
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) || errors.Is(err, ErrAud) || errors.Is(err, ErrDate) {
			return c, err
		}
		return c, ErrClaims
	}
	return c, nil
}

// Audience is an aud claim: a string is a list of one.
type Audience []string

// UnmarshalJSON decodes a string or an array of at most MaxAudiences
// strings into an exactly sized slice.
func (a *Audience) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case 'n':
		*a = nil
		return nil
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return ErrAud
		}
		*a = Audience{s}
		return nil
	case '[':
		n := scan(b, nil).commas + 1
		if n > MaxAudiences {
			return ErrAud
		}
		ss := make([]string, 0, n)
		if err := json.Unmarshal(b, &ss); err != nil {
			return ErrAud
		}
		*a = ss
		return nil
	}
	return ErrAud
}

// maxNumericDate bounds NumericDate values so that conversion to time.Time
// cannot overflow: year 9999.
const maxNumericDate = 253402300799

// NumericDate is a JSON number of seconds since the epoch (RFC 7519, 2),
// from 0 to the end of year 9999; fractions are truncated. The zero value
// means absent or null.
type NumericDate struct{ time.Time }

// maxNumberLen bounds the text of a NumericDate: no issuer writes one
// longer, and strconv copies its whole input into the error it returns.
const maxNumberLen = 64

// UnmarshalJSON decodes a number of at most 64 characters; anything else is
// ErrDate.
func (d *NumericDate) UnmarshalJSON(b []byte) error {
	if b[0] == 'n' {
		d.Time = time.Time{}
		return nil
	}
	if b[0] != '-' && (b[0] < '0' || b[0] > '9') || len(b) > maxNumberLen {
		return ErrDate
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return ErrDate
	}
	d.Time = time.Unix(int64(f), 0)
	return nil
}

// object reports whether b, after leading JSON whitespace, starts an
// object: encoding/json would decode null into a struct without error.
func object(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == '{'
	}
	return false
}

// shape is what one linear pass over a JSON text finds: its deepest
// nesting, the commas directly inside its outermost value, and whether a
// member name of its outermost object differs only in case from one of the
// names it was given.
type shape struct {
	depth, commas int
	caseVariant   bool
}

// scan makes one pass over the JSON text b. It tracks strings only to skip
// the brackets and commas inside them and to read the outermost object's
// member names; b need not be valid (encoding/json validates it
// afterwards). encoding/json matches a struct field's name exactly first,
// then case-insensitively, so a header or payload holding both "iss" and
// "ISS" would be decoded under a name other parsers (and Claims.Raw) do
// not read: scan reports it, and the parser refuses it.
func scan(b []byte, names []string) shape {
	var sh shape
	depth := 0
	inString, escaped, expectName, nameEscaped := false, false, false, false
	nameStart := 0
	for i, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped, nameEscaped = true, true
			case c == '"':
				inString = false
				if expectName {
					expectName = false
					sh.caseVariant = sh.caseVariant || isCaseVariant(b[nameStart:i], nameEscaped, names)
				}
			}
			continue
		}
		switch c {
		case '"':
			inString, nameEscaped, nameStart = true, false, i+1
		case '[', '{':
			depth++
			sh.depth = max(sh.depth, depth)
			expectName = depth == 1 && c == '{' && len(names) > 0
		case ']', '}':
			depth--
		case ',':
			if depth == 1 {
				sh.commas++
				expectName = len(names) > 0
			}
		}
	}
	return sh
}

// isCaseVariant reports whether the member name raw (its JSON text between
// the quotes) differs only in case from one of names.
func isCaseVariant(raw []byte, escaped bool, names []string) bool {
	if escaped {
		var name string
		if json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &name) != nil {
			return false // invalid JSON: encoding/json refuses it afterwards
		}
		raw = []byte(name)
	}
	if len(raw) == 0 {
		return false
	}
	// names are lower-case ASCII. A raw name can fold to one only if its
	// first byte folds to that name's first byte, or is not ASCII: Unicode
	// folding, which encoding/json applies too, maps the Kelvin sign K
	// (U+212A) to k and the long s (U+017F) to s, so "iſs" (4 bytes) decodes
	// as "iss". No length check, then: the byte lengths differ.
	first := raw[0]
	if 'A' <= first && first <= 'Z' {
		first += 'a' - 'A'
	}
	for _, n := range names {
		if first < utf8.RuneSelf && first != n[0] {
			continue
		}
		if string(raw) != n && strings.EqualFold(string(raw), n) {
			return true
		}
	}
	return false
}

// ClientIDValue returns the client the token was issued to: the first of
// cid (Okta), client_id (RFC 9068) and azp (OIDC) that is not empty.
func (c *Claims) ClientIDValue() string {
	switch {
	case c.Cid != "":
		return c.Cid
	case c.ClientID != "":
		return c.ClientID
	}
	return c.Azp
}
