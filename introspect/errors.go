package introspect

import (
	"fmt"

	"github.com/grpcauth/grpcauth/verifier"
)

// ErrInactive reports a token the authorization server says is not active:
// expired, revoked, never issued, or not meant for this client. RFC 7662
// §2.2 has the server answer just {"active": false}, without saying which.
// It wraps none of the verifier's sentinels: the grpcauth interceptors map
// it, like any invalid token, to codes.Unauthenticated with
// ACCESS_TOKEN_INVALID.
//
// When the Verifier knows the token has expired, because it cached an
// earlier answer giving an exp that has now passed, it returns a
// *verifier.TokenExpiredError (ACCESS_TOKEN_EXPIRED) instead, as for a JWT.
// The ended entry is kept until the server's next verdict, so a failed
// attempt to ask (ErrUnavailable) does not lose that memory. Without it
// (the caches off, the entry evicted, or another replica) an expired
// opaque token is ErrInactive: clients should get a new
// token on ACCESS_TOKEN_INVALID as well as ACCESS_TOKEN_EXPIRED. See
// docs/introspection.md.
var ErrInactive error = inactiveError{}

type inactiveError struct{}

func (inactiveError) Error() string { return "introspect: token is not active" }

// ErrUnavailable reports that the introspection endpoint could not give a
// usable answer: it could not be reached, timed out, answered with a status
// other than 200 (including 401 and 403: the server refused this service's
// own client credentials), sent a body that is too large or not an RFC 7662
// response, or redirected; or the request was not sent, for
// Config.MaxRequestRate or within the Retry-After of an earlier 429 or 503
// answer, an earlier 429's X-Rate-Limit-Reset, the backoff after 429 or
// 503 answers with neither, 502 or 504 answers, or network failures from
// the second burst in a row (a second, doubling per consecutive burst), or
// the Cache.NegativeTTL after an earlier 401 or 403 invalid_client answer
// (at most a minute: see Stats.RateLimited); or the Verifier or Combined was not built by its
// constructor (see Verifier). None of these is the caller's fault, so
// errors.Is(err, verifier.ErrKeysUnavailable) reports true for it and the
// grpcauth interceptors answer codes.Unavailable, which tells a client to
// retry rather than to discard its token. Such results are never cached.
var ErrUnavailable error = unavailableError{}

type unavailableError struct{}

func (unavailableError) Error() string { return "introspect: introspection endpoint unavailable" }

// Is makes errors.Is(err, verifier.ErrKeysUnavailable) true.
func (unavailableError) Is(target error) bool { return target == verifier.ErrKeysUnavailable }

// unavailable wraps ErrUnavailable with detail for server logs.
func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnavailable, fmt.Sprintf(format, args...))
}

// ownError returns err as one caller may keep it. A result's error is
// shared: by the callers that waited for one request, by every caller the
// negative cache answers, and with the fixed *verifier.ClaimError values
// below. errors.As hands out the pointer of a *verifier.ClaimError or
// *verifier.TokenExpiredError, whose fields a caller (an OnDecision hook,
// say) could change, so each caller gets its own copy, and no caller
// changes what another sees. Other errors are returned as they are: the
// wrapped sentinels have no fields to change.
func ownError(err error) error {
	switch e := err.(type) {
	case *verifier.ClaimError:
		c := *e
		return &c
	case *verifier.TokenExpiredError:
		c := *e
		return &c
	}
	return err
}

// Fixed rejection errors, as the verifier has them; ownError copies the
// *verifier.ClaimError ones before a caller gets them.
var (
	errEmpty      = fmt.Errorf("%w: empty token", verifier.ErrMalformed)
	errTooLarge   = fmt.Errorf("%w: token larger than MaxTokenSize", verifier.ErrMalformed)
	errCharset    = fmt.Errorf("%w: token has characters outside RFC 6750's b64token", verifier.ErrMalformed)
	errIssuer     = fmt.Errorf("%w: iss differs from the configured issuer", verifier.ErrIssuer)
	errAudience   = fmt.Errorf("%w: aud names no accepted audience", verifier.ErrAudience)
	errNoAudience = fmt.Errorf("%w: aud missing", verifier.ErrAudience)
	errNotYet     = fmt.Errorf("%w: nbf in the future", verifier.ErrNotYetValid)
	errIssuedLate = fmt.Errorf("%w: iat in the future", verifier.ErrNotYetValid)
	errNoExp      = &verifier.ClaimError{Claim: "exp", Reason: "missing from the introspection response"}
	errClientID   = &verifier.ClaimError{Claim: "client_id", Reason: "client not allowed"}
	errNoClientID = &verifier.ClaimError{Claim: "client_id", Reason: "missing"}
	errClientIDs  = &verifier.ClaimError{Claim: "client_id", Reason: "cid, client_id and azp name different clients"}
	errTokenType  = &verifier.ClaimError{Claim: "token_type", Reason: "not an accepted token type"}
	// errDPoPUnbound: token_type DPoP, but no cnf.jkt naming the key.
	errDPoPUnbound = &verifier.ClaimError{Claim: "cnf", Reason: "token_type DPoP without a cnf.jkt key binding"}
)
