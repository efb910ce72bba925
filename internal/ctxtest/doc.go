// Package ctxtest holds a context for tests that must end a context at an
// exact point of the code under test: before the nth call of its Done,
// and so before the select that waits on it is evaluated.
//
//	parent, cancel := context.WithCancel(t.Context())
//	ctx := &ctxtest.Ending{Context: parent, N: 2, Before: cancel}
//	proof, err := signer.ProofContext(ctx, req) // its second Done finds ctx ended
package ctxtest
