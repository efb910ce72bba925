package dpop

import "time"

// AddIfAbsentFor records key for holder in c, as a Verifier does.
func AddIfAbsentFor(c *MemoryReplayCache, holder, key string, expires time.Time) (bool, error) {
	return c.addIfAbsentFor(holder, key, expires, c.now())
}

// The refusals of a jwk's x5c, and of key references, for the tests'
// tables.
var (
	ErrKeyRef = errKeyRef
	ErrX5C    = errX5C
	ErrX5CKey = errX5CKey
	ErrX5T    = errX5T
)

// MaxX5CCertLen is maxX5CCertLen.
const MaxX5CCertLen = maxX5CCertLen
