package verifier

import (
	"fmt"

	"github.com/grpcauth/grpcauth/internal/logonce"
)

// errNotBuilt is what the methods of a Verifier that New did not build
// return (see Verifier.built). It wraps ErrKeysUnavailable: the grpcauth
// interceptors answer codes.Unavailable (KEYS_UNAVAILABLE), a server-side
// fault that tells clients to retry rather than to discard good tokens, as
// codes.Unauthenticated would.
var errNotBuilt = fmt.Errorf("%w: the Verifier was not built with New (a zero Verifier, or a nil *Verifier)", ErrKeysUnavailable)

// errMultiNotBuilt is errNotBuilt for a MultiVerifier that NewMulti did not
// build (see MultiVerifier.built).
var errMultiNotBuilt = fmt.Errorf("%w: the MultiVerifier was not built with NewMulti (a zero MultiVerifier, or a nil *MultiVerifier)", ErrKeysUnavailable)

// built reports whether v was made by New: not nil, and not a zero
// Verifier (a variable declared and never assigned, new(Verifier)), whose
// use would dereference nil fields. New always starts a key set. The
// verification path does not call it: it tests open, which only New sets
// (see Verifier.unusable).
func (v *Verifier) built() bool { return v != nil && v.set != nil }

// built reports whether m was made by NewMulti, which always makes
// byIssuer.
func (m *MultiVerifier) built() bool { return m != nil && m.byIssuer != nil }

// notBuiltLog logs, once per process, that a value its constructor did
// not build is in use: once, not on every call.
var notBuiltLog logonce.Once

// notBuilt logs, the first time in the process, through slog.Default()
// (such a value has no Config.Logger), that a Verifier or MultiVerifier its
// constructor did not build is in use, and returns err. Nothing of the
// token is logged.
func notBuilt(err error) error {
	notBuiltLog.Error("verifier: a verifier not built by its constructor is in use: every token is refused with ErrKeysUnavailable (codes.Unavailable)",
		"error", err)
	return err
}
