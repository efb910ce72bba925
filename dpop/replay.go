package dpop

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"
)

// ReplayCache remembers accepted proofs so that none is accepted twice
// (RFC 9449, section 11.1).
//
// AddIfAbsent must be atomic: it records key until expires (inclusive) and
// returns true, or returns false when key is already recorded and has not
// expired, and no
// two concurrent calls with the same key may both return true. key is a
// fixed-length string (43 base64url characters: a hash of the proof key's
// thumbprint and the jti), so entries have a bounded size. An error means the
// check could not be made; the proof is then refused (fail closed), wrapped
// in ErrReplayCheckUnavailable.
//
// A MemoryReplayCache protects one process. Replicas behind a load balancer
// each need to see every proof to stop a replay sent to another replica:
// plug in a shared store with an atomic add-if-absent with expiry, such as
// Redis "SET key 1 NX PXAT <expires in ms>" (added when the reply is OK) or
// memcached "add". See docs/dpop.md.
type ReplayCache interface {
	AddIfAbsent(ctx context.Context, key string, expires time.Time) (added bool, err error)
}

// MemoryReplayCache is the default ReplayCache: an in-process map bounded to
// a number of unexpired entries. Expired entries are dropped as new ones
// arrive. When it holds MaxEntries unexpired entries it refuses new ones
// (ErrReplayCacheFull) rather than forget one that may still be replayed. It
// is safe for concurrent use.
type MemoryReplayCache struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]int64 // key -> expiry (Unix nanoseconds)
	byTime  expiryHeap
}

// NewMemoryReplayCache returns a MemoryReplayCache holding at most
// maxEntries unexpired entries (DefaultReplayCacheEntries when not
// positive), with now as its clock (time.Now when nil). Each entry keeps
// about 110 bytes alive (its 43-byte key, a map slot and a heap slot), so
// the default bound is about 11 MB.
func NewMemoryReplayCache(maxEntries int, now func() time.Time) *MemoryReplayCache {
	if maxEntries <= 0 {
		maxEntries = DefaultReplayCacheEntries
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryReplayCache{max: maxEntries, now: now, entries: make(map[string]int64)}
}

// AddIfAbsent implements ReplayCache.
func (c *MemoryReplayCache) AddIfAbsent(_ context.Context, key string, expires time.Time) (bool, error) {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropExpired(now)
	if _, seen := c.entries[key]; seen {
		return false, nil
	}
	if len(c.entries) >= c.max {
		return false, fmt.Errorf("%w (%d unexpired entries)", ErrReplayCacheFull, len(c.entries))
	}
	exp := expires.UnixNano()
	c.entries[key] = exp
	heap.Push(&c.byTime, expiryEntry{key: key, expires: exp})
	return true, nil
}

// Len returns the number of entries the cache holds, expired ones not yet
// dropped included.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// dropExpired removes the entries whose expiry is before now.
func (c *MemoryReplayCache) dropExpired(now int64) {
	for len(c.byTime) > 0 && c.byTime[0].expires < now {
		e := heap.Pop(&c.byTime).(expiryEntry)
		delete(c.entries, e.key)
	}
}

type expiryEntry struct {
	key     string
	expires int64
}

// expiryHeap is a min-heap of entries by expiry.
type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires < h[j].expires }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = expiryEntry{}
	*h = old[:len(old)-1]
	return e
}
