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
