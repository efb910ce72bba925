package ctxtest

import (
	"context"
	"sync/atomic"
)

// Ending is a context whose Done, called for the Nth time (1 for the
// first), first runs Before: a hook that puts the code under test into a
// given state (a signature made, a slot freed) and ends the context,
// before the select that waits on Done is evaluated.
// dpop.Signer.ProofContext calls Done once to wait for a slot (a KMS
// key's only) and once to wait for the signature. Its other methods are
// those of the context it embeds.
type Ending struct {
	context.Context
	// N is the call of Done that runs Before first.
	N int
	// Before runs once, in the Nth call of Done.
	Before func()
	calls  atomic.Int64
}

// Done runs Before on its Nth call, then returns the embedded context's
// Done.
func (c *Ending) Done() <-chan struct{} {
	if c.calls.Add(1) == int64(c.N) {
		c.Before()
	}
	return c.Context.Done()
}
