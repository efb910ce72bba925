// Package isnil reports whether an interface value holds nothing usable:
// a configuration field set from a variable that was never assigned (a nil
// *verifier.Verifier in a grpcauth.Config, say) is not == nil, and fails
// only later, on a call, when a method dereferences it.
//
//	if isnil.Value(cfg.Verifier) {
//		return errors.New("Config.Verifier is a nil pointer")
//	}
package isnil
