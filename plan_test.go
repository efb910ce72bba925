package grpcauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/emptypb"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// staticVerifier accepts every token and returns fixed claims, or err.
type staticVerifier struct {
	claims verifier.Claims
	err    error
}

func (s staticVerifier) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return s.claims, s.err
}

func mustClaims(t testing.TB, scopes ...string) verifier.Claims {
	t.Helper()
	c, err := verifier.NewClaims(map[string]any{"sub": "user-1", "cid": "client-1", "scp": scopes})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustNew(t testing.TB, cfg Config) *Authenticator {
	t.Helper()
	if cfg.Verifier == nil {
		cfg.Verifier = staticVerifier{claims: mustClaims(t)}
	}
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

const (
	mAllOf       = "/authtest.v1.TestService/AllOf"
	mAnyOf       = "/authtest.v1.TestService/AnyOf"
	mPublic      = "/authtest.v1.TestService/Public"
	mAuth        = "/authtest.v1.TestService/Authenticated"
	mInherited   = "/authtest.v1.TestService/Inherited"
	mUnannotated = "/authtest.v1.UnannotatedService/Unannotated"
)

func TestRequirement_ReadsOptionsWithPrecedence(t *testing.T) {
	write := &grpcauthv1.Rule{Scopes: []string{"cfg:write"}}
	a := mustNew(t, Config{
		Rules: map[string]*grpcauthv1.Rule{
			mAllOf:                           write, // beats the method option
			"authtest.v1.TestService":        {Scopes: []string{"cfg:svc"}},
			"authtest.v1.UnannotatedService": {Scopes: []string{"cfg:other"}},
		},
	})
	tests := []struct {
		method string
		want   Requirement
	}{
		{mAllOf, Requirement{Source: SourceConfigMethod, Scopes: []string{"cfg:write"}}},
		// A method option beats a config service rule.
		{mAnyOf, Requirement{Source: SourceMethodOption, AnyOf: [][]string{{"test:admin"}, {"test:audit", "test:write"}}}},
		{mPublic, Requirement{Source: SourceMethodOption, Public: true}},
		{mAuth, Requirement{Source: SourceMethodOption}},
		// A config service rule beats the service option.
		{mInherited, Requirement{Source: SourceConfigService, Scopes: []string{"cfg:svc"}}},
		{mUnannotated, Requirement{Source: SourceConfigService, Scopes: []string{"cfg:other"}}},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			got, err := a.Requirement(tt.method)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Method = tt.method
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRequirement_ServiceOptionAndDefault(t *testing.T) {
	a := mustNew(t, Config{DefaultRule: &grpcauthv1.Rule{Scopes: []string{"default:scope"}}})
	got, err := a.Requirement(mInherited)
	if err != nil || got.Source != SourceServiceOption || !slices.Equal(got.Scopes, []string{"test:read"}) {
		t.Errorf("Inherited: got %+v, %v; want service option test:read", got, err)
	}
	got, err = a.Requirement(mUnannotated)
	if err != nil || got.Source != SourceDefault || !slices.Equal(got.Scopes, []string{"default:scope"}) {
		t.Errorf("Unannotated: got %+v, %v; want default rule", got, err)
	}
}

func TestRequirement_UnannotatedMethodHasNoRule(t *testing.T) {
	a := mustNew(t, Config{})
	_, err := a.Requirement(mUnannotated)
	if !errors.Is(err, ErrNoRule) {
		t.Fatalf("err = %v, want ErrNoRule", err)
	}
}

// A denied method's Requirement says so: it never reads as "any valid
// token" (not public, no scopes, Alternatives [[]]), which is what its
// empty fields would otherwise mean to a caller that shows rules.
func TestRequirement_DeniedMethodReadsAsDeniedNotAsAnyValidToken(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		method  string
		wantErr error
		source  Source
	}{
		{"no rule", Config{}, mUnannotated, ErrNoRule, SourceNone},
		{"invalid rule", Config{Descriptors: badFiles(t)}, "/bad.v1.BadService/Contradictory", ErrInvalidRule, SourceMethodOption},
		{"no rule, in dry run", Config{DryRun: true}, mUnannotated, ErrNoRule, SourceNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustNew(t, tt.cfg).Requirement(tt.method)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			want := Requirement{Method: tt.method, Source: tt.source, Denied: true, DryRun: tt.cfg.DryRun}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if alts := got.Alternatives(); alts != nil {
				t.Errorf("Alternatives = %v, want nil: no token suffices", alts)
			}
		})
	}
	// A method with a rule is not denied, whatever the rule.
	a := mustNew(t, Config{})
	for _, m := range []string{mPublic, mAuth, mAllOf} {
		if req, err := a.Requirement(m); err != nil || req.Denied {
			t.Errorf("%s: Denied = %v, err = %v; want a rule", m, req.Denied, err)
		}
	}
}

func TestRequirement_Alternatives(t *testing.T) {
	r := Requirement{Scopes: []string{"b"}, AnyOf: [][]string{{"c"}, {"a", "d"}}}
	if got, want := fmt.Sprint(r.Alternatives()), "[[b c] [a b d]]"; got != want {
		t.Errorf("Alternatives = %s, want %s", got, want)
	}
	if got := (Requirement{Public: true}).Alternatives(); got != nil {
		t.Errorf("public Alternatives = %v, want nil", got)
	}
	if got := fmt.Sprint(Requirement{}.Alternatives()); got != "[[]]" {
		t.Errorf("any-token Alternatives = %s, want [[]]", got)
	}
}

func TestCompileRule_RejectsContradictoryAndUnsatisfiableRules(t *testing.T) {
	tests := []struct {
		name string
		rule *grpcauthv1.Rule
	}{
		{"public with scopes", &grpcauthv1.Rule{Public: true, Scopes: []string{"a"}}},
		{"public with any_of", &grpcauthv1.Rule{Public: true, AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"a"}}}}},
		{"public with require_certificate_binding", &grpcauthv1.Rule{Public: true, RequireCertificateBinding: true}},
		{"empty scope", &grpcauthv1.Rule{Scopes: []string{""}}},
		{"scope with space", &grpcauthv1.Rule{Scopes: []string{"a b"}}},
		{"scope with quote", &grpcauthv1.Rule{Scopes: []string{`a"b`}}},
		{"scope with backslash", &grpcauthv1.Rule{Scopes: []string{`a\b`}}},
		{"non-ASCII scope", &grpcauthv1.Rule{Scopes: []string{"lesen:ä"}}},
		{"empty any_of set", &grpcauthv1.Rule{AnyOf: []*grpcauthv1.ScopeSet{{}}}},
		{"bad scope in any_of", &grpcauthv1.Rule{AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"a\tb"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := compileRule(tt.rule); !errors.Is(err, ErrInvalidRule) {
				t.Errorf("compileRule = %v, want ErrInvalidRule", err)
			}
			_, err := New(Config{Verifier: staticVerifier{}, Rules: map[string]*grpcauthv1.Rule{mAllOf: tt.rule}})
			if !errors.Is(err, ErrInvalidRule) {
				t.Errorf("New with the rule = %v, want ErrInvalidRule", err)
			}
		})
	}
}

// An invalid rule's start-up error names the method and the field that
// holds the bad value, so that a rule with several any_of sets says which
// one to fix.
func TestNew_InvalidRuleErrorNamesTheMethodAndField(t *testing.T) {
	set := func(scopes ...string) *grpcauthv1.ScopeSet { return &grpcauthv1.ScopeSet{Scopes: scopes} }
	tests := []struct {
		name  string
		rule  *grpcauthv1.Rule
		field string
	}{
		{"scopes", &grpcauthv1.Rule{Scopes: []string{"ok", "a b"}, AnyOf: []*grpcauthv1.ScopeSet{set("c")}}, "scopes: "},
		{"first any_of set", &grpcauthv1.Rule{AnyOf: []*grpcauthv1.ScopeSet{set("a b"), set("c")}}, "any_of[0]: "},
		{"second any_of set", &grpcauthv1.Rule{Scopes: []string{"ok"}, AnyOf: []*grpcauthv1.ScopeSet{set("c"), set("d", "")}}, "any_of[1]: "},
		{"empty any_of set", &grpcauthv1.Rule{AnyOf: []*grpcauthv1.ScopeSet{set("c"), set()}}, "any_of[1] is empty"},
		{"acr_values", &grpcauthv1.Rule{AcrValues: []string{"urn:x", "a b"}}, "acr_values entry"},
		{"max_age_seconds", &grpcauthv1.Rule{MaxAgeSeconds: -1}, "max_age_seconds -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Verifier: staticVerifier{}, Rules: map[string]*grpcauthv1.Rule{mAllOf: tt.rule}})
			if !errors.Is(err, ErrInvalidRule) {
				t.Fatalf("New = %v, want ErrInvalidRule", err)
			}
			if msg := err.Error(); !strings.Contains(msg, mAllOf) || !strings.Contains(msg, tt.field) {
				t.Errorf("New = %q, want it to name %s and %q", msg, mAllOf, tt.field)
			}
		})
	}
}

func TestCompileRule_NormalisesScopes(t *testing.T) {
	r, err := compileRule(&grpcauthv1.Rule{Scopes: []string{"b", "a", "b"}, AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"d", "c", "c"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.all, r.anyOf) != "[a b] [[c d]]" {
		t.Errorf("compiled to %v %v", r.all, r.anyOf)
	}
	if got := alternativesJSON(r.alternatives()); got != `[["a","b","c","d"]]` {
		t.Errorf("required_scopes = %s", got)
	}
}

func TestNew_RejectsBadConfig(t *testing.T) {
	v := staticVerifier{}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no verifier", Config{}},
		{"bad public name", Config{Verifier: v, Public: []string{"not a name"}}},
		{"method without leading slash", Config{Verifier: v, Public: []string{"authtest.v1.TestService/AllOf"}}},
		{"public twice", Config{Verifier: v, Public: []string{"a.B", "a.B"}}},
		{"public and rules", Config{Verifier: v, Public: []string{"a.B"}, Rules: map[string]*grpcauthv1.Rule{"a.B": {}}}},
		{"nil rule", Config{Verifier: v, Rules: map[string]*grpcauthv1.Rule{"a.B": nil}}},
		{"invalid default", Config{Verifier: v, DefaultRule: &grpcauthv1.Rule{Public: true, Scopes: []string{"x"}}}},
		{"unknown transport security", Config{Verifier: v, TransportSecurity: InsecureAllowPlaintext + 1}},
		{"negative transport security", Config{Verifier: v, TransportSecurity: -1}},
		{"bad dry-run name", Config{Verifier: v, DryRunMethods: []string{"authtest.v1.TestService/AllOf"}}},
		// Syntactically service names, but the descriptors say otherwise:
		// accepted, they would match no call and leave the method's
		// option rule (or deny) in force.
		{"rule for a method written as a service", Config{Verifier: v, Rules: map[string]*grpcauthv1.Rule{"authtest.v1.TestService.AllOf": {Scopes: []string{"test:admin"}}}}},
		{"public message name", Config{Verifier: v, Public: []string{"authtest.v1.AllOfRequest"}}},
		{"dry-run method written as a service", Config{Verifier: v, DryRunMethods: []string{"authtest.v1.TestService.AllOf"}}},
		// Nil pointers in interfaces (a variable left unset): each would
		// panic in New, or on the first call or Check.
		{"nil *verifier.Verifier", Config{Verifier: (*verifier.Verifier)(nil)}},
		{"nil pointer ConditionCompiler", Config{Verifier: v, Conditions: (*cutDuring)(nil)}},
		{"nil *slog.LevelVar", Config{Verifier: v, LogLevels: LogLevels{Denied: (*slog.LevelVar)(nil)}}},
		// A Logger with no handler panics on its first record, that is
		// on the first call.
		{"zero slog.Logger", Config{Verifier: v, Logger: &slog.Logger{}}},
		{"slog.Logger on a nil handler", Config{Verifier: v, Logger: slog.New((*slog.TextHandler)(nil))}},
		// Not a panic: an empty registry, which hid every option, so that
		// the DefaultRule (any valid token) replaced the methods' scopes.
		{"nil *protoregistry.Files", Config{Verifier: v, Descriptors: (*protoregistry.Files)(nil), DefaultRule: &grpcauthv1.Rule{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, err := New(tt.cfg); err == nil {
				t.Fatalf("New = %v, nil; want an error", a)
			}
		})
	}
}

// badFiles is a registry holding one service whose only method has a
// contradictory rule, as a hand-edited or foreign descriptor could.
func badFiles(t testing.TB) *protoregistry.Files {
	t.Helper()
	opts := &descriptorpb.MethodOptions{}
	proto.SetExtension(opts, grpcauthv1.E_Method, &grpcauthv1.Rule{Public: true, Scopes: []string{"x"}})
	return oneMethodFiles(t, "bad.v1", "BadService", &descriptorpb.MethodDescriptorProto{
		Name: proto.String("Contradictory"), Options: opts,
	})
}

func TestInterceptor_InvalidOptionRuleDeniesMethod(t *testing.T) {
	a := mustNew(t, Config{Descriptors: badFiles(t), Verifier: staticVerifier{claims: mustClaims(t, "x")}})
	const m = "/bad.v1.BadService/Contradictory"
	req, err := a.Requirement(m)
	if !errors.Is(err, ErrInvalidRule) || req.Source != SourceMethodOption {
		t.Fatalf("Requirement = %+v, %v; want ErrInvalidRule from the method option", req, err)
	}
	// Fail closed: neither the public half nor the scope half applies.
	_, err = callUnary(a, context.Background(), m)
	checkStatus(t, err, codes.Unauthenticated, ReasonCredentialsMissing)
	_, err = callUnary(a, bearerCtx("tok"), m)
	checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
}

// callUnary runs the unary interceptor directly with a handler that
// returns the claims it saw.
func callUnary(a *Authenticator, ctx context.Context, method string) (verifier.Claims, error) {
	resp, err := a.UnaryServerInterceptor()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: method},
		func(ctx context.Context, _ any) (any, error) {
			c, _ := ClaimsFromContext(ctx)
			return c, nil
		})
	c, _ := resp.(verifier.Claims)
	return c, err
}

// bearerCtx is the incoming context of a call with tok as its bearer
// token, on a plaintext loopback connection (as gRPC's server would make
// it), which the default Config.TransportSecurity accepts.
func bearerCtx(tok string) context.Context {
	return metadata.NewIncomingContext(loopbackPeer(context.Background()), metadata.Pairs("authorization", "Bearer "+tok))
}

// plaintextInfo is the AuthInfo of a connection without transport
// security, as insecure.NewCredentials reports it.
type plaintextInfo struct{ credentials.CommonAuthInfo }

func (plaintextInfo) AuthType() string { return "insecure" }

// withPeer returns ctx with a peer at addr using ai.
func withPeer(ctx context.Context, addr net.Addr, ai credentials.AuthInfo) context.Context {
	return peer.NewContext(ctx, &peer.Peer{Addr: addr, LocalAddr: addr, AuthInfo: ai})
}

// loopbackPeer returns ctx with a plaintext peer on 127.0.0.1.
func loopbackPeer(ctx context.Context) context.Context {
	return withPeer(ctx, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000},
		plaintextInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}})
}

func TestPlan_UnknownMethodsAreNotCached(t *testing.T) {
	a := mustNew(t, Config{Rules: map[string]*grpcauthv1.Rule{"ghost.v1.GhostService": {}}})
	for i := range 100 {
		m := fmt.Sprintf("/ghost.v1.GhostService/M%d", i)
		// A config service rule applies even without a descriptor...
		if _, err := callUnary(a, bearerCtx("tok"), m); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		// ...and a made-up method of no known service is denied.
		_, err := callUnary(a, bearerCtx("tok"), fmt.Sprintf("/nope.v1.X/M%d", i))
		checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
	}
	if n := a.planLen(); n != 0 {
		t.Errorf("plan holds %d entries for made-up methods, want 0", n)
	}
	_, err := callUnary(a, bearerCtx("tok"), "not-a-method")
	checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
}

func TestPlan_KnownMethodsAreCompiledOnceAndShared(t *testing.T) {
	a := mustNew(t, Config{})
	methods := []string{mAllOf, mAnyOf, mPublic, mAuth, mInherited, mUnannotated}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, m := range methods {
				a.lookup(m)
			}
		})
	}
	wg.Wait()
	if n := a.planLen(); n != len(methods) {
		t.Fatalf("plan has %d entries, want %d", n, len(methods))
	}
	for _, m := range methods {
		if p, _ := a.published(m); a.lookup(m) != p {
			t.Errorf("%s: lookup did not return the published plan", m)
		}
	}
}

// published returns the plan published for method, if any.
func (a *Authenticator) published(method string) (*methodPlan, bool) {
	if p, ok := (*a.plan.Load())[method]; ok {
		return p, true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pending[method]
	return p, ok
}

// planLen returns the number of plans a has published.
func (a *Authenticator) planLen() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(*a.plan.Load()) + len(a.pending)
}

func TestLookup_HotPathDoesNotAllocate(t *testing.T) {
	a := mustNew(t, Config{})
	// A name built at run time, as grpc-go's is: a constant's conversion
	// to the map's key type would not allocate anyway.
	method := strings.Clone(mAllOf)
	a.lookup(method)
	if n := testing.AllocsPerRun(100, func() { a.lookup(method) }); n != 0 {
		t.Errorf("lookup of a compiled method allocates %v times, want 0", n)
	}
}

// recordingHandler returns a stream handler that sends its call's method
// to reached and answers one message with one empty message.
func recordingHandler(reached chan<- string) grpc.StreamHandler {
	return func(_ any, ss grpc.ServerStream) error {
		m, _ := grpc.MethodFromServerStream(ss)
		reached <- m
		var in emptypb.Empty
		if err := ss.RecvMsg(&in); err != nil {
			return err
		}
		return ss.SendMsg(&emptypb.Empty{})
	}
}

// TestUnknownServiceHandler_MethodMissingFromDescriptorsIgnoresServiceOption
// calls, through grpc.UnknownServiceHandler (a proxy), a method that
// authtest.v1.TestService's descriptor does not declare: the service's
// (grpcauth.v1.service) option is the rule of its declared methods
// without their own, not of a name the descriptors have never seen (a
// newer backend's method may have a stricter rule of its own). Only a
// Config rule naming the service, or DefaultRule, admits it.
func TestUnknownServiceHandler_MethodMissingFromDescriptorsIgnoresServiceOption(t *testing.T) {
	const bogus = "/authtest.v1.TestService/DeleteEverything"
	reached := make(chan string, 4)
	proxy := recordingHandler(reached)
	for _, tt := range []struct {
		name string
		cfg  Config
		want codes.Code
	}{
		{"service option only", Config{}, codes.PermissionDenied},
		{"config service rule", Config{Rules: map[string]*grpcauthv1.Rule{"authtest.v1.TestService": {Scopes: []string{"test:read"}}}}, codes.OK},
		{"default rule", Config{DefaultRule: &grpcauthv1.Rule{Scopes: []string{"test:read"}}}, codes.OK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Verifier = staticVerifier{claims: mustClaims(t, "test:read")}
			a := mustNew(t, cfg)
			_, addr := serve(t, &testService{}, grpc.UnknownServiceHandler(proxy),
				grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(a.StreamServerInterceptor()))
			conn := dial(t, addr, insecure.NewCredentials())
			ctx := withAuth(t.Context(), bearer("tok"))
			// The declared methods inherit the service option as before.
			if _, err := authtestv1.NewTestServiceClient(conn).Inherited(ctx, &authtestv1.InheritedRequest{}); err != nil {
				t.Fatalf("Inherited: %v", err)
			}
			err := conn.Invoke(ctx, bogus, &emptypb.Empty{}, &emptypb.Empty{})
			if tt.want == codes.OK {
				checkStatus(t, err, codes.OK, "")
				if m := <-reached; m != bogus {
					t.Errorf("proxy reached with %q, want %q", m, bogus)
				}
				return
			}
			checkStatus(t, err, tt.want, ReasonMethodNotConfigured)
			select {
			case m := <-reached:
				t.Errorf("proxy reached with %q", m)
			default:
			}
			if _, err := a.Requirement(bogus); !errors.Is(err, ErrNoRule) {
				t.Errorf("Requirement(%s) err = %v, want ErrNoRule", bogus, err)
			}
		})
	}
}

// fanOut is a slog.Handler that passes each record to every handler it
// holds: a nil one holds none, and drops every record.
type fanOut []slog.Handler

func (f fanOut) Enabled(ctx context.Context, l slog.Level) bool {
	return slices.ContainsFunc(f, func(h slog.Handler) bool { return h.Enabled(ctx, l) })
}

func (f fanOut) Handle(ctx context.Context, r slog.Record) error {
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			if err := h.Handle(ctx, r.Clone()); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f fanOut) WithAttrs(as []slog.Attr) slog.Handler {
	return f.each(func(h slog.Handler) slog.Handler { return h.WithAttrs(as) })
}

func (f fanOut) WithGroup(name string) slog.Handler {
	return f.each(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

// each returns the fan-out over what derive makes of each of f's handlers.
func (f fanOut) each(derive func(slog.Handler) slog.Handler) fanOut {
	if f == nil {
		return nil
	}
	g := make(fanOut, len(f))
	for i, h := range f {
		g[i] = derive(h)
	}
	return g
}

// A Logger on a handler that is a nil slice (a fan-out over no handler,
// as a configuration that names no log sink builds) works: New takes it,
// and calls are logged through it. Only a handler that is none (a zero
// slog.Logger's, a nil pointer) is refused (TestNew_RejectsBadConfig).
func TestNew_AcceptsALoggerOnAnEmptyFanOutHandler(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *verifier.Config) {
		c.Logger = slog.New(fanOut(nil))
		c.LogLevels.Denied = slog.LevelError // Enabled is asked, and says no
	})
	_, err := e.client.AllOf(bounded(t), &authtestv1.AllOfRequest{})
	checkStatus(t, err, codes.Unauthenticated, ReasonCredentialsMissing)
}

func TestNew_ConfigConditionWithoutCompilerIsAStartUpError(t *testing.T) {
	cond := &grpcauthv1.Rule{Scopes: []string{"test:read"}, Condition: "request.owner == subject"}
	for name, cfg := range map[string]Config{
		"Rules":       {Rules: map[string]*grpcauthv1.Rule{"/authtest.v1.TestService/AllOf": cond}},
		"DefaultRule": {DefaultRule: cond},
	} {
		cfg.Verifier = staticVerifier{}
		_, err := New(cfg)
		if !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), "Config.Conditions is nil") || !strings.HasPrefix(err.Error(), "grpcauth: Config."+name) {
			t.Errorf("%s: New err = %v, want ErrInvalidRule naming Config.Conditions", name, err)
		}
	}
}

func TestNew_ConfigRuleWithUnknownFieldsIsRefused(t *testing.T) {
	// A rule read from a rules file written with a newer auth.proto: field
	// 99 (say a future restriction) is kept as unknown bytes.
	withField := func(m proto.Message) {
		r := m.ProtoReflect()
		r.SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	}
	top := &grpcauthv1.Rule{Scopes: []string{"test:read"}}
	withField(top)
	nested := &grpcauthv1.Rule{AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"test:read"}}}}
	withField(nested.GetAnyOf()[0])
	for name, cfg := range map[string]Config{
		"Rules":         {Rules: map[string]*grpcauthv1.Rule{"/authtest.v1.TestService/AllOf": top}},
		"DefaultRule":   {DefaultRule: top},
		"any_of in set": {Rules: map[string]*grpcauthv1.Rule{"authtest.v1.TestService": nested}},
	} {
		cfg.Verifier = staticVerifier{}
		if _, err := New(cfg); !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), "does not know") {
			t.Errorf("%s: New err = %v, want ErrInvalidRule for unknown fields", name, err)
		}
	}
}

func TestNew_ServiceNameThatIsAMethodSaysHowToWriteIt(t *testing.T) {
	_, err := New(Config{Verifier: staticVerifier{}, Rules: map[string]*grpcauthv1.Rule{"authtest.v1.TestService.AllOf": {Scopes: []string{"test:admin"}}}})
	if err == nil || !strings.Contains(err.Error(), `write it "/authtest.v1.TestService/AllOf"`) || !strings.HasPrefix(err.Error(), "grpcauth: Config.Rules: ") {
		t.Fatalf("New err = %v, want one naming /authtest.v1.TestService/AllOf", err)
	}
}

// TestUnknownServiceHandler_OddMethodPathsAreDenied calls, through
// grpc.UnknownServiceHandler (a proxy), paths that differ from a real
// method's name only in case or slashes: none is taken for that method.
// Rules match the exact name, so each such path is a name nothing knows,
// denied with or without a token, and never reaches the proxy; only the
// exact name of the public method needs no token.
func TestUnknownServiceHandler_OddMethodPathsAreDenied(t *testing.T) {
	reached := make(chan string, 1)
	a := mustNew(t, Config{
		Verifier: staticVerifier{claims: mustClaims(t, "test:read", "cfg:public")},
		Public:   []string{"/authtest.v1.UnannotatedService/Unannotated"},
	})
	_, addr := serve(t, &testService{}, grpc.UnknownServiceHandler(recordingHandler(reached)),
		grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(a.StreamServerInterceptor()))
	conn := dial(t, addr, insecure.NewCredentials())
	tests := []struct {
		method           string
		noToken, withTok codes.Code
	}{
		{mPublic, codes.OK, codes.OK},
		{mUnannotated, codes.OK, codes.OK},
		{"/authtest.v1.TestService/public", codes.Unauthenticated, codes.PermissionDenied},
		{"/Authtest.v1.TestService/Public", codes.Unauthenticated, codes.PermissionDenied},
		{"/authtest.v1.unannotatedService/Unannotated", codes.Unauthenticated, codes.PermissionDenied},
		{"//authtest.v1.TestService/Public", codes.Unauthenticated, codes.PermissionDenied},
		{"/authtest.v1.TestService/Public/", codes.Unauthenticated, codes.PermissionDenied},
		{"/authtest.v1.TestService//Public", codes.Unauthenticated, codes.PermissionDenied},
		{"/x/authtest.v1.TestService/Public", codes.Unauthenticated, codes.PermissionDenied},
		{"/authtest.v1.UnannotatedService/Unannotated/", codes.Unauthenticated, codes.PermissionDenied},
		{"/authtest.v1.TestService/Inherited ", codes.Unauthenticated, codes.PermissionDenied},
		// grpc-go itself refuses a path without its leading slash.
		{"authtest.v1.TestService/Public", codes.Unimplemented, codes.Unimplemented},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			for _, token := range []bool{false, true} {
				ctx, want := t.Context(), tt.noToken
				if token {
					ctx, want = withAuth(ctx, bearer("tok")), tt.withTok
				}
				err := conn.Invoke(ctx, tt.method, &emptypb.Empty{}, &emptypb.Empty{})
				if got := status.Code(err); got != want {
					t.Errorf("token %v: code %v (%v), want %v", token, got, err, want)
				}
				select {
				case m := <-reached:
					t.Errorf("token %v: proxy reached with %q", token, m)
				default:
				}
			}
		})
	}
}

// The first call of each method publishes its plan at a cost that does not
// grow with the methods published before it: the plan map used to be
// copied whole on each first call, so N methods cost O(N²) over their
// first calls (20,000 took 14 s of CPU), for a server that does not call
// Check. The work is counted in plan entries copied: fewer than two per
// method, where copying on each first call made it N(N-1)/2. Every plan is
// then published, and the methods' calls read them without the lock.
func TestPlan_FirstCallsCopyFewerThanTwoEntriesPerMethod(t *testing.T) {
	const n = 4000
	a, methods := manyMethods(t, n)
	plans := make(map[string]*methodPlan, n)
	for _, m := range methods {
		p := a.lookup(m)
		if p.source != SourceConfigMethod {
			t.Fatalf("%s: source %v, want %v", m, p.source, SourceConfigMethod)
		}
		plans[m] = p
	}
	a.mu.Lock()
	copied := a.copied
	a.mu.Unlock()
	if copied >= 2*n {
		t.Errorf("the first calls of %d methods copied %d plan entries, want fewer than %d", n, copied, 2*n)
	}
	if got := a.planLen(); got != n {
		t.Fatalf("%d plans published after %d first calls", got, n)
	}
	// Calls of methods still pending merge them into the lock-free map.
	for range n {
		a.lookup(methods[n-1])
	}
	for _, m := range methods {
		if p, ok := (*a.plan.Load())[m]; !ok || p != plans[m] {
			t.Fatalf("%s: plan in the lock-free map %p (%v), want the one its first call published, %p", m, p, ok, plans[m])
		}
	}
}

// manyMethods returns an Authenticator whose Config.Rules names n methods,
// and their names.
func manyMethods(t *testing.T, n int) (*Authenticator, []string) {
	t.Helper()
	rules := make(map[string]*grpcauthv1.Rule, n)
	methods := make([]string, 0, n)
	for i := range n {
		m := fmt.Sprintf("/many.v1.Svc/M%d", i)
		rules[m] = &grpcauthv1.Rule{}
		methods = append(methods, m)
	}
	return mustNew(t, Config{Rules: rules}), methods
}

// Calls answered from the pending map count towards the next merge as
// first calls do, each paying for fewer than two entries copied, so that
// a method's calls take the lock only until its own calls bring the merge
// about: within as many calls as the lock-free map holds plans, however
// its first call fell between merges.
func TestPlan_CallsOfAPendingMethodMergeItWithinTheLockFreeMapsSize(t *testing.T) {
	const n = 3000
	a, methods := manyMethods(t, n)
	for _, m := range methods { // each called twice in a row
		a.lookup(m)
		a.lookup(m)
	}
	a.mu.Lock()
	copied := a.copied
	a.mu.Unlock()
	if copied >= 2*2*n {
		t.Errorf("%d first calls and %d second calls copied %d plan entries, want fewer than %d", n, n, copied, 4*n)
	}
	for _, m := range methods {
		size := len(*a.plan.Load())
		calls := 0
		for {
			if _, ok := (*a.plan.Load())[m]; ok {
				break
			}
			if calls > size {
				t.Fatalf("%s: still pending after %d calls, with %d plans in the lock-free map", m, calls, size)
			}
			a.lookup(m)
			calls++
		}
	}
	if a.planLen() != len(*a.plan.Load()) {
		t.Errorf("plans pending after every method's calls merged it")
	}
}

// A call that misses the lock-free map just as a merge moves its method
// there from the pending map finds the plan, under the lock, rather than
// compiling the method again (a CEL condition's compilation, each time a
// merge lands under load) only for publish to throw the result away.
func TestPlan_ACallThatMissesTheLockFreeMapAsAMergeLandsFindsThePlan(t *testing.T) {
	a, methods := manyMethods(t, 3)
	for _, m := range methods {
		a.lookup(m)
	}
	m := methods[2]
	want, _ := a.published(m)
	if _, ok := (*a.plan.Load())[m]; ok {
		t.Fatalf("%s already in the lock-free map: the test needs it pending", m)
	}
	// lookup has read the lock-free map and missed; a merge lands.
	a.mu.Lock()
	a.merge(nil)
	a.mu.Unlock()
	if p, ok := a.pendingPlan(m); !ok || p != want {
		t.Errorf("%s: the slow path found %p (%v) after a merge, want its published plan %p", m, p, ok, want)
	}
}
