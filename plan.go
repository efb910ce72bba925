package grpcauth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/isnil"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// ErrNoRule reports a method with no rule from any source and no
// Config.DefaultRule. Such a method is denied.
var ErrNoRule = errors.New("grpcauth: method has no access rule")

// Source says where a method's rule came from.
type Source int

// The sources of a rule, in order of precedence.
const (
	// SourceNone: no rule; the method is denied.
	SourceNone Source = iota
	// SourceConfigMethod: Config.Rules or Config.Public naming the method.
	SourceConfigMethod
	// SourceMethodOption: the method's (grpcauth.v1.method) option.
	SourceMethodOption
	// SourceConfigService: Config.Rules or Config.Public naming the service.
	SourceConfigService
	// SourceServiceOption: the service's (grpcauth.v1.service) option (for
	// a method the service's descriptor declares).
	SourceServiceOption
	// SourceDefault: Config.DefaultRule.
	SourceDefault
)

// String returns the source's name, e.g. "method option".
func (s Source) String() string {
	switch s {
	case SourceConfigMethod:
		return "config (method)"
	case SourceMethodOption:
		return "method option"
	case SourceConfigService:
		return "config (service)"
	case SourceServiceOption:
		return "service option"
	case SourceDefault:
		return "default rule"
	default:
		return "none"
	}
}

// methodPlan is the compiled decision input for one full method name.
type methodPlan struct {
	rule *compiledRule // nil: denied (err says why)
	cond Condition     // the rule's condition compiled for this method, or nil
	// condAtStart: cond does not read the request (RequestReader), so a
	// stream checks it as it opens (and at each re-verification of its
	// token) rather than per message
	condAtStart bool
	source      Source
	err         error // wraps ErrNoRule or ErrInvalidRule when rule is nil
	dryRun      bool  // rule failures are reported, not enforced
	// unknown: neither the descriptors, the configuration nor the server
	// (Check) know the method, so its name is the caller's choice
	unknown bool
	// ended: the call's context ended while it waited for another call's
	// read of the service's option, or for the reads of options under way
	// as its own returned (see options); err wraps errWaitEnded and the
	// context's error. The plan is that call's alone, never kept
	ended bool
	// shared: one of the plans shared by the calls of many methods
	// (sharedPlans), complete and read-only: never written to
	shared bool
	// gen: partialOptions.gen as the plan's build began (buildPlan). A
	// plan kept is dropped once that has moved on (fresh): its options
	// may have been read partial, in the gap before protobuf-go's failed
	// decoding of them was recorded under another descriptor
	gen uint64
	// counted: kept within the bound on a custom resolver's methods
	// (a.resolverPlans; see publish)
	counted bool
}

// fresh reports whether p was built since partialOptions last gained
// options that protobuf-go failed to decode (methodPlan.gen), so that it
// may be kept or used as kept.
func (p *methodPlan) fresh() bool {
	return p.gen == partialOptions.gen.Load()
}

// sharedPlans are the plans, made once by New, of every method that no
// descriptor declares (its service has none, or its service's declares
// no such method) and whose rule is a Config service entry's or the
// DefaultRule, when that rule has no condition: such a plan does not
// depend on the method's name, but for dry run (DryRunMethods may name
// the method), so its calls share one rather than build one each, and
// nothing is kept per name, which the caller chooses (through
// grpc.UnknownServiceHandler). New makes them for each Config service
// entry and the DefaultRule, so they hold no name a caller sent. The
// methods of a service whose descriptor's methods cannot be built share
// plans too (unbuiltPlans).
type sharedPlans struct {
	// name is the service's name as the Config spells it (a string of
	// the Config's, not of a call), or a copy of the name of a service
	// whose methods cannot be built when its plans are kept; "" for the
	// DefaultRule's
	name  string
	plans [2]*methodPlan // not in dry run, and in dry run
}

// newSharedPlans returns the shared plans of rule r from src, for the
// service name ("" for the DefaultRule).
func newSharedPlans(name string, r *compiledRule, src Source) *sharedPlans {
	s := &sharedPlans{name: name}
	for i := range s.plans {
		s.plans[i] = &methodPlan{rule: r, source: src, dryRun: i == 1, unknown: true, shared: true}
	}
	return s
}

// of returns the plan in dry run or not.
func (s *sharedPlans) of(dryRun bool) *methodPlan {
	if dryRun {
		return s.plans[1]
	}
	return s.plans[0]
}

// makeSharedPlans makes the shared plans of the Config service entries and
// the DefaultRule whose rules have no condition (a condition compiles
// only against a method's descriptor). New calls it once the rules are
// compiled.
func (a *Authenticator) makeSharedPlans() {
	for name, r := range a.cfgRules {
		if r.condition == "" && !strings.HasPrefix(name, "/") {
			if a.svcPlans == nil {
				a.svcPlans = make(map[string]*sharedPlans)
			}
			a.svcPlans[name] = newSharedPlans(name, r, SourceConfigService)
		}
	}
	if r := a.defaultRule; r != nil && r.condition == "" {
		a.defaultPlans = newSharedPlans("", r, SourceDefault)
	}
}

// lookup returns the plan of method. The hot path, a method already
// compiled, is one load of the published map, one map lookup and one
// atomic load (the plan is still fresh: methodPlan.gen), without lock or
// allocation; a method not yet there is looked up among the plans
// shared by the methods of a service no descriptor describes
// (undescribedPlan, also without a lock of grpcauth's or an allocation,
// asking Config.Descriptors whether it describes the service now: a
// failure denies the call without asking again), then
// in the plans
// published since (under a.mu), or else compiled and, when it is a real
// method (known to the descriptors or named in the configuration),
// published for later calls, or, when it is any method of such a service,
// kept for the service (keptFor). A call whose context ends while its
// plan waits for another call's read of the service's option, or for the
// other reads of options under way as its own returned (see options),
// gets a plan of its own that says so (methodPlan.ended); lookup, for a
// caller without a call, waits for the reads.
func (a *Authenticator) lookup(method string) *methodPlan {
	return a.lookupCall(context.Background(), method)
}

// lookupCall is lookup for a call whose context is ctx.
func (a *Authenticator) lookupCall(ctx context.Context, method string) *methodPlan {
	if p, ok := a.publishedPlan(method); ok {
		return p
	}
	p, rerr := a.undescribedPlan(method)
	if p != nil {
		// a.plan again: a plan published for method before its service's
		// plan was kept is merged into a.plan before that is stored (see
		// publishUndescribed), perhaps since the load above.
		if q, ok := (*a.plan.Load())[method]; ok && q.fresh() {
			return q
		}
		return p
	}
	if p, ok := a.pendingPlan(method); ok {
		return p
	}
	if rerr != nil {
		// The resolver failed as undescribedPlan asked it: the call is
		// denied as buildPlan would deny it, without asking again.
		p, _ = a.finishPlan(ctx, resolverFailedPlan(method, rerr), method, false, false)
		return p
	}
	p, kept := a.buildPlan(ctx, method)
	switch kept {
	case keptForMethod:
		// Known to a custom resolver, which may describe any name a
		// caller sends, rather than named in the Config or registered
		// on a server Check found: kept within a bound (publish).
		_, named := a.cfgRules[method]
		p = a.publish(method, p, !named && !a.registeredMethod(method) && a.customResolver())
	case keptForService:
		svc, _, _ := splitMethod(method)
		a.publishUndescribed(svc)
	}
	return p
}

// publishedPlan returns the plan published in a.plan for method, if it is
// still fresh: lookup's hot path, which reads no descriptor.
func (a *Authenticator) publishedPlan(method string) (*methodPlan, bool) {
	p, ok := (*a.plan.Load())[method]
	return p, ok && p.fresh()
}

// lookupBounded is lookup for Requirement, which takes no context: a plan
// not yet published is looked up on a goroutine of its own, and waited
// for at most Config.DescriptorTimeout (boundedRead); past that, err wraps
// ErrDescriptorTimeout and there is no plan.
func (a *Authenticator) lookupBounded(method string) (*methodPlan, error) {
	if p, ok := a.publishedPlan(method); ok {
		return p, nil
	}
	svc, _, _ := splitMethod(method) // "" for a name that is no method's, which reads no descriptor
	var p *methodPlan                // written by the read, read only once it returned in time
	if err := a.boundedRead(svc, func(ctx context.Context) { p = a.lookupCall(ctx, method) }); err != nil {
		return nil, err
	}
	return p, nil
}

// registeredMethod reports whether Check found method registered on a
// server: its plan, which Check keeps whatever the bound on a custom
// resolver's methods, is kept so when built again (after a failed
// decoding of options dropped the plans kept, methodPlan.gen).
func (a *Authenticator) registeredMethod(method string) bool {
	r := a.registered.Load()
	if r == nil {
		return false
	}
	_, ok := (*r)[method]
	return ok
}

// keptFor says for what a plan buildPlan returns may be kept.
type keptFor int

const (
	// keptForCall: for this call only. The method's name is the
	// caller's choice (no descriptor or Config entry knows it), and its
	// plan depends on it, or keeping it would let callers grow a map
	// with made-up names; or the plan is the call's own (its context
	// ended while it waited, methodPlan.ended).
	keptForCall keptFor = iota
	// keptForMethod: for the method, by its name, which the descriptors
	// or the Config know.
	keptForMethod
	// keptForService: for every method of the service, by the service's
	// name: the service has a Config entry and no descriptor (a
	// hand-written grpc.ServiceDesc), so that each of its methods that
	// no Config entry names gets the same plan, the service entry's
	// shared one (undescribedPlan), and the service names that can be
	// kept are the Config's.
	keptForService
)

// undescribedPlan returns the plan kept for the service of method
// (keptForService: its Config entry's shared plan, in dry run when
// DryRunMethods names the method), or nil when none applies to method: no
// plan is kept for its service, a Config entry in Rules or Public names
// the method (whose plan is kept by method name), or Config.Descriptors
// now describes the service or fails. A failure (an error not wrapping
// protoregistry.NotFound, see resolveService) is returned as err, so that
// the call is denied without asking the resolver a second time
// (lookupCall). The resolver is asked on each call, as findRule asks it:
// a service it did not describe on its first call (it had not yet been
// given the file) is not taken to have no descriptor for good, which
// would leave a method option stricter than the Config service entry
// (ranking above it) unread. Only a service a Config entry names is asked
// about here, never a name the caller chose, and by the Config's string
// for it, not by a part of the caller's method (see resolveService).
func (a *Authenticator) undescribedPlan(method string) (_ *methodPlan, err error) {
	kept := a.undescribed.Load()
	if kept == nil {
		return nil, nil
	}
	// splitMethod's checks, but the service name's: kept holds only
	// valid ones.
	rest, ok := strings.CutPrefix(method, "/")
	if !ok {
		return nil, nil
	}
	svc, name, _ := strings.Cut(rest, "/")
	s := (*kept)[svc]
	if s == nil || !protoreflect.Name(name).IsValid() {
		return nil, nil
	}
	if _, ok := a.cfgRules[method]; ok {
		return nil, nil
	}
	sd, err := a.resolveName(s.name)
	if sd != nil || err != nil {
		// Described since the plan was kept (a resolver that gained the
		// file): the descriptor's options rank above the Config service
		// entry for the methods they rule. Or the resolver failed,
		// which is no answer that the service is still undescribed: the
		// call is denied.
		return nil, err
	}
	return s.of(a.inDryRunOf(method, svc)), nil
}

// publishUndescribed keeps the shared plans of the Config entry of svc
// (a.svcPlans) as the plans of its methods (keptForService), unless they
// were kept first. The map is copied whole (copy-on-write): it holds at
// most one entry per Config service entry, and gains each once (again
// only after forgetUndescribed drops it). No plan of a method of a kept
// service waits in a.pending (here, a merge, and in publish,
// forgetUndescribed): lookupCall reads a.pending after the kept plans, so
// a method whose plan was published from its descriptor would otherwise
// get its service's kept plan, without the option's scopes or condition,
// whenever Config.Descriptors fails, until the next merge.
func (a *Authenticator) publishUndescribed(svc string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var old map[string]*sharedPlans
	if kept := a.undescribed.Load(); kept != nil {
		old = *kept
	}
	s := a.svcPlans[svc]
	if _, ok := old[svc]; ok || s == nil {
		return
	}
	if len(a.pending) > 0 {
		// lookupCall reads the kept service plans before a.pending: a
		// method of svc whose plan was published from its descriptor
		// (before a resolver's failure made svc look undescribed) is
		// moved to a.plan, read before them, so that it keeps its plan.
		a.merge(nil)
	}
	next := make(map[string]*sharedPlans, len(old)+1)
	maps.Copy(next, old)
	next[s.name] = s // the Config's string, not the call's
	a.undescribed.Store(&next)
}

// The plans are kept in two maps, so that a method's first call costs
// O(1) amortized however many methods were compiled before it, while a
// call of a compiled method reads without locking:
//
//   - a.plan, read-only once stored, read by lookup without a lock;
//   - a.pending, under a.mu, the plans published since a.plan was stored.
//
// Each publish, and each lookup answered from a.pending, adds one to
// a.debt; when a.debt reaches len(*a.plan), the two maps are merged into
// a new a.plan (copy-on-write: readers see the old map or the new one)
// and a.pending empties. A merge copies len(*a.plan) + len(a.pending)
// entries, at most twice a.debt: the first calls, and the calls answered
// from a.pending, copy fewer than two entries each in all (N first calls
// with no other call between them, fewer than 2N; each called twice in a
// row, fewer than 4N); and a method's calls take the lock only until the
// next merge, which its own calls bring about within len(*a.plan) of them.
// Check publishes its plans in one merge (publishAll), so none of its
// methods' calls takes the lock.
// (a.plan used to be copied whole on every publish: N methods cost O(N²)
// over their first calls, 14 s of CPU for 20,000.) Only known methods are
// published (buildPlan), so callers cannot grow either map with made-up
// names.

// pendingPlan returns the plan published for method, which lookup did not
// find in a.plan: in a.pending, or in a.plan when a merge moved it there
// since lookup read it (rather than have lookup compile it again).
func (a *Authenticator) pendingPlan(method string) (*methodPlan, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.planLocked(method)
}

// planLocked returns the plan published for method, if any, adding to
// a.debt when it is found in a.pending. A plan found that is no longer
// fresh is none: the maps are merged, which drops every such plan. a.mu
// must be held.
func (a *Authenticator) planLocked(method string) (*methodPlan, bool) {
	p, ok := (*a.plan.Load())[method]
	if !ok {
		if p, ok = a.pending[method]; ok && p.fresh() {
			a.owe()
		}
	}
	if ok && !p.fresh() {
		a.merge(nil)
		return nil, false
	}
	return p, ok
}

// publish publishes p as the plan of method, unless a plan was published
// for it first (concurrent first calls, or Check), and returns the plan
// published. The map keeps a copy of method: it may be a substring of a
// larger string the caller sent (grpc.Server.ServeHTTP names the method by
// the request's URL.Path, which shares the :path's query), and the map
// keeps it for the Authenticator's lifetime.
//
// A plan a call found through a custom resolver's descriptor (bounded),
// which may describe any name a caller sends, is published only while
// fewer than maxResolverPlans such plans are, and only under a name of
// at most maxUnbuiltName bytes (gRPC admits a :path of 16 MiB): past
// that, p is its call's alone, and its method is reported as unknown
// (methodPlan.unknown), so that its decision record holds the name
// clipped and a metric does not take it for a label. The plans Check
// publishes (publishAll), of the methods a server registers, are not
// bounded.
func (a *Authenticator) publish(method string, p *methodPlan, bounded bool) *methodPlan {
	a.mu.Lock()
	defer a.mu.Unlock()
	if q, ok := a.planLocked(method); ok {
		return q
	}
	if !p.fresh() {
		return p // built from options that may have been read partial
	}
	if bounded {
		if len(method) > maxUnbuiltName || a.resolverPlans >= maxResolverPlans {
			p.unknown = true // not yet seen by any other call
			return p
		}
		a.resolverPlans++
		p.counted = true
	}
	if a.pending == nil {
		a.pending = make(map[string]*methodPlan)
	}
	a.pending[strings.Clone(method)] = p
	a.owe()
	a.forgetUndescribed(method)
	return p
}

// forgetUndescribed drops the plan kept for the service of method, just
// published, when method's plan came from the service's descriptor
// (Config.Descriptors describes the service after all): lookupCall reads
// the kept plans before a.pending, where method's plan may wait, and must
// not find the service's plan for it (see publishUndescribed). A method a
// Config entry names leaves the kept plan alone: undescribedPlan never
// gives it that plan. The map is copied (copy-on-write), as small as
// publishUndescribed keeps it; should the resolver fail again, the next
// call of another of the service's methods keeps a plan for it again.
// a.mu must be held.
func (a *Authenticator) forgetUndescribed(method string) {
	kept := a.undescribed.Load()
	if kept == nil {
		return
	}
	svc, _, _ := splitMethod(method)
	if _, ok := (*kept)[svc]; !ok {
		return
	}
	if _, named := a.cfgRules[method]; named {
		return
	}
	next := maps.Clone(*kept)
	delete(next, svc)
	a.undescribed.Store(&next)
}

// publishAll publishes plans (Check's) in one merge, so that no call of
// their methods takes the lock, keeping any plan published first.
func (a *Authenticator) publishAll(plans map[string]*methodPlan) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.merge(plans)
}

// owe adds one to a.debt, and merges a.pending into a.plan when the debt
// reaches the size of a.plan. a.mu must be held.
func (a *Authenticator) owe() {
	a.debt++
	if a.debt >= len(*a.plan.Load()) {
		a.merge(nil)
	}
}

// merge stores as a.plan a new map of a.plan, a.pending and those of plans
// for methods in neither, and empties a.pending. Plans no longer fresh
// are left out (and a.resolverPlans counts those kept). a.mu must be held.
func (a *Authenticator) merge(plans map[string]*methodPlan) {
	old := *a.plan.Load()
	next := make(map[string]*methodPlan, len(old)+len(a.pending)+len(plans))
	a.resolverPlans = 0
	for _, m := range []map[string]*methodPlan{plans, a.pending, old} { // plans first, so that a plan published before wins
		for method, p := range m {
			if p.fresh() {
				next[method] = p
			}
		}
	}
	for _, p := range next {
		if p.counted {
			a.resolverPlans++
		}
	}
	a.copied += len(next)
	a.plan.Store(&next)
	a.pending, a.debt = nil, 0
}

// buildPlan builds the plan of method: its rule (findRule) and whether it
// is in dry run. kept says for what the plan may be kept: for the method
// when it exists in the descriptors or is named in the configuration, for
// its service when it is a method of a service that only a Config entry
// knows (keptForService), or else for this call only, so that a flood of
// made-up method names (reachable through grpc.UnknownServiceHandler)
// cannot grow a map without bound. A plan whose call's context (ctx)
// ended while it waited (methodPlan.ended), or whose descriptor the
// resolver failed to resolve (errResolverFailed), is for that call only.
func (a *Authenticator) buildPlan(ctx context.Context, method string) (p *methodPlan, kept keptFor) {
	gen := partialOptions.gen.Load() // before any option is read
	p, known, undescribed := a.findRule(ctx, method)
	p, kept = a.finishPlan(ctx, p, method, known, undescribed)
	if !p.shared {
		p.gen = gen // p is this call's own until kept
	}
	return p, kept
}

// finishPlan completes p, the plan findRule found for method (with known
// and undescribed, see there): it compiles the rule's condition and marks
// dry run, and says for what p may be kept (buildPlan).
func (a *Authenticator) finishPlan(ctx context.Context, p *methodPlan, method string, known, undescribed bool) (_ *methodPlan, kept keptFor) {
	if p.shared {
		// Complete, and shared with other calls: not written to. Kept
		// for the service as below (a shared plan has no condition).
		if _, named := a.dryRunNames[method]; undescribed && !named {
			kept = keptForService
		}
		return p, kept
	}
	a.compileCondition(ctx, p, method)
	p.dryRun = a.inDryRun(method)
	p.unknown = !known
	switch {
	case p.ended, p.rulesUnavailable():
	case known:
		kept = keptForMethod
	case undescribed && p.rule != nil && p.rule.condition == "":
		// The same plan for every name a.dryRunNames does not hold
		// (undescribedPlan): a condition, without a descriptor, fails
		// to compile with an error naming the method.
		if _, named := a.dryRunNames[method]; !named {
			kept = keptForService
		}
	}
	return p, kept
}

// inDryRun reports whether method is in dry run: Config.DryRun, or
// Config.DryRunMethods naming the method or its service.
func (a *Authenticator) inDryRun(method string) bool {
	svc, _, _ := splitMethod(method) // "" when method is no method name
	return a.inDryRunOf(method, svc)
}

// inDryRunOf is inDryRun for method of the service svc, split and checked
// by the caller ("" for none).
func (a *Authenticator) inDryRunOf(method, svc string) bool {
	if a.dryRun {
		return true
	}
	if _, ok := a.dryRunNames[method]; ok {
		return true
	}
	_, ok := a.dryRunNames[svc]
	return ok
}

// findRule finds the rule of method, following the precedence documented
// on Config, and compiles it when it comes from an option. known reports
// whether the method exists in the descriptors or is named in the
// configuration; undescribed, whether its rule is its service's Config
// entry and no descriptor describes the service (see buildPlan). ctx is
// that of the call the rule is for (see serviceOption).
func (a *Authenticator) findRule(ctx context.Context, method string) (p *methodPlan, known, undescribed bool) {
	svc, name, ok := splitMethod(method)
	if !ok {
		return &methodPlan{err: fmt.Errorf("%w: %q is not a full method name (/package.Service/Method)", ErrNoRule, clipLogged(method))}, false, false
	}
	if r, ok := a.cfgRules[method]; ok {
		return &methodPlan{rule: r, source: SourceConfigMethod}, true, false
	}
	sd, err := a.resolveService(svc)
	if err != nil {
		// Not kept (known false), as a failed resolve is no answer: the
		// method is denied for this call, not ruled as if undescribed.
		return resolverFailedPlan(method, err), false, false
	}
	var md protoreflect.MethodDescriptor
	if sd != nil {
		ms, err := methods(ctx, sd)
		if errors.Is(err, errWaitEnded) {
			// ctx ended as another build of the file was under way: no
			// answer, the call's own plan (methodPlan.ended).
			return &methodPlan{err: fmt.Errorf("%s: %w", clipLogged(method), err), ended: true}, false, false
		}
		if err != nil {
			// Not kept by name (known false): any name on the service
			// gets here. Its plan is the service's (unbuiltPlans).
			return a.unbuiltPlans(svc, sd, err).of(a.inDryRunOf(method, svc)), false, false
		}
		md = ms.ByName(protoreflect.Name(name))
	}
	known = md != nil
	if md != nil {
		if pb, err := ruleOption(ctx, md, grpcauthv1.E_Method); pb != nil || err != nil {
			return a.optionPlan(pb, err, SourceMethodOption, method), known, false
		}
	}
	if r, src, err := a.serviceRule(ctx, svc, sd, md); src != SourceNone {
		if s := a.svcPlans[svc]; md == nil && s != nil {
			// The Config service entry's rule, for a method no
			// descriptor declares: its shared plan.
			return s.of(a.inDryRunOf(method, svc)), known, sd == nil
		}
		return optionPlanOf(r, err, src, method), known, src == SourceConfigService && sd == nil
	}
	if a.defaultRule != nil {
		if md == nil && a.defaultPlans != nil {
			return a.defaultPlans.of(a.inDryRunOf(method, svc)), known, false
		}
		return &methodPlan{rule: a.defaultRule, source: SourceDefault}, known, false
	}
	if sd != nil && md == nil {
		return &methodPlan{err: fmt.Errorf("%w: the descriptor of %s declares no method %s, so its (grpcauth.v1.service) option does not apply, and no Config entry or DefaultRule does", ErrNoRule, clipLogged(svc), clipLogged(name))}, known, false
	}
	return &methodPlan{err: fmt.Errorf("%w: %s has no (grpcauth.v1.method) option, its service no (grpcauth.v1.service) option, and no Config entry or DefaultRule applies", ErrNoRule, clipLogged(method))}, known, false
}

// serviceRule returns the rule a method of the service svc gets from its
// service (steps 3 and 4 of Config's precedence) and its source, or
// SourceNone when there is none; err says why a service option is
// unusable. sd is the service's descriptor and md the method's, each nil
// when there is none: the service option is the rule of the service's
// declared methods, so that a name its descriptor does not declare
// (reachable only through grpc.UnknownServiceHandler, say a newer
// backend's method with a stricter rule of its own) does not inherit it.
// ctx is that of the call the rule is for (see serviceOption).
func (a *Authenticator) serviceRule(ctx context.Context, svc string, sd protoreflect.ServiceDescriptor, md protoreflect.MethodDescriptor) (_ *compiledRule, _ Source, err error) {
	if r, ok := a.cfgRules[svc]; ok {
		return r, SourceConfigService, nil
	}
	if md != nil {
		if o := a.serviceOption(ctx, sd); o.present {
			return o.rule, SourceServiceOption, o.err
		}
	}
	return nil, SourceNone, nil
}

// optionPlan compiles a rule read from an option, or reports why the option
// could not be read (err from ruleOption): an unreadable option denies the
// method rather than falling through to a wider rule.
func (a *Authenticator) optionPlan(pb *grpcauthv1.Rule, err error, src Source, method string) *methodPlan {
	var r *compiledRule
	if err == nil {
		r, err = a.compileServerRule(pb)
	}
	return optionPlanOf(r, err, src, method)
}

// optionPlanOf is the plan of method for the rule r compiled from an
// option, or for err, why the option is unusable, naming method clipped:
// a resolver that describes any name a caller sends makes any name a
// method with options. An err wrapping errWaitEnded (the call's context
// ended while it waited for another read) makes the plan the call's own
// (methodPlan.ended).
func optionPlanOf(r *compiledRule, err error, src Source, method string) *methodPlan {
	if err != nil {
		return &methodPlan{source: src, err: fmt.Errorf("%s (%s): %w", clipLogged(method), src, err), ended: errors.Is(err, errWaitEnded)}
	}
	return &methodPlan{rule: r, source: src}
}

// svcOption is a service's (grpcauth.v1.service) option as read and
// compiled: present reports the option is set; then rule is its compiled
// rule, or err says why it is unusable.
type svcOption struct {
	present bool
	rule    *compiledRule
	err     error
}

// svcRead is one read of a service's option, from the descriptor sd
// named name: done is closed when it ends, with o set and ok true, or with
// ok false when the read panicked.
type svcRead struct {
	sd   protoreflect.ServiceDescriptor
	name protoreflect.FullName
	gen  uint64 // partialOptions.gen as the read began: see methodPlan.gen
	done chan struct{}
	o    svcOption
	ok   bool
}

// serviceOption reads and compiles the (grpcauth.v1.service) option of sd
// once for all the service's methods, rather than once per method: a
// service of thousands of methods whose option repeats a scope a million
// times (a valid rule, its scopes made unique) would otherwise take
// minutes and gigabytes to check. Concurrent first calls of the service's
// methods share one read: the first registers it in a.svcRules and reads
// the option without a lock held (the descriptor's Options is the
// resolver's code), and the others wait for it. A read is kept by service name with the
// descriptor it was read from, so that a resolver that builds a service's
// descriptor afresh gets the option read afresh, and the map holds one
// entry per service at most. So does a resolver that describes a service
// with a value Go cannot compare (sameDescriptor): each call then reads
// its own. A read that panics is forgotten, and those waiting for it read
// the option again themselves. A caller whose ctx ends while it waits
// stops waiting: it gets an option whose err wraps errWaitEnded and
// ctx's error (the read goes on for the others), so that a resolver
// whose Options does not return holds a call only as long as the call
// lasts; the call that reads has no such way out of the resolver's
// code. No descriptor method is called with a.svcMu held (its name is
// asked for first), so that one that panics cannot leave the lock held.
func (a *Authenticator) serviceOption(ctx context.Context, sd protoreflect.ServiceDescriptor) svcOption {
	name := sd.FullName()
	for {
		a.svcMu.Lock()
		r, ok := a.svcRules[name]
		if gen := partialOptions.gen.Load(); !ok || !sameDescriptor(r.sd, sd) || r.gen != gen {
			r = &svcRead{sd: sd, name: name, gen: gen, done: make(chan struct{})}
			if ok || a.keepsServiceRead(name) {
				if a.svcRules == nil {
					a.svcRules = make(map[protoreflect.FullName]*svcRead)
				}
				a.svcRules[name] = r
			}
			a.svcMu.Unlock()
			return a.readServiceOption(ctx, r)
		}
		a.svcMu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return svcOption{present: true, err: fmt.Errorf("%w: %w", errWaitEnded, ctx.Err())}
		}
		if r.ok {
			return r.o
		}
	}
}

// keepsServiceRead reports whether serviceOption keeps a new read of the
// option of the service name: always for a *protoregistry.Files, whose
// services are the program's; for a custom resolver, which may describe
// any name a caller sends, only while a.svcRules holds fewer than
// maxResolverServices reads, and only for a name of at most
// maxUnbuiltName bytes. a.svcMu is held.
func (a *Authenticator) keepsServiceRead(name protoreflect.FullName) bool {
	return !a.customResolver() || len(name) <= maxUnbuiltName && len(a.svcRules) < maxResolverServices
}

// maxResolverPlans is the most plans publish keeps of methods a custom
// resolver describes (and no Config entry names); maxResolverServices,
// the most reads of service options serviceOption keeps for a custom
// resolver. A resolver that describes any name a caller sends would
// otherwise let callers grow them without end.
const (
	maxResolverPlans    = 1 << 14
	maxResolverServices = 1 << 12
)

// customResolver reports whether Config.Descriptors is a resolver of its
// own rather than a *protoregistry.Files (GlobalFiles, by default), which
// describes only the files the program registers: a custom resolver may
// describe any name a caller sends, and keep the names it is asked about.
func (a *Authenticator) customResolver() bool {
	_, files := a.descriptors.(*protoregistry.Files)
	return !files
}

// errWaitEnded is wrapped by the error of a call whose context ended while
// it waited for another call's read of its service's option, or for the
// reads of options under way as its own returned (see options).
var errWaitEnded = errors.New("grpcauth: the call ended while it waited for another read of options")

// readServiceOption performs the read r, which serviceOption registered
// for a call whose context is ctx.
func (a *Authenticator) readServiceOption(ctx context.Context, r *svcRead) svcOption {
	defer func() {
		if !r.ok {
			a.svcMu.Lock()
			if a.svcRules[r.name] == r {
				delete(a.svcRules, r.name)
			}
			a.svcMu.Unlock()
		}
		close(r.done)
	}()
	var o svcOption
	pb, err := ruleOption(ctx, r.sd, grpcauthv1.E_Service)
	if o.present = pb != nil || err != nil; o.present && err == nil {
		o.rule, err = a.compileServerRule(pb)
	}
	o.err = err
	// A read whose call's context ended as it waited for other reads of
	// options (errWaitEnded) is its caller's alone: forgotten, as a read
	// that panicked is, so that those waiting read again.
	r.o, r.ok = o, !errors.Is(err, errWaitEnded)
	return o
}

// sameDescriptor reports whether the descriptors x and y are one: equal,
// when Go can compare them. A custom resolver may hand out a descriptor
// of a type == panics on (a struct holding a slice, by value); such a
// descriptor is the same as none, rather than a panic out of the
// interceptor on a call's first use of its service. A pointer, as
// protobuf-go's descriptors are, is compared without reflect's
// Comparable, which allocates: New asks methods about every service.
func sameDescriptor(x, y protoreflect.Descriptor) bool {
	if t := reflect.TypeOf(x); t != nil && t.Kind() == reflect.Pointer {
		return x == y
	}
	return reflect.ValueOf(x).Comparable() && x == y
}

// resolveService resolves the descriptor of the service name. It returns
// nil, nil when Config.Descriptors has no such service: an error wrapping
// protoregistry.NotFound, as *protoregistry.Files reports an unknown name,
// or a declaration that is not a service. Any other error of the
// resolver's is a failure, not an answer: resolveService returns it
// wrapped in errResolverFailed, and the method is denied (findRule) rather
// than ruled as if its service had no descriptor, by a Config service
// entry or DefaultRule that its own option (ranking above them, or
// stricter) would have overridden. So is an answer of neither a
// descriptor nor an error (nil, or a nil pointer of the resolver's own
// descriptor type, whose methods would panic): it does not say the name
// is unknown. The resolver's text is clipped: a resolver may quote the
// name, which the caller chose.
//
// name may be part of a string the caller sent (its method's :path), and
// a resolver of its own may keep the names it is asked about (a cache of
// its answers), which would keep the whole string: it is asked about a
// copy. protoregistry.Files keeps no name, and is asked without one.
func (a *Authenticator) resolveService(name string) (protoreflect.ServiceDescriptor, error) {
	if a.customResolver() {
		name = strings.Clone(name)
	}
	return a.resolveName(name)
}

// resolveName is resolveService for a name that is no part of a caller's
// string (the Config's), which is not copied.
func (a *Authenticator) resolveName(name string) (protoreflect.ServiceDescriptor, error) {
	d, err := a.descriptors.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		if errors.Is(err, protoregistry.NotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %w", errResolverFailed, clippedError{endpoint.ClipError(err), err})
	}
	if isnil.Value(d) {
		return nil, errResolverNoAnswer
	}
	sd, _ := d.(protoreflect.ServiceDescriptor)
	return sd, nil
}

// resolverFailedPlan is the plan of method, denied for its call because
// Config.Descriptors failed to resolve its service (err, from
// resolveService).
func resolverFailedPlan(method string, err error) *methodPlan {
	return &methodPlan{err: fmt.Errorf("%s: %w", clipLogged(method), err)}
}

// unbuiltService is a service whose descriptor's methods cannot be built
// (methods), and the plans of all its methods, denied (unbuiltPlans).
type unbuiltService struct {
	sd    protoreflect.ServiceDescriptor
	plans *sharedPlans
}

// maxUnbuilt is the most services unbuiltPlans keeps the plans of.
const maxUnbuilt = 64

// maxUnbuiltName is the longest service name unbuiltPlans keeps plans
// for. The name is the caller's (a resolver may describe any name a caller
// sends), up to the size of a request's headers: kept whole, maxUnbuilt of
// them would hold that many times as much memory for good.
const maxUnbuiltName = maxLoggedString

// unbuiltPlans returns the plans of the methods of the service svc, whose
// descriptor sd's methods cannot be built (err, from methods, which keeps
// that failure for good): every method of the service is denied with an
// error naming the service (clipped, as the caller may have chosen it)
// and wrapping ErrUnreadableOption and err, in dry run or not
// (sharedPlans). They are kept by service name with the descriptor they
// were made for, as serviceOption keeps a service's option, so that the
// service's calls do not each build a plan, and a resolver that describes
// the service afresh gets plans afresh: one entry per service at most, at
// most maxUnbuilt services, and none whose name is longer than
// maxUnbuiltName (a resolver that makes up services for any name a caller
// sends cannot grow the map without bound; past that, a call builds its
// own plans).
func (a *Authenticator) unbuiltPlans(svc string, sd protoreflect.ServiceDescriptor, err error) *sharedPlans {
	keep := len(svc) <= maxUnbuiltName
	s := &sharedPlans{}
	if keep {
		a.svcMu.Lock()
		u, ok := a.unbuilt[svc]
		a.svcMu.Unlock()
		if ok && sameDescriptor(u.sd, sd) {
			return u.plans
		}
		s.name = strings.Clone(svc) // kept: not a part of the caller's method
	}
	perr := fmt.Errorf("%s: %w: %w", clipLogged(svc), ErrUnreadableOption, err)
	for i := range s.plans {
		s.plans[i] = &methodPlan{err: perr, dryRun: i == 1, unknown: true, shared: true}
	}
	if !keep {
		return s
	}
	a.svcMu.Lock()
	defer a.svcMu.Unlock()
	if _, ok := a.unbuilt[s.name]; ok || len(a.unbuilt) < maxUnbuilt {
		if a.unbuilt == nil {
			a.unbuilt = make(map[string]unbuiltService)
		}
		a.unbuilt[s.name] = unbuiltService{sd, s}
	}
	return s
}

// errResolverNoAnswer is resolveService's error when Config.Descriptors
// returns neither a descriptor nor an error.
var errResolverNoAnswer = fmt.Errorf("%w: it returned neither a descriptor nor an error (report an unknown name with an error wrapping protoregistry.NotFound)", errResolverFailed)

// rulesUnavailable reports whether p denies its call because
// Config.Descriptors failed to resolve the method's service
// (errResolverFailed): the call is refused with rejRulesUnavailable, with
// or without a token, in dry run too, and nothing is kept.
func (p *methodPlan) rulesUnavailable() bool {
	return p.err != nil && errors.Is(p.err, errResolverFailed) // the nil check first: every allowed call asks
}

// errResolverFailed is wrapped, with the resolver's error, by the error of
// a method denied because Config.Descriptors failed to resolve its service
// (resolveService). Such a plan is never kept (findRule), nor published by
// Check: the next call asks the resolver again.
var errResolverFailed = fmt.Errorf("%w: Config.Descriptors failed to resolve the service (its error does not wrap protoregistry.NotFound), so the method's options cannot be read; the call is denied, and the next call asks again", ErrUnreadableOption)

// clippedError is err, a resolver's, with its text clipped to msg.
type clippedError struct {
	msg string
	err error
}

func (e clippedError) Error() string { return e.msg }
func (e clippedError) Unwrap() error { return e.err }

// splitMethod splits "/pkg.Service/Method" into its service and method
// names and checks their syntax.
func splitMethod(full string) (svc, name string, ok bool) {
	rest, ok := strings.CutPrefix(full, "/")
	if !ok {
		return "", "", false
	}
	svc, name, ok = strings.Cut(rest, "/")
	if !ok || !protoreflect.FullName(svc).IsValid() || !protoreflect.Name(name).IsValid() {
		return "", "", false
	}
	return svc, name, true
}

// Requirement is the effective access rule of one method, as the
// interceptors enforce it. Read Denied first: a method without a usable
// rule is denied to every caller, and the other fields, left empty, would
// otherwise read as "any valid token" (as a zero Requirement does).
type Requirement struct {
	// Method is the full method name, "/pkg.Service/Method".
	Method string
	// Source says where the rule came from: for a denied method, the
	// source of its invalid rule, or SourceNone when it has none.
	Source Source
	// Denied is true when the method has no rule the interceptors can
	// apply (no rule from any source, or an invalid one), or when the
	// Authenticator was not built with New: every call is refused, with
	// or without a token (unless DryRun: a call with a valid token then
	// goes through, the refusal only reported; one without a token is
	// still refused), or when the rule could not be read within
	// Config.DescriptorTimeout (ErrDescriptorTimeout: the rule is not
	// known). Authenticator.Requirement then returns an error
	// saying why, and only Method, Source, DryRun and RequireDPoP
	// (Config.RequireDPoP, which refuses a bearer call to a denied method
	// too, in dry run as well) are set besides.
	Denied bool
	// Public is true when the method needs no token. A call that sends
	// one anyway must send a valid one (a bound one with its certificate
	// or proof, and a DPoP one when RequireDPoP), or it is refused, in dry
	// run too.
	Public bool
	// Scopes must all be present (sorted).
	Scopes []string
	// AnyOf lists scope sets of which at least one must be present in
	// full, in addition to Scopes (each set sorted). Empty: no such
	// condition.
	AnyOf [][]string
	// RequireCertificateBinding is true when only certificate-bound
	// tokens (RFC 8705) are accepted.
	RequireCertificateBinding bool
	// RequireDPoP is true when only DPoP-bound tokens presented with the
	// DPoP scheme and a valid proof (RFC 9449) are accepted: the rule sets
	// require_dpop, or Config.RequireDPoP refuses the Bearer scheme on
	// every method, public and denied ones included. On a public method it
	// says what a call that sends a token must send (one without a token
	// still goes through). Dry run relaxes a rule's require_dpop, like the
	// rest of the rule, but not Config.RequireDPoP (see DryRun). So with
	// DryRun true, RequireDPoP alone does not say whether a bearer call is
	// refused: the server's Config.RequireDPoP does. A rule cannot be
	// public with require_dpop, so a public or denied method's RequireDPoP
	// is Config.RequireDPoP alone; a server that shows its Requirements to
	// others (a server-info endpoint) with dry run and Config.RequireDPoP
	// both on should show Config.RequireDPoP too.
	RequireDPoP bool
	// Condition is the rule's condition expression, or "" (see
	// docs/conditions.md).
	Condition string
	// ACRValues lists the acceptable acr claim values (step-up, RFC 9470)
	// in the rule's order of preference, each once (where the rule first
	// names it), or nil for no requirement.
	ACRValues []string
	// MaxAge is the greatest acceptable age of the user's authentication
	// (its auth_time claim), or 0 for no requirement.
	MaxAge time.Duration
	// DryRun is true when the method is in dry run: the rule (or the lack
	// of one) is reported but not enforced. See Config.DryRun. It is false
	// for a method whose rule Config.Descriptors failed to read, which dry
	// run does not relax (see Authenticator.Requirement). What is not the
	// rule's is enforced in dry run too: a valid token on a method that is
	// not public, and, when Config.RequireDPoP is set (RequireDPoP then
	// true on every method), the DPoP scheme.
	DryRun bool
}

// Alternatives expands the requirement into the scope sets of which one
// must be present in full: Scopes ∪ AnyOf[i] for each i, or Scopes alone.
// A single empty set means any valid token. It returns nil for a public
// method (no token needed) and for a denied one (no token suffices): tell
// them apart by Public and Denied.
func (r Requirement) Alternatives() [][]string {
	if r.Public || r.Denied {
		return nil
	}
	c := compiledRule{all: r.Scopes, anyOf: r.AnyOf}
	return c.alternatives()
}

// Requirement returns the rule the interceptors apply to fullMethod
// ("/pkg.Service/Method"). For a method that is denied to every caller it
// returns an error wrapping ErrNoRule or ErrInvalidRule, together with a
// Requirement whose Denied is true (and whose Source is that of the
// invalid rule): never one that reads as a rule. A caller that shows
// rules (a server-info endpoint) shows such a method as denied, not as
// needing no scope. So is a method whose service Config.Descriptors fails
// to resolve as Requirement asks (the error wraps ErrUnreadableOption and
// the resolver's): its calls are refused with codes.Unavailable
// (ReasonRulesUnavailable) for as long as the resolver fails, in dry run
// too, so its Requirement is never marked DryRun; nothing is kept, and
// the next call, or Requirement, asks the resolver again.
//
// Requirement takes no context: a method whose rule is not yet compiled
// is looked up waiting at most Config.DescriptorTimeout
// (DefaultDescriptorTimeout when unset) for Config.Descriptors and the
// descriptors it returns (their Methods and Options) to answer, including
// for a read of the same service that a call, a Check or another
// Requirement began and that has not returned. Past it, Requirement
// returns an error wrapping ErrDescriptorTimeout and a Requirement with
// only Method, Denied and RequireDPoP (Config.RequireDPoP) set: the rule
// is not known, and never read as one. Nothing is kept: once the resolver
// answers, Requirement returns the rule. The read that did not answer is
// left to end on its own, on one goroutine (see
// Config.DescriptorTimeout), so that, while it hangs, each method of its
// service whose rule is not compiled yet times out, even one whose rule
// it would not change.
//
// On an Authenticator that New did not build (nil, or a
// zero Authenticator), which refuses every call, it returns a Requirement
// with only Method and Denied set and an error saying so (wrapping
// neither).
func (a *Authenticator) Requirement(fullMethod string) (Requirement, error) {
	if !a.built() {
		return Requirement{Method: fullMethod, Denied: true}, errNotBuilt
	}
	p, err := a.lookupBounded(fullMethod)
	if err != nil {
		// No answer within Config.DescriptorTimeout: the rule is not
		// known, and is read as none.
		return Requirement{Method: fullMethod, Denied: true, RequireDPoP: a.requireDPoP}, err
	}
	// A resolver's failure is refused in dry run too: not marked, as
	// Check does not mark its problem.
	// Config.RequireDPoP refuses the Bearer scheme on every method, denied
	// ones included, as credentials does before the rule is looked at.
	req := Requirement{Method: fullMethod, Source: p.source, DryRun: p.dryRun && !p.rulesUnavailable(), RequireDPoP: a.requireDPoP}
	if p.rule == nil {
		req.Denied = true
		return req, p.err
	}
	req.Public = p.rule.public
	req.RequireCertificateBinding = p.rule.bound
	req.RequireDPoP = req.RequireDPoP || p.rule.dpop
	req.Scopes = slices.Clone(p.rule.all)
	for _, set := range p.rule.anyOf {
		req.AnyOf = append(req.AnyOf, slices.Clone(set))
	}
	req.Condition = p.rule.condition
	if s := p.rule.stepUp; s != nil {
		req.ACRValues, req.MaxAge = slices.Clone(s.acr), s.maxAge
	}
	return req, nil
}

// isServiceName reports whether s is a syntactically valid service name
// ("pkg.Service").
func isServiceName(s string) bool {
	return protoreflect.FullName(s).IsValid()
}
