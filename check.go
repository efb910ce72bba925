package grpcauth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/grpcauth/grpcauth/internal/isnil"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// ServiceInfoProvider lists the services registered on a server.
// *grpc.Server satisfies it.
type ServiceInfoProvider interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}

// ErrNotIntercepted reports a method registered so that grpc-go runs it
// without calling any interceptor, so that no token is checked: its
// descriptor (in Config.Descriptors, or else in the generated code linked
// into the binary) declares a stream, but its grpc.StreamDesc sets neither
// ClientStreams nor ServerStreams. grpc-go (v1.85) serves such a desc as a
// unary method's, which skips the stream interceptors, and being no
// grpc.MethodDesc it runs no unary interceptor either. Generated code
// always sets the flags; a hand-written grpc.ServiceDesc must too.
var ErrNotIntercepted = errors.New("grpcauth: grpc-go runs the method without interceptors")

// ErrUnmatchedName reports a name in Config.Public, Config.Rules or
// Config.DryRunMethods that matches no method or service registered on the
// server: a typo ("/items.v1.ItemService/GetIten"), or a service this
// server does not serve. The entry is dead: the method it meant to name
// gets its rule from the next source (see Config), or is denied. Check
// does not report the names in StandardPublicServices, which a Config
// lists for whichever of those services a server registers.
var ErrUnmatchedName = errors.New("grpcauth: a Config name matches no method or service registered on the server")

// ErrNoDescriptor reports a registered method whose grpcauth option is not
// read because Config.Descriptors does not resolve its descriptor, while
// the generated code linked into the binary (protoregistry.GlobalFiles)
// declares a (grpcauth.v1.method) option for it, or a
// (grpcauth.v1.service) option that would decide its rule. The method then
// gets a Config service rule or Config.DefaultRule the option would
// override, or is denied. A method whose descriptor no resolver knows (a
// hand-written grpc.ServiceDesc) has no option to miss: Check logs it (at
// Warn, once per service, when its rule comes from Config) but does not
// report it.
var ErrNoDescriptor = errors.New("grpcauth: the method's grpcauth option is not read: Config.Descriptors does not resolve its descriptor")

// errNoServer is Check's error for a nil ServiceInfoProvider (or a nil
// *grpc.Server): nothing was checked.
var errNoServer = errors.New("grpcauth: Check needs the server whose methods it checks, not nil")

// MethodProblem is one problem Check found: a registered method that would
// be denied to every caller, would reach its handler unchecked, or would
// not get the rule its grpcauth option declares; or a Config entry that
// matches nothing registered.
type MethodProblem struct {
	// Method is the full method name, "/pkg.Service/Method", of a
	// registered method; or, when ConfigField is set, the name as written
	// in the Config, "/pkg.Service/Method" or "pkg.Service".
	Method string
	// ConfigField is "" for a registered method, or the Config field
	// holding the entry: "Public", "Rules" or "DryRunMethods".
	ConfigField string
	// Err says why. It wraps ErrNoRule, ErrInvalidRule, ErrNotIntercepted
	// or ErrNoDescriptor for a registered method, and ErrUnmatchedName
	// for a Config entry.
	Err error
	// DryRun is set when Err is the method's having no usable rule (it
	// wraps ErrNoRule or ErrInvalidRule, as an ErrNoDescriptor problem
	// does when the hidden option leaves the method no rule) and the
	// method is in dry run (Config.DryRun or DryRunMethods), so that it
	// denies no caller with a valid token: the refusal is only reported.
	// A problem dry run does not relax (a method grpc-go runs unchecked,
	// or one whose service Config.Descriptors failed to resolve, refused
	// with RULES_UNAVAILABLE in dry run too) is never marked.
	DryRun bool
}

// CheckError lists every problem Check found: each registered method that
// has no usable rule, that grpc-go runs without interceptors, or whose
// grpcauth option is not read; and each Config entry that matches no
// registered method or service. It unwraps to each problem's error, so
// errors.Is(err, ErrNoRule), errors.Is(err, ErrInvalidRule),
// errors.Is(err, ErrNotIntercepted), errors.Is(err, ErrNoDescriptor) and
// errors.Is(err, ErrUnmatchedName) work on it; Without drops the problems
// of some kinds.
type CheckError struct {
	// Problems: the registered methods', sorted by method name, then
	// the Config entries', sorted by field and name.
	Problems []MethodProblem
}

// Error lists the problems. Its summary says what the registered
// methods' problems do: a method without a usable rule would be denied to
// every caller, or, in dry run, is not (its refusals are only reported,
// and its line says "(dry run)").
func (e *CheckError) Error() string {
	var methods, names int
	var denied, dryRun, unchecked, unread bool
	for _, p := range e.Problems {
		if p.ConfigField != "" {
			names++
			continue
		}
		methods++
		noRule := noUsableRule(p.Err)
		denied = denied || noRule && !p.DryRun
		dryRun = dryRun || noRule && p.DryRun
		unchecked = unchecked || errors.Is(p.Err, ErrNotIntercepted)
		unread = unread || errors.Is(p.Err, ErrNoDescriptor)
	}
	var parts []string
	if methods > 0 {
		var what []string
		for _, w := range []struct {
			found bool
			what  string
		}{
			{denied, "would be denied to every caller"},
			{dryRun, "have no usable rule, which dry run reports but does not enforce"},
			{unchecked, "would run unchecked"},
			{unread, "would miss the rule of their grpcauth option"},
		} {
			if w.found {
				what = append(what, w.what)
			}
		}
		if len(what) == 0 { // a CheckError of problems Check does not make
			what = append(what, "have problems")
		}
		parts = append(parts, fmt.Sprintf("%d registered method(s) %s", methods, strings.Join(what, ", or ")))
	}
	if names > 0 {
		parts = append(parts, fmt.Sprintf("%d Config name(s) match no registered method or service", names))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "grpcauth: %s:", strings.Join(parts, "; "))
	for _, p := range e.Problems {
		switch {
		case p.ConfigField != "":
			fmt.Fprintf(&b, "\n  Config.%s %q: %v", p.ConfigField, p.Method, p.Err)
		case p.DryRun:
			fmt.Fprintf(&b, "\n  %s (dry run): %v", p.Method, p.Err)
		default:
			fmt.Fprintf(&b, "\n  %s: %v", p.Method, p.Err)
		}
	}
	return b.String()
}

// noUsableRule reports whether a registered method's problem err is its
// having no usable rule (ErrNoRule, ErrInvalidRule): the problem that
// denies the method to every caller, unless it is in dry run.
func noUsableRule(err error) bool {
	return errors.Is(err, ErrNoRule) || errors.Is(err, ErrInvalidRule)
}

// Unwrap returns the problems' errors.
func (e *CheckError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p.Err
	}
	return errs
}

// Methods returns the full names of the registered methods with problems
// (not the Config entries: see Problems).
func (e *CheckError) Methods() []string {
	var ms []string
	for _, p := range e.Problems {
		if p.ConfigField == "" {
			ms = append(ms, p.Method)
		}
	}
	return ms
}

// Without returns e without the problems whose errors wrap any of kinds
// (errors.Is): a *CheckError with the others, or nil when none is left.
// A server that knows a kind of problem is expected, say a proxy whose
// Config names the services it forwards through
// grpc.UnknownServiceHandler, drops it and still refuses to serve on the
// rest:
//
//	err := auth.Check(srv)
//	var ce *grpcauth.CheckError
//	if errors.As(err, &ce) {
//		err = ce.Without(grpcauth.ErrUnmatchedName)
//	}
func (e *CheckError) Without(kinds ...error) error {
	var kept []MethodProblem
	for _, p := range e.Problems {
		if !slices.ContainsFunc(kinds, func(k error) bool { return errors.Is(p.Err, k) }) {
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return &CheckError{Problems: kept}
}

// Check compiles the rule of every method registered on srv (a
// *grpc.Server, after the services are registered and before Serve) and
// returns a *CheckError listing each problem it finds, or nil when there
// is none:
//
//   - a registered method that has no rule (ErrNoRule) or an invalid one
//     (ErrInvalidRule), so that it is denied to every caller (in dry run
//     the refusal of a valid token is only reported: the error says so),
//     including one whose service Config.Descriptors failed to resolve
//     (an error not wrapping protoregistry.NotFound, see
//     DescriptorResolver; not marked dry run, which does not relax it):
//     its problem wraps ErrUnreadableOption and the
//     resolver's error, and Check keeps no rule for it, so that its calls
//     ask the resolver again; Check asks the resolver for the method once
//     more, to tell whether it is a stream (below), and reports a failure
//     then too, though the rule was read;
//   - a registered method grpc-go would run without interceptors
//     (ErrNotIntercepted: a stream registered with neither ClientStreams
//     nor ServerStreams, found by its descriptor, in Config.Descriptors or
//     else in protoregistry.GlobalFiles);
//   - a registered method whose grpcauth option Config.Descriptors hides
//     (ErrNoDescriptor; see there);
//   - a name in Config.Public, Config.Rules or Config.DryRunMethods that
//     matches no method or service registered on srv (ErrUnmatchedName):
//     a typo, which would otherwise leave the method it meant to name to
//     its option, DefaultRule or denial without a word.
//
// Call it at start-up and refuse to serve on error: a gap then shows
// before any caller meets it. Check also warms the rule cache, so no call
// pays for compilation; but it keeps no rule by name for a registered
// method that no descriptor declares (ruled by a Config service entry or
// DefaultRule), whose calls ask Config.Descriptors again, as they would
// without Check, so that a descriptor the resolver gains later has its
// options read. Decisions about every registered method report it as
// known (Decision.UnknownMethod false).
//
// Check knows only the services srv lists. An Authenticator shared by
// several servers that register different services should be checked
// against a ServiceInfoProvider listing all of them; a server that serves
// methods it does not register (grpc.UnknownServiceHandler) drops
// ErrUnmatchedName with CheckError.Without.
//
// A registered service that no descriptor describes at all (a
// hand-written grpc.ServiceDesc, with no .proto and so no options) is no
// error: its methods get their rules from the Config (a service entry or
// DefaultRule), as Config documents and as servers rely on. Check logs
// such methods at Warn, once per service, so that a service whose .proto
// has options but whose descriptor no resolver holds does not pass
// unnoticed. It logs at Warn, too, each registered method whose own rule
// (its option, or a Config entry naming it) leaves out the acr_values,
// max_age_seconds, require_dpop or require_certificate_binding of the rule
// its service would give it: the method's rule replaces the service's
// entirely, as documented, so it is no error, but a rule that forgot to
// repeat them takes tokens the rest of the service refuses (see
// docs/proto-options.md). For that comparison Check reads the service's
// option even when no call does (each of its registered methods has its
// own rule); a custom descriptor that panics as it is read there costs
// the methods their warning, not Check its verdict.
//
// Check takes no context: it waits at most Config.DescriptorTimeout
// (DefaultDescriptorTimeout when unset) for Config.Descriptors and the
// descriptors it returns (their Methods and Options) to answer about each
// method, including for a read of the same service that a call, or an
// earlier Check or Requirement, began and that has not returned. Past it,
// Check returns an error wrapping ErrDescriptorTimeout and naming the
// method, not a *CheckError, checks no method after it, and keeps nothing
// of the unfinished method; refuse to serve on it as on any error. The
// read that did not answer is left to end on its own, on one goroutine
// (see Config.DescriptorTimeout).
//
// A nil srv (or a nil *grpc.Server, a variable left unset) is no server
// to check: Check returns an error saying so, not a *CheckError, and
// checks nothing.
//
// On an Authenticator that New did not build (a nil *Authenticator, or a
// zero Authenticator), Check returns an error saying so, not a
// *CheckError, and checks nothing.
func (a *Authenticator) Check(srv ServiceInfoProvider) error {
	if !a.built() {
		return errNotBuilt
	}
	if srv == nil {
		return errNoServer
	}
	if isnil.Value(srv) {
		return fmt.Errorf("%w: Check was given a nil %T", errNoServer, srv)
	}
	services := srv.GetServiceInfo()
	plans := make(map[string]*methodPlan)
	var problems []MethodProblem
	undescribed := make(map[string][]string) // service: methods without a descriptor, ruled by Config alone
	var dropped []droppedRequirements
	registered := make(map[string]struct{})
	// In a fixed order, so that a Check after one that timed out waits
	// first for the read that did not return, rather than starting
	// another (see boundedRead).
	for _, svc := range slices.Sorted(maps.Keys(services)) {
		for _, m := range services[svc].Methods {
			method := "/" + svc + "/" + m.Name
			registered[method] = struct{}{}
			var c checkedMethod
			if err := a.boundedRead(svc, func(ctx context.Context) { c = a.checkMethod(ctx, method, m) }); err != nil {
				return fmt.Errorf("grpcauth: Check stopped at %s, and checked no method after it: %w", method, err)
			}
			switch c.kept {
			case keptForMethod:
				plans[method] = c.p
			case keptForService:
				a.publishUndescribed(svc)
			}
			if c.undescribed {
				undescribed[svc] = append(undescribed[svc], m.Name)
			}
			if c.dropped.dropped != nil {
				dropped = append(dropped, c.dropped)
			}
			if c.err != nil {
				// Marked whenever the problem is the method's having no
				// usable rule: on its own, or behind an option
				// Config.Descriptors hides (ErrNoDescriptor wrapping it).
				failed := c.p.rulesUnavailable()
				problems = append(problems, MethodProblem{Method: method, Err: c.err, DryRun: c.p.dryRun && noUsableRule(c.err) && !failed})
			}
		}
	}
	a.publishAll(plans)
	a.register(registered)
	a.warnUndescribed(undescribed)
	a.warnDropped(dropped)
	problems = append(problems, a.unmatchedNames(services)...)
	if len(problems) == 0 {
		return nil
	}
	slices.SortFunc(problems, func(x, y MethodProblem) int {
		return cmp.Or(strings.Compare(x.ConfigField, y.ConfigField), strings.Compare(x.Method, y.Method))
	})
	return &CheckError{Problems: problems}
}

// checkedMethod is what Check found of one registered method
// (checkMethod): its plan p and for what p may be kept; the method's
// problem, or nil; whether no descriptor describes the method and its
// rule comes from the Config alone (undescribed); and the requirements of
// its service's rule its own rule drops.
type checkedMethod struct {
	p           *methodPlan
	kept        keptFor
	err         error
	undescribed bool
	dropped     droppedRequirements
}

// checkMethod checks method, registered as m, for Check. ctx bounds its
// waits for the reads of descriptors under way (boundedRead).
func (a *Authenticator) checkMethod(ctx context.Context, method string, m grpc.MethodInfo) (c checkedMethod) {
	p, kept := a.buildPlan(ctx, method)
	c.p, c.kept = p, kept
	failed := p.rulesUnavailable()
	// Nothing is kept but what kept allows, as the calls keep nothing
	// else: neither a resolver's failure, which the method's calls ask
	// about again, nor the rule of a method no descriptor declares (a
	// Config service entry's, or DefaultRule), which its calls look up
	// again, so that a descriptor the resolver gains later is read (its
	// options rank above those rules).
	// Asked once more for what the method is (a stream?), and once only,
	// so that every check below sees one answer. A resolver that fails
	// here, though it answered for the rule, leaves that unknown:
	// reported, not passed.
	sd, md, rerr := a.resolveMethodIn(ctx, method)
	err := a.unintercepted(ctx, method, m, md)
	if err == nil && !failed && rerr != nil {
		err = fmt.Errorf("%s: %w", method, rerr)
	}
	if err == nil && !failed && p.source != SourceConfigMethod && md == nil {
		var described bool
		described, err = a.unreadOption(ctx, method, p)
		c.undescribed = !described && p.rule != nil
	}
	if err == nil && p.rule == nil {
		err = p.err
	}
	c.err = err
	c.dropped = a.droppedByOwnRule(ctx, method, p, sd, md)
	return c
}

// configName is a name in Config.Public, Config.Rules or
// Config.DryRunMethods, and the field holding it.
type configName struct{ name, field string }

// standardPublic holds the names of StandardPublicServices as published,
// whatever a program does to that slice.
var standardPublic = slices.Clone(StandardPublicServices)

// unmatchedNames returns a problem wrapping ErrUnmatchedName for each
// Config name that matches no method or service in services.
func (a *Authenticator) unmatchedNames(services map[string]grpc.ServiceInfo) []MethodProblem {
	var problems []MethodProblem
	for _, n := range a.cfgNames {
		if slices.Contains(standardPublic, n.name) {
			continue
		}
		svc, name, isMethod := splitMethod(n.name)
		if !isMethod {
			svc = n.name
		}
		info, registered := services[svc]
		var err error
		switch {
		case !registered:
			err = fmt.Errorf("%w: no service %s is registered", ErrUnmatchedName, svc)
		case isMethod && !slices.ContainsFunc(info.Methods, func(m grpc.MethodInfo) bool { return m.Name == name }):
			err = fmt.Errorf("%w: service %s registers no method %s", ErrUnmatchedName, svc, name)
		default:
			continue
		}
		problems = append(problems, MethodProblem{Method: n.name, ConfigField: n.field, Err: err})
	}
	return problems
}

// unreadOption looks for the descriptor of method, which
// Config.Descriptors does not resolve, in protoregistry.GlobalFiles. It
// reports whether it found the descriptor there, and returns an error
// wrapping ErrNoDescriptor when that descriptor gives the method an option
// that would decide its rule in place of p's (and wrapping p.err too when
// p has no rule).
func (a *Authenticator) unreadOption(ctx context.Context, method string, p *methodPlan) (described bool, err error) {
	md := a.linkedMethodDescriptor(ctx, method)
	if md == nil {
		return false, nil
	}
	sd := md.Parent().(protoreflect.ServiceDescriptor)
	var opt string
	switch {
	case hasRuleOption(ctx, md, grpcauthv1.E_Method):
		opt = "(grpcauth.v1.method)"
	case p.source != SourceConfigService && hasRuleOption(ctx, sd, grpcauthv1.E_Service):
		opt = "(grpcauth.v1.service)"
	default:
		return true, nil
	}
	const unseen = "%w, but the generated code linked into this binary (file %s in protoregistry.GlobalFiles) gives it a %s option, which grpcauth does not see"
	if p.rule == nil {
		return true, fmt.Errorf(unseen+"; add the file to Config.Descriptors. Without it: %w", ErrNoDescriptor, filePath(sd), opt, p.err)
	}
	return true, fmt.Errorf(unseen+", so the method gets the %s instead; add the file to Config.Descriptors", ErrNoDescriptor, filePath(sd), opt, p.source)
}

// linkedMethodDescriptor returns the descriptor of method in
// protoregistry.GlobalFiles, the generated code linked into the binary,
// when Config.Descriptors is another resolver; else, or when GlobalFiles
// has none, nil.
func (a *Authenticator) linkedMethodDescriptor(ctx context.Context, method string) protoreflect.MethodDescriptor {
	if a.descriptors == DescriptorResolver(protoregistry.GlobalFiles) {
		return nil
	}
	svc, name, ok := splitMethod(method)
	if !ok {
		return nil
	}
	d, _ := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if sd, _ := d.(protoreflect.ServiceDescriptor); sd != nil {
		if ms, err := methods(ctx, sd); err == nil {
			return ms.ByName(protoreflect.Name(name))
		}
	}
	return nil
}

// hasRuleOption reports whether d sets the option xt, readable or not.
func hasRuleOption(ctx context.Context, d protoreflect.Descriptor, xt protoreflect.ExtensionType) bool {
	pb, err := ruleOption(ctx, d, xt)
	return pb != nil || err != nil
}

// warnUndescribed logs, once per service, the registered methods that no
// descriptor describes and whose rules therefore come from the Config
// alone.
func (a *Authenticator) warnUndescribed(undescribed map[string][]string) {
	for _, svc := range slices.Sorted(maps.Keys(undescribed)) {
		methods := undescribed[svc]
		slices.Sort(methods)
		a.logger.Warn("grpcauth: registered methods have no descriptor, so no grpcauth option is read for them and their rules come from the Config (a service entry or DefaultRule); give Config.Descriptors their descriptors if their .proto has options",
			"service", svc, "methods", methods)
	}
}

// droppedRequirements lists the requirements of the rule a method would
// get from its service that the method's own rule leaves out.
type droppedRequirements struct {
	method      string
	source      Source   // of the method's own rule
	serviceRule Source   // of its service's rule
	dropped     []string // the service rule's fields, in the rule's order
}

// droppedByOwnRule returns the step-up (acr_values, max_age_seconds) and
// proof-of-possession (require_dpop, require_certificate_binding)
// requirements of the rule method would get from its service that p, the
// method's own rule (a Config entry naming it, or its option), leaves
// out: the method's rule replaces its service's entirely, so a method
// rule that does not repeat them takes tokens the service's rule would
// refuse. A requirement the method's rule changes rather than drops is
// not listed (other acr_values, another max_age_seconds, the other kind
// of proof of possession), nor are those of a service rule that a public
// method rule, needing no token at all, replaces. dropped is nil when
// nothing is dropped. sd and md are the descriptors of the method's
// service and of the method in Config.Descriptors, each nil when it has
// none.
func (a *Authenticator) droppedByOwnRule(ctx context.Context, method string, p *methodPlan, sd protoreflect.ServiceDescriptor, md protoreflect.MethodDescriptor) droppedRequirements {
	d := droppedRequirements{method: method, source: p.source}
	own := p.rule
	if own == nil || own.public || (p.source != SourceConfigMethod && p.source != SourceMethodOption) {
		return d
	}
	r, src, err := a.comparedServiceRule(ctx, method, sd, md)
	if r == nil || err != nil {
		return d
	}
	d.serviceRule = src
	var ownACR []string
	var ownMaxAge time.Duration
	if own.stepUp != nil {
		ownACR, ownMaxAge = own.stepUp.acr, own.stepUp.maxAge
	}
	if s := r.stepUp; s != nil {
		if len(s.acr) > 0 && len(ownACR) == 0 {
			d.dropped = append(d.dropped, "acr_values")
		}
		if s.maxAge > 0 && ownMaxAge == 0 {
			d.dropped = append(d.dropped, "max_age_seconds")
		}
	}
	possession := own.dpop || own.bound
	if r.bound && !possession {
		d.dropped = append(d.dropped, "require_certificate_binding")
	}
	if r.dpop && !possession {
		d.dropped = append(d.dropped, "require_dpop")
	}
	return d
}

// comparedServiceRule returns the rule method would get from its service
// (serviceRule), for droppedByOwnRule, or an error when reading it
// panics. Its service's option is read here even when no call of the
// service's registered methods ever reads it (each has its own rule): a
// custom descriptor that panics as it is read (a resolver's bug, which a
// call that reads it takes to the server's recovery) costs the method
// Check's warning, not the server its start-up. sd and md are the
// descriptors of the service and the method as Check resolved them (each
// nil when there is none): the resolver is not asked again, so the warning
// does not hang on another answer; and the service's option is read from
// sd, the descriptor findRule reads it from for the calls, not from the
// method's Parent, which a custom resolver's method may give as another
// service (or none).
func (a *Authenticator) comparedServiceRule(ctx context.Context, method string, sd protoreflect.ServiceDescriptor, md protoreflect.MethodDescriptor) (r *compiledRule, src Source, err error) {
	defer func() {
		if recover() != nil {
			r, src, err = nil, SourceNone, errors.New("grpcauth: reading the service's rule panicked")
		}
	}()
	svc, _, _ := splitMethod(method)
	return a.serviceRule(ctx, svc, sd, md)
}

// warnDropped logs, at Warn and sorted by method, each method whose own
// rule drops requirements of its service's rule (droppedByOwnRule).
func (a *Authenticator) warnDropped(dropped []droppedRequirements) {
	slices.SortFunc(dropped, func(x, y droppedRequirements) int { return strings.Compare(x.method, y.method) })
	for _, d := range dropped {
		a.logger.Warn("grpcauth: a method's own rule replaces its service's rule entirely and leaves out the service rule's step-up or proof-of-possession requirements, so the method takes tokens the service's other methods refuse; repeat them in the method's rule unless that is meant",
			"method", d.method, "rule", d.source.String(), "service_rule", d.serviceRule.String(), "dropped", d.dropped)
	}
}

// unintercepted returns an error wrapping ErrNotIntercepted when m, as
// registered, is a stream (by its descriptor in Config.Descriptors, or
// else in the linked generated code) that grpc-go runs without
// interceptors, or nil. A method its descriptor declares unary, or that
// has no descriptor in either, cannot be told apart from a grpc.MethodDesc
// here. md is the method's descriptor in Config.Descriptors, or nil.
func (a *Authenticator) unintercepted(ctx context.Context, method string, m grpc.MethodInfo, md protoreflect.MethodDescriptor) error {
	if m.IsClientStream || m.IsServerStream {
		return nil
	}
	if md == nil {
		// Config.Descriptors lacks it: the linked generated code still
		// says what the method is.
		md = a.linkedMethodDescriptor(ctx, method)
	}
	if md == nil || (!md.IsStreamingClient() && !md.IsStreamingServer()) {
		return nil
	}
	return fmt.Errorf("%w: its descriptor declares a stream, but its grpc.StreamDesc sets neither ClientStreams nor ServerStreams, so grpc-go serves it like a unary method and calls no interceptor (no token is checked); set ClientStreams and ServerStreams as the descriptor declares them", ErrNotIntercepted)
}
