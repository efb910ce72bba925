package verifier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/grpcauth/grpcauth/internal/ascii"
	"github.com/grpcauth/grpcauth/internal/jwt"
)

// DefaultScopeClaims returns the claims scopes are read from when
// Config.ScopeClaims is empty: Okta and Entra ID use "scp" (an array, or a
// space-separated string), RFC 9068, Keycloak, Cognito and Auth0 use "scope"
// (a space-separated string). Each call returns a new slice.
func DefaultScopeClaims() []string { return []string{"scp", "scope"} }

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
// usually the client. It is the string the token holds, its JSON escapes
// decoded and nothing else: never case-folded or Unicode-normalised (RFC
// 7519, 7.3), so "é" written as U+00E9 and as "e" then U+0301 are two
// subjects, as are "K" and the Kelvin sign. Key users on it byte for byte:
// folding or normalising it first could merge two subjects into one.
func (c Claims) Subject() string { return c.set().subject }

// ClientID returns the client the token was issued to: the one that
// "cid" (Okta), "client_id" (RFC 9068) and "azp" (OIDC) name, of those
// that are non-empty strings (an empty "cid" is no client). It is empty
// when none is, and when two name different clients: an issuer writes one
// of them (or two alike), so a second that differs is a claim the issuer
// was configured to add under that name, perhaps from data the user can
// edit, and no one of them can be taken as the client. For an access token
// verified under Config.RequireAccessTokenProfile it is "client_id", the
// claim RFC 9068 requires, whatever "cid" and "azp" say. Config.ClientIDs
// is checked against the same value, so a token whose client claims
// disagree is refused there.
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
// a *ClaimError (errors.Is ErrClaims) when the claim is absent. A null
// claim is present (Has reports true) and decodes without error as
// json.Unmarshal decodes null: v's string, number or bool is left as it
// was, and a pointer, slice, map or interface is set to nil. So decode
// into a pointer (var acr *string) to tell null from a value, as the
// package does elsewhere: AssertClaims, the RFC 9068 profile and the
// registered claims' accessors count null as absent.
func (c Claims) Claim(name string, v any) error { return c.set().claim(name, v) }

// Names returns the names of all claims present, sorted.
func (c Claims) Names() []string { return c.set().names() }

// Footprint returns the bytes these claims keep alive, member index
// included (counted whether or not it is built yet), for caches that hold
// them: the verifier's token cache and the introspection cache bound their
// memory with it. The Claims own all that memory (none is shared with the
// token or a pooled buffer), so it is what dropping the last Claims for
// them frees. The zero Claims keeps nothing alive: 0.
//
// A string the Claims return (Issuer, Subject, ID, ClientID, an Audience
// or Scopes element) is, when the token wrote it without escapes, a
// substring of the Claims' copy of the payload, as a Names element is
// always but for a name written with escapes, and keeps that copy alive:
// a program that keeps such a string long after the Claims (a map of
// subjects, say) should keep strings.Clone of it.
func (c Claims) Footprint() int64 { return c.set().size }

// claimSet is the data behind a Claims. It is written only while a token is
// decoded, before any Claims refers to it, and owns all its memory: data is
// a copy of the payload; its other strings are substrings of data where
// data holds their bytes (a claim written without escapes), and otherwise
// were allocated for it alone; its slices are exactly sized. The member
// index over data is built on first use (most tokens are only asked for
// their registered claims and scopes); it is deterministic, so building it
// changes nothing any holder can observe, and size counts it in advance
// (see cache.go).
type claimSet struct {
	issuer    string
	subject   string
	clientID  string
	tokenID   string
	audience  []string
	scopes    []string // sorted, unique, each a valid scope-token
	issuedAt  time.Time
	expiry    time.Time
	notBefore time.Time
	data      string       // the payload: one JSON object
	nMembers  int          // at least the number of members in data
	size      int64        // footprint, index included
	present   jwt.Presence // which of jwt.RegisteredNames are members; fromIntrospection

	indexOnce sync.Once
	members   []member // sorted by name, names unique; substrings of data
}

// member is one claim: its name and its value's JSON text.
type member struct{ name, value string }

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
// values. The Claims share no memory with payload.
func ParseClaims(payload []byte, scopeClaims ...string) (Claims, error) {
	reg, err := jwt.ParseClaims(payload)
	if err != nil {
		return Claims{}, claimsError(err)
	}
	if len(scopeClaims) == 0 {
		scopeClaims = DefaultScopeClaims()
	}
	s, err := newClaimSet(context.Background(), payload, &reg, reg.ClientIDValue(), scopeClaims, nil)
	if err != nil {
		return Claims{}, err
	}
	return Claims{s}, nil
}

var (
	errClaimsJSON  = fmt.Errorf("%w: claims are not a JSON object", ErrMalformed)
	errClaimsDepth = fmt.Errorf("%w: claims nested deeper than %d", ErrMalformed, jwt.MaxDepth)
	errCaseVariant = fmt.Errorf("%w: a claim or header name differs from a registered one only in case", ErrMalformed)
)

// claimsError maps an error of jwt.ParseClaims to the package's.
func claimsError(err error) error {
	switch {
	case err == jwt.ErrClaims:
		return errClaimsJSON
	case err == jwt.ErrDepth:
		return errClaimsDepth
	case err == jwt.ErrCase:
		return errCaseVariant
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// newClaimSet builds the claims of payload (one JSON object), whose
// registered claims are reg and whose client is clientID (one of reg's
// strings: see Claims.ClientID), reading scopes from scopeClaims. The
// verifier calls it only for a token whose signature verified. It keeps a
// copy of payload, not payload.
func newClaimSet(ctx context.Context, payload []byte, reg *jwt.Claims, clientID string, scopeClaims []string, log *slog.Logger) (*claimSet, error) {
	c := &claimSet{
		data:      string(payload),
		nMembers:  reg.Members,
		present:   reg.Present,
		issuedAt:  reg.IssuedAt.Time,
		expiry:    reg.Expiry.Time,
		notBefore: reg.NotBefore.Time,
	}
	// extra counts the bytes of the strings kept apart from data: those
	// share could not find in it (escaped), the scope strings and the
	// index's unescaped member names.
	extra := int64(reg.EscapedNames)
	c.issuer = c.share(reg.Issuer, &extra)
	c.subject = c.share(reg.Subject, &extra)
	c.tokenID = c.share(reg.ID, &extra)
	c.clientID = c.share(clientID, &extra)
	if len(reg.Audience) > 0 {
		// reg's exactly sized array, made for this token alone.
		c.audience = slices.Clip([]string(reg.Audience))
		for i, a := range c.audience {
			c.audience[i] = c.share(a, &extra)
		}
	}
	var scopes []string
	for _, name := range scopeClaims {
		// raw is the claim's JSON text; text is the same text within
		// data, of which the elements written without escapes are kept as
		// substrings.
		var raw []byte
		var text string
		switch name {
		case "scp":
			raw, text = reg.Scp, c.shareText(payload, reg.Scp)
		case "scope":
			raw, text = reg.Scope, c.shareText(payload, reg.Scope)
		default:
			text, _ = c.get(name)
			raw = []byte(text)
		}
		if len(raw) == 0 {
			continue
		}
		found, own, err := scopeValues(name, raw, text, func(s string) bool {
			if IsScopeToken(s) {
				return true
			}
			if log != nil && log.Enabled(ctx, slog.LevelDebug) {
				log.DebugContext(ctx, "verifier: scope element is not an RFC 6749 scope-token; it matches nothing",
					"claim", name, "length", len(s))
			}
			return false
		})
		if err != nil {
			return nil, err
		}
		extra += own
		if scopes == nil {
			scopes = found // scopeValues allocated it for this call alone
		} else {
			scopes = append(scopes, found...)
		}
	}
	slices.Sort(scopes)
	scopes = slices.Compact(scopes) // a dropped duplicate stays counted: an overcount, never an undercount
	switch {
	case len(scopes) == 0:
	case len(scopes) == cap(scopes):
		c.scopes = scopes
	default:
		c.scopes = slices.Clone(scopes) // exactly sized: the claims own no spare capacity
	}
	c.size = c.footprint(extra)
	return c, nil
}

// share returns s as a substring of data when data holds its bytes, which
// it does for a claim written without escapes: the claims then keep no
// second copy. Otherwise it returns s, a string of its own (decoded from
// escapes, made for this token alone), and adds its length to extra.
// Any occurrence of s's bytes will do: it is the same string.
func (c *claimSet) share(s string, extra *int64) string {
	if s == "" {
		return "" // pointing nowhere: an empty claim a caller keeps pins nothing
	}
	if i := strings.Index(c.data, s); i >= 0 {
		return c.data[i : i+len(s)]
	}
	*extra += int64(len(s))
	return s
}

// shareText returns the substring of data equal to v, a member's JSON text
// copied out of payload, of which data is a copy (so an offset in one is
// the same offset in the other): "" for none.
func (c *claimSet) shareText(payload, v []byte) string {
	if i := bytes.Index(payload, v); len(v) > 0 && i >= 0 {
		return c.data[i : i+len(v)]
	}
	return "" // no such member (v cannot be missing from payload otherwise)
}

// index returns the member index, building it on first use: one pass over
// data, each name and value a substring of it (a name written with escapes
// is a string of its own), sorted by name, the last of a repeated name
// kept, as in the registered claims.
func (c *claimSet) index() []member {
	c.indexOnce.Do(func() {
		members := make([]member, 0, c.nMembers)
		if jwt.Members(c.data, func(name, value string) {
			members = append(members, member{name: name, value: value})
		}) != nil {
			return // cannot happen: data was decoded before
		}
		slices.SortStableFunc(members, func(a, b member) int { return strings.Compare(a.name, b.name) })
		// Keep the last of each run of equal names.
		kept := members[:0]
		for i, m := range members {
			if i+1 < len(members) && members[i+1].name == m.name {
				continue
			}
			kept = append(kept, m)
		}
		c.members = kept
	})
	return c.members
}

// scopeValues returns the elements of a scope claim whose JSON text is raw
// that keep accepts: a space-separated string split on U+0020 only (RFC
// 6749, 3.3), or an array of strings taken as they are (an element "a b"
// is one element, which is not a valid scope-token). null is no scope; any
// other type is ErrMalformed. own is the bytes the elements returned keep
// alive apart from text, the same JSON text as raw, in the claims' data
// ("" when it is not there).
//
// A string without escapes (no backslash) is written as it decodes,
// between two of its quotes: its elements are substrings of text, and own
// is 0; with escapes, they are substrings of one decoded string. An array
// of strings of printable ASCII without escapes, as real ones are, is read
// by hand (jwt.PlainStrings), its elements substrings of text; any other
// array is decoded, its elements strings of their own.
func scopeValues(name string, raw []byte, text string, keep func(string) bool) (vals []string, own int64, err error) {
	plain := text != "" && strings.IndexByte(text, '\\') < 0
	switch firstByte(raw) {
	case 'n':
		return nil, 0, nil
	case '"':
		var s string
		if plain {
			// One JSON string (the decoder read raw as one value) without
			// escapes: its text, between its first and last quote, is
			// what it decodes to.
			s = strings.Trim(text, " \t\r\n")
			s = s[1 : len(s)-1]
		} else {
			// A variable of its own, as in the array case.
			var decoded string
			if err := jsonv2.Unmarshal(raw, &decoded); err != nil {
				return nil, 0, typeError(name, "a string or an array of strings")
			}
			s = decoded
		}
		vals = slices.DeleteFunc(strings.Split(s, " "), func(e string) bool { return !keep(e) })
		if !plain && len(vals) > 0 {
			own = int64(len(s))
		}
		return vals, own, nil
	case '[':
		ss, shared := jwt.PlainStrings(text)
		if !shared {
			// A variable of its own: its address escapes to the heap,
			// which ss's would on every call.
			var decoded []string
			if err := jsonv2.Unmarshal(raw, &decoded); err != nil {
				return nil, 0, typeError(name, "a string or an array of strings")
			}
			ss = decoded
		}
		vals := ss[:0] // vals writes over ss behind the loop's reads
		for _, s := range ss {
			if keep(s) {
				vals = append(vals, s)
				if !shared {
					own += int64(len(s))
				}
			}
		}
		clear(ss[len(vals):]) // the dropped elements' strings are not kept
		return vals, own, nil
	}
	return nil, 0, typeError(name, "a string or an array of strings")
}

// IsScopeToken reports whether s is an RFC 6749 (3.3) scope-token: one or
// more NQCHAR, that is %x21 / %x23-5B / %x5D-7E (printable ASCII but space,
// '"' and '\'). A scope claim's element that is not one matches nothing.
func IsScopeToken(s string) bool { return ascii.IsNQChars(s) }

// Sizes on 64-bit platforms, checked by TestClaimSetSizes.
const (
	claimSetSize = 256 // the claimSet struct
	memberSize   = 32  // one member
	stringSize   = 16  // a string header, in the audience and scopes arrays
)

// footprint returns the bytes c keeps alive: the struct, data, the member
// index (counted before it is built), the audience and scopes arrays, and
// extra: the strings that are not substrings of data (registered strings
// and audience or scope elements written with escapes, and the index's
// unescaped member names).
func (c *claimSet) footprint(extra int64) int64 {
	return claimSetSize + int64(len(c.data)) + int64(c.nMembers)*memberSize +
		int64(cap(c.audience)+cap(c.scopes))*stringSize + extra
}

// get returns the JSON text of the claim name.
func (c *claimSet) get(name string) (string, bool) {
	members := c.index()
	i, ok := slices.BinarySearchFunc(members, name, func(m member, name string) int { return strings.Compare(m.name, name) })
	if !ok {
		return "", false
	}
	return members[i].value, true
}

// hasScope is Claims.HasScope: a binary search of the sorted scopes.
func (c *claimSet) hasScope(scope string) bool {
	_, ok := slices.BinarySearch(c.scopes, scope)
	return ok
}

// has is Claims.Has. A registered name's presence (cnf included) was
// recorded while decoding, so asking for it does not touch the member index.
func (c *claimSet) has(name string) bool {
	if has, known := c.present.Has(name); known {
		return has
	}
	_, ok := c.get(name)
	return ok
}

// rawCopy is Claims.Raw.
func (c *claimSet) rawCopy(name string) (json.RawMessage, bool) {
	v, ok := c.get(name)
	if !ok {
		return nil, false
	}
	return json.RawMessage(v), true
}

// claim is Claims.Claim.
func (c *claimSet) claim(name string, v any) error {
	b, ok := c.get(name)
	if !ok {
		return &ClaimError{Claim: name, Reason: "missing"}
	}
	if err := json.Unmarshal([]byte(b), v); err != nil {
		return fmt.Errorf("verifier: decoding claim %q: %w", name, err)
	}
	return nil
}

// names is Claims.Names.
func (c *claimSet) names() []string {
	members := c.index()
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.name
	}
	return names
}

func typeError(name, want string) error {
	return fmt.Errorf("%w: claim %q is not %s", ErrMalformed, name, want)
}

// isNull reports whether the JSON text v is null.
func isNull(v string) bool { return strings.TrimSpace(v) == "null" }

func firstByte(v []byte) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	return v[0]
}
