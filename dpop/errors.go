package dpop

import "errors"

// The sentinel errors of Verify. Every error Verify returns wraps exactly
// one of the first five (ErrInvalidProof to ErrReplayCheckUnavailable;
// ErrReplayCheckUnavailable may also wrap ErrReplayCacheFull or
// ErrReplayQuotaExceeded), or the context's error when ctx ends while a
// shared ReplayCache is consulted; the rest of the text is for server logs,
// never for the client.
var (
	// ErrInvalidProof: the proof is missing, malformed, badly signed, or
	// fails one of RFC 9449's checks (typ, alg, jwk, htm, htu, iat, ath).
	ErrInvalidProof = errors.New("dpop: invalid proof")
	// ErrKeyMismatch: the proof is valid but signed by another key than
	// the one the access token is bound to (its cnf jkt).
	ErrKeyMismatch = errors.New("dpop: proof key does not match the access token's cnf jkt")
	// ErrUseNonce: a NonceSource is configured and the proof carries no
	// nonce, a malformed one (not 1*NQCHAR of at most MaxNonceLen bytes),
	// or a stale or foreign one. The caller sends the client
	// Verifier.Nonce, which the client retries with (RFC 9449, section 9).
	ErrUseNonce = errors.New("dpop: proof needs a fresh server nonce")
	// ErrReplayed: a proof with this key and jti was already accepted
	// within the proof window.
	ErrReplayed = errors.New("dpop: proof replayed")
	// ErrReplayCheckUnavailable: the ReplayCache could not record the
	// proof (full, or its shared store failed), so it is refused: a proof
	// that cannot be checked for replay is never accepted. A Verifier
	// NewVerifier did not build (a zero Verifier) refuses every proof with
	// it too: a fault of the server's, not of the proof's.
	ErrReplayCheckUnavailable = errors.New("dpop: replay check unavailable")
	// ErrReplayCacheFull: the MemoryReplayCache holds MaxEntries unexpired
	// proofs. It is returned wrapped in ErrReplayCheckUnavailable.
	ErrReplayCacheFull = errors.New("dpop: replay cache full")
	// ErrReplayQuotaExceeded: the proof's key already has as many
	// unexpired proofs in the HolderReplayCache as one key may (in a
	// MemoryReplayCache, SetMaxPerHolder's bound): its new proofs are
	// refused until some expire, while other keys' are still accepted. It
	// is returned wrapped in ErrReplayCheckUnavailable.
	ErrReplayQuotaExceeded = errors.New("dpop: proof key over its replay cache quota")
)
