// Package waittest bounds a test's wait for a call that must return, so
// that a test whose defence is removed fails saying what did not return
// instead of hanging until go test's timeout. The bound is a failure
// bound, never a synchronisation: no test passes or fails by how soon
// the call returns.
//
//	waittest.Within(t, 5*time.Second, "AddIfAbsent", func() { added, err = c.AddIfAbsent(ctx, key, exp) })
package waittest

import (
	"testing"
	"time"
)

// Within runs f on a goroutine of its own and fails the test with
// t.Fatalf, naming what, if f has not returned after bound. Call it on
// the test's goroutine; f must not call t.FailNow (t.Error is fine), and
// what f writes may be read once Within has returned.
func Within(t testing.TB, bound time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("%s has not returned after %v", what, bound)
	}
}
