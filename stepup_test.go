package grpcauth_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/internal/testproto/conditiontest"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

func TestStepUp_ACRAndAuthTimeDecideUnaryCall(t *testing.T) {
	e := conditiontest.New(t, grpcauth.Config{})
	now := conditiontest.Now
	tests := []struct {
		name   string
		claims map[string]any
		want   codes.Code
	}{
		{"right acr, fresh sign-in", map[string]any{"acr": "urn:example:mfa", "auth_time": now.Add(-time.Minute)}, codes.OK},
		{"other listed acr, sign-in exactly max_age ago", map[string]any{"acr": "phr", "auth_time": now.Add(-300 * time.Second)}, codes.OK},
		{"acr missing", map[string]any{"auth_time": now}, codes.Unauthenticated},
		{"acr wrong", map[string]any{"acr": "pwd", "auth_time": now}, codes.Unauthenticated},
		{"acr not a string", map[string]any{"acr": []string{"urn:example:mfa"}, "auth_time": now}, codes.Unauthenticated},
		{"acr differs in case", map[string]any{"acr": "URN:EXAMPLE:MFA", "auth_time": now}, codes.Unauthenticated},
		{"auth_time missing", map[string]any{"acr": "phr"}, codes.Unauthenticated},
		{"auth_time too old", map[string]any{"acr": "phr", "auth_time": now.Add(-301 * time.Second)}, codes.Unauthenticated},
		{"auth_time not a number", map[string]any{"acr": "phr", "auth_time": "just now"}, codes.Unauthenticated},
		{"auth_time beyond the clock skew in the future", map[string]any{"acr": "phr", "auth_time": now.Add(2 * verifier.DefaultClockSkew)}, codes.Unauthenticated},
		{"auth_time negative", map[string]any{"acr": "phr", "auth_time": -1}, codes.Unauthenticated},
		{"acr with trailing space", map[string]any{"acr": "phr ", "auth_time": now}, codes.Unauthenticated},
		{"acr both listed values in one string", map[string]any{"acr": "urn:example:mfa phr", "auth_time": now}, codes.Unauthenticated},
		{"auth_time fractional, half a second past max_age", map[string]any{"acr": "phr", "auth_time": float64(now.Unix()) - 300.5}, codes.Unauthenticated},
		{"auth_time fractional, within max_age", map[string]any{"acr": "phr", "auth_time": float64(now.Unix()) - 299.5}, codes.OK},
		{"auth_time a numeric string", map[string]any{"acr": "phr", "auth_time": strconv.FormatInt(now.Unix(), 10)}, codes.Unauthenticated},
		{"auth_time beyond what a time.Duration holds", map[string]any{"acr": "phr", "auth_time": 1e300}, codes.Unauthenticated},
		{"auth_time within the clock skew in the future", map[string]any{"acr": "phr", "auth_time": now.Add(verifier.DefaultClockSkew)}, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := conditiontest.Bearer(t.Context(), e.Token(t, tt.claims, []string{"test:read"}))
			_, err := e.Client.StepUp(ctx, &authtestv1.StepUpRequest{})
			ei := conditiontest.CheckStatus(t, err, tt.want, grpcauth.ReasonInsufficientUserAuthentication)
			if tt.want == codes.OK {
				return
			}
			if got := ei.GetMetadata()[grpcauth.MetadataACRValues]; got != "urn:example:mfa phr" {
				t.Errorf("acr_values = %q, want the rule's values space-separated", got)
			}
			if got := ei.GetMetadata()[grpcauth.MetadataMaxAge]; got != "300" {
				t.Errorf("max_age = %q, want 300", got)
			}
		})
	}
}

func TestStepUp_MetadataCarriesOnlyWhatTheRuleSets(t *testing.T) {
	e := conditiontest.New(t, grpcauth.Config{Rules: map[string]*grpcauthv1.Rule{
		"/authtest.v1.ConditionService/StepUp": {AcrValues: []string{"urn:example:mfa"}},
		"/authtest.v1.ConditionService/Tenant": {MaxAgeSeconds: 60},
	}})
	ctx := conditiontest.Bearer(t.Context(), e.Token(t, nil, nil))
	_, err := e.Client.StepUp(ctx, &authtestv1.StepUpRequest{})
	md := conditiontest.CheckStatus(t, err, codes.Unauthenticated, grpcauth.ReasonInsufficientUserAuthentication).GetMetadata()
	if _, ok := md[grpcauth.MetadataMaxAge]; ok || md[grpcauth.MetadataACRValues] != "urn:example:mfa" {
		t.Errorf("metadata %v, want acr_values only", md)
	}
	_, err = e.Client.Tenant(ctx, &authtestv1.TenantRequest{})
	md = conditiontest.CheckStatus(t, err, codes.Unauthenticated, grpcauth.ReasonInsufficientUserAuthentication).GetMetadata()
	if _, ok := md[grpcauth.MetadataACRValues]; ok || md[grpcauth.MetadataMaxAge] != "60" {
		t.Errorf("metadata %v, want max_age only", md)
	}
}

// stepUpChallenge is the start of every step-up refusal's challenge in
// the Bearer scheme (RFC 9470, section 3).
const stepUpChallenge = `Bearer error="insufficient_user_authentication", error_description="this method requires a stronger or more recent sign-in"`

// TestStepUp_RefusalCarriesTheRFC9470Challenge checks the www-authenticate
// trailer of a step-up refusal: RFC 9470's challenge in the Bearer scheme
// of the call, with acr_values a quoted-string and max_age a token, each
// only when the rule sets it; and that the ErrorInfo metadata stays.
func TestStepUp_RefusalCarriesTheRFC9470Challenge(t *testing.T) {
	e := conditiontest.New(t, grpcauth.Config{Rules: map[string]*grpcauthv1.Rule{
		"/authtest.v1.ConditionService/Method": {AcrValues: []string{"urn:example:mfa"}},
		"/authtest.v1.ConditionService/Tenant": {MaxAgeSeconds: 60},
	}})
	ctx := conditiontest.Bearer(t.Context(), e.Token(t, nil, []string{"test:read"}))
	for _, tt := range []struct {
		name string
		call func(opt grpc.CallOption) error
		want string
	}{
		{"acr_values and max_age", func(opt grpc.CallOption) error {
			_, err := e.Client.StepUp(ctx, &authtestv1.StepUpRequest{}, opt)
			return err
		}, stepUpChallenge + `, acr_values="urn:example:mfa phr", max_age="300"`},
		{"acr_values only", func(opt grpc.CallOption) error {
			_, err := e.Client.Method(ctx, &authtestv1.MethodRequest{}, opt)
			return err
		}, stepUpChallenge + `, acr_values="urn:example:mfa"`},
		{"max_age only", func(opt grpc.CallOption) error {
			_, err := e.Client.Tenant(ctx, &authtestv1.TenantRequest{}, opt)
			return err
		}, stepUpChallenge + `, max_age="60"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var trailer metadata.MD
			ei := conditiontest.CheckStatus(t, tt.call(grpc.Trailer(&trailer)), codes.Unauthenticated, grpcauth.ReasonInsufficientUserAuthentication)
			if got := trailer.Get(grpcauth.MetadataWWWAuthenticate); !slices.Equal(got, []string{tt.want}) {
				t.Errorf("www-authenticate = %q, want %q", got, tt.want)
			}
			if len(ei.GetMetadata()) == 0 {
				t.Error("the ErrorInfo lost its acr_values/max_age metadata")
			}
		})
	}
	// A call that passes carries no challenge.
	var trailer metadata.MD
	ok := conditiontest.Bearer(t.Context(), e.Token(t, nil, []string{"test:read"}, grpcauthtest.WithACR("phr"), grpcauthtest.WithAuthTime(conditiontest.Now)))
	if _, err := e.Client.StepUp(ok, &authtestv1.StepUpRequest{}, grpc.Trailer(&trailer)); err != nil {
		t.Fatal(err)
	}
	if got := trailer.Get(grpcauth.MetadataWWWAuthenticate); len(got) != 0 {
		t.Errorf("www-authenticate %q on an allowed call", got)
	}
}

// A stale sign-in refuses a stream, whose trailer carries the challenge
// (RFC 9470, section 3) as a unary call's does.
func TestStepUp_StaleSignInRefusesStream(t *testing.T) {
	e := conditiontest.New(t, grpcauth.Config{})
	for _, tt := range []struct {
		authTime  time.Time
		want      codes.Code
		challenge []string
	}{
		{conditiontest.Now.Add(-10 * time.Minute), codes.Unauthenticated, []string{stepUpChallenge + `, acr_values="urn:example:mfa", max_age="300"`}},
		{conditiontest.Now, codes.OK, nil},
	} {
		tok := e.Token(t, nil, []string{"test:read"}, grpcauthtest.WithACR("urn:example:mfa"), grpcauthtest.WithAuthTime(tt.authTime))
		s, err := e.Client.StepUpStream(conditiontest.Bearer(t.Context(), tok))
		if err != nil {
			t.Fatal(err)
		}
		// A refused stream may already be closed: Send then reports io.EOF,
		// and Recv the status.
		if err := s.Send(&authtestv1.StepUpStreamRequest{}); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		_, err = s.Recv()
		conditiontest.CheckStatus(t, err, tt.want, grpcauth.ReasonInsufficientUserAuthentication)
		s.CloseSend()
		if tt.want == codes.OK {
			if _, err := s.Recv(); !errors.Is(err, io.EOF) { // the trailer comes at the end
				t.Fatal(err)
			}
		}
		if got := s.Trailer().Get(grpcauth.MetadataWWWAuthenticate); !slices.Equal(got, tt.challenge) {
			t.Errorf("www-authenticate = %q, want %q", got, tt.challenge)
		}
	}
}

func TestStepUp_DryRunReportsWouldDeny(t *testing.T) {
	var mu sync.Mutex
	var got []grpcauth.Decision
	e := conditiontest.New(t, grpcauth.Config{DryRun: true, OnDecision: func(_ context.Context, d grpcauth.Decision) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, d)
	}})
	ctx := conditiontest.Bearer(t.Context(), e.Token(t, nil, nil))
	if _, err := e.Client.StepUp(ctx, &authtestv1.StepUpRequest{}); err != nil {
		t.Fatalf("dry run refused the call: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !got[0].DryRun || got[0].Code != codes.Unauthenticated ||
		got[0].Reason != grpcauth.ReasonInsufficientUserAuthentication || got[0].Err == nil {
		t.Errorf("decisions = %+v, want one would-deny for insufficient user authentication", got)
	}
}

func TestStepUp_InvalidRequirementIsInvalidRule(t *testing.T) {
	for name, r := range map[string]*grpcauthv1.Rule{
		"negative max_age":      {MaxAgeSeconds: -1},
		"huge max_age":          {MaxAgeSeconds: 1 << 62},
		"empty acr value":       {AcrValues: []string{""}},
		"acr value with space":  {AcrValues: []string{"a b"}},
		"public with acr":       {Public: true, AcrValues: []string{"phr"}},
		"public with max_age":   {Public: true, MaxAgeSeconds: 60},
		"public with condition": {Public: true, Condition: "true"},
	} {
		_, err := grpcauth.New(grpcauth.Config{Verifier: nopVerifier{}, Rules: map[string]*grpcauthv1.Rule{"pkg.Service": r}})
		if !errors.Is(err, grpcauth.ErrInvalidRule) {
			t.Errorf("%s: New = %v, want ErrInvalidRule", name, err)
		}
	}
}

func TestStepUp_RequirementReportsIt(t *testing.T) {
	e := conditiontest.New(t, grpcauth.Config{})
	req, err := e.Auth.Requirement("/authtest.v1.ConditionService/StepUp")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(req.ACRValues, []string{"urn:example:mfa", "phr"}) || req.MaxAge != 5*time.Minute || req.Condition != "" {
		t.Errorf("Requirement = %+v", req)
	}
}

func TestCondition_WithoutCompilerIsInvalidRuleThatCheckNames(t *testing.T) {
	e := conditiontest.New(t, grpcauth.Config{})
	err := e.Auth.Check(e.Server)
	var ce *grpcauth.CheckError
	if !errors.As(err, &ce) || !errors.Is(err, grpcauth.ErrInvalidRule) {
		t.Fatalf("Check = %v, want a *CheckError with ErrInvalidRule", err)
	}
	// Every method whose rule has a condition, and no other.
	want := []string{
		"/authtest.v1.BrokenConditionService/NotBool", "/authtest.v1.BrokenConditionService/Syntax", "/authtest.v1.BrokenConditionService/Typo",
		"/authtest.v1.ConditionService/InheritedOwn", "/authtest.v1.ConditionService/Method", "/authtest.v1.ConditionService/Own",
		"/authtest.v1.ConditionService/OwnBidiStream", "/authtest.v1.ConditionService/OwnClientStream", "/authtest.v1.ConditionService/OwnServerStream",
		"/authtest.v1.ConditionService/Tenant",
	}
	if got := ce.Methods(); !slices.Equal(got, want) {
		t.Errorf("Methods = %v, want %v", got, want)
	}
	if !strings.Contains(err.Error(), "Config.Conditions is nil") || !strings.Contains(err.Error(), "celcond") {
		t.Errorf("message %q does not name the fix", err)
	}
	ctx := conditiontest.Bearer(t.Context(), e.Token(t, nil, []string{"test:write"}))
	_, err = e.Client.Own(ctx, &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "alice"}})
	conditiontest.CheckStatus(t, err, codes.PermissionDenied, grpcauth.ReasonMethodNotConfigured)
}

// nopVerifier refuses every token; for tests that only build an
// Authenticator.
type nopVerifier struct{}

func (nopVerifier) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return verifier.Claims{}, errors.New("nopVerifier: no tokens")
}

// skewsVerifier is a verifier joining others, as a MultiVerifier does:
// all its skew is the largest of its verifiers', accepting its skew for
// the one that accepted a token.
type skewsVerifier struct {
	*verifier.Verifier
	all, accepting time.Duration
}

func (v skewsVerifier) ClockSkew() time.Duration                   { return v.all }
func (v skewsVerifier) ClockSkewFor(verifier.Claims) time.Duration { return v.accepting }

func TestStepUp_FutureAuthTimeIsJudgedByTheAcceptingVerifiersSkew(t *testing.T) {
	now := conditiontest.Now
	tests := []struct {
		name           string
		all, accepting time.Duration
		authTime       time.Time
		want           codes.Code
	}{
		{"strict issuer among lenient ones, auth_time 30 s ahead", time.Hour, 0, now.Add(30 * time.Second), codes.Unauthenticated},
		{"lenient issuer among strict ones, auth_time 30 s ahead", 0, time.Minute, now.Add(30 * time.Second), codes.OK},
		{"strict issuer, auth_time now", time.Hour, 0, now, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := conditiontest.New(t, grpcauth.Config{}, func(v *verifier.Verifier) grpcauth.TokenVerifier {
				return skewsVerifier{v, tt.all, tt.accepting}
			})
			tok := e.Token(t, map[string]any{"acr": "phr", "auth_time": tt.authTime}, []string{"test:read"})
			_, err := e.Client.StepUp(conditiontest.Bearer(t.Context(), tok), &authtestv1.StepUpRequest{})
			conditiontest.CheckStatus(t, err, tt.want, grpcauth.ReasonInsufficientUserAuthentication)
		})
	}
}

// TestStepUp_NullClaimsAreMissing: a null acr or auth_time is no claim at
// all. A null auth_time was read as 0, a sign-in at 1970, which a rule
// with a long max_age_seconds (set to demand that auth_time be present,
// as OpenID Connect's max_age does) admitted.
func TestStepUp_NullClaimsAreMissing(t *testing.T) {
	const century = 100 * 365 * 24 * 60 * 60
	rule := &grpcauthv1.Rule{AcrValues: []string{"phr"}, MaxAgeSeconds: century}
	for _, tt := range []struct {
		name    string
		claims  map[string]any
		want    codes.Code
		wantErr string
	}{
		{"auth_time null", map[string]any{"acr": "phr", "auth_time": nil}, codes.Unauthenticated, "no auth_time claim, or one that is null"},
		{"acr null", map[string]any{"acr": nil, "auth_time": conditiontest.Now.Unix()}, codes.Unauthenticated, "no acr claim, or one that is null"},
		{"auth_time 0", map[string]any{"acr": "phr", "auth_time": 0}, codes.OK, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkStepUpDecision(t, rule, tt.claims, tt.want, tt.wantErr)
		})
	}
}

// TestStepUp_RefusalCauseSaysWhatFellShort: the refusal is the same fixed
// answer whatever fell short, and its Decision.Err, for the server's log,
// says which. An auth_time beyond the clock skew in the future was logged
// as a sign-in some negative duration "before now", too old for the
// rule; a boolean or string auth_time as "none, or null".
func TestStepUp_RefusalCauseSaysWhatFellShort(t *testing.T) {
	now := conditiontest.Now
	rule := &grpcauthv1.Rule{AcrValues: []string{"phr"}, MaxAgeSeconds: 300}
	for _, tt := range []struct {
		name    string
		claims  map[string]any
		want    codes.Code
		wantErr string
	}{
		{"auth_time an hour ahead", map[string]any{"acr": "phr", "auth_time": now.Add(time.Hour).Unix()}, codes.Unauthenticated,
			"auth_time " + now.Add(time.Hour).UTC().Format(time.RFC3339) + " is 1h0m0s in the future, more than the verifier's clock skew of 1m0s"},
		{"auth_time ahead within the skew", map[string]any{"acr": "phr", "auth_time": now.Add(time.Minute).Unix()}, codes.OK, ""},
		{"auth_time too old", map[string]any{"acr": "phr", "auth_time": now.Add(-time.Hour).Unix()}, codes.Unauthenticated,
			"authenticated at " + now.Add(-time.Hour).UTC().Format(time.RFC3339) + ", 1h0m0s before now, and the rule's max_age_seconds is 300"},
		{"auth_time a boolean", map[string]any{"acr": "phr", "auth_time": true}, codes.Unauthenticated, "or not a number"},
		{"auth_time a string", map[string]any{"acr": "phr", "auth_time": "1"}, codes.Unauthenticated, "or not a number"},
		{"auth_time an object", map[string]any{"acr": "phr", "auth_time": map[string]any{"sec": now.Unix()}}, codes.Unauthenticated, "or not a number"},
		{"auth_time negative", map[string]any{"acr": "phr", "auth_time": -1}, codes.Unauthenticated, "auth_time -1 is out of range"},
		{"acr a number", map[string]any{"acr": 2, "auth_time": now.Unix()}, codes.Unauthenticated, "or not a string"},
		{"acr empty", map[string]any{"acr": "", "auth_time": now.Unix()}, codes.Unauthenticated, `acr "" is not one of the rule's acr_values`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkStepUpDecision(t, rule, tt.claims, tt.want, tt.wantErr)
		})
	}
}

// checkStepUpDecision calls a method with rule as a token with claims
// (and subject and scope) would, and checks the call's code and reason,
// and that its one Decision's Err contains wantErr, unless that is "".
func checkStepUpDecision(t *testing.T, rule *grpcauthv1.Rule, claims map[string]any, want codes.Code, wantErr string) {
	t.Helper()
	claims["sub"], claims["scp"] = "alice", []string{"test:read"}
	c, err := verifier.NewClaims(claims)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []grpcauth.Decision
	e := conditiontest.New(t, grpcauth.Config{
		Rules: map[string]*grpcauthv1.Rule{"/authtest.v1.ConditionService/StepUp": rule},
		OnDecision: func(_ context.Context, d grpcauth.Decision) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, d)
		},
	}, func(*verifier.Verifier) grpcauth.TokenVerifier { return fixedClaims{c} })
	ctx := conditiontest.Bearer(t.Context(), e.Token(t, nil, nil))
	_, err = e.Client.StepUp(ctx, &authtestv1.StepUpRequest{})
	conditiontest.CheckStatus(t, err, want, grpcauth.ReasonInsufficientUserAuthentication)
	mu.Lock()
	defer mu.Unlock()
	if wantErr != "" && (len(got) != 1 || got[0].Err == nil || !strings.Contains(got[0].Err.Error(), wantErr)) {
		t.Errorf("decisions = %+v, want one whose Err says %q", got, wantErr)
	}
}
