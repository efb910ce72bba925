package grpcauth

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// ErrInvalidRule reports a rule that can never be satisfied or contradicts
// itself: public together with any other field, require_certificate_binding
// together with require_dpop (or on a server with Config.RequireDPoP, which
// takes only DPoP-bound tokens), an empty or malformed scope, an empty any_of
// set, a malformed acr_values entry or an out-of-range max_age_seconds
// (negative, or over 292 years), scopes or acr_values too long for a
// refusal to carry (over 2048 bytes each), a condition that does not compile (or
// no Config.Conditions to compile it), or fields this version of
// grpcauthv1.Rule does not know (a rule decoded from a newer one). A
// method whose rule is invalid is denied.
var ErrInvalidRule = errors.New("grpcauth: invalid rule")

// compiledRule is a validated, normalised grpcauthv1.Rule. It is read-only
// once built and shared by every call of the methods it applies to.
type compiledRule struct {
	public bool
	bound  bool       // require_certificate_binding
	dpop   bool       // require_dpop
	all    []string   // every one required; sorted, unique
	anyOf  [][]string // at least one set required in full; each sorted, unique
	denied *rejection // the ReasonScopeInsufficient answer for this rule
	// stepUp is the step-up authentication requirement (acr_values,
	// max_age_seconds), or nil.
	stepUp *stepUp
	// condition is the rule's condition expression, or "". It is compiled
	// per method (into methodPlan.cond), since each method has its own
	// request type.
	condition string
}

// check returns the rejection a non-public rule gives a verified token, and
// its cause, or nil when the token satisfies the rule. b says how the
// token is bound (once the binding was checked).
func (r *compiledRule) check(c verifier.Claims, b binding) (*rejection, error) {
	switch {
	case r.public:
		return nil, nil
	case r.bound && !b.cert:
		return rejBindingRequired, errTokenUnbound
	case r.dpop && !b.dpop:
		return rejDPoPRuleRequired, errNotDPoPBound
	case !r.allows(c):
		return r.denied, nil
	}
	return nil, nil
}

// allows reports whether claims satisfy the rule's scopes. It allocates
// nothing: Claims.HasScope is a binary search.
func (r *compiledRule) allows(c verifier.Claims) bool {
	for _, s := range r.all {
		if !c.HasScope(s) {
			return false
		}
	}
	if len(r.anyOf) == 0 {
		return true
	}
	for _, set := range r.anyOf {
		if hasAll(c, set) {
			return true
		}
	}
	return false
}

func hasAll(c verifier.Claims, scopes []string) bool {
	for _, s := range scopes {
		if !c.HasScope(s) {
			return false
		}
	}
	return true
}

// alternatives expands the rule into the scope sets of which one must be
// present in full: scopes ∪ any_of[i] for each i, or just scopes.
func (r *compiledRule) alternatives() [][]string {
	if len(r.anyOf) == 0 {
		return [][]string{slices.Clone(r.all)}
	}
	alts := make([][]string, len(r.anyOf))
	for i, set := range r.anyOf {
		alt := append(slices.Clone(r.all), set...)
		slices.Sort(alt)
		alts[i] = slices.Compact(alt)
	}
	return alts
}

// compileRule validates pb and builds its compiledRule. The error wraps
// ErrInvalidRule.
func compileRule(pb *grpcauthv1.Rule) (*compiledRule, error) {
	if pb.GetPublic() && (len(pb.GetScopes()) > 0 || len(pb.GetAnyOf()) > 0) {
		return nil, fmt.Errorf("%w: public is set together with scopes or any_of; a public method needs no token, so its scopes could never be enforced", ErrInvalidRule)
	}
	if pb.GetPublic() && pb.GetRequireCertificateBinding() {
		return nil, fmt.Errorf("%w: public is set together with require_certificate_binding; a public method needs no token, so no binding could be enforced", ErrInvalidRule)
	}
	if pb.GetPublic() && pb.GetRequireDpop() {
		return nil, fmt.Errorf("%w: public is set together with require_dpop; a public method needs no token, so no DPoP binding could be enforced", ErrInvalidRule)
	}
	if pb.GetRequireCertificateBinding() && pb.GetRequireDpop() {
		return nil, fmt.Errorf("%w: require_certificate_binding is set together with require_dpop; a token's cnf names one key (RFC 7800, 3.1), so no token could meet both", ErrInvalidRule)
	}
	r := &compiledRule{public: pb.GetPublic(), bound: pb.GetRequireCertificateBinding(), dpop: pb.GetRequireDpop()}
	var err error
	if err = r.compilePolicy(pb); err != nil {
		return nil, err
	}
	if r.all, err = scopeSet("scopes", pb.GetScopes()); err != nil {
		return nil, err
	}
	for i, set := range pb.GetAnyOf() {
		if len(set.GetScopes()) == 0 {
			return nil, fmt.Errorf("%w: any_of[%d] is empty; an empty alternative would admit any token, use a rule without scopes for that", ErrInvalidRule, i)
		}
		s, err := scopeSet(fmt.Sprintf("any_of[%d]", i), set.GetScopes())
		if err != nil {
			return nil, err
		}
		r.anyOf = append(r.anyOf, s)
	}
	if n := r.alternativesJSONLen(maxRequirementLen); n > maxRequirementLen {
		return nil, fmt.Errorf("%w: the scopes the rule requires take at least %d bytes as a refusal's %s, over the %d bytes a rule may require: the refusal's metadata would outgrow what some clients accept (grpc-java: 8 KiB); require fewer scopes, or fewer any_of sets", ErrInvalidRule, n, MetadataRequiredScopes, maxRequirementLen)
	}
	r.denied = scopeRejection(r.alternatives())
	return r, nil
}

// alternativesJSONLen returns len(alternativesJSON(r.alternatives())),
// counted without building them, or, once the count passes limit, the
// count so far: each any_of set repeats the rule's scopes, so that a rule
// of a few thousand scopes and as many sets, a few tens of kilobytes,
// would take gigabytes to build before it was found too long.
func (r *compiledRule) alternativesJSONLen(limit int) int {
	if len(r.anyOf) == 0 {
		return 2 + unionJSONLen(r.all, nil)
	}
	n := 1 // '['
	for _, set := range r.anyOf {
		n += unionJSONLen(r.all, set) + 1 // and ',' or the closing ']'
		if n > limit {
			break
		}
	}
	return n
}

// unionJSONLen returns the length of the JSON array of strings holding
// the union of a and b, each sorted and without repeats, as
// alternativesJSON renders it.
func unionJSONLen(a, b []string) int {
	chars, k := 0, 0
	for i, j := 0, 0; i < len(a) || j < len(b); k++ {
		switch {
		case j == len(b) || i < len(a) && a[i] < b[j]:
			chars += len(a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			chars += len(b[j])
			j++
		default: // in both
			chars += len(a[i])
			i++
			j++
		}
	}
	if k == 0 {
		return 2 // []
	}
	return 2 + chars + 2*k + k - 1 // brackets, the scopes, their quotes and the commas between them
}

// maxRequirementLen, 2048, bounds what a rule's refusal carries of the rule, so
// that the refusal's metadata (its status details, in base64, and its
// www-authenticate challenge, which repeat it) stays well within the 8
// KiB of metadata some clients accept (grpc-java's default; a client
// gets a reset stream, not the refusal, beyond its limit): the scopes
// the rule requires as MetadataRequiredScopes renders them, and its
// acr_values as MetadataACRValues does, space-separated. A rule over
// either is invalid (ErrInvalidRule), found by New or Check at start-up
// rather than on a refused call.
const maxRequirementLen = 2048

// compilePolicy reads the rule's condition and step-up requirement into r.
// The error wraps ErrInvalidRule.
func (r *compiledRule) compilePolicy(pb *grpcauthv1.Rule) error {
	if r.public && (pb.GetCondition() != "" || len(pb.GetAcrValues()) > 0 || pb.GetMaxAgeSeconds() != 0) {
		return fmt.Errorf("%w: public is set together with condition, acr_values or max_age_seconds; a public method needs no token, so they could never be enforced", ErrInvalidRule)
	}
	r.condition = pb.GetCondition()
	var err error
	r.stepUp, err = compileStepUp(pb)
	return err
}

// scopeSet validates scopes, the rule's field named field ("scopes" or
// "any_of[i]", which the error names), and returns them sorted and unique.
func scopeSet(field string, scopes []string) ([]string, error) {
	for _, s := range scopes {
		if !validScope(s) {
			return nil, fmt.Errorf("%w: %s: scope %q is not a valid OAuth 2.0 scope token (RFC 6749, 3.3: non-empty, printable ASCII, no space, '\"' or '\\')", ErrInvalidRule, field, s)
		}
	}
	out := slices.Clone(scopes)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// validScope reports whether s is a scope-token: 1*( %x21 / %x23-5B /
// %x5D-7E ).
func validScope(s string) bool { return verifier.IsScopeToken(s) }

// alternativesJSON renders alternatives as a JSON array of arrays of
// strings. Valid scopes contain no character JSON would escape.
func alternativesJSON(alts [][]string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, alt := range alts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		for j, s := range alt {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('"')
			b.WriteString(s)
			b.WriteByte('"')
		}
		b.WriteByte(']')
	}
	b.WriteByte(']')
	return b.String()
}
