package dpop

import (
	"context"
	"time"
)

// AddIfAbsentFor records key for holder in c, as a Verifier does.
func AddIfAbsentFor(c *MemoryReplayCache, holder, key string, expires time.Time) (bool, error) {
	return c.addIfAbsentFor(holder, key, expires, c.now())
}

// ErrJWXPanicked marks a proof whose jwk made jwx panic: FuzzVerify fails on it.
var ErrJWXPanicked = errJWXPanicked

// VerifyRepanickingJWX is v.Verify with a panic of jwx's not recovered
// (repanicJWX): FuzzVerify calls it on a proof refused with ErrJWXPanicked,
// so that the fuzzer reports the panic with its stack.
func VerifyRepanickingJWX(ctx context.Context, v *Verifier, proof string, req Request) (Proof, error) {
	repanicJWX = true
	defer func() { repanicJWX = false }()
	return v.Verify(ctx, proof, req)
}
