// Package isnil reports whether an interface value holds nothing usable:
// a configuration field set from a variable that was never assigned (a nil
// *verifier.Verifier in a grpcauth.Config, say) is not == nil, and fails
// only later, on a call, when a method dereferences it.
//
//	if isnil.Value(cfg.Verifier) {
//		return errors.New("Config.Verifier is a nil pointer")
//	}
package isnil

import "reflect"

// Value reports whether v is nil or holds a nil pointer, func, map, slice
// or channel.
func Value(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice, reflect.Chan:
		return rv.IsNil()
	}
	return false
}
