package grpcauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/internal/built"
	"github.com/grpcauth/grpcauth/internal/isnil"
	"github.com/grpcauth/grpcauth/internal/jitter"
	"github.com/grpcauth/grpcauth/internal/judged"
	"github.com/grpcauth/grpcauth/internal/jwxpanic"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// Authenticator enforces access rules on gRPC calls: it verifies the bearer
// token of each call, checks the scopes the method requires, and makes the
// claims available to handlers. Build one with New and install both of its
// interceptors on the server. It is safe for concurrent use. One that New
// did not build (a nil *Authenticator, a zero Authenticator) fails closed:
// it refuses every call with codes.Internal (see UnaryServerInterceptor).
type Authenticator struct {
	verifier    TokenVerifier
	descriptors DescriptorResolver
	conditions  ConditionCompiler
	cfgRules    map[string]*compiledRule // Config.Rules and Config.Public, by method or service name
	defaultRule *compiledRule
	transport   TransportSecurity
	dryRun      bool                // Config.DryRun
	dryRunNames map[string]struct{} // Config.DryRunMethods
	cfgNames    []configName        // the names in Config.Public, Rules and DryRunMethods, for Check
	skipExpiry  bool
	skew        time.Duration
	now         func() time.Time
	afterFunc   func(time.Duration, func()) timer
	random      func() float64 // in [0, 1), for the re-verifications' jitter
	onDecision  func(context.Context, Decision)
	logger      *slog.Logger
	levels      LogLevels         // every field set
	requireDPoP bool              // Config.RequireDPoP
	dpop        *dpop.Verifier    // DPoP proofs (dpop.go)
	dpopNow     func() time.Time  // dpop's clock (newDPoP)
	dpopAlgs    string            // the algs auth-param of DPoP challenges
	dpopPanics  jwxpanic.StackLog // the stacks checkDPoP logs: one a minute
	condPanics  jwxpanic.StackLog // the stacks of conditions' panics (eval): one a minute
	timerPanics jwxpanic.StackLog // the stacks of streams' timers' panics (recoverPanic): one a minute
	nowPanics   jwxpanic.StackLog // the stacks logged when Config.Now panicked (stackAt): one a minute, by wallNow
	readPanics  jwxpanic.StackLog // the stacks of boundedRead's panics (logReadPanic): one a minute, by wallNow
	wallNow     func() time.Time  // the process's clock, which bounds nowPanics: time.Now
	// streamStopped: Config.streamStopped, a test hook, nil in production
	streamStopped func()
	// reportWaits: Config.reportWaits, a test hook, nil in production
	reportWaits func()
	// constHighest: levels.highest(), when every level is a slog.Level
	// value, which cannot change (a *slog.LevelVar or another Leveler
	// can, and is asked on every call); see startDecision
	constHighest slog.Level
	hasConst     bool

	plan    atomic.Pointer[map[string]*methodPlan] // read-only once stored: see lookup
	mu      sync.Mutex                             // guards pending, debt, copied and undescribed's writes
	pending map[string]*methodPlan                 // published since plan was stored
	debt    int                                    // publishes and pending lookups since plan was stored
	copied  int                                    // entries copied into plan, in all (tests count them)
	// resolverPlans: the plans published of methods a custom resolver
	// describes, under mu; see publish
	resolverPlans int
	// undescribed: the plans kept for services (keptForService), read
	// without a lock, written under mu; see undescribedPlan
	undescribed atomic.Pointer[map[string]*sharedPlans]
	// registered: the methods Check found registered on a server, read
	// without a lock, written under mu; see unknownMethod
	registered atomic.Pointer[map[string]struct{}]
	// svcPlans and defaultPlans: the shared plans of the Config service
	// entries and of the DefaultRule (sharedPlans), made by New; nil
	// where the rule has a condition
	svcPlans     map[string]*sharedPlans
	defaultPlans *sharedPlans

	// descriptorTimeout: Config.DescriptorTimeout, or its default;
	// descriptorReads: Check's and Requirement's reads of descriptors
	// under way (boundedRead), by service name, one at a time per
	// service, so that a read that does not return (a resolver's code
	// that hangs) is one goroutine however many Checks and Requirements
	// come after it, which wait for it, within their bound, rather than
	// each start another read that would hang too
	descriptorTimeout time.Duration
	descriptorReads   underWay[string]

	svcMu    sync.Mutex                         // guards svcRules and unbuilt
	svcRules map[protoreflect.FullName]*svcRead // see serviceOption
	unbuilt  map[string]unbuiltService          // see unbuiltPlans
}

// New validates cfg and returns an Authenticator. It fails when Verifier is
// nil, when Verifier, Descriptors, Conditions or a LogLevels field holds a
// nil pointer (a variable left unset), when Verifier is a
// *verifier.Verifier, *verifier.MultiVerifier, *introspect.Verifier or
// *introspect.Combined its constructor did not build (a zero value, which
// would refuse every token; a verifier of your own wrapping one is not
// looked into), when Logger has no handler (a zero
// slog.Logger), when TransportSecurity
// is not one of its constants, when a name in
// Public, Rules or DryRunMethods is neither "/pkg.Service/Method" nor
// "pkg.Service" (or is a "pkg.Service" that Descriptors resolve to a
// method or another declaration that is not a service), when a name
// appears twice in Public and Rules, when a rule in Rules is nil, when a
// rule in Rules or DefaultRule is invalid (ErrInvalidRule; without
// Conditions, that includes one with a condition, and with RequireDPoP one
// with require_certificate_binding), or when DPoP is
// invalid (see dpop.NewVerifier), or when DescriptorTimeout is negative.
// Rules in .proto options, and the
// conditions of every rule, are compiled on first use (or by Check); an
// invalid one denies its method. New reads the options of every service
// and method in Config.Descriptors when it lists its files (as
// *protoregistry.Files does), so that options that do not decode are
// caught (ErrUnreadableOption): create the Authenticator before other code
// reads descriptor options. The first New in a process decodes them (a few
// microseconds a file); a later New only walks them again, without an
// allocation per file. A resolver without RangeFiles is not walked: call
// Check at start-up instead. New fails when protobuf-go cannot build one
// of the files (a default value that does not parse): the file is locked
// from then on, and any use of it would block. Behind a resolver New does
// not walk, the methods of such a file are denied (ErrUnreadableOption).
func New(cfg Config) (*Authenticator, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("grpcauth: Config.Verifier is required")
	}
	if err := checkNotNilPointers(cfg); err != nil {
		return nil, err
	}
	if err := built.Check(cfg.Verifier); err != nil {
		return nil, fmt.Errorf("grpcauth: Config.Verifier %w", err)
	}
	a := &Authenticator{
		verifier:    cfg.Verifier,
		descriptors: cfg.Descriptors,
		conditions:  cfg.Conditions,
		cfgRules:    make(map[string]*compiledRule),
		transport:   cfg.TransportSecurity,
		dryRun:      cfg.DryRun,
		dryRunNames: make(map[string]struct{}, len(cfg.DryRunMethods)),
		skipExpiry:  cfg.SkipStreamExpiry,
		skew:        clockSkew(cfg.Verifier),
		now:         cfg.Now,
		afterFunc:   cfg.afterFunc,
		wallNow:     cfg.wallNow,
		random:      cfg.random,
		onDecision:  cfg.OnDecision,
		logger:      cfg.Logger,
		levels:      cfg.LogLevels.withDefaults(),
		requireDPoP: cfg.RequireDPoP,

		descriptorTimeout: cfg.DescriptorTimeout,
	}
	a.streamStopped, a.reportWaits = cfg.streamStopped, cfg.reportWaits
	a.constHighest, a.hasConst = a.levels.constant()
	if !a.transport.valid() {
		return nil, fmt.Errorf("grpcauth: Config.TransportSecurity: unknown value %v", a.transport)
	}
	if a.descriptors == nil {
		a.descriptors = protoregistry.GlobalFiles
	}
	switch {
	case a.descriptorTimeout < 0:
		return nil, fmt.Errorf("grpcauth: Config.DescriptorTimeout is negative (%v); leave it 0 for the default, %v", a.descriptorTimeout, DefaultDescriptorTimeout)
	case a.descriptorTimeout == 0:
		a.descriptorTimeout = DefaultDescriptorTimeout
	}
	if err := readOptionsFirst(a.descriptors); err != nil {
		return nil, err
	}
	for _, name := range cfg.DryRunMethods {
		if err := a.checkName(name); err != nil {
			return nil, fmt.Errorf("grpcauth: Config.DryRunMethods: %w", err)
		}
		a.dryRunNames[name] = struct{}{}
		a.cfgNames = append(a.cfgNames, configName{name, "DryRunMethods"})
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.wallNow == nil {
		a.wallNow = time.Now
	}
	if a.afterFunc == nil {
		a.afterFunc = func(d time.Duration, f func()) timer { return time.AfterFunc(d, f) }
	}
	if a.random == nil {
		a.random = jitter.Random
	}
	if a.logger == nil {
		a.logger = slog.Default()
	}
	public := &grpcauthv1.Rule{Public: true}
	for _, name := range cfg.Public {
		if err := a.addConfigRule(name, public); err != nil {
			return nil, fmt.Errorf("grpcauth: Config.Public: %w", err)
		}
		a.cfgNames = append(a.cfgNames, configName{name, "Public"})
	}
	for name, pb := range cfg.Rules {
		if err := a.addConfigRule(name, pb); err != nil {
			return nil, fmt.Errorf("grpcauth: Config.Rules: %w", err)
		}
		a.cfgNames = append(a.cfgNames, configName{name, "Rules"})
	}
	if cfg.DefaultRule != nil {
		r, err := a.compileConfigRule(cfg.DefaultRule)
		if err != nil {
			return nil, fmt.Errorf("grpcauth: Config.DefaultRule: %w", err)
		}
		a.defaultRule = r
	}
	// Last, once nothing else can fail: building the DPoP verifier tells
	// a shared MemoryReplayCache its MaxAge for good (dpop.MemoryReplayCache).
	var err error
	if a.dpop, a.dpopNow, err = newDPoP(cfg); err != nil {
		return nil, err
	}
	a.dpopAlgs = dpopAlgs(a.dpop.Algorithms())
	a.makeSharedPlans()
	a.plan.Store(&map[string]*methodPlan{})
	return a, nil
}

// checkName checks that name is a full method name or a service name, and
// that a service name the descriptors know names a service: a method
// written "pkg.Service.Method", or a message, would otherwise be accepted
// and match no call.
func (a *Authenticator) checkName(name string) error {
	if _, _, ok := splitMethod(name); ok {
		return nil
	}
	if !isServiceName(name) {
		return fmt.Errorf("%q is neither a full method name (/pkg.Service/Method) nor a service name (pkg.Service)", name)
	}
	// A method's name makes the resolver build its service's file: built
	// through methods first, a file protobuf-go cannot build is an error
	// rather than a panic that leaves it locked.
	// A resolver's nil answer (a typed nil, whose methods would panic)
	// says nothing.
	if parent, err := a.descriptors.FindDescriptorByName(protoreflect.FullName(name).Parent()); err == nil && !isnil.Value(parent) {
		if sd, ok := parent.(protoreflect.ServiceDescriptor); ok {
			if _, err := methods(context.Background(), sd); err != nil {
				return err
			}
		}
	}
	d, err := a.descriptors.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil // a service whose descriptor is not linked in (a proxy's)
	}
	if isnil.Value(d) {
		return fmt.Errorf("%q: Config.Descriptors returned neither a descriptor nor an error for it; a resolver reports an unknown name with an error wrapping protoregistry.NotFound", name)
	}
	switch d := d.(type) {
	case protoreflect.ServiceDescriptor:
		return nil
	case protoreflect.MethodDescriptor:
		return fmt.Errorf("%q names a method, not a service; write it %q", name, "/"+string(d.Parent().FullName())+"/"+string(d.Name()))
	default:
		return fmt.Errorf("%q names a declaration in %q that is not a service; a name is \"pkg.Service\" or \"/pkg.Service/Method\"", name, filePath(d))
	}
}

func (a *Authenticator) addConfigRule(name string, pb *grpcauthv1.Rule) error {
	if err := a.checkName(name); err != nil {
		return err
	}
	if _, dup := a.cfgRules[name]; dup {
		return fmt.Errorf("%q is named more than once (in Public and Rules, or twice in Public)", name)
	}
	if pb == nil {
		return fmt.Errorf("%q: nil rule", name)
	}
	r, err := a.compileConfigRule(pb)
	if err != nil {
		return fmt.Errorf("%q: %w", name, err)
	}
	a.cfgRules[name] = r
	return nil
}

// compileConfigRule compiles a rule of Config.Rules or Config.DefaultRule.
// A condition without Config.Conditions could never be compiled for any
// method, so it fails here, at start-up, rather than on each method. A rule
// decoded from the bytes of a newer Rule (a rules file) fails as an option
// with such fields does: ignoring a field could drop a restriction.
func (a *Authenticator) compileConfigRule(pb *grpcauthv1.Rule) (*compiledRule, error) {
	if hasUnknownFields(pb) {
		return nil, fmt.Errorf("%w: the rule has fields this version of grpcauth does not know (decoded from a newer grpcauth.v1.Rule); upgrade github.com/grpcauth/grpcauth", ErrInvalidRule)
	}
	r, err := a.compileServerRule(pb)
	if err == nil && r.condition != "" && a.conditions == nil {
		return nil, fmt.Errorf("%w: condition %q: %w", ErrInvalidRule, r.condition, errNoConditionCompiler)
	}
	return r, err
}

// compileServerRule compiles pb (compileRule) and checks that this server
// can satisfy it: under Config.RequireDPoP only DPoP-bound tokens come
// through, and a token's cnf names one key (RFC 7800, 3.1), so a rule
// with require_certificate_binding could never be met. The error wraps
// ErrInvalidRule.
func (a *Authenticator) compileServerRule(pb *grpcauthv1.Rule) (*compiledRule, error) {
	r, err := compileRule(pb)
	if err == nil && r.bound && a.requireDPoP {
		return nil, fmt.Errorf("%w: require_certificate_binding on a server with Config.RequireDPoP: the server takes only DPoP-bound tokens and a token's cnf names one key (RFC 7800, 3.1), so no token could meet the rule; use require_dpop, or leave Config.RequireDPoP off", ErrInvalidRule)
	}
	return r, err
}

// UnaryServerInterceptor returns the interceptor for unary calls. Install it
// together with StreamServerInterceptor:
//
//	grpc.NewServer(
//		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
//	)
//
// Installed twice on one server (directly and again through a shared
// middleware bundle, say), the Authenticator's second interceptor passes
// on the calls its first one admitted, untouched: each call is decided
// once. Two different Authenticators in one chain both decide every call.
//
// On an Authenticator that New did not build (a nil *Authenticator, whose
// New error went unchecked, or a zero Authenticator) it returns an
// interceptor that refuses every call, before the handler runs, with
// codes.Internal, the message "grpcauth: internal error" and
// ReasonInternalError, rather than panic on each (grpc-go does not recover
// a panic in an interceptor: the server process would crash). It logs one
// error record of slog.Default() the first time in the process it is so
// called, not each time: a server that builds its interceptors on every
// call logs once. So does StreamServerInterceptor.
func (a *Authenticator) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	if !a.built() {
		return notBuiltUnary()
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if a.admitted(ctx, info.FullMethod, false) {
			return handler(ctx, req) // installed twice: this call is decided
		}
		ctx, _, _, err := a.authorize(ctx, info.FullMethod, false, req)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor returns the interceptor for streaming calls. The
// handler's stream context carries the claims (ClaimsFromContext). Unless
// Config.SkipStreamExpiry is set, the stream ends with codes.Unauthenticated
// once its token expires (ACCESS_TOKEN_EXPIRED) or is refused on
// re-verification (ACCESS_TOKEN_REVOKED, see Revalidator), and the
// www-authenticate challenge error="invalid_token" in its trailer, or, on a
// method whose rule sets max_age_seconds, once its sign-in is older than
// that (INSUFFICIENT_USER_AUTHENTICATION, with the rule's step-up
// challenge): see Config.SkipStreamExpiry.
// Installed twice, it decides each stream once, as UnaryServerInterceptor
// does: the second passes on the stream the first admitted, which the
// first wrapped for the expiry and the rule's condition.
//
// On an Authenticator that New did not build it logs once and refuses
// every stream, as UnaryServerInterceptor does.
func (a *Authenticator) StreamServerInterceptor() grpc.StreamServerInterceptor {
	if !a.built() {
		return notBuiltStream()
	}
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if a.admitted(ss.Context(), info.FullMethod, true) {
			// Installed twice: the stream is decided, and ss is the one
			// the first run wrapped (expiry, condition).
			return handler(srv, ss)
		}
		ctx, claims, p, err := a.authorize(ss.Context(), info.FullMethod, true, nil)
		if err != nil {
			return err
		}
		if !a.watchesStream(p, claims) {
			// The condition wraps the stream with the claims: a refused
			// message is reported with the handler's context.
			cs, h := a.withCondition(withContext(ss, ctx), p, info.FullMethod, claims, nil, handler)
			return h(srv, cs)
		}
		// The condition wraps the expiring stream, not the other way
		// round: a message that arrives after the cut fails in the expiring
		// stream's RecvMsg and is never evaluated (nor reported) by the
		// condition, as Guard.Received orders it for ServeCall.
		return a.runUntilExpiry(ctx, info.FullMethod, p, claims, func(ctx context.Context, w *streamWatch) error {
			es := &expiringStream{endingStream: endingStream{ServerStream: ss, ended: w.cutErr}, ctx: ctx}
			cs, h := a.withCondition(es, p, info.FullMethod, claims, w, handler)
			return h(srv, cs)
		})
	}
}

// expiresStream reports whether a stream opened with claims ends when they
// expire.
func (a *Authenticator) expiresStream(c verifier.Claims) bool {
	return !a.skipExpiry && !c.IsZero() && !c.Expiry().IsZero()
}

// authorize decides one call. It returns the context for the handler (with
// the claims, when a valid token came, and marked as admitted by a) and the
// plan the call was admitted under, or the status error to return.
//
// The checks run in this order, and the first failure decides: credentials
// on an untrusted transport (before the token is even parsed, so no crypto
// is spent on it), the authorization metadata, the token's signature and
// claims, its certificate binding, then the method's rule (scopes, step-up,
// and for a unary call req against the condition; a stream's messages are
// checked as they arrive, see withCondition). A method whose rule
// Config.Descriptors failed to read is refused as unavailable where a
// missing token or a missing rule would be, with or without a token (the
// method may be public). Only a rule failure (scopes, no rule, binding
// required, step-up, condition) is relaxed by dry run; it is
// reported after the stream-expiry check so that a call yields exactly one
// decision. A stream whose token is already past its expiry plus the
// verifier's clock skew (possible when the verifier's clock differs, or a
// custom verifier allows more skew than it reports) is refused, as it would
// be cut at once.
func (a *Authenticator) authorize(ctx context.Context, method string, stream bool, req any) (context.Context, verifier.Claims, *methodPlan, error) {
	judged.Mark(ctx) // for connectauth.WrapHandler around the server's handler
	start := a.startDecision(ctx)
	p := a.lookupCall(ctx, method)
	if p.ended {
		// ctx ended while the plan waited for another call's read of the
		// service's option, or for other reads of options: refused as a
		// call whose context ends while its token is verified is.
		if rej := callEnded(ctx, p.err); rej != nil {
			return nil, verifier.Claims{}, nil, a.deny(ctx, method, p, verifier.Claims{}, rej, p.err, false, start)
		}
	}
	cred, present, rej := a.credentials(ctx)
	// A refusal's challenge is in the DPoP scheme when the call used it,
	// or when the server or the method's rule takes nothing else; a rule's
	// require_dpop in dry run takes bearer tokens still.
	dpopScheme := cred.dpop || a.requireDPoP || p.rule != nil && p.rule.dpop && !p.dryRun
	if present && !a.transportAllowed(ctx) {
		return nil, verifier.Claims{}, nil, a.deny(ctx, method, p, verifier.Claims{}, rejTransport, errInsecureTransport, dpopScheme, start)
	}
	if rej != nil {
		return nil, verifier.Claims{}, nil, a.deny(ctx, method, p, verifier.Claims{}, rej, nil, dpopScheme, start)
	}
	if !present {
		if p.rule != nil && p.rule.public {
			a.allow(ctx, method, p, verifier.Claims{}, start)
			return a.admit(ctx, method, stream, verifier.Claims{}, false), verifier.Claims{}, p, nil
		}
		rej = rejMissing
		if p.rulesUnavailable() {
			rej = rejRulesUnavailable // the method may be public
		}
		return nil, verifier.Claims{}, nil, a.deny(ctx, method, p, verifier.Claims{}, rej, p.err, dpopScheme, start)
	}
	claims, err := a.verifier.VerifyAccessToken(ctx, cred.token)
	if err != nil {
		return nil, verifier.Claims{}, nil, a.deny(ctx, method, p, verifier.Claims{}, verifyRejection(ctx, err), err, dpopScheme, start)
	}
	if claims.IsZero() {
		return nil, verifier.Claims{}, nil, a.deny(ctx, method, p, verifier.Claims{}, rejInvalid, errNoClaims, dpopScheme, start)
	}
	bound, rej, cause := a.checkBinding(ctx, method, cred, claims)
	if rej != nil {
		return nil, verifier.Claims{}, nil, a.deny(ctx, method, p, claims, rej, cause, dpopScheme, start)
	}
	rej, cause = a.judge(ctx, p, method, claims, bound, req)
	if rej != nil && (!p.dryRun || rej.enforcedInDryRun()) {
		return nil, verifier.Claims{}, nil, a.deny(ctx, method, p, claims, rej, cause, dpopScheme, start)
	}
	if stream && a.expiresStream(claims) && !a.now().Before(claims.Expiry().Add(a.skewFor(claims))) {
		return nil, verifier.Claims{}, nil, a.deny(ctx, method, p, claims, rejExpired, errors.New("grpcauth: token expires (plus the verifier's clock skew) before the stream could start"), dpopScheme, start)
	}
	if rej != nil {
		a.report(ctx, method, p, claims, rej, cause, true, start)
	} else {
		a.allow(ctx, method, p, claims, start)
	}
	return a.admit(ctx, method, stream, claims, rej != nil), claims, p, nil
}

// judge evaluates the rule of the plan p, the method's, on claims c, a
// verified token's whose binding was checked (bound): the rule's scopes
// and binding, its step-up, and its condition when that reads no request
// or req is given (a unary call's). It returns the refusal and its cause
// (Decision.Err), or nil. authorize judges every call so, and a stream's
// watch its re-verified claims (streamWatch.rejudge).
func (a *Authenticator) judge(ctx context.Context, p *methodPlan, method string, c verifier.Claims, bound binding, req any) (*rejection, error) {
	var rej *rejection
	var cause error
	switch {
	case p.rule != nil:
		rej, cause = p.rule.check(c, bound)
	case p.rulesUnavailable(): // a plan without a rule
		rej, cause = rejRulesUnavailable, p.err
	default:
		rej, cause = rejNotConfigured, p.err
	}
	if rej == nil {
		rej, cause = a.policy(ctx, p, method, c, req) // step-up, and a unary call's condition
	}
	return rej, cause
}

// admittedContext is the context an Authenticator hands to the handler of
// a call it admitted: its parent with the caller's claims
// (ClaimsFromContext), or none when no token came, whatever claims the
// parent holds (server code that put them there, ContextWithClaims, did
// not verify this call's token), and a mark that only that Authenticator
// reads (admitted). One value stands for both, so that the mark costs no
// allocation of its own.
type admittedContext struct {
	context.Context
	a      *Authenticator
	method string
	stream bool
	claims verifier.Claims // zero for a public method called without a token
	// wouldDeny is set when the call was reported as a dry run's
	// would-deny: its stream's sign-in going stale is not reported again
	// (runUntilExpiry).
	wouldDeny bool
}

// admittedKey{a} finds the admittedContext of a's own admission: the
// pointer keeps two different Authenticators' marks apart.
type admittedKey struct{ a *Authenticator }

// String names the context without its values, as the context package's
// own contexts do.
func (c *admittedContext) String() string {
	return fmt.Sprint(c.Context) + ".WithValue(grpcauth admission)"
}

func (c *admittedContext) Value(key any) any {
	switch k := key.(type) {
	case claimsKey:
		return c.claims // zero: no claims (ClaimsFromContext reports none)
	case admittedKey:
		if k.a == c.a {
			return c
		}
	}
	return c.Context.Value(key)
}

// admit returns ctx, the context of a call a has just admitted as method
// (a stream or not), for the handler: with c, unless c is zero, and
// marked (see admitted), wouldDeny saying whether the admission was
// reported as a dry run's would-deny (see startWouldDeny).
func (a *Authenticator) admit(ctx context.Context, method string, stream bool, c verifier.Claims, wouldDeny bool) context.Context {
	return &admittedContext{Context: ctx, a: a, method: method, stream: stream, claims: c, wouldDeny: wouldDeny}
}

// startWouldDeny reports whether ctx descends from the context a handed
// to the handler of a call it admitted in dry run as a would-deny: the
// call's Decision already says that enforcement would refuse it.
func (a *Authenticator) startWouldDeny(ctx context.Context) bool {
	c, ok := ctx.Value(admittedKey{a}).(*admittedContext)
	return ok && c.wouldDeny
}

// admitted reports whether ctx descends from the context a handed to the
// handler of a call of method (stream or not) that a admitted: a's
// interceptors are installed twice on the server (directly and again
// through a middleware bundle, say), and this is the second run on the
// same call, which must pass it on rather than decide it again (a second
// Decision, and a DPoP proof refused as replayed). The first run's
// outcome stands, and so do the checks it wraps around a stream. Only
// server code puts values in a context: nothing a caller sends sets the
// mark, and another Authenticator's mark is not a's.
func (a *Authenticator) admitted(ctx context.Context, method string, stream bool) bool {
	c, ok := ctx.Value(admittedKey{a}).(*admittedContext)
	return ok && c.method == method && c.stream == stream
}
