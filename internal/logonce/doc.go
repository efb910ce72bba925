// Package logonce writes an error record through slog.Default() the first
// time in the process something happens, not on every call: for values a
// constructor did not build, which have no configured Logger and are met
// on every call that uses them.
//
//	var notBuiltLog logonce.Once
//
//	func notBuilt(err error) error {
//		notBuiltLog.Error("verifier: a verifier not built by its constructor is in use", "error", err)
//		return err
//	}
package logonce
