package jwt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
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

// Buffer returns a buffer for the bytes a verification of p needs one after
// the other: its decoded header, then its decoded payload, then its
// signing input (the longest: header.payload), each written over the last
// (DecodeInto, SigningInputInto). One buffer the size of the token rather
// than three is what keeps a rejection's allocations within twice the
// token's length when the rejection comes at the signature check, after
// the registered claims were copied out of the payload (docs/verifier.md).
func (p Parts) Buffer() []byte { return make([]byte, len(p.Header)+1+len(p.Payload)) }

// SigningInputInto writes the bytes the signature covers, header.payload,
// over buf (from Buffer) and returns them.
func (p Parts) SigningInputInto(buf []byte) []byte {
	b := append(buf[:0], p.Header...)
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

// DecodeInto decodes part as Decode does, over the start of buf (from
// Parts.Buffer), and returns the decoded bytes, capped at their length.
// It allocates nothing; a part that buf cannot hold is ErrEncoding.
func DecodeInto(buf []byte, part string) ([]byte, error) {
	if b64.DecodedLen(len(part)) > len(buf) {
		return nil, ErrEncoding
	}
	n, err := b64.Decode(buf, []byte(part))
	if err != nil {
		return nil, ErrEncoding
	}
	return buf[:n:n], nil
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
	// B64 reports a b64 member (RFC 7797, of any value). A b64 of false
	// says the payload is not base64url-encoded, which changes the bytes
	// the signature covers; RFC 7797 requires crit to name it, but a
	// parser that honours b64 without crit (jwx's own does) reads such a
	// token differently from one that ignores it, so a verifier must
	// refuse it whether or not crit is present.
	B64 bool
}

// rawHeader is the header as decoded: each parameter that must be a string
// when present, and whether crit is present.
type rawHeader struct {
	alg, kid, typ param
	crit, b64     bool
	names         memberNames
}

// param is a header parameter that must be a string when present. A value
// of another type does not stop decoding (so that the other parameters are
// still read); it sets bad, and ParseHeader reports ErrHeader.
type param struct {
	s       string
	ok, bad bool
}

// decode reads the parameter's value: a string, null (absent), or any
// other value, which sets bad and is skipped.
func (p *param) decode(d *jsontext.Decoder) error {
	switch d.PeekKind() {
	case '"':
		s, err := readString(d)
		if err != nil {
			return err
		}
		p.s, p.ok, p.bad = s, true, false
		return nil
	case 'n':
		*p = param{}
		_, err := d.ReadToken()
		return err
	}
	p.bad = true
	return d.SkipValue()
}

// UnmarshalJSONFrom implements jsonv2.UnmarshalerFrom: see members.
func (h *rawHeader) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	return members(d, header, &h.names, func(name string, d *jsontext.Decoder) error {
		switch name {
		case "alg":
			return h.alg.decode(d)
		case "kid":
			return h.kid.decode(d)
		case "typ":
			return h.typ.decode(d)
		case "b64":
			h.b64 = true // of any value
			return d.SkipValue()
		}
		h.crit = true // "crit", of any value
		return d.SkipValue()
	})
}

// ParseHeader decodes a JOSE header: one JSON object whose alg, kid and typ,
// when present, are strings. Crit and B64 report crit and b64 members,
// which the caller must refuse. A member name differing from alg, kid,
// typ, crit or b64 only in case is ErrCase (see scan). On ErrHeader the Header holds
// what did decode when the header is valid JSON: HasAlg is true when it is
// an object whose alg is a string, whatever the types of kid and typ.
func ParseHeader(b []byte) (Header, error) {
	if h, ok := plainHeader(b); ok {
		return h, nil
	}
	return parseHeader(b, false)
}

// plainHeader reads b when it is a JSON object whose members' names and
// values are all strings of printable ASCII (U+0020 to U+007E) without
// escapes, white space around its tokens allowed, and no name differs
// from one of HeaderNames only in case: as real headers are. Each string's
// text, between its quotes, is what it decodes to. It returns the Header
// ParseHeader's decoder would, without the decoder's setting up, and
// true; for any other text (an escape, a value of another kind, such as
// crit's array, anything but such an object) false, and parseHeader reads
// it. FuzzPlainHeader checks that the two agree.
func plainHeader(b []byte) (Header, bool) {
	// The values are copied once b is read to its end: a header given up
	// on halfway is read again by the decoder, which copies them itself,
	// and copying them twice could break the rejection-cost bound.
	var h Header
	var alg, kid, typ []byte
	i := skipSpace(b)
	if i == len(b) || b[i] != '{' {
		return Header{}, false
	}
	i += 1 + skipSpace(b[i+1:])
	if i < len(b) && b[i] == '}' {
		return h, onlySpaceFrom(b, i+1)
	}
	for {
		end := plainStringEnd(b, i)
		if end < 0 {
			return Header{}, false
		}
		name := b[i:end]
		i = end + skipSpace(b[end:])
		if i == len(b) || b[i] != ':' {
			return Header{}, false
		}
		i++
		i += skipSpace(b[i:])
		end = plainStringEnd(b, i)
		if end < 0 {
			return Header{}, false
		}
		value := b[i+1 : end-1]
		variant, exact, _ := matchName(name, false, header)
		if variant {
			return Header{}, false // ErrCase
		}
		switch exact {
		case 0:
			alg, h.HasAlg = value, true
		case 1:
			kid = value
		case 2:
			typ = value
		case 3:
			h.Crit = true
		case 4:
			h.B64 = true
		}
		i = end + skipSpace(b[end:])
		switch {
		case i == len(b):
			return Header{}, false
		case b[i] == '}':
			if !onlySpaceFrom(b, i+1) {
				return Header{}, false
			}
			h.Alg, h.Kid, h.Typ = string(alg), string(kid), string(typ)
			return h, true
		case b[i] != ',':
			return Header{}, false
		}
		i++
		i += skipSpace(b[i:])
	}
}

// PlainStrings returns the elements of text when it is a JSON array of
// strings of printable ASCII without escapes, white space around the
// array and its elements allowed, as a real scope array (Okta's scp) is:
// each element is the text between two quotes, which is what it decodes
// to, a substring of text, and the slice is exactly sized. For any other
// text (empty, an escape, an element that is not such a string, anything
// but such an array) it returns false, and the caller decodes the text.
// FuzzPlainStrings checks it against jsonv2.Unmarshal.
func PlainStrings(text string) ([]string, bool) {
	n, ok := plainElements(text, nil)
	if !ok {
		return nil, false
	}
	ss := make([]string, n)
	plainElements(text, ss)
	return ss, true
}

// plainElements is PlainStrings' pass over text: it returns the number of
// elements and whether text is such an array, and writes the elements to
// dst when dst is not nil (then at least that long).
func plainElements(text string, dst []string) (n int, ok bool) {
	i := skipSpace(text)
	if i == len(text) || text[i] != '[' {
		return 0, false
	}
	i += 1 + skipSpace(text[i+1:])
	if i < len(text) && text[i] == ']' {
		return 0, onlySpaceFrom(text, i+1)
	}
	for {
		end := plainStringEnd(text, i)
		if end < 0 {
			return 0, false // an element that is not such a string, or a trailing ','
		}
		if dst != nil {
			dst[n] = text[i+1 : end-1]
		}
		n++
		i = end + skipSpace(text[end:])
		switch {
		case i == len(text):
			return 0, false
		case text[i] == ']':
			return n, onlySpaceFrom(text, i+1)
		case text[i] != ',':
			return 0, false
		}
		i++
		i += skipSpace(text[i:])
	}
}

// onlySpaceFrom reports whether b holds nothing but JSON white space from i on.
func onlySpaceFrom[T string | []byte](b T, i int) bool { return i+skipSpace(b[i:]) == len(b) }

// plainStringEnd returns the index just past the JSON string that starts at
// b[i] when its text is printable ASCII without escapes, or -1 when b[i]
// starts no such string.
func plainStringEnd[T string | []byte](b T, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1
		case c < 0x20 || c > 0x7e || c == '\\':
			return -1
		}
	}
	return -1
}

// parseHeader is ParseHeader's decoding of a header plainHeader does not
// read, with the pre-pass always first when prePassFirst is set (see
// decodeObject).
func parseHeader(b []byte, prePassFirst bool) (Header, error) {
	if !object(b) {
		return Header{}, ErrHeader
	}
	var r rawHeader
	switch refused, err := decodeObject(b, &r, &r.names, header, prePassFirst); {
	case refused == deep || refused == invalid:
		return Header{}, ErrHeader // too deep, or not JSON
	case refused == caseVariant:
		return Header{}, ErrCase
	case err != nil:
		return Header{}, ErrHeader // not JSON, or an escaped value over 1 KiB
	}
	h := Header{Alg: r.alg.s, HasAlg: r.alg.ok, Kid: r.kid.s, Typ: r.typ.s, Crit: r.crit, B64: r.b64}
	if r.alg.bad || r.kid.bad || r.typ.bad {
		return h, ErrHeader
	}
	return h, nil
}

// Claims are the registered claims of a payload. An absent or null claim
// is the zero value.
type Claims struct {
	Issuer    string      // iss
	Subject   string      // sub
	ID        string      // jti
	Audience  Audience    // aud
	Expiry    NumericDate // exp
	NotBefore NumericDate // nbf
	IssuedAt  NumericDate // iat
	Cid       string      // cid
	ClientID  string      // client_id
	Azp       string      // azp
	Nonce     string      // nonce
	// Scp and Scope are the JSON text of the usual scope claims (exactly
	// sized copies).
	Scp   jsontext.Value
	Scope jsontext.Value
	// Members is at least the number of members of the object (exact but
	// for the empty object, counted 1).
	Members int
	// Present records which of RegisteredNames are members.
	Present Presence
	// EscapedNames is the length of the JSON text of the member names
	// written with escapes, quotes excluded: at least the bytes they take
	// once unescaped (Members unescapes each into a string of its own).
	EscapedNames int
}

// claimsObject decodes a Claims: see members.
type claimsObject struct {
	Claims
	names memberNames
}

// UnmarshalJSONFrom implements jsonv2.UnmarshalerFrom.
func (c *claimsObject) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	return members(d, registered, &c.names, func(name string, d *jsontext.Decoder) error {
		if dst := c.stringField(name); dst != nil {
			return stringClaim(d, name, dst)
		}
		switch name {
		case "aud":
			return c.Audience.UnmarshalJSONFrom(d)
		case "exp":
			return c.Expiry.UnmarshalJSONFrom(d)
		case "nbf":
			return c.NotBefore.UnmarshalJSONFrom(d)
		case "iat":
			return c.IssuedAt.UnmarshalJSONFrom(d)
		case "scp":
			return rawClaim(d, &c.Scp)
		case "scope":
			return rawClaim(d, &c.Scope)
		}
		return d.SkipValue() // cnf: recorded in Present by members, not decoded
	})
}

// stringField returns the field of the claim name, which must be a string,
// or nil when name is not such a claim.
func (c *claimsObject) stringField(name string) *string {
	switch name {
	case "iss":
		return &c.Issuer
	case "sub":
		return &c.Subject
	case "jti":
		return &c.ID
	case "cid":
		return &c.Cid
	case "client_id":
		return &c.ClientID
	case "azp":
		return &c.Azp
	case "nonce":
		return &c.Nonce
	}
	return nil
}

// members decodes the JSON object d is at, member by member: for each
// member whose name (unescaped) is one of names it calls decode with that
// name, which must consume the value; every other value is skipped unread.
// It records every member's name in seen.
// Doing this by hand rather than with a tagged struct keeps the decoder
// from unescaping and case-folding every member name to look it up, which
// costs allocations of several times the length of a long or escaped name
// (see docs/verifier.md, the rejection-cost bound): a name here is compared
// in place, or unescaped on the stack (matchName).
func members(d *jsontext.Decoder, names nameSet, seen *memberNames, decode func(name string, d *jsontext.Decoder) error) error {
	return eachMember(d, func(quoted jsontext.Value) error {
		escaped := bytes.IndexByte(quoted, '\\') >= 0
		if seen.text != nil && (len(quoted)-2 > maxPathNames || costlyName(quoted[1:len(quoted)-1])) {
			if !validJSON(seen.text) {
				// A SyntacticError, which Unmarshal passes on as it is: any
				// other error it wraps with the path's pointer, this name in it.
				return &jsontext.SyntacticError{Err: errCostlyName}
			}
			seen.text = nil // valid: no syntax error can follow
		}
		variant, exact, ok := matchName(quoted, escaped, names)
		if !ok {
			return ErrClaims
		}
		seen.count++
		seen.caseVariant = seen.caseVariant || variant
		if exact >= 0 {
			seen.present |= 1 << exact
		}
		if escaped {
			seen.escaped += len(quoted) - 2
		}
		if exact < 0 {
			return d.SkipValue()
		}
		err := decode(names.list()[exact], d)
		if err != nil && escaped {
			// Unmarshal would wrap err with a JSON Pointer to it, unescaping
			// this name from its start to the end of the text (see
			// maxPathNames); a SemanticError with its pointer set it leaves
			// as it is.
			return &jsonv2.SemanticError{JSONPointer: jsontext.Pointer("/" + names.list()[exact]), Err: err}
		}
		return err
	})
}

// eachMember reads the JSON object d is at, calling member with each member's
// name as written (quoted, valid until d reads on) while d is at the
// member's value, which member must consume.
func eachMember(d *jsontext.Decoder, member func(quoted jsontext.Value) error) error {
	if tok, err := d.ReadToken(); err != nil {
		return err
	} else if tok.Kind() != '{' {
		return ErrClaims
	}
	for d.PeekKind() == '"' {
		quoted, err := d.ReadValue()
		if err != nil {
			return err
		}
		if err := member(quoted); err != nil {
			return err
		}
	}
	_, err := d.ReadToken() // '}', or the decoder's error for anything else
	return err
}

// Members calls fn with each member of data, a JSON object that ParseClaims
// accepted, in order, repeated names included: name is the member's name
// and value its JSON text, both substrings of data, but for a name written
// with escapes, which is unescaped into a string of its own. It reads data
// once, so its cost is linear in len(data).
func Members(data string, fn func(name, value string)) error {
	d := jsontext.NewDecoder(strings.NewReader(data), decodeOptions)
	err := eachMember(d, func(quoted jsontext.Value) error {
		end := int(d.InputOffset())
		name := data[end-len(quoted)+1 : end-1]
		if bytes.IndexByte(quoted, '\\') >= 0 {
			// A variable of its own: its address escapes to the heap, which
			// name's would for every member.
			var unescaped string
			if err := jsonv2.Unmarshal(quoted, &unescaped); err != nil {
				return err
			}
			name = unescaped
		}
		value, err := d.ReadValue()
		if err != nil {
			return err
		}
		end = int(d.InputOffset())
		fn(name, data[end-len(value):end])
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := d.ReadToken(); err != io.EOF {
		return ErrClaims // anything after the object
	}
	return nil
}

// maxEscapedStringLen bounds the JSON text of a decoded string value that
// holds escapes: it is unescaped into a buffer of this size on the stack
// and copied once, exactly sized. No issuer writes a longer one (an issuer
// escaping "/" writes an iss of tens of bytes), and unescaping a long one
// on the heap would cost several times its length (the rejection-cost
// bound).
const maxEscapedStringLen = 1 << 10

// ErrEscapedString reports a registered claim or header parameter whose
// string value holds escapes and is longer than 1 KiB of JSON text.
var ErrEscapedString = errors.New("a string value with escapes is longer than 1 KiB")

// readString reads the string value d is at (its kind is '"'): without
// escapes, one exactly sized copy of its text; with escapes, at most
// maxEscapedStringLen bytes of text, unescaped on the stack and copied
// once.
func readString(d *jsontext.Decoder) (string, error) {
	raw, err := d.ReadValue()
	if err != nil {
		return "", err
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	if len(raw) > maxEscapedStringLen {
		return "", ErrEscapedString
	}
	var buf [maxEscapedStringLen]byte
	b, err := jsontext.AppendUnquote(buf[:0], raw)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// stringClaim decodes a claim that must be a string: null is absent (the
// zero value), any other kind a *TypeError naming it.
func stringClaim(d *jsontext.Decoder, name string, dst *string) error {
	switch d.PeekKind() {
	case '"':
		s, err := readString(d)
		*dst = s
		return err
	case 'n':
		*dst = ""
		_, err := d.ReadToken()
		return err
	}
	return &TypeError{Claim: name}
}

// rawClaim keeps an exactly sized copy of the value's JSON text.
func rawClaim(d *jsontext.Decoder, dst *jsontext.Value) error {
	v, err := d.ReadValue()
	if err != nil {
		return err
	}
	*dst = bytes.Clone(v)
	return nil
}

// Presence has bit i set when RegisteredNames[i] is a member of a claims
// object (exactly, after unescaping).
type Presence uint32

// Has reports whether name is a member of the claims object, and known
// whether p can tell: whether name is one of RegisteredNames. It finds
// the name with registeredIndex's switch, where a loop over the names
// compares every one before cnf, which the interceptors ask about on
// every call. A name longer than maxNameLen is none of them, and is not
// copied.
func (p Presence) Has(name string) (has, known bool) {
	if len(name) > maxNameLen {
		return false, false
	}
	i := registeredIndex([]byte(name))
	if i < 0 {
		return false, false
	}
	return p&(1<<i) != 0, true
}

// RegisteredNames are the member names Claims decodes, and cnf (RFC 7800),
// which it does not decode but records in Present like the others: the
// interceptors ask every call whether its token is bound.
var RegisteredNames = [...]string{"iss", "sub", "jti", "aud", "exp", "nbf", "iat", "cid", "client_id", "azp", "nonce", "scp", "scope", "cnf"}

// maxNameLen is the length of the longest of RegisteredNames and HeaderNames.
const maxNameLen = len("client_id")

// HeaderNames are the member names Header decodes.
var HeaderNames = [...]string{"alg", "kid", "typ", "crit", "b64"}

// nameSet is RegisteredNames or HeaderNames.
type nameSet uint8

const (
	registered nameSet = iota // RegisteredNames
	header                    // HeaderNames
)

// list returns the names.
func (s nameSet) list() []string {
	if s == header {
		return HeaderNames[:]
	}
	return RegisteredNames[:]
}

// index returns the position in s.list() of the name equal to name, or
// -1: a switch, which finds a name in a few comparisons where a loop over
// the list takes one per name. (A direct call: name does not escape, so
// matchName's buffer stays on the stack.)
func (s nameSet) index(name []byte) int {
	if s == header {
		return headerIndex(name)
	}
	return registeredIndex(name)
}

// registeredIndex is registered's index (TestNameSets checks it).
func registeredIndex(name []byte) int {
	switch string(name) {
	case "iss":
		return 0
	case "sub":
		return 1
	case "jti":
		return 2
	case "aud":
		return 3
	case "exp":
		return 4
	case "nbf":
		return 5
	case "iat":
		return 6
	case "cid":
		return 7
	case "client_id":
		return 8
	case "azp":
		return 9
	case "nonce":
		return 10
	case "scp":
		return 11
	case "scope":
		return 12
	case "cnf":
		return 13
	}
	return -1
}

// headerIndex is header's index (TestNameSets checks it).
func headerIndex(name []byte) int {
	switch string(name) {
	case "alg":
		return 0
	case "kid":
		return 1
	case "typ":
		return 2
	case "crit":
		return 3
	case "b64":
		return 4
	}
	return -1
}

// ParseClaims decodes the registered claims of a payload that must be
// exactly one JSON object. A registered claim of the wrong type is an
// error: ErrAud, ErrDate, ErrEscapedString, or a *TypeError naming the
// claim. Anything that is not such an object (not JSON, invalid UTF-8) is
// ErrClaims. Errors come in the order of the text, but for the pre-pass's
// (ErrDepth, ErrCase, and ErrClaims for an outermost member name that is
// not a valid string, or for a text that is not valid JSON and has member
// names over 64 bytes, or a costly one (costlyName: escaped, or holding
// '&', '<', '>' or a byte past ASCII), on a path), which come first: so a
// registered claim of the wrong type before a syntax error gives the
// claim's error unless such a name is on a path.
func ParseClaims(b []byte) (Claims, error) { return parseClaims(b, false) }

// parseClaims is ParseClaims, with the pre-pass always first when
// prePassFirst is set (see decodeObject).
func parseClaims(b []byte, prePassFirst bool) (Claims, error) {
	if !object(b) {
		return Claims{}, ErrClaims
	}
	var o claimsObject
	refused, err := decodeObject(b, &o, &o.names, registered, prePassFirst)
	switch refused {
	case invalid:
		return Claims{}, ErrClaims // not JSON
	case deep:
		return Claims{}, ErrDepth
	case caseVariant:
		return Claims{}, ErrCase
	}
	c := o.Claims
	c.Members, c.Present, c.EscapedNames = max(o.names.count, 1), Presence(o.names.present), o.names.escaped
	if err == nil {
		return c, nil
	}
	for _, e := range []error{ErrAud, ErrDate, ErrEscapedString} {
		if errors.Is(err, e) {
			return c, e
		}
	}
	if te := (*TypeError)(nil); errors.As(err, &te) {
		return c, te // a registered claim of the wrong JSON kind, such as a numeric iss
	}
	return c, ErrClaims
}

// TypeError is a registered claim of the wrong type, such as a numeric iss.
type TypeError struct {
	// Claim is the claim's name.
	Claim string
}

// Error names the claim, never its value.
func (e *TypeError) Error() string { return "claim " + strconv.Quote(e.Claim) + " has the wrong type" }

// Audience is an aud claim: a string is a list of one.
type Audience []string

// UnmarshalJSONFrom implements jsonv2.UnmarshalerFrom: it decodes null, a
// string, or an array of at most MaxAudiences strings into an exactly
// sized slice; anything else is ErrAud. So is an aud member after one that
// decoded to a string or an array: unlike the other claims, whose repeats
// cost at most their own text, each repeated array would allocate a slice
// of up to MaxAudiences strings (16 bytes each) for as little as 3 bytes
// of text per element, and RFC 7519, section 4 lets a parser refuse a
// repeated member.
func (a *Audience) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	if *a != nil {
		return ErrAud
	}
	switch d.PeekKind() {
	case 'n':
		*a = nil
		_, err := d.ReadToken()
		return err
	case '"':
		s, err := readString(d)
		if err != nil {
			return err
		}
		*a = Audience{s}
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
			s, err := readString(d)
			if err != nil {
				return err
			}
			ss = append(ss, s)
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
// from 0 to the end of year 9999. A fraction is kept, as float64 resolves
// it at these magnitudes (about 2e-7 s): truncating it would make an nbf or
// iat up to a second early. The zero value means absent or null.
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
	sec, frac := math.Modf(f)
	d.Time = time.Unix(int64(sec), int64(frac*1e9))
	return nil
}

// LooksLikeObject reports whether part, a JWT part without CR or LF (as
// Split returns it), decodes (strict base64url) to UTF-8 whose first byte
// other than JSON white space is '{': the start of a JSON object, whether
// or not the rest parses. introspect.Combined routes a token whose header
// looks like an object to the JWT verifier, which refuses it locally if it
// does not parse.
//
// It allocates nothing, however long part is: it decodes a piece at a time
// into buffers on the stack, carrying an incomplete UTF-8 sequence at the
// end of one piece over to the next.
func LooksLikeObject(part string) bool {
	const piece = 512 // base64 characters, a multiple of 4: 384 bytes
	var src [piece]byte
	var dst [utf8.UTFMax - 1 + piece/4*3]byte // room for a carried sequence
	carry, started := 0, false
	for len(part) > 0 {
		n := copy(src[:], part)
		part = part[n:]
		if bytes.ContainsAny(src[:n], "\r\n") {
			return false // the decoder would skip them
		}
		m, err := b64.Decode(dst[carry:], src[:n])
		if err != nil {
			return false
		}
		if !started {
			if i := skipSpace(dst[carry : carry+m]); i < m {
				if dst[carry+i] != '{' {
					return false
				}
				started = true
			}
		}
		b := dst[:carry+m]
		whole := len(b)
		if len(part) > 0 {
			whole = completeRunes(b)
		}
		if !utf8.Valid(b[:whole]) {
			return false
		}
		carry = copy(dst[:], b[whole:])
	}
	return started && carry == 0
}

// completeRunes returns the length of b without a UTF-8 sequence that its
// last bytes start but do not finish.
func completeRunes(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-(utf8.UTFMax-1); i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

// object reports whether b, after leading JSON whitespace, starts an
// object: encoding/json would decode null into a struct without error.
func object(b []byte) bool {
	i := skipSpace(b)
	return i < len(b) && b[i] == '{'
}

// skipSpace returns the index of b's first byte other than JSON white
// space (RFC 8259, section 2), or len(b).
func skipSpace[T string | []byte](b T) int {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return i
		}
	}
	return len(b)
}

// memberNames is what the decoder's pass over an object records of its
// member names (see members).
type memberNames struct {
	count int // members, repeated names included
	// present has bit i set when names.list()[i] is a member name, exactly
	// (after unescaping).
	present uint32
	// caseVariant reports a member name that differs from one of
	// names.list() only in case.
	caseVariant bool
	escaped     int // the length of the text of the names that hold escapes
	// text, when set, is the whole JSON text being decoded: at the first
	// name whose text is longer than maxPathNames or is costly
	// (costlyName), members reads on only if validJSON accepts it, and
	// stops with errCostlyName if not (see decodeObject).
	text []byte
}

// maxPathNames bounds the text of the member names that may be on the
// decoder's path when it can meet a syntax error: the error's JSON Pointer
// names them, and building it costs 6-12 times their length (escaping '/'
// and '~' doubles it), which for long names would break the
// rejection-cost bound. A costly name (costlyName: escaped, or holding
// '&', '<', '>' or a byte past ASCII) must not be on it either, however
// short: the decoder unescapes it into a buffer that it first grows by the
// length of the rest of the text, from the name to the end. See
// decodeObject.
const maxPathNames = 64

// errCostlyName stops a decode at a member name longer than maxPathNames,
// or costly (costlyName), in a text that is not valid JSON.
var errCostlyName = errors.New("jwt: long or costly member name")

// refusal is the pre-pass's reason to refuse a JSON text before the
// decoder reads it.
type refusal uint8

const (
	none        refusal = iota
	invalid             // an outermost member name is not a valid JSON string
	deep                // nested deeper than MaxDepth
	caseVariant         // an outermost member name is a case variant of a registered one
)

// decodeObject decodes b, a JSON text whose first byte other than white
// space is '{', into v, whose members loop records the outermost object's
// member names in seen, unless the pre-pass (scan) refuses b. It returns
// the pre-pass's refusal, or the decoder's error.
//
// The pre-pass runs first, as it must, on a text that could nest deeper
// than MaxDepth: one that holds more than MaxDepth brackets and braces,
// counted whether in strings or not (bytes.Count, far cheaper than scan);
// on a text with nested objects, whose member names the decoder's member
// loop does not see (see below); and on every text when prePassFirst is
// set (for FuzzDecodeFirst). Any other text goes to the decoder first, and
// when it decodes, the pre-pass has nothing more to find: the decoder read
// every member name of the outermost object (a case variant is refused as
// the pre-pass would refuse it), and the nesting is bounded. Only when
// decoding fails does the pre-pass run, so that every text gets the error
// of the pre-pass-first order (an invalid or case-variant name after a
// value of the wrong type, say, is refused for its name), while a
// well-formed token, accepted or rejected later for its values, is read
// once.
//
// The decoder's syntax errors name the path to the error in a JSON
// Pointer, which costs several times the length of the member names on it,
// and the length of the rest of the text for a name it does not copy as
// it is (costlyName: an escape, '&', '<', '>', a byte past ASCII; see
// maxPathNames). So no invalid text reaches the decoder while more than
// maxPathNames of names, or a costly name, could be on its path: the
// pre-pass measures the names on every path of any text (shape.pathNames,
// shape.costlyName), and a text with longer paths or a costly name is
// refused as not JSON unless validJSON, which builds no pointer, accepts
// it, whatever error the decoder would have met first. In the
// decoder-first order, where every name is the outermost object's (the
// only one), the member loop runs validJSON at the first such name, and
// reads on if it accepts the text (no syntax error can follow), or stops:
// the text is read once either way. (The errors of a registered member's
// value name its path too; members gives them a pointer of its own when
// the member's name is escaped.)
func decodeObject(b []byte, v jsonv2.UnmarshalerFrom, seen *memberNames, names nameSet, prePassFirst bool) (refusal, error) {
	var err error
	decoded := !prePassFirst && bytes.Count(b, []byte("{")) == 1 && bytes.Count(b, []byte("["))+1 <= MaxDepth
	if decoded {
		seen.text = b
		err = jsonv2.Unmarshal(b, v, decodeOptions)
		switch {
		case err == nil && seen.caseVariant:
			return caseVariant, nil // what scan would find first in valid JSON
		case err == nil:
			return none, nil
		}
	}
	sh := scan(b, names)
	switch {
	case sh.invalid:
		return invalid, nil
	case sh.depth > MaxDepth:
		return deep, nil
	case sh.caseVariant:
		return caseVariant, nil
	case errors.Is(err, errCostlyName):
		return invalid, nil // validJSON refused it (members)
	case (sh.pathNames > maxPathNames || sh.costlyName) && !validJSON(b):
		return invalid, nil
	case decoded:
		return none, err
	}
	return none, jsonv2.Unmarshal(b, v, decodeOptions)
}

// validJSON reports whether b is one valid JSON text as encoding/json/v2
// reads it (repeated member names allowed), without building the JSON
// Pointer the decoder's syntax errors carry: encoding/json's Valid checks
// the grammar, then the two things it lets through and encoding/json/v2
// refuses, invalid UTF-8 and unpaired surrogate escapes. Its cost is
// linear in len(b), with no allocation (FuzzScan checks it against the
// decoder).
func validJSON(b []byte) bool {
	return json.Valid(b) && utf8.Valid(b) && surrogatesPaired(b)
}

// surrogatesPaired reports whether every \u escape of a UTF-16 surrogate in
// b, a valid JSON text (encoding/json's Valid), is a high surrogate
// immediately followed by the escape of a low one. Outside strings a valid
// text has no backslash, and in a string every backslash starts an escape
// (\uXXXX with four hex digits, or one character), so b is read escape by
// escape.
func surrogatesPaired(b []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\\')
		if j < 0 {
			return true
		}
		i += j
		if b[i+1] != 'u' {
			i += 2
			continue
		}
		r := hex4(b[i+2 : i+6])
		i += 6
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return false // a low surrogate alone
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
				return false
			}
			if lo := hex4(b[i+2 : i+6]); lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		}
	}
}

// hex4 is the value of four hex digits.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case c >= 'a':
			c -= 'a' - 10
		case c >= 'A':
			c -= 'A' - 10
		default:
			c -= '0'
		}
		r = r<<4 | rune(c)
	}
	return r
}

// shape is what one linear pass over a JSON text finds: its deepest
// nesting, and whether a member name of its outermost object differs only
// in case from one of the names it was given.
type shape struct {
	depth       int
	caseVariant bool
	// invalid reports an outermost member name that is not a valid JSON
	// string: an unterminated one, or an escaped one short enough for
	// matchName to unescape (maxEscapedNameLen) that holds a bad escape or
	// invalid UTF-8 (the decoder refuses any other invalid name); scan
	// stops there.
	invalid bool
	// pathNames is the most text of member names that is on the path to
	// any point of b: for each enclosing object, the name of the member
	// being read, quotes excluded (see decodeObject). A string where a
	// member name is expected (after '{', or after ',' in an object)
	// counts as a name at any depth, ':' after it or not: the decoder
	// reads it as one, and its error for a missing ':' names it. For a
	// text nested deeper than MaxDepth only the outer MaxDepth+1 levels
	// count.
	pathNames int
	// costlyName reports a string counted in pathNames that the decoder
	// would unescape to name it in an error (see costlyName).
	costlyName bool
}

// costlyName reports whether name, a member name's text without its
// quotes, is one the decoder does not copy as it is into the JSON Pointer
// of an error on its path: one holding an escape, '&', '<', '>', a control
// character or a byte past ASCII (what jsonwire.ConsumeSimpleString
// refuses). Such a name it unescapes into a buffer that it first grows by
// the rest of the text, so an invalid text with one on the decoder's path
// would cost a copy of everything after it.
func costlyName(name []byte) bool {
	for _, c := range name {
		if c == '\\' || c == '&' || c == '<' || c == '>' || c < 0x20 || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// scan makes one pass over the JSON text b. It tracks strings only to skip
// the brackets and commas inside them and to read the outermost object's
// member names; b need not be valid (the decoder validates it).
// A member name that differs from a registered one only in case is refused
// although encoding/json/v2 matches names exactly: encoding/json (v1),
// which many programs downstream still use on the same token, matches
// them case-insensitively, so a header or payload holding both "iss" and
// "ISS" would mean one thing here and another there. scan reports it, as
// the decoder's member loop does (members), and the parser refuses it.
func scan(b []byte, names nameSet) shape {
	var sh shape
	depth := 0
	expectName, object := false, false // object: the outermost value is an object
	var name [MaxDepth + 2]int         // the length of the name being read at each depth
	path := 0                          // their sum
	var objects uint64                 // bit d: the value at depth d < len(name) is an object
	nameNext := false                  // a string here is where a member name is expected
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			end, escaped := stringEnd(b, i+1)
			if nameNext && depth >= 0 && depth < len(name) {
				path += end - i - 1 - name[depth]
				name[depth] = end - i - 1
				sh.pathNames = max(sh.pathNames, path)
				sh.costlyName = sh.costlyName || escaped || costlyName(b[i+1:end])
			}
			nameNext = false
			if expectName {
				expectName = false
				if end == len(b) {
					sh.invalid = true
					return sh
				}
				variant, _, ok := matchName(b[i:end+1], escaped, names)
				if !ok {
					sh.invalid = true
					return sh
				}
				sh.caseVariant = sh.caseVariant || variant
			}
			i = end
		case '[', '{':
			depth++
			sh.depth = max(sh.depth, depth)
			nameNext = c == '{'
			if depth >= 0 && depth < len(name) {
				objects &^= 1 << depth
				if nameNext {
					objects |= 1 << depth
				}
			}
			if depth == 1 {
				object = c == '{'
			}
			expectName = depth == 1 && object
		case ']', '}':
			if depth >= 0 && depth < len(name) {
				path -= name[depth]
				name[depth] = 0
			}
			depth--
			nameNext = false
		case ',':
			nameNext = depth >= 0 && depth < len(name) && objects&(1<<depth) != 0
			if depth == 1 {
				expectName = object
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

// maxEscapedNameLen bounds the text of an escaped member name worth
// unescaping: an escape is at most 6 bytes of text for each byte it
// decodes to (\u0041 is "A"), so a longer text cannot decode to a name of
// at most 3*maxNameLen bytes, the longest that can match (see below).
const maxEscapedNameLen = 6 * 3 * maxNameLen

// matchName compares the member name quoted (its JSON text, quotes
// included) with names: variant reports that it differs from one only in
// case, and exact is the index in names.list() of the one it equals, or -1.
// ok is false
// when an escaped name worth decoding is not a valid JSON string. An
// escaped name is decoded into a buffer on the stack, so a payload of many
// escaped names allocates nothing for them: rejecting it stays within the
// rejection-cost bound.
func matchName(quoted []byte, escaped bool, names nameSet) (variant bool, exact int, ok bool) {
	raw := quoted[1 : len(quoted)-1]
	if escaped {
		if len(raw) > maxEscapedNameLen {
			return false, -1, true // cannot match; the decoder validates it
		}
		var buf [maxEscapedNameLen]byte
		name, err := jsontext.AppendUnquote(buf[:0], quoted)
		if err != nil {
			return false, -1, false
		}
		raw = name
	}
	if i := names.index(raw); i >= 0 {
		return false, i, true
	}
	// names are lower-case ASCII of at most 9 bytes. A name that equals
	// none can fold to one only if it holds an upper-case ASCII letter or
	// a non-ASCII byte. An ASCII one must have the same length and its
	// first byte must fold to that name's first byte. A non-ASCII one can
	// be longer: Unicode folding, which encoding/json applies too, maps the
	// Kelvin sign K (U+212A, 3 bytes) to k and the long s (U+017F, 2
	// bytes) to s, so "iſs" (4 bytes) decodes as "iss"; no rune folds to
	// ASCII from more than 3 bytes.
	if len(raw) == 0 || len(raw) > 3*maxNameLen {
		return false, -1, true
	}
	ascii, upper := true, false
	for _, c := range raw {
		ascii = ascii && c < utf8.RuneSelf
		upper = upper || 'A' <= c && c <= 'Z'
	}
	if ascii && !upper {
		return false, -1, true
	}
	first := raw[0]
	if 'A' <= first && first <= 'Z' {
		first += 'a' - 'A'
	}
	for _, n := range names.list() {
		if ascii && (len(raw) != len(n) || first != n[0]) {
			continue
		}
		if strings.EqualFold(string(raw), n) {
			return true, -1, true
		}
	}
	return false, -1, true
}

// ClientIDValue returns the client the token was issued to: the one that
// cid (Okta), client_id (RFC 9068) and azp (OIDC) name, those of them that
// are not empty. It is empty when none is, and when two name different
// clients: each issuer writes one of them, or two with one value (RFC
// 9068's client_id beside OIDC's azp), so a second one that differs is
// a claim the issuer was made to add under that name (an Auth0 Action, a
// Cognito pre-token Lambda, a Keycloak mapper, perhaps from data the user
// can edit), and neither can be told to be the issuer's own.
func (c *Claims) ClientIDValue() string {
	id := ""
	for _, s := range [...]string{c.Cid, c.ClientID, c.Azp} {
		switch {
		case s == "":
		case id == "":
			id = s
		case s != id:
			return ""
		}
	}
	return id
}
