package introspect

import (
	"errors"
	"fmt"

	"github.com/grpcauth/grpcauth/internal/built"
	"github.com/grpcauth/grpcauth/internal/logonce"
)

// The check grpcauth.New (through internal/built, which cannot import this
// package) makes of its Config.Verifier: a zero Verifier or Combined is
// refused there, as a zero verifier.Verifier is, instead of refusing every
// token at run time.
func init() {
	built.CheckIntrospect = func(v any) error {
		switch j := v.(type) {
		case *Verifier:
			if !j.built() {
				return errors.New("was not built with introspect.New (a zero introspect.Verifier)")
			}
		case *Combined:
			if !j.built() {
				return errors.New("was not built with introspect.Combine (a zero introspect.Combined)")
			}
		}
		return nil
	}
}

// errNotBuilt is what the methods of a Verifier that New did not build
// return (see built). It wraps ErrUnavailable, as the package's other
// misconfigurations (refused client credentials) do: the grpcauth
// interceptors answer codes.Unavailable (KEYS_UNAVAILABLE), which does not
// make clients discard good tokens as Unauthenticated would.
var errNotBuilt = fmt.Errorf("%w: the Verifier was not built with New (a zero Verifier, or a nil *Verifier)", ErrUnavailable)

// errCombinedNotBuilt is errNotBuilt for a Combined that Combine did not
// build (see Combined.built).
var errCombinedNotBuilt = fmt.Errorf("%w: the Combined was not built with Combine (a zero Combined, or a nil *Combined)", ErrUnavailable)

// built reports whether v was made by New: not nil, and not a zero
// Verifier (a variable declared and never assigned, new(Verifier)), whose
// use would dereference nil fields. New always makes sem.
func (v *Verifier) built() bool { return v != nil && v.sem != nil }

// built reports whether c was made by Combine, which always sets both
// verifiers.
func (c *Combined) built() bool { return c != nil && c.jwt != nil && c.opaque != nil }

// notBuiltLog logs, once per process, that a value its constructor did
// not build is in use: once, not on every call.
var notBuiltLog logonce.Once

// notBuilt logs, the first time in the process, through slog.Default()
// (such a value has no Config.Logger), that a Verifier or Combined its
// constructor did not build is in use, and returns err.
func notBuilt(err error) error {
	notBuiltLog.Error("introspect: a verifier not built by its constructor is in use: every token is refused with ErrUnavailable (codes.Unavailable)",
		"error", err)
	return err
}
