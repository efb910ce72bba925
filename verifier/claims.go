package verifier

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultScopeClaims are the claims scopes are read from when
// Config.ScopeClaims is empty: Okta and Entra ID use "scp" (an array, or a
// space-separated string), RFC 9068, Keycloak, Cognito and Auth0 use "scope"
// (a space-separated string).
var DefaultScopeClaims = []string{"scp", "scope"}

// registeredClaims are the claims ParseClaims decodes into fields, in an
// order parseClaims relies on (see the r... indexes). The last three are the
// claims a client id is read from, in order: Okta's "cid", RFC 9068's
// "client_id", and OIDC's "azp".
var registeredClaims = [...]string{"iss", "sub", "jti", "iat", "exp", "nbf", "aud", "cid", "client_id", "azp"}

// Indexes into registeredClaims.
const (
	rIat = 3
	rAud = 6
	rCid = 7
)

// registeredIndex returns name's index in registeredClaims, or -1. A
// switch, which the compiler turns into a few comparisons, costs less than
// comparing name with each registered name in turn.
func registeredIndex(name string) int {
	switch name {
	case "iss":
		return 0
	case "sub":
		return 1
	case "jti":
		return 2
	case "iat":
		return rIat
	case "exp":
		return 4
	case "nbf":
		return 5
	case "aud":
		return rAud
	case "cid":
		return rCid
	case "client_id":
		return 8
	case "azp":
		return 9
	}
	return -1
}

// Claims is the verified content of a token, as a small immutable value,
// like time.Time: copy it and pass it around freely. It holds only a pointer
// to claim data that nothing changes once the token is verified, and every
// method returns a value or a copy, so no holder of a Claims (a handler, a
// decision hook, another goroutine) can change what any other holder, or
// the verifier's cache, sees: assigning to a Claims variable replaces that
// variable's value only.
//
// The zero Claims holds no claims: IsZero reports true, and its methods
// return zero values.
type Claims struct {
	s *claimSet
}

// emptyClaims backs the zero Claims. It is never written.
var emptyClaims claimSet

func (c Claims) set() *claimSet {
	if c.s == nil {
		return &emptyClaims
	}
	return c.s
}

// IsZero reports whether c holds no claims: the zero Claims, as returned
// with an error, or by ClaimsFromContext-style lookups that found none.
func (c Claims) IsZero() bool { return c.s == nil }

// Issuer returns the iss claim.
func (c Claims) Issuer() string { return c.set().issuer }

// Subject returns the sub claim: the user, or for client-credentials tokens
// usually the client.
func (c Claims) Subject() string { return c.set().subject }

// ClientID returns the client the token was issued to, from the first of
// "cid" (Okta), "client_id" (RFC 9068) and "azp" (OIDC) that is present.
func (c Claims) ClientID() string { return c.set().clientID }

// ID returns the jti claim.
func (c Claims) ID() string { return c.set().tokenID }

// Audience returns a copy of the aud claim, a single string being a list of
// one.
func (c Claims) Audience() []string { return slices.Clone(c.set().audience) }

// Scopes returns a sorted copy of the token's scopes, gathered from every
// configured scope claim, whether an array or a space-separated string.
func (c Claims) Scopes() []string { return slices.Clone(c.set().scopes) }

// HasScope reports whether the token carries scope exactly: "admin" does not
// match "admin:read", and matching is case-sensitive (RFC 6749, 3.3).
func (c Claims) HasScope(scope string) bool { return c.set().hasScope(scope) }

// IssuedAt returns the iat claim, or the zero time when absent.
func (c Claims) IssuedAt() time.Time { return c.set().issuedAt }

// Expiry returns the exp claim, or the zero time when absent.
func (c Claims) Expiry() time.Time { return c.set().expiry }

// NotBefore returns the nbf claim, or the zero time when absent.
func (c Claims) NotBefore() time.Time { return c.set().notBefore }

// Has reports whether the claim is present.
func (c Claims) Has(name string) bool { return c.set().has(name) }

// Raw returns a copy of the claim's JSON encoding and whether it is present.
func (c Claims) Raw(name string) (json.RawMessage, bool) { return c.set().rawCopy(name) }

// Claim decodes the named claim into v, as json.Unmarshal would. It returns
// a *ClaimError (errors.Is ErrClaims) when the claim is absent.
func (c Claims) Claim(name string, v any) error { return c.set().claim(name, v) }

// Names returns the names of all claims present, sorted.
func (c Claims) Names() []string { return c.set().names() }

// claimSet is the data behind a Claims. It is written only while a token is
// decoded, before any Claims refers to it.
type claimSet struct {
	issuer    string
	subject   string
	clientID  string
	tokenID   string
	audience  []string
	scopes    []string // sorted, unique
	issuedAt  time.Time
	expiry    time.Time
	notBefore time.Time
	raw       members   // in payload order; a repeated name's last value wins
	oneAud    [1]string // audience's array when aud is a single string
}

// NewClaims builds Claims from a claims object, reading scopes from
// scopeClaims (DefaultScopeClaims when none are given). It performs no
// verification at all; it is for tests (see grpcauth.ContextWithClaims) and
// for token verifiers that obtain claims by other means, such as token
// introspection.
func NewClaims(claims map[string]any, scopeClaims ...string) (Claims, error) {
	b, err := json.Marshal(claims)
	if err != nil {
		return Claims{}, fmt.Errorf("verifier: encoding claims: %w", err)
	}
	return ParseClaims(b, scopeClaims...)
}

// ParseClaims decodes a JSON claims object (a JWT payload) into Claims,
// reading scopes from scopeClaims (DefaultScopeClaims when none are given).
// It checks types only: a registered claim of the wrong type (a non-numeric
// exp, say) is an ErrMalformed error. It does not check signatures, times or
// values.
func ParseClaims(payload []byte, scopeClaims ...string) (Claims, error) {
	// parseClaims keeps references into its input; give it a private copy
	// so that the caller changing payload cannot change the Claims.
	s, err := parseClaims(bytes.Clone(payload), scopeClaims)
	if err != nil {
		return Claims{}, err
	}
	return Claims{s}, nil
}

// errClaimsJSON reports a payload that is not exactly one JSON object.
var errClaimsJSON = fmt.Errorf("%w: claims are not a JSON object", ErrMalformed)

// parseClaims is ParseClaims on a payload the caller owns and never changes
// again: the Claims' strings and raw values share its memory. Anything after
// the object, including a stray "}" or "]", is an error.
func parseClaims(payload []byte, scopeClaims []string) (*claimSet, error) {
	c := new(claimSet)
	if err := c.parse(payload, scopeClaims); err != nil {
		return nil, err
	}
	return c, nil
}

// parse is parseClaims into c, which must be zero but for raw, whose array
// it reuses when it has room (see scratch in verify.go).
func (c *claimSet) parse(payload []byte, scopeClaims []string) error {
	raw, ok := decodeObjectInto(c.raw, payload)
	if !ok {
		return errClaimsJSON
	}
	// One pass picks the registered claims' values (the last of a repeated
	// name, as everywhere), instead of a lookup per claim.
	var v [len(registeredClaims)]json.RawMessage
	for _, m := range raw {
		if k := registeredIndex(m.name); k >= 0 {
			v[k] = m.value
		}
	}
	c.raw = raw
	var err error
	for k, dst := range []*string{&c.issuer, &c.subject, &c.tokenID} {
		if *dst, err = stringClaim(registeredClaims[k], v[k]); err != nil {
			return err
		}
	}
	for k, dst := range []*time.Time{&c.issuedAt, &c.expiry, &c.notBefore} {
		if *dst, err = timeClaim(registeredClaims[rIat+k], v[rIat+k]); err != nil {
			return err
		}
	}
	// The first client-id claim present: cid, client_id, azp.
	for k := rCid; k < len(registeredClaims) && c.clientID == ""; k++ {
		if c.clientID, err = stringClaim(registeredClaims[k], v[k]); err != nil {
			return err
		}
	}
	// A single plain string, the usual aud, is stored without allocating.
	if s, ok := plainString(v[rAud]); ok {
		c.oneAud[0] = s
		c.audience = c.oneAud[:]
	} else if c.audience, err = stringsClaim("aud", v[rAud]); err != nil {
		return err
	}
	if len(scopeClaims) == 0 {
		scopeClaims = DefaultScopeClaims
	}
	for _, name := range scopeClaims {
		b, _ := raw.get(name)
		s, err := stringsClaim(name, b)
		if err != nil {
			return err
		}
		c.scopes = append(c.scopes, s...)
	}
	slices.Sort(c.scopes)
	c.scopes = slices.Compact(c.scopes)
	return nil
}

// hasScope is Claims.HasScope: a binary search of the sorted scopes.
func (c *claimSet) hasScope(scope string) bool {
	_, ok := slices.BinarySearch(c.scopes, scope)
	return ok
}

// has is Claims.Has.
func (c *claimSet) has(name string) bool {
	_, ok := c.raw.get(name)
	return ok
}

// rawCopy is Claims.Raw.
func (c *claimSet) rawCopy(name string) (json.RawMessage, bool) {
	v, ok := c.raw.get(name)
	if !ok {
		return nil, false
	}
	return bytes.Clone(v), true
}

// claim is Claims.Claim.
func (c *claimSet) claim(name string, v any) error {
	b, ok := c.raw.get(name)
	if !ok {
		return &ClaimError{Claim: name, Reason: "missing"}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("verifier: decoding claim %q: %w", name, err)
	}
	return nil
}

// names is Claims.Names.
func (c *claimSet) names() []string {
	names := make([]string, 0, len(c.raw))
	for _, m := range c.raw {
		names = append(names, m.name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func typeError(name, want string) error {
	return fmt.Errorf("%w: claim %q is not %s", ErrMalformed, name, want)
}

// stringClaim returns the string claim name whose value is b (nil when
// absent), "" when absent or null.
func stringClaim(name string, b json.RawMessage) (string, error) {
	if b == nil || isNull(b) {
		return "", nil
	}
	s, ok := decodeString(b)
	if !ok {
		return "", typeError(name, "a string")
	}
	return s, nil
}

// stringsClaim returns a claim that may be an array of strings or a single
// string; a single string is split on spaces (the OAuth scope syntax) for
// every claim but "aud", whose string form is one audience.
func stringsClaim(name string, b json.RawMessage) ([]string, error) {
	if b == nil || isNull(b) {
		return nil, nil
	}
	switch firstByte(b) {
	case '"':
		s, ok := decodeString(b)
		if !ok {
			return nil, typeError(name, "a string or an array of strings")
		}
		if name == "aud" {
			return []string{s}, nil
		}
		return strings.Fields(s), nil
	case '[':
		if ss, ok := plainStringArray(b); ok {
			return ss, nil
		}
		var ss []string
		if err := json.Unmarshal(b, &ss); err != nil {
			return nil, typeError(name, "a string or an array of strings")
		}
		return ss, nil
	}
	return nil, typeError(name, "a string or an array of strings")
}

// maxNumericDate bounds NumericDate values so that conversion to time.Time
// cannot overflow: year 9999.
const maxNumericDate = 253402300799

// timeClaim returns a NumericDate claim (RFC 7519, 2) whose value is b, the
// zero time when absent (nil) or null. Fractions of a second are truncated.
func timeClaim(name string, b json.RawMessage) (time.Time, error) {
	if b == nil || isNull(b) {
		return time.Time{}, nil
	}
	// A JSON value starting with '-' or a digit is a number (b is valid
	// JSON); strconv.ParseFloat is what json.Number.Float64 calls.
	b = bytes.TrimSpace(b)
	if n, ok := smallUint(b); ok {
		// The usual case, an integer of at most 15 digits, which
		// ParseFloat would return exactly.
		if n > maxNumericDate {
			return time.Time{}, typeError(name, "a valid NumericDate")
		}
		return time.Unix(int64(n), 0), nil
	}
	if c := firstByte(b); c != '-' && (c < '0' || c > '9') {
		return time.Time{}, typeError(name, "a number")
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, typeError(name, "a valid NumericDate")
	}
	return time.Unix(int64(f), 0), nil
}

// smallUint returns the value of b when it is 1 to 15 decimal digits (JSON
// forbids leading zeros, so there are none to consider).
func smallUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

func isNull(b json.RawMessage) bool { return string(bytes.TrimSpace(b)) == "null" }

func firstByte(b []byte) byte {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
