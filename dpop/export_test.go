package dpop

import "time"

// AddIfAbsentFor records key for holder in c, as a Verifier does.
func AddIfAbsentFor(c *MemoryReplayCache, holder, key string, expires time.Time) (bool, error) {
	return c.addIfAbsentFor(holder, key, expires, c.now())
}

// ErrJWXPanicked marks a proof whose jwk made jwx panic: FuzzVerify fails on it.
var ErrJWXPanicked = errJWXPanicked
