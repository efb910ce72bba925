// Package grpcauth authenticates and authorises gRPC calls with OAuth 2.0
// access tokens (bearer, DPoP-bound or certificate-bound): server
// interceptors verify each call's token and check the rule its method
// declares in the service's .proto: scopes, and optionally a condition and
// a step-up requirement.
//
// # Declaring rules
//
// Declare in each service's .proto which scopes every method needs, with the
// options of proto/grpcauth/v1/auth.proto (Go package
// github.com/grpcauth/grpcauth/proto/grpcauth/v1):
//
//	import "grpcauth/v1/auth.proto";
//
//	service ItemService {
//	  option (grpcauth.v1.service) = {scopes: "items:read"};  // every method without its own rule
//	  rpc ListItems(ListItemsRequest) returns (ListItemsResponse);
//	  rpc DeleteItem(DeleteItemRequest) returns (DeleteItemResponse) {
//	    option (grpcauth.v1.method) = {scopes: ["items:write", "items:admin"]};  // all of
//	  }
//	  rpc ImportItems(stream ImportItemsRequest) returns (ImportItemsResponse) {
//	    option (grpcauth.v1.method) = {  // any one of the sets
//	      any_of: {scopes: "items:write"}
//	      any_of: {scopes: ["items:read", "items:import"]}
//	    };
//	  }
//	  rpc GetServerInfo(GetServerInfoRequest) returns (GetServerInfoResponse) {
//	    option (grpcauth.v1.method) = {public: true};  // no token needed
//	  }
//	}
//
// A rule's scopes are all required; of its any_of sets, one must be present
// in full; both together are combined with AND. An empty rule ({}) admits
// any valid token. Scopes match exactly and case-sensitively, whether the
// token carries them as a "scp" array or an RFC 9068 "scope" string. A
// public method needs no token, but a token that is sent must be valid, and
// its claims reach the handler. require_certificate_binding admits only
// tokens bound to the caller's TLS client certificate (RFC 8705),
// require_dpop only DPoP-bound tokens with a proof (RFC 9449, see
// docs/dpop.md). condition is an expression over the request and the
// claims, compiled by [Config].Conditions (package celcond for CEL);
// acr_values and max_age_seconds demand a strong or recent sign-in
// (RFC 9470); see docs/conditions.md.
//
// Rules can also be given in code ([Config].Rules, [Config].Public,
// [Config].DefaultRule); [Config] lists which source wins. A method without
// a rule is denied, and so is a method whose rule is invalid
// ([ErrInvalidRule]).
//
// # Installing the interceptors
//
// One [Authenticator] gives both interceptors:
//
//	v, err := verifier.New(ctx, verifier.Config{
//		Issuer:    "https://example.okta.com/oauth2/default",
//		Audiences: []string{"api://default"},
//	})
//	if err != nil {
//		return err
//	}
//	defer v.Close()
//	conds, err := celcond.New(celcond.Config{}) // ItemService's CreateItem has a CEL condition
//	if err != nil {
//		return err
//	}
//	auth, err := grpcauth.New(grpcauth.Config{
//		Verifier:   v,
//		Conditions: conds,
//		Public:     []string{"grpc.health.v1.Health"},
//	})
//	if err != nil {
//		return err
//	}
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
//	)
//	itemsv1.RegisterItemServiceServer(srv, items)
//	if err := auth.Check(srv); err != nil {
//		return err // e.g. a registered method without a rule (denied), or a Config name matching nothing registered
//	}
//
// and read the caller in handlers, unary or streaming:
//
//	claims, ok := grpcauth.ClaimsFromContext(ctx) // ok is false only on a public method called without a token
//
// The claims are an immutable [verifier.Claims] value (the zero value when
// ok is false), safe to keep and share.
//
// [Authenticator.Check] lists, at start-up, every registered method that has
// no usable rule, or that grpc-go would run without calling the
// interceptors ([ErrNotIntercepted]), or whose grpcauth option
// Config.Descriptors hides ([ErrNoDescriptor]); and every name in
// Config.Public, Rules or DryRunMethods that matches no registered method
// or service ([ErrUnmatchedName]). [Authenticator.Requirement] returns a
// method's effective rule. Neither takes a context: each waits at most
// Config.DescriptorTimeout for a Config.Descriptors that does not answer,
// and then fails with [ErrDescriptorTimeout]. Any [TokenVerifier] can replace
// *verifier.Verifier: a *verifier.MultiVerifier for several issuers, or
// package introspect for opaque tokens. All of these are [Revalidator]s,
// so a stream's token is re-verified while it runs: an introspected one
// when its cached answer ends, a JWT at least once a key-set
// RefreshInterval.
//
// Servers other than grpc-go get the same decision through
// [Authenticator.ServeCall] and its [Guard]; package
// github.com/grpcauth/grpcauth/connectauth (a module of its own) does this
// for connect-go, serving Connect, gRPC-Web and gRPC (docs/browsers.md).
//
// # Refusals
//
// Each call's token is taken from its "authorization" metadata ("Bearer "
// or "DPoP " followed by the token; exactly one value; with DPoP, exactly
// one "dpop" proof). Rejections carry fixed messages and a
// google.rpc.ErrorInfo detail (Domain [ErrorDomain], one of the Reason…
// constants, and [MetadataRequiredScopes], [MetadataACRValues] or
// [MetadataMaxAge] where they apply):
//
//	no or malformed credentials, bad, expired or revoked token,
//	DPoP or binding failure, step-up not met            codes.Unauthenticated
//	valid token lacking a scope, condition refused,
//	or method without rule                              codes.PermissionDenied
//	issuer's keys, DPoP replay check or the method's
//	rule (Config.Descriptors failed) unavailable        codes.Unavailable
//	a DPoP proof key past its replay-cache share        codes.ResourceExhausted
//	the caller cancelled, or its deadline passed, while
//	the token was verified, a condition evaluated, or
//	the service option read for another call            codes.Canceled, codes.DeadlineExceeded
//	a server-side fault: a stream's re-verification
//	panicked (recovered), the Authenticator was not
//	built by New, or Config.DPoP.Nonces gave a
//	malformed nonce                                     codes.Internal
//
// Refusals about the credentials also carry a challenge in the trailer
// [MetadataWWWAuthenticate], in the scheme of the call (Bearer, or DPoP
// when the call used it or the method takes nothing else; both, two
// values, for a call without credentials to a method that takes both):
// RFC 6750's (section 3: bare "Bearer" without credentials,
// error="invalid_request", "invalid_token", or "insufficient_scope" with
// the required scope),
// RFC 9449's for a DPoP refusal, and RFC 9470's for step-up
// (error="insufficient_user_authentication", acr_values, max_age). The
// cut of a stream that had started, because its token expired or was
// revoked, carries error="invalid_token" in the stream's scheme, as the
// same refusal at its start does. Unavailable, rate-limited, cancelled,
// internal, unconfigured-method and condition refusals carry none.
// Under grpc.Server.ServeHTTP the challenge is a response header instead
// (net/http refuses it as a trailer), and a stream cut after its headers
// went out carries none.
//
// A TokenVerifier's errors map to codes through the verifier package's
// sentinels (verifier.ErrExpired, verifier.ErrKeysUnavailable, …); an
// unrecognised error is codes.Unauthenticated, failing closed. Details of
// each denial go to [Config].Logger and [Config].OnDecision, never to the
// caller.
//
// # Transport, binding, streams and dry run
//
// Credentials are accepted only on connections with transport security
// (TLS) or from the local host; see [TransportSecurity] for servers behind
// a TLS-terminating proxy. A token bound to a client certificate (RFC 8705,
// cnf x5t#S256) is accepted only from a mutual-TLS connection presenting
// that certificate ([CertificateThumbprint] computes the thumbprint).
// A DPoP-bound token (cnf jkt) needs a fresh proof by its key on every
// call ([Config].DPoP, [Config].RequireDPoP). Streams end with
// codes.Unauthenticated when their token expires (plus the verifier's clock
// skew, see [TokenVerifier]), is refused on re-verification, or, on a
// method whose rule sets max_age_seconds, when their sign-in becomes older
// than that; a re-verified token whose claims now fail the method's rule,
// or bind it to another key or certificate (or to none), ends its stream
// with the refusal a new call with them gets ([Revalidator]). None of
// these when [Config].SkipStreamExpiry is set. [Config].DryRun and
// [Config].DryRunMethods report what rules would refuse without enforcing
// them, for rolling out new rules; authentication is still enforced, and
// so are refusals for unavailable keys or rules (KEYS_UNAVAILABLE,
// RULES_UNAVAILABLE).
//
// # Observability
//
// Every decision, allowed or denied, is one structured log record (levels
// in [LogLevels]) and one [Decision]; package otelmetrics turns decisions
// and the verifier's Stats into OpenTelemetry metrics. Tokens never appear
// in either. [LogFields] adds the caller to go-grpc-middleware's logging
// (docs/middleware.md).
//
// # Testing
//
// Package grpcauthtest runs an in-process issuer that mints real and
// deliberately broken tokens. Serve the code under test on bufconn, a Unix
// socket or 127.0.0.1:0: all count as local under the default
// TransportSecurity, so no option is needed (docs/testing.md). Package
// tokencreds sends tokens from a client, DPoP-bound ones with a proof per
// call (tokencreds.NewDPoP, proofs by package dpop's Signer).
//
// The repository's docs directory explains the behaviour and its reasons at
// length: docs/interceptors.md (rules, status codes, transport security,
// certificate binding, streams, dry run, Config), docs/dpop.md,
// docs/conditions.md, docs/observability.md and docs/security.md; its
// index is docs/README.md.
package grpcauth
