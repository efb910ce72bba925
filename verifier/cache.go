package verifier

import (
	"errors"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpcauth/grpcauth/verifier/internal/jwks"
)

// The verified-token cache. Its safety rules, each enforced here:
//
//   - Entries are keyed by the exact token string: no two tokens share one,
//     and a token differing in any byte is a miss (and then fails the full
//     verification, whose signature covers header and payload). One signed
//     token can have two valid strings: an ECDSA signature (r, s) verifies
//     as (r, n-s) too, so anyone holding an ES256/384/512 token can make a
//     second string for it. Each string is verified in full and cached on
//     its own; that is harmless here (both are genuine), but a replay or
//     jti store must be keyed by jti, never by the token string (see
//     docs/verifier.md).
//   - Only access tokens that passed every check are stored; ID tokens and
//     failures never are.
//   - Every hit re-checks exp, nbf and iat, with the skew. It checks them
//     against the hit clock (see hitNow): by default a reading of time.Now
//     at most hitClockResolution (10 ms) old, or Config.Now itself when that
//     is set or the skew is below hitClockMinSkew (1 s; none when ClockSkew
//     is negative). A hit the hit clock does not serve is decided against
//     Config.Now, so the reading's age can let a token through at most
//     hitClockResolution past its exp plus the skew (of monotonic time: a
//     token cached before a suspend of the host that expired during it is
//     served for what was left of the reading's 10 ms once the host
//     resumes; see coarseClock), and never refuses one.
//     An expired entry is deleted on its next lookup; a put reclaims the
//     expired entries among those it looks at (cacheEvictionSample, or up to
//     cacheReclaimScan when the shard is full) before it evicts a valid one.
//   - Every hit checks that the key that verified the token is still the
//     key set's key for its kid (*jwks.Key is pointer-stable across
//     refreshes of unchanged keys); an entry whose key left the set or
//     changed is dropped and the token verified in full.
//   - The cached *claimSet is immutable and reachable only through the
//     Claims value type, so one caller cannot change what the next hit
//     returns.
//   - An entry's accounted size is what it keeps alive: the token copy, the
//     claims' footprint (which own exactly sized memory, nothing pooled)
//     and entryOverhead; TestCache_AccountsWhatItKeepsAlive measures it.
//   - The cache holds at most MaxEntries tokens and MaxBytes accounted bytes
//     (token + claims + fixed overhead), split evenly over its shards; a full
//     shard evicts before inserting, so no flood of tokens grows it further.
//   - Access is sharded with a read-write mutex per shard; a hit takes one
//     read lock, reads no clock when the Verifier has a hit clock (an
//     atomic load of its reading; Config.Now otherwise, see hitNow) and
//     allocates nothing.

// maxCacheShards is the number of shards for large caches. Small caches use
// fewer, so that each shard's byte budget (at least minShardBytes) still
// holds large tokens and the per-shard entry bounds add up to at most
// MaxEntries.
const (
	maxCacheShards = 16
	minShardBytes  = 256 << 10
)

// entryOverhead is what an entry costs beyond its token and its claims'
// footprint: the cacheEntry and its map slot (key and value pointer, at the
// map's load factor). TestCache_AccountsWhatItKeepsAlive measures the sum
// against the live heap.
const entryOverhead = 160

// cacheEvictionSample is how many entries a put inspects for expiry before
// inserting, so that expired entries are reclaimed without a goroutine.
// When the shard is full it inspects up to cacheReclaimScan, so that no
// valid entry is evicted while one of those has expired, and the write
// lock a put holds stays short however large the shard.
const (
	cacheEvictionSample = 2
	cacheReclaimScan    = 64
)

type cacheEntry struct {
	claims *claimSet
	key    *jwks.Key
	size   int64
	// from and until bound, in Unix nanoseconds, the instants a hit-clock
	// reading (now) needs no closer look in: from <= now < until. until is
	// the token's exp plus the skew; from the latest of nbf and iat minus
	// the skew and the time the entry was stored, so that a reading taken
	// before the verification (one that a suspended process, or a
	// testing/synctest bubble whose timer never fires, kept) is never
	// trusted for the entry. A hit outside them is checked against
	// Config.Now.
	from, until int64
	// held is the last key-set snapshot found to hold key (see
	// jwks.Set.Holds).
	held atomic.Uint64
}

type cacheShard struct {
	mu    sync.RWMutex
	m     map[string]*cacheEntry
	bytes int64
	// hits and misses count lookups. They live in the shard, next to the
	// lock a lookup already writes, so counting adds no shared cache line.
	hits, misses atomic.Int64
	_            [64]byte // keep shards' locks on separate cache lines
}

type tokenCache struct {
	shards     []cacheShard
	maxEntries int   // per shard
	maxBytes   int64 // per shard
}

func newTokenCache(maxEntries int, maxBytes int64) *tokenCache {
	n := int(max(1, min(int64(maxCacheShards), int64(maxEntries), maxBytes/minShardBytes)))
	c := &tokenCache{
		shards:     make([]cacheShard, n),
		maxEntries: maxEntries / n,
		maxBytes:   maxBytes / int64(n),
	}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*cacheEntry)
	}
	return c
}

// shard picks a shard from the token's last 8 bytes: its signature's, which
// are high-entropy for the verified tokens the cache holds, and which a
// caller can steer for a token the cache stores only by picking among
// strings the issuer signed (an ECDSA token's two, see above, or the
// tokens it was issued): filling one shard so evicts no more entries per
// token verified than filling them all, and one token replayed already
// loads one shard. They are mixed by a
// multiplication by 2^64 divided by the golden ratio (Fibonacci hashing),
// and the product is scaled to the number of shards by a multiplication
// (the high word of product × shards) rather than a division: a few
// instructions however long the token, where a seeded hash and a modulo
// took a quarter of a hit.
func (c *tokenCache) shard(token string) *cacheShard {
	var tail uint64
	if t := token[max(len(token)-8, 0):]; len(t) == 8 {
		tail = uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56 // one load
	} else {
		for i := range len(t) { // a token too short to cache, looked up
			tail = tail<<8 | uint64(t[i])
		}
	}
	i, _ := bits.Mul64(tail*0x9e3779b97f4a7c15, uint64(len(c.shards)))
	return &c.shards[i]
}

// get returns the cached result for token. hit is false when the token is
// not cached, or its entry was dropped because its key is no longer the key
// set's key for its kid; the caller then verifies in full, and counts the
// miss (see miss). On a hit, err is the time check's result: an entry is
// never served outside its validity.
//
// A hit whose token is inside its time window and whose key still holds by
// the hit clock (hitNow) is served at once. Anything else is decided by
// check, against Config.Now: the hit clock's reading, at most
// hitClockResolution old, can only serve what a reading that recent would
// have served, never refuse or drop an entry.
func (c *tokenCache) get(token string, v *Verifier) (claims *claimSet, hit bool, err error) {
	sh := c.shard(token)
	sh.mu.RLock()
	e := sh.m[token]
	sh.mu.RUnlock()
	if e == nil {
		return nil, false, nil
	}
	if now := v.hitNow(); e.from <= now.ns && now.ns < e.until && v.set.Holds(e.key, now.at, now.ns, &e.held) {
		sh.hits.Add(1)
		return e.claims, true, nil
	}
	return sh.check(token, e, v)
}

// check is get's decision for an entry the hit clock did not serve.
func (sh *cacheShard) check(token string, e *cacheEntry, v *Verifier) (claims *claimSet, hit bool, err error) {
	now := v.s.Now()
	if v.set.CurrentAt(e.key.ID, now) != e.key {
		sh.remove(token, e)
		return nil, false, nil
	}
	sh.hits.Add(1)
	if err := v.checkCachedTime(e.claims, now); err != nil {
		if errors.Is(err, ErrExpired) {
			sh.remove(token, e)
		}
		return nil, true, err
	}
	return e.claims, true, nil
}

// miss counts a lookup of token that found no usable entry (Stats.CacheMisses).
func (c *tokenCache) miss(token string) { c.shard(token).misses.Add(1) }

// contains reports whether token is cached, without counting a lookup or
// checking the entry (get does both).
func (c *tokenCache) contains(token string) bool {
	sh := c.shard(token)
	sh.mu.RLock()
	_, ok := sh.m[token]
	sh.mu.RUnlock()
	return ok
}

// put stores a verified token, evicting as needed to stay within bounds.
// Tokens too large for a shard's byte budget are not stored.
func (c *tokenCache) put(token string, claims *claimSet, key *jwks.Key, v *Verifier) {
	// The entry keeps alive a copy of the token (its key), the claims and
	// the entry itself with its map slot.
	size := int64(len(token)) + claims.size + entryOverhead
	if size > c.maxBytes {
		return
	}
	now := unixNano(v.s.Now())
	e := &cacheEntry{claims: claims, key: key, size: size, from: now, until: unixNano(claims.expiry.Add(v.s.skew))}
	for _, t := range []time.Time{claims.notBefore, claims.issuedAt} {
		if !t.IsZero() { // passed at the verification; kept should the clock step back since
			e.from = max(e.from, unixNano(t.Add(-v.s.skew)))
		}
	}
	sh := c.shard(token)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !v.open.Load() {
		// Close empties the cache after marking the verifier closed, each
		// shard under its lock: a verification that finishes after Close
		// must not refill it.
		return
	}
	if old, ok := sh.m[token]; ok {
		sh.bytes -= old.size
		delete(sh.m, token)
	}
	// Reclaim expired entries (a few, or when the shard is full up to
	// cacheReclaimScan), then evict until the new one fits.
	fits := func() bool { return len(sh.m) < c.maxEntries && sh.bytes+size <= c.maxBytes }
	scan := cacheEvictionSample
	if !fits() {
		scan = cacheReclaimScan
	}
	for t, old := range sh.m {
		if scan == 0 {
			break
		}
		scan--
		if now >= old.until { // expired: past its exp plus the skew
			sh.bytes -= old.size
			delete(sh.m, t)
		}
	}
	for t, old := range sh.m {
		if fits() {
			break
		}
		sh.bytes -= old.size
		delete(sh.m, t)
	}
	// Copy the token so that the entry does not pin a larger string the
	// caller's token was sliced from (e.g. the whole metadata value).
	sh.m[string([]byte(token))] = e
	sh.bytes += size
}

// remove deletes token's entry if it is still e.
func (sh *cacheShard) remove(token string, e *cacheEntry) {
	sh.mu.Lock()
	if sh.m[token] == e {
		sh.bytes -= e.size
		delete(sh.m, token)
	}
	sh.mu.Unlock()
}

// clear empties the cache.
func (c *tokenCache) clear() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.bytes = 0
		sh.mu.Unlock()
	}
}

// stats returns the number of entries and accounted bytes.
func (c *tokenCache) stats() (entries int, bytes int64) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		entries += len(sh.m)
		bytes += sh.bytes
		sh.mu.RUnlock()
	}
	return entries, bytes
}

// counts returns the lookups that hit and missed.
func (c *tokenCache) counts() (hits, misses int64) {
	for i := range c.shards {
		hits += c.shards[i].hits.Load()
		misses += c.shards[i].misses.Load()
	}
	return hits, misses
}
