package grpcauth

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// A rule that repeats an acr value names it once, where it first appears
// (acr_values are in order of preference), in the ErrorInfo metadata,
// the challenge and the requirement it checks.
func TestStepUp_RepeatedACRValueIsNamedOnce(t *testing.T) {
	s := mustStepUp(t, &grpcauthv1.Rule{AcrValues: []string{"phr", "urn:example:mfa", "phr", "urn:example:mfa"}})
	if want := []string{"phr", "urn:example:mfa"}; !slices.Equal(s.acr, want) {
		t.Errorf("acr = %q, want %q", s.acr, want)
	}
	if got := errorInfo(s.rej.err).GetMetadata()[MetadataACRValues]; got != "phr urn:example:mfa" {
		t.Errorf("ErrorInfo %s = %q, want %q", MetadataACRValues, got, "phr urn:example:mfa")
	}
	if got := s.rej.challenge.bearer; !strings.Contains(got, `acr_values="phr urn:example:mfa"`) {
		t.Errorf("challenge %q does not name each acr value once", got)
	}
}

// The error for an out-of-range max_age_seconds states the range, its
// upper bound included, and that bound itself is accepted.
func TestStepUp_MaxAgeErrorStatesItsBound(t *testing.T) {
	bound := strconv.FormatInt(maxAgeSeconds, 10)
	for _, age := range []int64{-1, maxAgeSeconds + 1} {
		_, err := compileStepUp(&grpcauthv1.Rule{MaxAgeSeconds: age})
		if !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), "1 to "+bound+" seconds") {
			t.Errorf("max_age_seconds %d: %v, want ErrInvalidRule stating the range up to %s", age, err, bound)
		}
	}
	if _, err := compileStepUp(&grpcauthv1.Rule{MaxAgeSeconds: maxAgeSeconds}); err != nil {
		t.Errorf("max_age_seconds %d (the bound): %v", int64(maxAgeSeconds), err)
	}
}

// A rule with max_age_seconds but no acr_values has no acr requirement:
// Requirement.ACRValues is nil, as its godoc says, not an empty list; a
// rule's repeated acr value is listed once there too.
func TestStepUp_RequirementOfAMaxAgeOnlyRuleHasNilACRValues(t *testing.T) {
	a := mustNew(t, Config{Verifier: staticVerifier{}, Rules: map[string]*grpcauthv1.Rule{
		mAllOf:     {MaxAgeSeconds: 60},
		mInherited: {AcrValues: []string{"phr", "mfa", "phr"}},
	}})
	req, err := a.Requirement(mAllOf)
	if err != nil || req.ACRValues != nil || req.MaxAge != time.Minute {
		t.Errorf("Requirement = ACRValues %#v, MaxAge %v, %v; want nil, 1m0s", req.ACRValues, req.MaxAge, err)
	}
	req, err = a.Requirement(mInherited)
	if want := []string{"phr", "mfa"}; err != nil || !slices.Equal(req.ACRValues, want) {
		t.Errorf("Requirement = ACRValues %q, %v; want %q", req.ACRValues, err, want)
	}
}
