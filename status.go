package grpcauth

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/verifier"
)

// ErrorDomain is the Domain of every google.rpc.ErrorInfo the interceptors
// attach to a rejection.
const ErrorDomain = "grpcauth"

// Reasons carried in the google.rpc.ErrorInfo detail of every rejection
// (status.FromError(err).Details()). A client can branch on them without
// parsing messages. The names follow google/api/error_reason.proto where one
// exists there.
//
// A refusal about the caller's credentials also carries a challenge in the
// trailer MetadataWWWAuthenticate: RFC 6750's (section 3), in the scheme of
// the call (DPoP when the call used it, or when the server or the
// method's enforced rule takes nothing else), with error_description the
// status message without its "grpcauth: " prefix, but for the DPoP
// scheme's own refusals (error invalid_dpop_proof or use_dpop_nonce, and
// ReasonDPoPBindingMismatch of a DPoP call), which carry error and algs
// only; a call without
// credentials, or with another scheme followed by credentials (such as
// Basic), gets a Bearer and a DPoP challenge, two values, where both are
// taken, and a malformed value (a bare token among them) the Bearer
// challenge invalid_request. Each reason below says which.
const (
	// ReasonCredentialsMissing: no authorization metadata
	// (codes.Unauthenticated). Challenge: two, without an error code (RFC
	// 6750, section 3.1): bare "Bearer" and DPoP algs="..." (RFC 9449,
	// section 7.2), or DPoP algs="..." alone where only DPoP is taken.
	ReasonCredentialsMissing = "CREDENTIALS_MISSING"
	// ReasonTokenInvalid: a malformed authorization value (two values, an
	// empty token, no auth-scheme before the first space, such as a
	// leading space or a tab after the scheme, or no credentials after the
	// scheme, such as a token sent without its scheme or "Basic" alone)
	// or a token the verifier
	// rejected for any reason other than expiry or type: bad signature,
	// unknown key, wrong issuer or audience, failed claim check, not yet
	// valid (codes.Unauthenticated). Challenge: error="invalid_request"
	// for the malformed authorization value (in the DPoP scheme for a
	// DPoP scheme without a token, or two values both in that scheme),
	// error="invalid_token" for a rejected token.
	ReasonTokenInvalid = "ACCESS_TOKEN_INVALID"
	// ReasonTokenExpired: the token has expired, or a stream outlived it
	// (codes.Unauthenticated). Fetch a new token and retry. Challenge:
	// error="invalid_token", also when a stream is cut as its token
	// expires (error_description "access token expired during the
	// stream", in the scheme the stream was opened with).
	ReasonTokenExpired = "ACCESS_TOKEN_EXPIRED"
	// ReasonTokenRevoked: a stream's token was refused when re-verified
	// while the stream ran (codes.Unauthenticated): revoked at the
	// authorization server, or otherwise no longer active, or, for a JWT,
	// its signing key withdrawn from the issuer's key set. Only verifiers
	// that are a Revalidator (token introspection, the JWT verifiers)
	// re-verify. Get a new token and open a new stream. Challenge: error="invalid_token"
	// (error_description "access token no longer valid; stream ended",
	// in the scheme the stream was opened with).
	ReasonTokenRevoked = "ACCESS_TOKEN_REVOKED"
	// ReasonTokenTypeUnsupported: an authorization scheme other than
	// Bearer or DPoP, with credentials after it, a token whose typ the verifier (or whose token_type
	// an introspection response) does not accept as an access token, or a
	// token bound to its client by a confirmation method other than a
	// certificate thumbprint (x5t#S256) or a DPoP key (jkt)
	// (codes.Unauthenticated). Challenge: for another scheme, as for
	// ReasonCredentialsMissing (RFC 6750, section 3.1: an unsupported
	// authentication method); error="invalid_token" for the token.
	ReasonTokenTypeUnsupported = "ACCESS_TOKEN_TYPE_UNSUPPORTED"
	// ReasonScopeInsufficient: a valid token without the scopes the method
	// requires (codes.PermissionDenied). The ErrorInfo metadata key
	// MetadataRequiredScopes says what would suffice. Challenge:
	// error="insufficient_scope", with scope="..." the scopes the rule
	// requires, space-separated, unless the rule has alternatives (two or
	// more any_of sets), which no single scope value can express.
	ReasonScopeInsufficient = "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
	// ReasonMethodNotConfigured: a valid token calling a method that has no
	// rule, or an invalid one (codes.PermissionDenied). A server-side
	// configuration gap; Authenticator.Check finds these at start-up. No
	// challenge: another token would not help.
	ReasonMethodNotConfigured = "METHOD_NOT_CONFIGURED"
	// ReasonKeysUnavailable: the verifier has no usable key set (the
	// issuer's JWKS could not be fetched) or has been closed
	// (codes.Unavailable). Retry later, ideally against another replica.
	// No challenge: the credentials were not judged.
	ReasonKeysUnavailable = "KEYS_UNAVAILABLE"
	// ReasonRulesUnavailable: Config.Descriptors (the server's
	// DescriptorResolver) failed to resolve the called method's service,
	// with an error not wrapping protoregistry.NotFound or with neither a
	// descriptor nor an error, so the method's rule could not be read
	// (codes.Unavailable), with or without a token: the server cannot tell
	// whether the method is public. Retry later, ideally against another
	// replica; the next call asks the resolver again. Not relaxed by dry
	// run. No challenge: another token would not help.
	ReasonRulesUnavailable = "RULES_UNAVAILABLE"
	// ReasonTransportInsecure: credentials arrived on a connection that
	// Config.TransportSecurity does not trust to carry them, such as
	// plaintext from another host (codes.Unauthenticated). The token was
	// not verified. Treat it as leaked: use TLS, and get a new token.
	// Challenge: error="invalid_request" (retrying as sent would leak the
	// next token too).
	ReasonTransportInsecure = "TRANSPORT_INSECURE"
	// ReasonBindingMismatch: a certificate-bound token (RFC 8705: its cnf
	// claim holds x5t#S256) on a connection without a TLS client
	// certificate, or with a different one (codes.Unauthenticated).
	// Challenge: error="invalid_token" (RFC 8705, section 3).
	ReasonBindingMismatch = "ACCESS_TOKEN_BINDING_MISMATCH"
	// ReasonBindingRequired: a valid token that is not certificate-bound,
	// calling a method whose rule sets require_certificate_binding
	// (codes.Unauthenticated). Get a bound token: authenticate to the
	// authorization server with mutual TLS, using the client certificate
	// you then present here. Challenge: error="invalid_token".
	ReasonBindingRequired = "ACCESS_TOKEN_BINDING_REQUIRED"
	// ReasonDPoPProofInvalid: a call with the DPoP scheme whose dpop
	// metadata is missing, repeated, or holds a proof that fails a check
	// of RFC 9449, section 4.3 (typ, alg, jwk, signature, htm, htu, iat,
	// ath) (codes.Unauthenticated). The trailer www-authenticate says
	// DPoP error="invalid_dpop_proof" and lists the accepted algs. See
	// docs/dpop.md.
	ReasonDPoPProofInvalid = "DPOP_PROOF_INVALID"
	// ReasonDPoPReplayed: a DPoP proof (same key and jti) that was
	// already used (codes.Unauthenticated). Make a new proof for every
	// call. Challenge: as for ReasonDPoPProofInvalid.
	ReasonDPoPReplayed = "DPOP_REPLAYED"
	// ReasonDPoPBindingMismatch: a DPoP-bound token (cnf jkt) sent with
	// the Bearer scheme, a DPoP proof with a token that is not DPoP-bound,
	// or a proof signed by another key than the one the token is bound
	// to (codes.Unauthenticated). Challenge: error="invalid_token"; for a
	// DPoP call, DPoP error="invalid_token", algs="..."; for the Bearer
	// scheme, the Bearer challenge carries the error (with
	// error_description) and a second, DPoP algs="...", says how to send
	// the token, unless only DPoP is taken, when one DPoP challenge
	// carries the error and algs (RFC 9449, section 7.2).
	ReasonDPoPBindingMismatch = "DPOP_BINDING_MISMATCH"
	// ReasonDPoPRequired: a bearer token on a method whose rule sets
	// require_dpop, or on a server with Config.RequireDPoP
	// (codes.Unauthenticated). Get a DPoP-bound token and send it with
	// the DPoP scheme and a proof. Challenge: in the DPoP scheme only,
	// the one taken; error="invalid_token" for the rule's refusal of a
	// verified token that is not DPoP-bound, none under
	// Config.RequireDPoP, which refuses the Bearer scheme itself (RFC
	// 6750, section 3.1: an unsupported authentication method).
	ReasonDPoPRequired = "DPOP_REQUIRED"
	// ReasonUseDPoPNonce: the server requires a nonce in DPoP proofs
	// (Config.DPoP.Nonces) and the proof had none, or a stale one
	// (codes.Unauthenticated). The trailer dpop-nonce holds the nonce to
	// retry with (RFC 9449, section 9).
	ReasonUseDPoPNonce = "USE_DPOP_NONCE"
	// ReasonDPoPReplayCheckUnavailable: the DPoP replay cache could not
	// record the proof (full, or its shared store failed), so the call
	// was refused (codes.Unavailable). Retry later.
	ReasonDPoPReplayCheckUnavailable = "DPOP_REPLAY_CHECK_UNAVAILABLE"
	// ReasonDPoPRateLimitExceeded: the DPoP proof's key already has as
	// many unexpired proofs in the replay cache as one key may
	// (dpop.ErrReplayQuotaExceeded; by default a quarter of a
	// dpop.MemoryReplayCache), so the call was refused, while other
	// keys' calls are still served (codes.ResourceExhausted). Slow down:
	// a proof leaves the cache Config.DPoP.MaxAge (5 minutes by default)
	// after its iat. No challenge: the credentials were not judged.
	ReasonDPoPRateLimitExceeded = "DPOP_RATE_LIMIT_EXCEEDED"
	// ReasonInsufficientUserAuthentication: a valid token whose user
	// authentication is too weak or too old for the method (RFC 9470): its
	// acr claim is not one of the rule's acr_values, or its auth_time is
	// missing, not a number, older than the rule's max_age_seconds or more
	// than the verifier's clock skew in the future (codes.Unauthenticated;
	// Decision.Err says which). The requirement comes twice: in the
	// ErrorInfo metadata keys MetadataACRValues and MetadataMaxAge, and in
	// the trailer www-authenticate (MetadataWWWAuthenticate) as RFC 9470's
	// challenge (section 3), in the scheme the call used, e.g.
	// Bearer error="insufficient_user_authentication",
	// error_description="...", acr_values="urn:example:mfa phr", max_age="300"
	// (a DPoP call gets the DPoP scheme and algs="..." at the end); each of
	// acr_values and max_age only when the rule sets it. Send the user back
	// to the authorization server with those acr_values and max_age, then
	// retry with the new token. A stream on a method whose rule sets
	// max_age_seconds is cut with this reason, challenge and metadata once
	// its sign-in becomes older than that while it runs (see
	// Config.SkipStreamExpiry), the cut's Decision.Err saying so.
	ReasonInsufficientUserAuthentication = "INSUFFICIENT_USER_AUTHENTICATION"
	// ReasonConditionFailed: a valid token with the required scopes, but
	// the rule's condition evaluated to false for this call or stream
	// message (codes.PermissionDenied). See docs/conditions.md. No
	// challenge, as for ReasonConditionError.
	ReasonConditionFailed = "CONDITION_FAILED"
	// ReasonConditionError: the rule's condition could not be evaluated for
	// this call or stream message, e.g. it reads a claim the token does not
	// carry, or exceeded its cost limit (codes.PermissionDenied). The
	// detailed error is logged server-side, never sent.
	ReasonConditionError = "CONDITION_ERROR"
	// ReasonInternalError: a server bug, not the caller's (codes.Internal,
	// no challenge; retrying will not help until the server is fixed).
	// Either a stream ended because code of the server's (the
	// TokenVerifier's VerifyAccessToken or RevalidateAt, or
	// Config.Logger) panicked while the stream's token was re-verified,
	// on the timer's goroutine (message "grpcauth: internal error"; the
	// panic and its stack are logged server-side, never sent, see
	// Revalidator); or the call reached an Authenticator that New did not
	// build, a nil *Authenticator (whose New error went unchecked) or a
	// zero Authenticator, which refuses every call before the handler
	// runs (message "grpcauth: internal error"; see
	// Authenticator.UnaryServerInterceptor and ServeCall), or a
	// connectauth.Interceptor without an Authenticator (message
	// "connectauth: internal error"; see connectauth.NewInterceptor), or
	// the DPoP NonceSource (Config.DPoP.Nonces) returned a malformed nonce
	// (dpop.ErrBadNonce, logged) for a call that would have carried it: a
	// USE_DPOP_NONCE refusal, or an accepted proof made with an older
	// nonce. The malformed value is never sent.
	ReasonInternalError = "INTERNAL_ERROR"
	// ReasonCanceled: the caller cancelled while its token was being
	// verified, its condition evaluated, or its method's rule waited for
	// another call's read of the service's option (codes.Canceled).
	ReasonCanceled = "CANCELED"
	// ReasonDeadlineExceeded: the call's deadline passed while its token
	// was being verified, its condition evaluated, or its method's rule
	// waited for another call's read of the service's option
	// (codes.DeadlineExceeded).
	ReasonDeadlineExceeded = "DEADLINE_EXCEEDED"
)

// MetadataRequiredScopes is the ErrorInfo metadata key of a
// ReasonScopeInsufficient rejection. Its value is a JSON array of
// alternatives, each a JSON array of scopes that together suffice, sorted,
// e.g. [["items:admin","items:write"]] for one all-of set, or
// [["test:admin"],["test:audit","test:write"]] for either set. An empty
// array inside means "any valid token". Scopes never contain '"' or '\'
// (RFC 6749, 3.3), so the value needs no JSON escaping. It is at most
// 2048 bytes long: a rule that would need more is invalid
// (ErrInvalidRule), as is one whose acr_values (MetadataACRValues) would,
// so that a refusal fits the 8 KiB of metadata some clients accept.
const MetadataRequiredScopes = "required_scopes"

// MetadataACRValues is an ErrorInfo metadata key of a
// ReasonInsufficientUserAuthentication rejection, present when the rule sets
// acr_values: the acceptable authentication context class references,
// space-separated, as in RFC 9470's acr_values challenge parameter (e.g.
// "urn:example:mfa phr").
const MetadataACRValues = "acr_values"

// MetadataMaxAge is an ErrorInfo metadata key of a
// ReasonInsufficientUserAuthentication rejection, present when the rule sets
// max_age_seconds: the greatest acceptable age of the user's
// authentication, in decimal seconds, as in RFC 9470's max_age challenge
// parameter.
const MetadataMaxAge = "max_age"

// rejection is one fixed client-facing answer. It is built once and shared
// by every call it applies to: a status error is immutable, and none carries
// per-call detail.
type rejection struct {
	code   codes.Code
	reason string
	err    error // a status error with a google.rpc.ErrorInfo detail
	// challenge is the www-authenticate challenge of the refusal, nil for
	// one that is not about the caller's credentials; see
	// Authenticator.setChallenge.
	challenge *challenge
}

var (
	rejMissing            = bearerRejection(codes.Unauthenticated, ReasonCredentialsMissing, "grpcauth: access token required", "").inBothSchemes()
	rejMalformed          = bearerRejection(codes.Unauthenticated, ReasonTokenInvalid, "grpcauth: malformed authorization metadata", errInvalidRequest)
	rejInvalid            = bearerRejection(codes.Unauthenticated, ReasonTokenInvalid, "grpcauth: invalid access token", errInvalidToken)
	rejExpired            = bearerRejection(codes.Unauthenticated, ReasonTokenExpired, "grpcauth: access token expired", errInvalidToken)
	rejScheme             = bearerRejection(codes.Unauthenticated, ReasonTokenTypeUnsupported, "grpcauth: unsupported authorization scheme, want Bearer or DPoP", "").inBothSchemes()
	rejTokenType          = bearerRejection(codes.Unauthenticated, ReasonTokenTypeUnsupported, "grpcauth: unsupported access token type", errInvalidToken)
	rejNotConfigured      = newRejection(codes.PermissionDenied, ReasonMethodNotConfigured, "grpcauth: no access rule for this method", nil)
	rejUnavailable        = newRejection(codes.Unavailable, ReasonKeysUnavailable, "grpcauth: token verification unavailable", nil)
	rejRulesUnavailable   = newRejection(codes.Unavailable, ReasonRulesUnavailable, "grpcauth: access rules unavailable", nil)
	rejCanceled           = newRejection(codes.Canceled, ReasonCanceled, "grpcauth: call canceled", nil)
	rejDeadline           = newRejection(codes.DeadlineExceeded, ReasonDeadlineExceeded, "grpcauth: deadline exceeded during authentication", nil)
	rejStreamExpired      = bearerRejection(codes.Unauthenticated, ReasonTokenExpired, "grpcauth: access token expired during the stream", errInvalidToken)
	rejStreamRevoked      = bearerRejection(codes.Unauthenticated, ReasonTokenRevoked, "grpcauth: access token no longer valid; stream ended", errInvalidToken)
	rejInternal           = newRejection(codes.Internal, ReasonInternalError, "grpcauth: internal error", nil)
	rejTransport          = bearerRejection(codes.Unauthenticated, ReasonTransportInsecure, "grpcauth: credentials require a secure transport", errInvalidRequest)
	rejBindingMismatch    = bearerRejection(codes.Unauthenticated, ReasonBindingMismatch, "grpcauth: access token is bound to a different client certificate", errInvalidToken)
	rejNoClientCert       = bearerRejection(codes.Unauthenticated, ReasonBindingMismatch, "grpcauth: access token is certificate-bound; no client certificate was presented", errInvalidToken)
	rejBindingRequired    = bearerRejection(codes.Unauthenticated, ReasonBindingRequired, "grpcauth: this method requires a certificate-bound access token", errInvalidToken)
	rejBindingUnsupported = bearerRejection(codes.Unauthenticated, ReasonTokenTypeUnsupported, "grpcauth: access token is bound by an unsupported confirmation method", errInvalidToken)

	rejDPoPNoProof       = dpopRejection(codes.Unauthenticated, ReasonDPoPProofInvalid, "grpcauth: the DPoP scheme needs exactly one dpop proof", dpopErrProof)
	rejDPoPProofInvalid  = dpopRejection(codes.Unauthenticated, ReasonDPoPProofInvalid, "grpcauth: invalid DPoP proof", dpopErrProof)
	rejDPoPReplayed      = dpopRejection(codes.Unauthenticated, ReasonDPoPReplayed, "grpcauth: DPoP proof replayed", dpopErrProof)
	rejDPoPKeyMismatch   = dpopRejection(codes.Unauthenticated, ReasonDPoPBindingMismatch, "grpcauth: DPoP proof key does not match the access token", errInvalidToken)
	rejDPoPBoundAsBearer = bearerRejection(codes.Unauthenticated, ReasonDPoPBindingMismatch, "grpcauth: access token is DPoP-bound; send it with the DPoP scheme and a proof", errInvalidToken).inBothSchemes()
	rejDPoPUnbound       = dpopRejection(codes.Unauthenticated, ReasonDPoPBindingMismatch, "grpcauth: DPoP scheme with an access token that is not DPoP-bound", errInvalidToken)
	rejDPoPRequired      = dpopRejection(codes.Unauthenticated, ReasonDPoPRequired, msgDPoPRequired, "")
	rejDPoPRuleRequired  = newRejection(codes.Unauthenticated, ReasonDPoPRequired, msgDPoPRequired, nil).withChallenge(newChallenge(true, errorParams(errInvalidToken, dpopRequiredDescription)))
	rejUseDPoPNonce      = dpopRejection(codes.Unauthenticated, ReasonUseDPoPNonce, "grpcauth: DPoP proof needs the server nonce", dpopErrNonce)
	rejDPoPReplayCheck   = newRejection(codes.Unavailable, ReasonDPoPReplayCheckUnavailable, "grpcauth: DPoP replay check unavailable", nil)
	rejDPoPRateLimit     = newRejection(codes.ResourceExhausted, ReasonDPoPRateLimitExceeded, "grpcauth: too many DPoP proofs from this key; retry later", nil)
	rejConditionFailed   = newRejection(codes.PermissionDenied, ReasonConditionFailed, "grpcauth: the method's condition refused this call", nil)
	rejConditionError    = newRejection(codes.PermissionDenied, ReasonConditionError, "grpcauth: the method's condition could not be evaluated", nil)
)

// scopeDescription is the error_description of a scope refusal's
// challenge, and its status message.
const (
	scopeDescription     = "access token lacks a required scope"
	msgScopeInsufficient = "grpcauth: " + scopeDescription
)

// dpopRequiredDescription is the error_description of the challenge of a
// require_dpop rule's refusal (rejDPoPRuleRequired), and the status
// message of both DPOP_REQUIRED refusals. Config.RequireDPoP's
// (rejDPoPRequired) refuses the Bearer scheme itself, a scheme the server
// does not take, before any token is judged: its challenge has no error
// code (RFC 6750, section 3.1). The rule's refuses a token the server
// verified and found not DPoP-bound: invalid_token (section 3: a request
// with an access token that failed gets the error attribute), as the same
// token sent with the DPoP scheme gets (rejDPoPUnbound).
const (
	dpopRequiredDescription = "this method requires a DPoP-bound access token"
	msgDPoPRequired         = "grpcauth: " + dpopRequiredDescription
)

// newRejection builds a rejection whose status carries an ErrorInfo detail.
// Attaching the detail cannot fail for these inputs; if it ever did, the
// status goes without it rather than the server failing.
func newRejection(code codes.Code, reason, msg string, md map[string]string) *rejection {
	st := status.New(code, msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: md}); err == nil {
		st = d
	}
	return &rejection{code: code, reason: reason, err: st.Err()}
}

// bearerRejection is newRejection for a refusal that carries a challenge
// in the scheme of the call (RFC 6750, section 3): with the error code
// errCode and, as error_description, msg without its "grpcauth: " prefix;
// bare ("Bearer") for errCode "". Every such msg is a fixed string within
// RFC 6750's characters for error_description.
func bearerRejection(code codes.Code, reason, msg, errCode string) *rejection {
	var p *authParams
	if errCode != "" {
		p = errorParams(errCode, strings.TrimPrefix(msg, "grpcauth: "))
	}
	return newRejection(code, reason, msg, nil).withChallenge(newChallenge(false, p))
}

// scopeRejection builds the ReasonScopeInsufficient answer of a rule whose
// scope alternatives are alts (compiledRule.alternatives): the ErrorInfo
// metadata MetadataRequiredScopes lists them all, and the challenge is
// RFC 6750's insufficient_scope with scope="..." the scopes the method
// requires, space-separated (section 3), when one set of them suffices. A
// rule with alternatives (any_of with more than one set) has no single
// scope value that says what it needs, so its challenge has no scope
// rather than a misleading one.
func scopeRejection(alts [][]string) *rejection {
	p := errorParams(errInsufficientScope, scopeDescription)
	if len(alts) == 1 && len(alts[0]) > 0 {
		p.quoted("scope", strings.Join(alts[0], " "))
	}
	return newRejection(codes.PermissionDenied, ReasonScopeInsufficient, msgScopeInsufficient,
		map[string]string{MetadataRequiredScopes: alternativesJSON(alts)}).withChallenge(newChallenge(false, p))
}

// callEnded returns the rejection for err when it is the call's own
// context ending (ctx is done and err wraps a context error): a caller that
// gave up while keys were being fetched wants to know it was its own
// deadline. It returns nil otherwise, including for a context error of a
// dependency's own (a key-set fetch or a replay store that timed out while
// the call still had time), which is that dependency being unavailable.
func callEnded(ctx context.Context, err error) *rejection {
	if ctx.Err() == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return rejDeadline
	case errors.Is(err, context.Canceled):
		return rejCanceled
	}
	return nil
}

// enforcedInDryRun reports whether r, a refusal at the rule stage, is
// enforced in dry run too: that of a call whose own context ended
// (callEnded), as the caller has gone, or rejRulesUnavailable. Dry run
// relaxes what a method's rule requires; a resolver failure leaves no
// rule to relax, and, like KEYS_UNAVAILABLE, it is a server-side
// dependency's outage, which the caller is told to retry rather than let
// through unruled.
func (r *rejection) enforcedInDryRun() bool {
	return r == rejCanceled || r == rejDeadline || r == rejRulesUnavailable
}

// verifyRejection maps an error from TokenVerifier.VerifyAccessToken on
// the call whose context is ctx to what the caller gets. The call's own
// context ending comes first (callEnded); a context error while the call
// still had time is the verifier's dependency timing out: unavailable.
func verifyRejection(ctx context.Context, err error) *rejection {
	if r := callEnded(ctx, err); r != nil {
		return r
	}
	var ce *verifier.ClaimError
	switch {
	case errors.Is(err, verifier.ErrKeysUnavailable), errors.Is(err, verifier.ErrClosed),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return rejUnavailable
	case errors.Is(err, verifier.ErrExpired):
		return rejExpired
	case errors.As(err, &ce) && (ce.Claim == "typ" || ce.Claim == "token_type"):
		return rejTokenType
	default:
		return rejInvalid
	}
}
