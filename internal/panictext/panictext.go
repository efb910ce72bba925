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
// rather than pass as a return. (runtime.Goexit runs Run's deferred call
// too, and ends the goroutine all the same.)
func Run(f func(), max int) (text string, panicked bool) {
	returned := false
	defer func() {
		if v := recover(); !returned {
			text, panicked = Text(v, max), true
		}
	}()
	f()
	returned = true
	return "", false
}
