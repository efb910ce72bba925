// Package waittest bounds a test's wait for a call that must return, so
// that a test whose defence is removed fails saying what did not return
// instead of hanging until go test's timeout. The bound is a failure
// bound, never a synchronisation: no test passes or fails by how soon
// the call returns.
//
//	waittest.Within(t, 5*time.Second, "AddIfAbsent", func() { added, err = c.AddIfAbsent(ctx, key, exp) })
package waittest
