package grpcauth

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// authtestWithOption is a registry describing authtest.v1's file as the
// generated code does, except that the method name of TestService has the
// (grpcauth.v1.method) option rule: a .proto annotated differently from
// the one compiled into this test binary, loaded as Config.Descriptors.
func authtestWithOption(t testing.TB, name string, rule *grpcauthv1.Rule) *protoregistry.Files {
	t.Helper()
	fdp := protodesc.ToFileDescriptorProto(authtestv1.File_authtest_v1_authtest_proto)
	var found bool
	for _, svc := range fdp.GetService() {
		for _, m := range svc.GetMethod() {
			if svc.GetName() == "TestService" && m.GetName() == name {
				m.Options = &descriptorpb.MethodOptions{}
				proto.SetExtension(m.Options, grpcauthv1.E_Method, rule)
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("authtest.v1.TestService has no method %s", name)
	}
	return optionFiles(t, fdp)
}

// Under Config.RequireDPoP the server takes only DPoP-bound tokens, and a
// token's cnf names one key, so a rule with require_certificate_binding
// could never be met: like a rule setting both require_certificate_binding
// and require_dpop, it is invalid. New refuses it in Config; in an option
// Check reports it, and a DPoP-bound token with a valid proof, which the
// rule's binding requirement would refuse as Unauthenticated (a credential
// no client can ever present), gets METHOD_NOT_CONFIGURED.
func TestRequireDPoP_CertificateBindingRuleIsInvalid(t *testing.T) {
	bound := &grpcauthv1.Rule{RequireCertificateBinding: true}
	for name, cfg := range map[string]Config{
		"Rules (method)":  {Rules: map[string]*grpcauthv1.Rule{mAuth: bound}},
		"Rules (service)": {Rules: map[string]*grpcauthv1.Rule{"authtest.v1.TestService": bound}},
		"DefaultRule":     {DefaultRule: bound},
	} {
		cfg.Verifier, cfg.RequireDPoP = staticVerifier{}, true
		if _, err := New(cfg); !errors.Is(err, ErrInvalidRule) {
			t.Errorf("%s: New = %v, want ErrInvalidRule", name, err)
		}
		cfg.RequireDPoP = false
		if _, err := New(cfg); err != nil {
			t.Errorf("%s without RequireDPoP: New = %v, want nil", name, err)
		}
	}

	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) {
		c.RequireDPoP = true
		c.Rules = nil
		c.Descriptors = authtestWithOption(t, "Authenticated", bound)
	})
	if _, err := d.auth.Requirement(mAuth); !errors.Is(err, ErrInvalidRule) {
		t.Errorf("Requirement(%s) = %v, want ErrInvalidRule", mAuth, err)
	}
	var ce *CheckError
	if err := d.auth.Check(d.srv); !errors.As(err, &ce) || !errors.Is(err, ErrInvalidRule) || !slices.Contains(ce.Methods(), mAuth) {
		t.Errorf("Check = %v, want %s reported with ErrInvalidRule", err, mAuth)
	}
	tests := []struct {
		name   string
		auth   func(t *testing.T) []string // authorization, then proofs
		code   codes.Code
		reason string
	}{
		{"no token", func(*testing.T) []string { return nil }, codes.Unauthenticated, ReasonCredentialsMissing},
		{"bearer token", func(t *testing.T) []string { return []string{bearer(d.scoped(t, "test:read"))} }, codes.Unauthenticated, ReasonDPoPRequired},
		{"DPoP-bound token with a valid proof", func(t *testing.T) []string {
			return []string{"DPoP " + d.bound, d.proof(t, d.key, mAuth, d.bound, grpcauthtest.ProofOptions{})}
		}, codes.PermissionDenied, ReasonMethodNotConfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if a := tt.auth(t); a != nil {
				ctx = dpopCtx(ctx, a[0], a[1:]...)
			}
			err, _, _ := d.callUnaryMD(ctx, mAuth)
			checkStatus(t, err, tt.code, tt.reason)
		})
	}
}

// Requirement hands out copies: a caller that edits the slices it got (or
// the ones Alternatives built) changes neither a later Requirement nor
// what the interceptors enforce.
func TestRequirement_EditingTheResultLeavesThePlanAlone(t *testing.T) {
	rule := &grpcauthv1.Rule{Scopes: []string{"a"}, AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"b"}}, {Scopes: []string{"c"}}}, AcrValues: []string{"mfa"}}
	a := mustNew(t, Config{Rules: map[string]*grpcauthv1.Rule{mAuth: rule}})
	got, err := a.Requirement(mAuth)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(got)
	got.Scopes[0], got.AnyOf[0][0], got.ACRValues[0] = "x", "x", "x"
	for _, alt := range got.Alternatives() {
		alt[0] = "x"
	}
	// The caller's edits to its Rule after New do not reach the plan either.
	rule.Scopes[0], rule.AnyOf[0].Scopes[0], rule.AcrValues[0] = "y", "y", "y"
	again, _ := a.Requirement(mAuth)
	if fmt.Sprint(again) != want {
		t.Errorf("Requirement after edits = %v, want %s", again, want)
	}
	// The token holds x and y only: the rule still asks for a and b or c.
	a.verifier = staticVerifier{claims: mustClaims(t, "x", "y")}
	_, err = callUnary(a, bearerCtx("tok"), mAuth)
	checkStatus(t, err, codes.PermissionDenied, ReasonScopeInsufficient)
}
