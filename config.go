package grpcauth

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/internal/isnil"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// TokenVerifier verifies a bearer access token and returns its claims.
// *verifier.Verifier satisfies it; a custom implementation (token
// introspection, a test double) must return errors that wrap the verifier
// package's sentinels so that they map to the right status code: an error
// wrapping verifier.ErrKeysUnavailable becomes codes.Unavailable, one
// wrapping verifier.ErrExpired ACCESS_TOKEN_EXPIRED, any other error
// codes.Unauthenticated.
//
// A TokenVerifier that tolerates clock skew on exp should also have a method
//
//	ClockSkew() time.Duration
//
// returning that tolerance, as *verifier.Verifier, *verifier.MultiVerifier,
// *introspect.Verifier and *introspect.Combined do: the Authenticator adds
// it to a token's exp to end the streams the token opened (see
// Config.SkipStreamExpiry), so the skew is set in one place, the
// verifier's Config. A verifier without the method is assumed to use
// verifier.DefaultClockSkew. One that joins verifiers with different
// skews should also have a method
//
//	ClockSkewFor(claims verifier.Claims) time.Duration
//
// returning the skew of the one that accepted claims, as
// *verifier.MultiVerifier and *introspect.Combined do: the Authenticator
// then uses it instead, so that a stream ends when its token's unary
// calls start being refused, not at the largest skew of all, and a
// step-up rule (max_age_seconds) trusts an auth_time in the future up to
// it.
type TokenVerifier interface {
	VerifyAccessToken(ctx context.Context, token string) (verifier.Claims, error)
}

// DescriptorResolver finds the descriptors of services. *protoregistry.Files
// (and so protoregistry.GlobalFiles, the default) satisfies it. Neither
// it nor the descriptors it returns may call the Authenticator back (its
// interceptors, Requirement or Check): the first calls of a service's
// methods wait for one build of its file (Methods) and one read of the
// service's option (Options), so a call made from within that build or
// read, for a method of the same service, would wait for itself (a
// call through the interceptors until its context ends, Requirement and
// Check until Config.DescriptorTimeout), and hold up every later first
// call of the service's methods.
//
// A resolver must report a name it does not know with an error wrapping
// protoregistry.NotFound (errors.Is), as *protoregistry.Files does: only
// that error means the service has no descriptor, so that its methods get
// their rules from the Config (a service entry or DefaultRule). Any other
// error is a failure, not an answer, and so is a nil descriptor with no
// error (nil, or a nil pointer of the resolver's own type): the call is
// denied (codes.Unavailable, ReasonRulesUnavailable, with or without a
// token, in dry run too, so that clients retry, as they do when the
// issuer's keys are unavailable), its error, wrapping
// ErrUnreadableOption and the resolver's, is logged and returned by
// Requirement and Check, and nothing is kept, so that the method's next
// call asks again. Otherwise a resolver that fails for a moment would give
// a method a Config service entry (a Public one, say) or DefaultRule that
// its own option, stricter, overrides. A rule already compiled from the
// service's descriptor is kept: its calls do not ask again.
//
// A service whose methods cannot be built (Methods panics, as protobuf-go
// does on a generated file it cannot build, or ends its goroutine) is
// denied, and its failure kept so that it is not built again: for a
// resolver's own descriptors (made-up services, files of its own types),
// at most 256 failures, none under a name longer than 256 bytes, as a
// resolver that describes any name a caller sends could otherwise let
// callers grow that memory without end. Past that bound a failure is not
// kept, and the service's next call builds it again; a failure in
// protobuf-go's build of a generated file the resolver's descriptor wraps,
// which leaves that file locked, is kept whatever the bound, so that it is
// not built again (docs/proto-options.md). For such a resolver, what is
// kept of the methods and services it describes is bounded the same way
// (at most 16,384 methods' plans and 4,096 services' option reads, none
// under a name longer than 256 bytes); past that, each call builds its
// method's rule again and reports the method as unknown
// (Decision.UnknownMethod). A *protoregistry.Files is not bounded.
// Callers can fill that bound with made-up names before a real method's
// first call; call Authenticator.Check at start-up, whose registered
// methods stay kept and known whatever the bound.
type DescriptorResolver interface {
	FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error)
}

// timer is a stoppable timer, as returned by Config.afterFunc. *time.Timer
// satisfies it.
type timer interface {
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
}

// StandardPublicServices are the gRPC services a server commonly exposes
// without authentication: health checking (which load balancers and
// Kubernetes probes call without tokens) and server reflection. None of them
// is public unless listed in Config.Public, e.g.
//
//	Public: grpcauth.StandardPublicServices
//
// Reflection reveals the server's whole API surface; leave the reflection
// services out of Config.Public when that matters.
var StandardPublicServices = []string{
	"grpc.health.v1.Health",
	"grpc.reflection.v1.ServerReflection",
	"grpc.reflection.v1alpha.ServerReflection",
}

// Config configures an Authenticator. Only Verifier is required; every other
// field has a safe default.
//
// The rule of a method ("/pkg.Service/Method") is the first found of:
//
//  1. Config.Rules or Config.Public naming the method;
//  2. the method's (grpcauth.v1.method) option;
//  3. Config.Rules or Config.Public naming the service ("pkg.Service");
//  4. the service's (grpcauth.v1.service) option, for a method the
//     service's descriptor declares;
//  5. Config.DefaultRule.
//
// A method with none is denied: a caller without a valid token gets
// codes.Unauthenticated, one with a valid token codes.PermissionDenied
// (reason METHOD_NOT_CONFIGURED). Use Authenticator.Check at start-up to
// find such methods before a caller does.
type Config struct {
	// Verifier verifies access tokens. Required. A *verifier.Verifier is
	// the usual choice. New refuses a nil pointer, and a
	// verifier.Verifier, verifier.MultiVerifier, introspect.Verifier or
	// introspect.Combined its constructor did not build (a zero value,
	// which would refuse every token with KEYS_UNAVAILABLE); one inside a
	// verifier of your own is not looked into.
	Verifier TokenVerifier

	// Descriptors resolves service descriptors by full name to read their
	// options. Default: protoregistry.GlobalFiles, where generated code
	// registers itself (a nil *protoregistry.Files is refused by New, not
	// taken for an empty registry). Check reports a registered method whose option
	// the generated code declares but Descriptors does not resolve
	// (ErrNoDescriptor). When it lists its files (RangeFiles, as
	// *protoregistry.Files), New reads the options of every service and
	// method in it (see New); a custom resolver without RangeFiles has its
	// options read on each method's first call or by Check. The methods
	// of a service that a Config entry rules and that Descriptors does
	// not resolve share the Config entry's rule, kept for the service
	// (docs/interceptors.md); Descriptors is still asked for the service
	// on each call of them, so that a descriptor it resolves later (it
	// was given the file since) is read, and its options rule the methods
	// they name. Only an error wrapping protoregistry.NotFound says a
	// service has no descriptor; a resolver's other errors deny the call
	// with codes.Unavailable and ReasonRulesUnavailable, in dry run too
	// (see DescriptorResolver).
	Descriptors DescriptorResolver

	// DescriptorTimeout bounds how long Authenticator.Check and
	// Authenticator.Requirement, which take no context, wait for
	// Descriptors and the descriptors it returns (their Methods and
	// Options) to answer about one method: past it they return an error
	// wrapping ErrDescriptorTimeout, Check checking no further method and
	// Requirement giving no rule (Denied). The read that did not answer
	// is left to end on its own: one goroutine, held in the resolver's
	// code, which later Checks and Requirements of the same service wait
	// for (within their own bound) rather than start another. Zero means
	// DefaultDescriptorTimeout (10 s); New refuses a negative value. The
	// interceptors are bounded by each call's context instead, and New is
	// not bounded: it asks Descriptors about the names in the Config, and,
	// for a Descriptors that lists its files (*protoregistry.Files),
	// builds every service's methods and reads their options; where
	// another goroutine's build of the same service's methods is under
	// way (a call's, a Check's or a Requirement's, of any Authenticator,
	// or another New's), New waits for it to end, however long it hangs.
	DescriptorTimeout time.Duration

	// Public lists full method names ("/pkg.Service/Method") and service
	// names ("pkg.Service") that need no token, as if annotated
	// {public: true}. Default: none. See StandardPublicServices. Check
	// reports a name here, in Rules or in DryRunMethods that matches no
	// registered method or service (ErrUnmatchedName).
	Public []string

	// Rules gives rules in code, keyed like Public, for services whose
	// .proto you cannot annotate. An entry takes precedence over the
	// option at the same level (see Config). A name must not appear both
	// here and in Public. Default: none.
	Rules map[string]*grpcauthv1.Rule

	// DefaultRule applies to methods with no rule from any other source.
	// Default nil: such methods are denied. &grpcauthv1.Rule{} admits any
	// valid token, which gives up deny-by-default: a new method is then
	// open to every authenticated caller, whatever scopes it holds.
	DefaultRule *grpcauthv1.Rule

	// TransportSecurity says on which connections credentials are
	// accepted. Default TransportSecureOrLocal: on connections with
	// transport security (a peer AuthInfo reporting
	// credentials.PrivacyAndIntegrity, as TLS and ALTS do), and on
	// plaintext connections from this host (loopback address, Unix
	// socket, or an in-process bufconn or net.Pipe connection: see
	// TransportSecureOrLocal for the exact rule). A call that sends
	// authorization metadata on any other connection is refused with
	// codes.Unauthenticated (TRANSPORT_INSECURE) and its token is not
	// verified. Calls without
	// credentials are unaffected, so public methods stay reachable over
	// plaintext. TransportSecureOnly refuses local plaintext too;
	// InsecureAllowPlaintext accepts every connection, for a server
	// reached only through a hop the server cannot see is protected
	// (read its warning). A connection whose AuthInfo reports no security
	// level (a custom TransportCredentials without
	// credentials.CommonAuthInfo), a credentials.TLSInfo whose
	// State.HandshakeComplete is false (a peer built by hand for
	// ServeCall), or a context with no peer at all, counts as insecure.
	TransportSecurity TransportSecurity

	// Conditions compiles the CEL (or other) conditions of rules (the
	// rule's `condition` field). Default nil: a rule with a condition is
	// invalid, so its methods are denied and Check reports them (New
	// fails on one in Rules or DefaultRule). Use
	// celcond.New from github.com/grpcauth/grpcauth/celcond; the core
	// package does not depend on an expression language. See
	// docs/conditions.md.
	Conditions ConditionCompiler

	// DryRun evaluates every method's rule and reports each call the rule
	// would refuse, but lets it through: a valid token lacking scopes, a
	// method with no (or an invalid) rule, an unbound token on a method
	// with require_certificate_binding, a bearer token on a method with
	// require_dpop, a token short of the rule's step-up requirement (and a
	// stream whose sign-in outlives the rule's max_age_seconds while it
	// runs, reported once as it does, not cut: see SkipStreamExpiry), and
	// a call or stream message its condition refuses (each refused stream
	// message is reported). Each such call is reported to OnDecision with
	// Allowed and DryRun set, Code and Reason saying what enforcement would
	// return, and logged ("call would be denied (dry run)"); the handler
	// gets the claims. Dry run never relaxes authentication: a non-public
	// method still needs a valid token (a missing, invalid or expired one
	// is refused), a certificate- or DPoP-bound token must still match its
	// certificate or proof, and TransportSecurity and RequireDPoP still
	// apply. Nor does it relax a server-side dependency's outage: keys
	// the verifier cannot get (KEYS_UNAVAILABLE), or a method whose rule
	// cannot be read because Descriptors failed (RULES_UNAVAILABLE, whose
	// error wraps ErrInvalidRule but leaves no rule to relax), is refused
	// with codes.Unavailable, with or without a token. Default false. Use
	// it to roll out new rules and see whom they would refuse before
	// enforcing them.
	DryRun bool

	// DryRunMethods puts only the named methods ("/pkg.Service/Method")
	// and services ("pkg.Service") in dry run, as DryRun does for all.
	// Default: none.
	DryRunMethods []string

	// SkipStreamExpiry stops the Authenticator from ending streams when
	// the token that opened them expires, from re-verifying their tokens
	// (see Revalidator), and from ending them when their sign-in becomes
	// older than the rule's max_age_seconds (below): with it set, a stream
	// is judged at its start only. Default false: a stream opened with a
	// token (on a public method too) has its context cancelled, its
	// sends, receives and response headers refused (a later trailer
	// dropped), and ends with codes.Unauthenticated (ACCESS_TOKEN_EXPIRED,
	// and the www-authenticate challenge error="invalid_token"), once the token's
	// exp plus the verifier's clock skew has passed, so a revoked caller
	// cannot keep a stream open forever. The skew is the one the verifier
	// accepts tokens with (see TokenVerifier), so a stream ends when the
	// verifier would start refusing its token; behind a verifier of
	// several issuers or kinds (verifier.MultiVerifier,
	// introspect.Combined), the skew of the one that accepted it (their
	// ClockSkewFor method). The cut follows Now, the clock unary calls
	// are checked on, read at least once a minute: a suspend of the host
	// or a forward step of the wall clock, which Go's timers do not see,
	// delays it by at most a minute, and a clock set back not at all.
	// On a method whose rule sets max_age_seconds (step-up), a stream is
	// also ended, the same way but with the rule's own refusal
	// (ReasonInsufficientUserAuthentication and its step-up challenge),
	// once its token's auth_time plus max_age_seconds has passed, when
	// that comes first: the instant a unary call with the token starts
	// being refused (no clock skew is added to the age), even when the
	// token has no exp. In dry run that stream is not ended: the refusal
	// is reported once, as a would-deny, as the sign-in goes stale, and not
	// at all for a stream whose start was reported as a would-deny already
	// (enforcement would not have run it).
	SkipStreamExpiry bool

	// Now returns the current time. Default time.Now. For tests.
	Now func() time.Time

	// afterFunc calls f in its own goroutine once d has elapsed, like
	// time.AfterFunc (the default). A seam for this package's tests: a
	// fake lets a test end a stream's token lifetime without sleeping.
	afterFunc func(d time.Duration, f func()) timer

	// wallNow is the process's clock (time.Now, the default), which
	// bounds the stacks logged when Config.Now panics on a stream's timer
	// or as a call's recovered panic is logged (Authenticator.stackAt). A
	// seam for this package's tests.
	wallNow func() time.Time

	// random returns a number in [0, 1), like jitter.Random (the
	// default), to spread streams' re-verifications
	// (streamWatch.schedule). A seam for this package's tests.
	random func() float64

	// streamStopped, when set, runs in runUntilExpiry once a watched
	// stream's handler has returned and its watch has stopped, before the
	// stream's context is released. A hook for this package's tests, nil
	// in production: it lets a test end a re-verification in that window.
	streamStopped func()

	// reportWaits, when set, runs when a stream's report (a cut or
	// would-deny decided on one of its timers, or a received message's
	// refusal or would-deny) waits for the report decided before it
	// (reportTurn.await). A hook for this package's tests, nil in
	// production.
	reportWaits func()

	// OnDecision, when set, is called once for every call the interceptors
	// see, allowed or denied, before the handler runs (or the call is
	// rejected). A stream can add more calls: one, denied, when it is cut
	// because its token expired, was refused on re-verification or its
	// re-verified claims failed the method's rule or the token's binding (from
	// the timer's goroutine, where grpcauth recovers a panic of
	// OnDecision: see Revalidator), and one for each message its condition
	// refuses; a stream's reports after its start reach OnDecision one at
	// a time, in the order they were decided in, each once the one before
	// it has returned (so a hook must not wait for its stream's handler to
	// receive a message). It runs on the request path, from many
	// goroutines at once:
	// it must be safe for concurrent use, the call waits for it (keep it
	// fast), and it must not send Decision.Err to the caller. It gets the claims whole (a sub may be
	// as long as the token): a hook that logs them should bound them.
	OnDecision func(ctx context.Context, d Decision)

	// Logger receives one record for every decision, at the level
	// LogLevels gives its kind: message "grpcauth: call allowed", "...
	// denied" or "... would be denied (dry run)", with the method, outcome
	// (allowed, denied, would_deny), code, reason, subject, client id and
	// issuer (when a valid token came), latency, and the detailed error of
	// a denial; never the token. What the caller or the token chose is
	// bounded: the subject, client id, issuer and a method the server does
	// not know to 256 bytes, the error to 1,024, each clipped with "…" and
	// its length; Decision keeps them whole. Default slog.Default(). New
	// refuses a Logger without a handler (a zero slog.Logger{}, or one
	// built on a nil Handler pointer), which would panic on the first
	// call's record. A handler that panics on the record of a panic
	// grpcauth recovered (a condition's Eval, a DPoP check) loses that
	// record, and the call is refused as that panic decided; on a
	// decision's record, on the call's path, its panic is left to the
	// server's recovery interceptor (OnDecision is still called), and on
	// a stream's timer it ends the stream (Internal).
	Logger *slog.Logger

	// RequireDPoP refuses the Bearer scheme on every method, public ones
	// included: a call that sends a token must send a DPoP-bound one with
	// the DPoP scheme and a proof (RFC 9449), or it is refused with
	// codes.Unauthenticated (DPOP_REQUIRED) before its token is verified.
	// Like TransportSecurity, dry run does not relax it; roll DPoP out
	// method by method with require_dpop rules (which dry run does relax)
	// first. Default false: each method's rule decides, and both schemes
	// are accepted. See docs/dpop.md.
	RequireDPoP bool

	// DPoP configures how DPoP proofs are verified: accepted algorithms
	// (default ES256, EdDSA and Ed25519), the iat window (default 5 minutes back,
	// 10 seconds ahead), further origins accepted in htu for a server
	// behind a proxy, the replay cache (default in-memory, one process, of
	// which one proof key may fill a quarter; share one between replicas)
	// and server nonces (default none). Its
	// Now defaults to Config.Now; it is the one clock of everything DPoP
	// (a proof's iat, its nonce's validity, and whether the nonce is
	// current or the response carries a newer one). A DPoP-bound token (cnf jkt) is always
	// checked against its proof: no setting takes it as a bearer token.
	// See docs/dpop.md.
	DPoP dpop.Config

	// LogLevels sets the levels of Logger's records. Default: allowed
	// calls at Debug, denials for what the caller sent at Info (a
	// METHOD_NOT_CONFIGURED refusal of a method nothing knows included),
	// denials for server-side problems (unavailable keys,
	// METHOD_NOT_CONFIGURED of a known method, a stream's INTERNAL_ERROR)
	// at Warn.
	LogLevels LogLevels
}

// checkNotNilPointers refuses the fields of cfg that hold a nil pointer (or
// other nil value) of a non-nil type, such as a *verifier.Verifier variable
// left unset: not being nil as interfaces, they would pass for set, and
// their methods would panic, in New (Verifier's ClockSkew), on a method's
// first call or in Check (Conditions), or on every call (a LogLevels
// field, or a Logger whose handler is nil, see handlerMissing). A nil
// *protoregistry.Files does not panic: it is an empty
// registry, which would hide every option in place of the default
// protoregistry.GlobalFiles, so that a DefaultRule silently replaced the
// methods' own rules.
func checkNotNilPointers(cfg Config) error {
	fields := []struct {
		name string
		v    any
	}{
		{"Verifier", cfg.Verifier},
		{"Descriptors", cfg.Descriptors},
		{"Conditions", cfg.Conditions},
		{"LogLevels.Allowed", cfg.LogLevels.Allowed},
		{"LogLevels.Denied", cfg.LogLevels.Denied},
		{"LogLevels.Problem", cfg.LogLevels.Problem},
	}
	for _, f := range fields {
		if f.v != nil && isnil.Value(f.v) {
			return fmt.Errorf("grpcauth: Config.%s is a nil %T", f.name, f.v)
		}
	}
	if err := isnil.Logger(cfg.Logger); err != nil {
		return fmt.Errorf("grpcauth: Config.%w", err)
	}
	return nil
}
