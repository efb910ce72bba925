// Package jwt is the one parser of compact JWS tokens that the verifier, the
// MultiVerifier's issuer routing and introspect.Combined share. It splits a
// token once, decodes its parts with strict base64url, and decodes the JOSE
// header and the registered claims with encoding/json/v2 (the Go 1.27
// standard library package, taken from its mirror module
// github.com/go-json-experiment/json while the module supports Go 1.26)
// into tagged structs, which skip every other member without keeping it.
// It checks form and types only: signatures, times and values are the
// verifier's business.
//
// encoding/json/v2's defaults are the strict ones a token parser wants:
// member names match exactly (no case folding), and invalid UTF-8 and
// anything after the object are errors. A repeated member name keeps its
// last value, as with encoding/json (see decodeOptions).
//
// Cost is bounded by the input: nesting deeper than MaxDepth is refused
// before the decoder sees the input, and aud arrays longer than
// MaxAudiences while it decodes them, so that decoding allocates at most
// about twice the token's length plus a small constant. See
// docs/verifier.md.
package jwt

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
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

// decodeOptions are encoding/json/v2's defaults but one: a repeated member
// name is allowed, and its last value is the one decoded (RFC 7519, 4
// permits either that or refusing the token). Refusing would need the
// decoder to keep every member name of every object, a string and a map
// slot each, which for a token of many short members costs several times
// its length; the rejection-cost bound (2x) allows no such thing.
var decodeOptions = jsontext.AllowDuplicateNames(true)

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
	Alg  param   `json:"alg"`
	Kid  param   `json:"kid"`
	Typ  param   `json:"typ"`
	Crit present `json:"crit"`
}

// param is a header parameter that must be a string when present. A value
// of another type does not stop decoding (so that the other parameters are
// still read); it sets bad, and ParseHeader reports ErrHeader.
type param struct {
	s       string
	ok, bad bool
}

// UnmarshalJSONFrom implements jsonv2.UnmarshalerFrom.
func (p *param) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	switch d.PeekKind() {
	case '"':
		tok, err := d.ReadToken()
		if err != nil {
			return err
		}
		p.s, p.ok, p.bad = tok.String(), true, false
		return nil
	case 'n':
		*p = param{}
		_, err := d.ReadToken()
		return err
	}
	p.bad = true
	return d.SkipValue()
}

// present records that a member is present, whatever its value.
type present bool

// UnmarshalJSONFrom implements jsonv2.UnmarshalerFrom.
func (p *present) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	*p = true
	return d.SkipValue()
}

// ParseHeader decodes a JOSE header: one JSON object whose alg, kid and typ,
// when present, are strings. A member name differing from alg, kid, typ or
// crit only in case is ErrCase (see scan). On ErrHeader the Header holds
// what did decode when the header is valid JSON: HasAlg is true when it is
// an object whose alg is a string, whatever the types of kid and typ.
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
	if jsonv2.Unmarshal(b, &r, decodeOptions) != nil {
		return Header{}, ErrHeader // not JSON
	}
	h := Header{Alg: r.Alg.s, HasAlg: r.Alg.ok, Kid: r.Kid.s, Typ: r.Typ.s, Crit: bool(r.Crit)}
	if r.Alg.bad || r.Kid.bad || r.Typ.bad {
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
	Scp   jsontext.Value `json:"scp"`
	Scope jsontext.Value `json:"scope"`
	// Members is at least the number of members of the object (exact but
	// for the empty object, counted 1).
	Members int `json:"-"`
	// Present records which of RegisteredNames are members.
	Present Presence `json:"-"`
}

// Presence has bit i set when RegisteredNames[i] is a member of a claims
// object (exactly, after unescaping).
type Presence uint32

// Has reports whether name is a member of the claims object, and known
// whether p can tell: whether name is one of RegisteredNames.
func (p Presence) Has(name string) (has, known bool) {
	for i, n := range RegisteredNames {
		if n == name {
			return p&(1<<i) != 0, true
		}
	}
	return false, false
}

// RegisteredNames are the member names Claims decodes, and cnf (RFC 7800),
// which it does not decode but records in Present like the others: the
// interceptors ask every call whether its token is bound.
var RegisteredNames = [...]string{"iss", "sub", "jti", "aud", "exp", "nbf", "iat", "cid", "client_id", "azp", "nonce", "scp", "scope", "cnf"}

// maxNameLen is the length of the longest of RegisteredNames and HeaderNames.
const maxNameLen = len("client_id")

// HeaderNames are the member names Header decodes.
var HeaderNames = [...]string{"alg", "kid", "typ", "crit"}

// ParseClaims decodes the registered claims of a payload that must be
// exactly one JSON object. A registered claim of the wrong type is an
// error: ErrAud, ErrDate, or a *TypeError naming the claim. Anything that
// is not such an object (not JSON, invalid UTF-8) is ErrClaims.
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
	err := jsonv2.Unmarshal(b, &c, decodeOptions)
	c.Members, c.Present = sh.commas+1, Presence(sh.present)
	if err == nil {
		return c, nil
	}
	var se *jsonv2.SemanticError
	switch {
	case errors.Is(err, ErrAud) || errors.Is(err, ErrDate):
		return c, err
	case errors.As(err, &se) && se.Err == nil && se.GoType != nil:
		// A registered claim of the wrong JSON kind, such as a numeric iss.
		return c, &TypeError{Claim: strings.TrimPrefix(string(se.JSONPointer), "/")}
	}
	return c, ErrClaims
}

// TypeError is a registered claim of the wrong type, such as a numeric iss.
type TypeError struct {
	// Claim is the claim's name.
	Claim string
}

func (e *TypeError) Error() string { return "claim " + strconv.Quote(e.Claim) + " has the wrong type" }

// Audience is an aud claim: a string is a list of one.
type Audience []string

// UnmarshalJSONFrom implements jsonv2.UnmarshalerFrom: it decodes null, a
// string, or an array of at most MaxAudiences strings into an exactly
// sized slice; anything else is ErrAud.
func (a *Audience) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	switch d.PeekKind() {
	case 'n':
		*a = nil
		_, err := d.ReadToken()
		return err
	case '"':
		tok, err := d.ReadToken()
		if err != nil {
			return err
		}
		*a = Audience{tok.String()}
		return nil
	case '[':
		if _, err := d.ReadToken(); err != nil {
			return err
		}
		var buf [MaxAudiences]string // on the stack: no growth, one exact copy
		ss := buf[:0]
		for d.PeekKind() == '"' {
			if len(ss) == MaxAudiences {
				return ErrAud
			}
			tok, err := d.ReadToken()
			if err != nil {
				return err
			}
			ss = append(ss, tok.String())
		}
		if d.PeekKind() != ']' {
			return ErrAud
		}
		if _, err := d.ReadToken(); err != nil {
			return err
		}
		*a = make(Audience, len(ss))
		copy(*a, ss)
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

// UnmarshalJSONFrom implements jsonv2.UnmarshalerFrom: it decodes null or
// a number of at most 64 characters; anything else is ErrDate.
func (d *NumericDate) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case 'n':
		d.Time = time.Time{}
		_, err := dec.ReadToken()
		return err
	case '0':
	default:
		return ErrDate
	}
	b, err := dec.ReadValue()
	if err != nil {
		return err
	}
	if len(b) > maxNumberLen {
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
// LooksLikeObject reports whether b is UTF-8 whose first byte other than
// JSON white space is '{': the start of a JSON object, whether or not the
// rest parses. introspect.Combined routes a token whose header looks like
// an object to the JWT verifier, which refuses it locally if it does not
// parse.
func LooksLikeObject(b []byte) bool { return object(b) && utf8.Valid(b) }

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
	// present has bit i set when names[i] is a member name of the
	// outermost object, exactly (after unescaping).
	present uint32
}

// scan makes one pass over the JSON text b. It tracks strings only to skip
// the brackets and commas inside them and to read the outermost object's
// member names; b need not be valid (the decoder validates it afterwards).
// A member name that differs from a registered one only in case is refused
// although encoding/json/v2 matches names exactly: encoding/json (v1),
// which many programs downstream still use on the same token, matches
// them case-insensitively, so a header or payload holding both "iss" and
// "ISS" would mean one thing here and another there. scan reports it, and
// the parser refuses it.
func scan(b []byte, names []string) shape {
	var sh shape
	depth := 0
	expectName := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			end, escaped := stringEnd(b, i+1)
			if expectName {
				expectName = false
				variant, exact := matchName(b[i+1:end], escaped, names)
				sh.caseVariant = sh.caseVariant || variant
				if exact >= 0 {
					sh.present |= 1 << exact
				}
			}
			i = end
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

// stringEnd returns the index of the quote that ends the JSON string whose
// text starts at b[start] (len(b) when it is not terminated), and whether
// the text holds an escape. It jumps from quote to quote: a quote ends the
// string unless an odd number of backslashes precedes it. Each backslash
// is counted at most once, so the cost is linear in the string's length.
func stringEnd(b []byte, start int) (end int, escaped bool) {
	for i := start; ; {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b), escaped
		}
		q += i
		n := 0
		for j := q - 1; j >= i && b[j] == '\\'; j-- {
			n++
		}
		escaped = escaped || bytes.IndexByte(b[i:q], '\\') >= 0
		if n%2 == 0 {
			return q, escaped
		}
		i = q + 1
	}
}

// matchName compares the member name raw (its JSON text between the
// quotes) with names: variant reports that it differs from one only in
// case, and exact is the index of the one it equals, or -1.
func matchName(raw []byte, escaped bool, names []string) (variant bool, exact int) {
	if escaped {
		var name string
		if jsonv2.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &name) != nil {
			return false, -1 // invalid JSON: the decoder refuses it afterwards
		}
		raw = []byte(name)
	}
	// names are lower-case ASCII of at most 9 bytes. An ASCII raw name can
	// fold to one only if it has the same length and its first byte folds
	// to that name's first byte. A non-ASCII one can be longer: Unicode
	// folding, which encoding/json applies too, maps the Kelvin sign K
	// (U+212A, 3 bytes) to k and the long s (U+017F, 2 bytes) to s, so
	// "iſs" (4 bytes) decodes as "iss"; no rune folds to ASCII from more
	// than 3 bytes.
	if len(raw) == 0 || len(raw) > 3*maxNameLen {
		return false, -1
	}
	ascii := true
	for _, c := range raw {
		ascii = ascii && c < utf8.RuneSelf
	}
	first := raw[0]
	if 'A' <= first && first <= 'Z' {
		first += 'a' - 'A'
	}
	for i, n := range names {
		if ascii && (len(raw) != len(n) || first != n[0]) {
			continue
		}
		if string(raw) == n {
			return false, i
		}
		if strings.EqualFold(string(raw), n) {
			return true, -1
		}
	}
	return false, -1
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
