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
	if strings.ContainsAny(token, "\r\n") {
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
// when present, are strings. Member names match as encoding/json matches
// struct fields (exact first, then case-insensitively); a verifier that
// needs exact names checks them once the signature verified (see
// CaseVariant). On ErrHeader the Header holds what did decode: HasAlg is
// true when the header is an object whose alg is a string.
func ParseHeader(b []byte) (Header, error) {
	if !object(b) || !shallow(b) {
		return Header{}, ErrHeader
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
}

// RegisteredNames are the member names Claims decodes.
var RegisteredNames = [...]string{"iss", "sub", "jti", "aud", "exp", "nbf", "iat", "cid", "client_id", "azp", "nonce"}

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
	if !shallow(b) {
		return c, ErrDepth
	}
	if err := json.Unmarshal(b, &c); err != nil {
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
		n := elements(b)
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

// CaseVariant returns a member name of obj, a decoded object's names, that
// differs only in case from one of names, or "". encoding/json matches a
// struct field case-insensitively, so a header or payload with such a name
// was decoded as if it had the registered one; a verifier refuses it.
func CaseVariant(obj []string, names []string) string {
	for _, m := range obj {
		for _, n := range names {
			if len(m) == len(n) && m != n && strings.EqualFold(m, n) {
				return m
			}
		}
	}
	return ""
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

// shallow reports whether b nests arrays and objects at most MaxDepth deep.
func shallow(b []byte) bool {
	depth, _ := structure(b)
	return depth <= MaxDepth
}

// elements returns an upper bound of the number of elements of the JSON
// array b: its commas outside strings and nested values, plus one.
func elements(b []byte) int {
	_, commas := structure(b)
	return commas + 1
}

// structure returns the deepest nesting of arrays and objects in the JSON
// text b and the number of commas directly inside its outermost value. It
// tracks strings only to skip the brackets and commas inside them; b need
// not be valid (encoding/json validates it afterwards).
func structure(b []byte) (maxDepth, commas int) {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			maxDepth = max(maxDepth, depth)
		case ']', '}':
			depth--
		case ',':
			if depth == 1 {
				commas++
			}
		}
	}
	return maxDepth, commas
}

// ClientIDClaim returns the client the token was issued to and the claim
// it came from: the first of cid (Okta), client_id (RFC 9068) and azp
// (OIDC) that is not empty.
func (c *Claims) ClientIDClaim() (name, value string) {
	switch {
	case c.Cid != "":
		return "cid", c.Cid
	case c.ClientID != "":
		return "client_id", c.ClientID
	}
	return "azp", c.Azp
}

// ClientIDValue returns the value ClientIDClaim returns.
func (c *Claims) ClientIDValue() string {
	_, v := c.ClientIDClaim()
	return v
}
