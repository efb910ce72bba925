package grpcauth

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// stepUpDescription is the error_description of a step-up refusal's
// challenge, and its status message: fixed, and within RFC 6750's
// characters for error_description (section 3: printable ASCII but '"'
// and '\').
const (
	stepUpDescription                 = "this method requires a stronger or more recent sign-in"
	msgInsufficientUserAuthentication = "grpcauth: " + stepUpDescription
)

// errInsufficientUserAuthentication is the error code of a step-up
// refusal's challenge (RFC 9470, section 3).
const errInsufficientUserAuthentication = "insufficient_user_authentication"

// stepUp is a rule's step-up authentication requirement (RFC 9470): the
// token's acr must be one of acr, and its auth_time at most maxAge old.
type stepUp struct {
	acr    []string      // any of; empty: no acr requirement
	maxAge time.Duration // 0: no age requirement
	rej    *rejection    // the INSUFFICIENT_USER_AUTHENTICATION answer, with the requirement
}

// compileStepUp validates the rule's acr_values and max_age_seconds and
// returns the requirement, or nil when the rule has none. The error wraps
// ErrInvalidRule.
func compileStepUp(pb *grpcauthv1.Rule) (*stepUp, error) {
	acr, age := pb.GetAcrValues(), pb.GetMaxAgeSeconds()
	if len(acr) == 0 && age == 0 {
		return nil, nil
	}
	if age < 0 || age > maxAgeSeconds {
		return nil, fmt.Errorf("%w: max_age_seconds %d is out of range (0 for none, or 1 to %d seconds)", ErrInvalidRule, age, int64(maxAgeSeconds))
	}
	for _, v := range acr {
		if !validScope(v) {
			return nil, fmt.Errorf("%w: acr_values entry %q is not a valid value (non-empty, printable ASCII, no space, '\"' or '\\')", ErrInvalidRule, v)
		}
	}
	s := &stepUp{acr: uniqueInOrder(acr), maxAge: time.Duration(age) * time.Second}
	if n := len(strings.Join(s.acr, " ")); n > maxRequirementLen {
		return nil, fmt.Errorf("%w: acr_values take %d bytes as a refusal's %s, over the %d bytes a rule may require: the refusal's metadata would outgrow what some clients accept (grpc-java: 8 KiB)", ErrInvalidRule, n, MetadataACRValues, maxRequirementLen)
	}
	// The requirement goes both in the ErrorInfo metadata and in RFC 9470's
	// challenge: quoted-strings, as in its examples (section 3).
	md := map[string]string{}
	p := errorParams(errInsufficientUserAuthentication, stepUpDescription)
	if len(acr) > 0 {
		md[MetadataACRValues] = strings.Join(s.acr, " ")
		p.quoted(MetadataACRValues, md[MetadataACRValues])
	}
	if age > 0 {
		md[MetadataMaxAge] = strconv.FormatInt(age, 10)
		p.quoted(MetadataMaxAge, md[MetadataMaxAge])
	}
	s.rej = newRejection(codes.Unauthenticated, ReasonInsufficientUserAuthentication, msgInsufficientUserAuthentication, md).
		withChallenge(newChallenge(false, p))
	return s, nil
}

// maxAgeSeconds is the greatest max_age_seconds, the most whole seconds a
// time.Duration holds (292 years).
const maxAgeSeconds = math.MaxInt64 / int64(time.Second)

// uniqueInOrder returns a copy of vs without repeats, each value where it
// first appears, or nil when vs is empty (Requirement.ACRValues is nil for
// no acr requirement): acr_values are in order of preference (RFC 9470,
// section 3), so a rule that repeats one names it once in its challenge.
func uniqueInOrder(vs []string) []string {
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, 0, len(vs))
	seen := make(map[string]struct{}, len(vs))
	for _, v := range vs {
		if _, dup := seen[v]; !dup {
			seen[v] = struct{}{}
			out = append(out, v)
		}
	}
	return out
}

// maxUnixSeconds is the latest auth_time, in seconds since 1970, that a
// time.Duration since 1970 can hold (the year 2262).
const maxUnixSeconds = float64(math.MaxInt64 / int64(time.Second))

// Errors for the server-side log of a step-up refusal (Decision.Err).
var (
	errACRMissing      = errors.New("grpcauth: step-up: the token has no acr claim, or one that is null or not a string")
	errAuthTimeMissing = errors.New("grpcauth: step-up: the token has no auth_time claim, or one that is null or not a number, and the rule sets max_age_seconds")
)

// check returns the rejection for claims that fall short of the
// requirement, and why (for the server's log: the acr or auth_time that
// fell short, and how), or nil. clock gives the current time, read only
// when the requirement has a max age; an auth_time more than skewFor(c)
// (the skew of the verifier that accepted c, asked only for an auth_time
// ahead of the clock) in the future is refused as an old one is, since it
// cannot be trusted.
func (s *stepUp) check(c verifier.Claims, clock func() time.Time, skewFor func(verifier.Claims) time.Duration) (*rejection, error) {
	if s == nil {
		return nil, nil
	}
	if len(s.acr) > 0 {
		// Pointers, so that a null claim, which decodes without error,
		// is missing rather than "" or 0 (a sign-in at 1970, which a long
		// max_age_seconds admitted).
		var acr *string
		if err := c.Claim("acr", &acr); err != nil || acr == nil {
			return s.rej, errACRMissing
		}
		if !slices.Contains(s.acr, *acr) {
			return s.rej, fmt.Errorf("grpcauth: step-up: acr %q is not one of the rule's acr_values %q", clipLogged(*acr), s.acr)
		}
	}
	if s.maxAge > 0 {
		at, err := authTime(c)
		if err != nil {
			return s.rej, err
		}
		now := clock()
		if at.After(now) {
			if skew := skewFor(c); at.After(now.Add(skew)) {
				return s.rej, fmt.Errorf("grpcauth: step-up: auth_time %s is %s in the future, more than the verifier's clock skew of %s",
					at.UTC().Format(time.RFC3339), at.Sub(now).Round(time.Second), skew)
			}
		} else if age := now.Sub(at); age > s.maxAge {
			return s.rej, fmt.Errorf("grpcauth: step-up: the user authenticated at %s, %s before now, and the rule's max_age_seconds is %d",
				at.UTC().Format(time.RFC3339), age.Round(time.Second), int64(s.maxAge/time.Second))
		}
	}
	return nil, nil
}

// authTime returns the auth_time of claims c, or the error check refuses
// them with when they have none it can use (missing, null, not a number,
// out of range).
func authTime(c verifier.Claims) (time.Time, error) {
	var t *float64
	if err := c.Claim("auth_time", &t); err != nil || t == nil || math.IsNaN(*t) || math.IsInf(*t, 0) {
		return time.Time{}, errAuthTimeMissing
	}
	sec := *t
	if sec < 0 || sec > maxUnixSeconds {
		return time.Time{}, fmt.Errorf("grpcauth: step-up: auth_time %v is out of range", sec)
	}
	return time.Unix(0, 0).Add(time.Duration(sec * float64(time.Second))), nil
}

// staleAt returns the first instant at which check refuses claims c for
// the age of their sign-in: auth_time plus the rule's max age, and a
// nanosecond, since a sign-in exactly max_age_seconds old passes. No
// clock skew is added: check allows none on the age (only an auth_time
// ahead of the clock is trusted up to the skew, and such a sign-in goes
// stale max_age after it all the same). ok is false when the requirement
// has no max age, or c has no auth_time check can use (a stream that
// check refused as it opened, or in dry run reported). A stream of the
// method is cut then (runUntilExpiry), with the rule's refusal.
func (s *stepUp) staleAt(c verifier.Claims) (at time.Time, ok bool) {
	if s == nil || s.maxAge <= 0 {
		return time.Time{}, false
	}
	t, err := authTime(c)
	if err != nil {
		return time.Time{}, false
	}
	return t.Add(s.maxAge).Add(time.Nanosecond), true
}

// errSignInStale is Decision.Err of a stream cut, or in dry run reported,
// because its sign-in became older than the rule's max_age_seconds while
// it ran.
var errSignInStale = errors.New("grpcauth: step-up: the stream outlived its sign-in's freshness (auth_time plus the rule's max_age_seconds)")
