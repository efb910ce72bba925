package dpop

import (
	"fmt"

	"github.com/grpcauth/grpcauth/internal/logonce"
)

// errNotBuilt is what Verify of a Verifier that NewVerifier did not build
// returns (see Verifier). It wraps ErrReplayCheckUnavailable, the
// package's one fault of the server's rather than of the proof's: such a
// Verifier has no algorithms and no ReplayCache, so no proof can be
// checked, and a server answers it as a failing replay store
// (codes.Unavailable behind grpcauth), as it answers the verifier and
// introspect packages' unbuilt verifiers, rather than tell the client its
// proof is invalid.
var errNotBuilt = fmt.Errorf("%w: the Verifier was not built with NewVerifier (a zero Verifier, or a nil *Verifier)", ErrReplayCheckUnavailable)

// notBuiltLog logs, once per process, that a Verifier NewVerifier did not
// build is in use: once, not on every proof.
var notBuiltLog logonce.Once

// notBuilt logs, the first time in the process, through slog.Default()
// (such a Verifier has no logger), that a Verifier NewVerifier did not
// build is in use, and returns errNotBuilt. Nothing of the proof is
// logged.
func notBuilt() error {
	notBuiltLog.Error("dpop: a Verifier not built by NewVerifier is in use: every proof is refused with ErrReplayCheckUnavailable",
		"error", errNotBuilt)
	return errNotBuilt
}
