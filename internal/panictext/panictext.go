package panictext

import (
	"fmt"

	"github.com/grpcauth/grpcauth/internal/endpoint"
)

// Text returns v, a recovered panic's value, as text cut to max bytes with
// its length noted (endpoint.ClipSized): the code that panicked chose its
// size. fmt recovers a panic of v's String or Error method, but not a
// second one, of the method of the value that panic carries; Text
// recovers that too, and then names v's type only. It never panics.
func Text(v any, max int) (text string) {
	defer func() {
		if recover() != nil {
			text = fmt.Sprintf("a %T, whose String or Error method panicked", v)
		}
	}()
	return endpoint.ClipSized(fmt.Sprint(v), max)
}

// Run calls f and reports whether it did not return, with the text (Text,
// cut to max bytes) of the panic it recovers then. Not returning, rather
// than recover's value, marks the failure: a panic(nil) under
// GODEBUG=panicnil=1, which recover sees as nil, fails alike ("<nil>")
// rather than pass as a return. (runtime.Goexit ends the goroutine
// within Run, as within Catch.)
func Run(f func(), max int) (text string, panicked bool) {
	if v, panicked := Catch(f); panicked {
		return Text(v, max), true
	}
	return "", false
}

// Catch calls f and returns the value of its panic, with panicked true,
// once it panicked, whatever the value: a panic(nil) under
// GODEBUG=panicnil=1, which recover sees as nil, is a panic all the same
// (nil, true), not a return. Catch returns only when f returned or
// panicked: when f ends its goroutine (runtime.Goexit), the goroutine
// ends within Catch, so that a caller's deferred function that sees Catch
// did not return (a flag set after it) knows that f called Goexit, the
// two-level pattern of golang.org/x/sync/singleflight.
func Catch(f func()) (v any, panicked bool) {
	returned := false
	defer func() {
		if !returned {
			// Under runtime.Goexit recover returns nil and stops
			// nothing: the goroutine goes on ending.
			v, panicked = recover(), true
		}
	}()
	f()
	returned = true
	return nil, false
}
