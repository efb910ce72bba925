package dpop

import "time"

// AddIfAbsentFor records key for holder in c, as a Verifier does.
func AddIfAbsentFor(c *MemoryReplayCache, holder, key string, expires time.Time) (bool, error) {
	return c.addIfAbsentFor(holder, key, expires, c.now())
}
