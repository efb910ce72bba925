package verifier

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors returned (wrapped) by the verifier. Branch on them with
// errors.Is; the wrapping error carries detail meant for server-side logs,
// never for the caller of an RPC.
var (
	// ErrMalformed reports a token that is not a well-formed compact JWS JWT:
	// wrong number of parts, bad base64 or JSON, a claim of the wrong type,
	// a missing kid, or a token larger than Config.MaxTokenSize.
	ErrMalformed = errors.New("verifier: malformed token")

	// ErrAlgorithm reports a token whose header alg is not in the
	// allow-list, is "none" or HMAC, or differs from the alg of its key.
	ErrAlgorithm = errors.New("verifier: algorithm not allowed")

	// ErrExpired reports a token whose exp lies in the past beyond the clock
	// skew. The concrete error is a *TokenExpiredError.
	ErrExpired = errors.New("verifier: token expired")

	// ErrNotYetValid reports a token whose nbf or iat lies in the future
	// beyond the clock skew.
	ErrNotYetValid = errors.New("verifier: token not yet valid")

	// ErrBadSignature reports a signature that does not verify under the
	// key named by the token's kid.
	ErrBadSignature = errors.New("verifier: invalid signature")

	// ErrUnknownKey reports a kid that is not in the issuer's key set as a
	// successful fetch found it: one made for this token, or one that
	// recently found the kid absent (or withdrawn). It is also the answer,
	// at once, when MaxKeyWaiters calls already wait for a fetch (the one
	// in flight, or the next the rate limit allows) and the latest fetch
	// succeeded (else ErrKeysUnavailable). See docs/key-set.md.
	ErrUnknownKey = errors.New("verifier: unknown signing key")

	// ErrIssuer reports an iss claim that is missing or differs from
	// Config.Issuer.
	ErrIssuer = errors.New("verifier: issuer mismatch")

	// ErrAudience reports an aud claim that is missing or names none of
	// Config.Audiences (or, for ID tokens, not the client id).
	ErrAudience = errors.New("verifier: audience mismatch")

	// ErrClaims reports a failed claim check: a missing exp, the client-id
	// allow-list, a claim assertion, an ID token's missing sub or iat, its
	// nonce or azp, a typ naming another kind of JWT, or the typ or a claim
	// the RFC 9068 profile requires. The concrete error is a *ClaimError.
	ErrClaims = errors.New("verifier: claim check failed")

	// ErrKeysUnavailable reports that the keys needed are not available: the
	// first fetch has not succeeded yet, the last good set is older than
	// Config.MaxStaleness, or the token's kid is not in the last good set
	// and the key-set fetch its answer relied on failed (the key may have
	// been published since). A Verifier or MultiVerifier its constructor
	// did not build (a zero value, a nil pointer) refuses every token with
	// it too, saying so. It is a server-side condition, not the
	// caller's fault; interceptors map it to codes.Unavailable, which tells
	// the client to retry.
	ErrKeysUnavailable = errors.New("verifier: keys unavailable")

	// ErrClosed reports use of a Verifier after Close, or a verification
	// that needed a key-set fetch while Close ran.
	ErrClosed = errors.New("verifier: closed")
)

// TokenExpiredError is returned when a token's exp is in the past beyond the
// allowed clock skew. errors.Is(err, ErrExpired) reports true for it.
type TokenExpiredError struct {
	// Expiry is the token's exp claim.
	Expiry time.Time
}

// Error says when the token expired.
func (e *TokenExpiredError) Error() string {
	return fmt.Sprintf("verifier: token expired at %s", e.Expiry.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrExpired) true.
func (e *TokenExpiredError) Is(target error) bool { return target == ErrExpired }

// ClaimError is returned when a claim check fails. errors.Is(err, ErrClaims)
// reports true for it.
type ClaimError struct {
	// Claim is the name of the claim that failed, e.g. "cid" or "typ".
	Claim string
	// Reason says what was wrong, e.g. "missing" or "value not allowed".
	// It never contains the claim's value.
	Reason string
}

// Error names the claim and the reason, never the claim's value.
func (e *ClaimError) Error() string {
	return fmt.Sprintf("verifier: claim %q: %s", e.Claim, e.Reason)
}

// Is makes errors.Is(err, ErrClaims) true.
func (e *ClaimError) Is(target error) bool { return target == ErrClaims }

// fresh returns a new *ClaimError with e's fields, for one refusal: errors.As
// hands out the pointer, and a caller (an OnDecision hook, say) that
// changes the fields of the one it got must not change another refusal's.
func (e ClaimError) fresh() error { return &e }
