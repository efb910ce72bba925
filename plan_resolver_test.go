package grpcauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// flakyResolver is protoregistry.GlobalFiles, except that while it holds
// an error it returns that error instead (a registry whose backend is
// briefly unreachable, or one that reports an unknown name).
type flakyResolver struct{ fail atomic.Pointer[error] }

func (r *flakyResolver) set(err error) {
	if err == nil {
		r.fail.Store(nil)
		return
	}
	r.fail.Store(&err)
}

func (r *flakyResolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if err := r.fail.Load(); err != nil {
		return nil, *err
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}

var errUnreachable = errors.New("registry: backend unreachable")

// withResolver serves the test services with r as Config.Descriptors and
// the Config's rules set by rules.
func withResolver(r DescriptorResolver, rules func(*Config)) envOption {
	return func(c *Config, _ *verifier.Config) {
		c.Descriptors = r
		if rules != nil {
			rules(c)
		}
	}
}

func publicService(c *Config) { c.Public = []string{"authtest.v1.TestService"} }

// A resolver that fails (an error not wrapping protoregistry.NotFound)
// for a service whose Config entry makes it public does not make AllOf,
// whose method option asks for scopes, public for that call: the call is
// denied as unavailable (RULES_UNAVAILABLE, a fixed message), with or
// without a token: the server cannot tell whether the method is public,
// and the client should retry. Once the resolver answers, AllOf's option
// rules it: the failure was not kept.
func TestResolver_FailureDeniesAMethodItsConfigServiceEntryMakesPublic(t *testing.T) {
	r := new(flakyResolver)
	r.set(errUnreachable)
	decisions := make(chan Decision, 1)
	e := newEnv(t, withResolver(r, func(c *Config) {
		publicService(c)
		c.OnDecision = func(_ context.Context, d Decision) {
			select {
			case decisions <- d:
			default: // only the first is read
			}
		}
	}))
	ctx := bounded(t)
	_, err := e.client.AllOf(ctx, &authtestv1.AllOfRequest{})
	checkStatus(t, err, codes.Unavailable, ReasonRulesUnavailable)
	if d := await(t, decisions, "the decision"); !errors.Is(d.Err, errUnreachable) || d.Code != codes.Unavailable || d.Reason != ReasonRulesUnavailable || d.Allowed {
		t.Errorf("the decision is %v %s (allowed %v), Err %v; want a denial, Unavailable RULES_UNAVAILABLE, with the resolver's error (logged server-side)", d.Code, d.Reason, d.Allowed, d.Err)
	}
	if msg := status.Convert(err).Message(); msg != "grpcauth: access rules unavailable" {
		t.Errorf("the caller without a token got the message %q, want the fixed one", msg)
	}
	read := withAuth(ctx, bearer(e.scoped(t, "test:read")))
	_, err = e.client.AllOf(read, &authtestv1.AllOfRequest{})
	checkStatus(t, err, codes.Unavailable, ReasonRulesUnavailable)
	if msg := status.Convert(err).Message(); msg != "grpcauth: access rules unavailable" || strings.Contains(err.Error(), "unreachable") {
		t.Errorf("the caller got the message %q, want the fixed one", msg)
	}

	r.set(nil)
	_, err = e.client.AllOf(read, &authtestv1.AllOfRequest{})
	checkStatus(t, err, codes.PermissionDenied, ReasonScopeInsufficient)
	_, err = e.client.AllOf(withAuth(ctx, bearer(e.scoped(t, "test:read", "test:write"))), &authtestv1.AllOfRequest{})
	checkStatus(t, err, codes.OK, "")
	_, err = e.client.Inherited(ctx, &authtestv1.InheritedRequest{})
	checkStatus(t, err, codes.OK, "") // no method option: the Config service entry rules it

	// The rule compiled from the option outlasts a later failure: the
	// call does not ask the resolver again.
	r.set(errUnreachable)
	_, err = e.client.AllOf(read, &authtestv1.AllOfRequest{})
	checkStatus(t, err, codes.PermissionDenied, ReasonScopeInsufficient)
}

// notFound is a custom resolver's report of an unknown name, wrapping
// protoregistry.NotFound as the DescriptorResolver contract asks.
type notFound struct{ name string }

func (e notFound) Error() string { return "registry: no " + e.name }
func (e notFound) Unwrap() error { return protoregistry.NotFound }

// The resolver's error and the Config decide a call as the table says: an
// error wrapping protoregistry.NotFound means no descriptor (the Config
// service entry or DefaultRule applies, as before); any other denies the
// call whatever the Config's fallback, except where a Config entry naming
// the method rules it (it ranks above the method option, so the resolver
// is not asked).
func TestResolver_ErrorsAndConfigDecideTheCode(t *testing.T) {
	permissiveDefault := func(c *Config) { c.DefaultRule = &grpcauthv1.Rule{} }
	publicMethod := func(c *Config) {
		c.Rules = map[string]*grpcauthv1.Rule{mAllOf: {Public: true}}
	}
	for _, tc := range []struct {
		name    string
		err     error
		config  func(*Config)
		method  string
		scopes  []string // nil: no token
		want    codes.Code
		wantWhy string
	}{
		{"unreachable, public service, no token", errUnreachable, publicService, mAllOf, nil, codes.Unavailable, ReasonRulesUnavailable},
		{"unreachable, public service, token", errUnreachable, publicService, mAllOf, []string{"test:read"}, codes.Unavailable, ReasonRulesUnavailable},
		{"unreachable, public service, method without option", errUnreachable, publicService, mInherited, []string{"test:read"}, codes.Unavailable, ReasonRulesUnavailable},
		{"unreachable, permissive DefaultRule", errUnreachable, permissiveDefault, mUnannotated, []string{}, codes.Unavailable, ReasonRulesUnavailable},
		{"unreachable, permissive DefaultRule, no token", errUnreachable, permissiveDefault, mUnannotated, nil, codes.Unavailable, ReasonRulesUnavailable},
		{"wrapped deadline, public service", fmt.Errorf("registry: %w", context.DeadlineExceeded), publicService, mAllOf, []string{"test:read"}, codes.Unavailable, ReasonRulesUnavailable},
		{"unreachable, Config entry naming the method", errUnreachable, publicMethod, mAllOf, nil, codes.OK, ""},
		{"NotFound, public service", protoregistry.NotFound, publicService, mAllOf, nil, codes.OK, ""},
		{"custom NotFound, public service", notFound{"authtest.v1.TestService"}, publicService, mAllOf, nil, codes.OK, ""},
		{"wrapped NotFound, permissive DefaultRule", fmt.Errorf("registry: %w", protoregistry.NotFound), permissiveDefault, mUnannotated, []string{}, codes.OK, ""},
		{"answering, public service", nil, publicService, mAllOf, []string{"test:read"}, codes.PermissionDenied, ReasonScopeInsufficient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := new(flakyResolver)
			r.set(tc.err)
			e := newEnv(t, withResolver(r, tc.config))
			ctx := bounded(t)
			if tc.scopes != nil {
				ctx = withAuth(ctx, bearer(e.scoped(t, tc.scopes...)))
			}
			var err error
			switch tc.method {
			case mAllOf:
				_, err = e.client.AllOf(ctx, &authtestv1.AllOfRequest{})
			case mInherited:
				_, err = e.client.Inherited(ctx, &authtestv1.InheritedRequest{})
			case mUnannotated:
				_, err = e.other.Unannotated(ctx, &authtestv1.UnannotatedRequest{})
			default:
				t.Fatalf("no client call for %s", tc.method)
			}
			checkStatus(t, err, tc.want, tc.wantWhy)
		})
	}
}

// Requirement reports a resolver's failure as the method's denial, with
// the resolver's error, rather than the Config service entry's rule; and
// the failure is not kept.
func TestRequirement_ResolverFailureIsReportedNotTheFallbackRule(t *testing.T) {
	r := new(flakyResolver)
	r.set(errUnreachable)
	a := mustNew(t, Config{Descriptors: r, Public: []string{"authtest.v1.TestService"}})
	for _, m := range []string{mAllOf, mInherited} {
		req, err := a.Requirement(m)
		if !req.Denied || req.Public || !errors.Is(err, errUnreachable) || !errors.Is(err, ErrUnreadableOption) {
			t.Fatalf("%s: %+v, %v; want denied with the resolver's error, wrapping ErrUnreadableOption", m, req, err)
		}
	}
	if n := a.planLen(); n != 0 {
		t.Errorf("%d plans kept after the resolver failed, want 0", n)
	}
	if kept := a.undescribed.Load(); kept != nil && len(*kept) != 0 {
		t.Errorf("a plan was kept for the service after the resolver failed: %v", *kept)
	}
	r.set(nil)
	if req, err := a.Requirement(mAllOf); err != nil || req.Public || req.Source != SourceMethodOption {
		t.Errorf("resolver answering: %+v, %v; want the method option's rule", req, err)
	}
}

// Requirement, in dry run, does not mark a method whose service
// Config.Descriptors fails to resolve as dry run: its calls are refused
// (RULES_UNAVAILABLE) in dry run too, so a server-info endpoint must not
// show the denial as only reported; Check does not mark its problem
// either. A method whose lack of a rule dry run does relax is still
// marked, and the failing method is again once the resolver answers.
func TestRequirement_ResolverFailureInDryRunIsNotMarkedDryRun(t *testing.T) {
	r := new(flakyResolver)
	r.set(errUnreachable)
	a := mustNew(t, Config{Descriptors: r, DryRun: true, Logger: discardLogger()})
	req, err := a.Requirement(mAllOf)
	if !req.Denied || req.DryRun || !errors.Is(err, errUnreachable) {
		t.Errorf("resolver failing: %+v, %v; want denied, not marked dry run (the refusal is enforced), with the resolver's error", req, err)
	}
	r.set(nil)
	if req, err := a.Requirement(mUnannotated); !req.Denied || !req.DryRun || !errors.Is(err, ErrNoRule) {
		t.Errorf("resolver answering, method without rule: %+v, %v; want denied and marked dry run", req, err)
	}
	if req, err := a.Requirement(mAllOf); err != nil || req.Denied || !req.DryRun {
		t.Errorf("resolver answering: %+v, %v; want the method option's rule, in dry run", req, err)
	}
}

// A service whose methods share the plan kept for a service no descriptor
// describes (the resolver said NotFound) does not keep handing it out
// while the resolver fails: the call is denied; and once the resolver
// answers NotFound again, the kept plan applies again.
func TestPlan_UndescribedServicePlanIsNotUsedWhileTheResolverFails(t *testing.T) {
	r := new(flakyResolver)
	r.set(protoregistry.NotFound)
	a := mustNew(t, Config{Descriptors: r, Public: []string{"authtest.v1.TestService"}})
	kept := a.lookup(mAllOf)
	if p, err := a.undescribedPlan(mAllOf); kept.rule == nil || !kept.rule.public || p != kept || err != nil {
		t.Fatalf("NotFound: source %v, err %v; want the Config service entry's plan, kept for the service", kept.source, kept.err)
	}
	r.set(errUnreachable)
	for range 2 {
		if p := a.lookup(mAllOf); p.rule != nil || !errors.Is(p.err, errUnreachable) {
			t.Fatalf("resolver failing: source %v, public %v, err %v; want denied with the resolver's error", p.source, p.rule != nil && p.rule.public, p.err)
		}
	}
	r.set(protoregistry.NotFound)
	if p := a.lookup(mAllOf); p != kept {
		t.Errorf("NotFound again: source %v, err %v; want the kept plan", p.source, p.err)
	}
}

// Check reports a registered method whose service the resolver fails to
// resolve, with the resolver's error, and does not publish the denial:
// once the resolver answers, the method's option rules its calls.
func TestCheck_ReportsAResolverFailureAndKeepsNoPlanForIt(t *testing.T) {
	r := new(flakyResolver)
	r.set(errUnreachable)
	a := mustNew(t, Config{Descriptors: r, Public: []string{"authtest.v1.TestService"}, Logger: discardLogger()})
	srv := grpc.NewServer()
	authtestv1.RegisterTestServiceServer(srv, &testService{})
	err := a.Check(srv)
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("Check: %v, want a *CheckError", err)
	}
	var found bool
	for _, p := range ce.Problems {
		if p.Method == mAllOf {
			found = true
			if !errors.Is(p.Err, errUnreachable) || errors.Is(p.Err, ErrNoDescriptor) {
				t.Errorf("%s: %v; want the resolver's error, not ErrNoDescriptor", mAllOf, p.Err)
			}
		}
	}
	if !found {
		t.Fatalf("Check: %v; no problem for %s", err, mAllOf)
	}
	r.set(nil)
	if req, err := a.Requirement(mAllOf); err != nil || req.Public || req.Source != SourceMethodOption {
		t.Errorf("after Check, resolver answering: %+v, %v; want the method option's rule", req, err)
	}
}

// A resolver's error quoting the service name, which the caller chose
// (up to gRPC's limit on a :path), reaches the call's error (logged on
// every such call) clipped, and still wraps the resolver's.
func TestResolver_FailureTextIsClipped(t *testing.T) {
	r := new(flakyResolver)
	huge := fmt.Errorf("registry: no answer for %s: %w", strings.Repeat("x", 1<<20), errUnreachable)
	r.set(huge)
	a := mustNew(t, Config{Descriptors: r, Public: []string{"authtest.v1.TestService"}})
	_, err := a.Requirement(mAllOf)
	if !errors.Is(err, errUnreachable) {
		t.Fatalf("Requirement: %v; want the resolver's error wrapped", err)
	}
	if n := len(err.Error()); n > 4096 {
		t.Errorf("the error's text is %d bytes, want the resolver's clipped", n)
	}
}

// A Config method rule with a condition, whose method's descriptor
// Config.Descriptors fails to resolve as the condition compiles, is denied
// for that call only: the failure is not kept, so once the resolver
// answers, the condition compiles and the call is served.
func TestResolver_FailureWhileCompilingAConditionIsNotKept(t *testing.T) {
	r := new(flakyResolver)
	r.set(errUnreachable)
	a := mustNew(t, Config{
		Descriptors: r,
		Conditions: mutCompiler{mutCond(func(context.Context, ConditionInput) (bool, error) {
			return true, nil
		})},
		Rules: map[string]*grpcauthv1.Rule{mInherited: {Condition: "passes"}},
	})
	call := func() error {
		return a.ServeCall(bearerCtx("tok"), mInherited, false, &authtestv1.InheritedRequest{}, func(context.Context, *Guard) error {
			return nil
		})
	}
	checkStatus(t, call(), codes.Unavailable, ReasonRulesUnavailable)
	req, err := a.Requirement(mInherited)
	if !errors.Is(err, errUnreachable) || !req.Denied {
		t.Errorf("Requirement while the resolver fails: %+v, %v; want denied, with the resolver's error", req, err)
	}
	r.set(nil)
	checkStatus(t, call(), codes.OK, "")
}

// A stream of a method whose per-message condition was compiled before
// Config.Descriptors began to fail is admitted under that rule, not
// refused as RULES_UNAVAILABLE, and its messages are still checked: the
// message gate has the kept plan, the stream's, not one without a rule
// (which has no condition, and would let every message through).
func TestResolver_FailureAfterCompileKeepsAStreamsMessageCondition(t *testing.T) {
	const mBidi = "/authtest.v1.TestService/BidiStream"
	r := new(flakyResolver)
	a := mustNew(t, Config{
		Descriptors: r,
		Conditions: mutCompiler{mutCond(func(context.Context, ConditionInput) (bool, error) {
			return false, nil // refuses every message
		})},
		Rules:  map[string]*grpcauthv1.Rule{mBidi: {Condition: "refused"}},
		Logger: discardLogger(),
	})
	stream := func() (opened, received error) {
		opened = a.ServeCall(bearerCtx("tok"), mBidi, true, nil, func(_ context.Context, g *Guard) error {
			received = g.Received(&authtestv1.BidiStreamRequest{})
			return nil
		})
		return opened, received
	}
	if _, received := stream(); status.Code(received) != codes.PermissionDenied {
		t.Fatalf("resolver answering: message %v; want PermissionDenied (CONDITION_FAILED)", received)
	}
	r.set(errUnreachable)
	opened, received := stream()
	checkStatus(t, received, codes.PermissionDenied, ReasonConditionFailed)
	checkStatus(t, opened, codes.PermissionDenied, ReasonConditionFailed)
}
