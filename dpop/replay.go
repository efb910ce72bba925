package dpop

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/grpcauth/grpcauth/internal/expheap"
	"github.com/grpcauth/grpcauth/internal/unixnano"
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
// memcached "add". See docs/dpop.md. Such a store expires keys on its own
// clock: the Verifier judges a proof's age again once the store has
// answered, so a slow answer never lets a replay through, but a store
// whose clock runs more than a second ahead of a replica's forgets proofs
// that replica still accepts at the end of their window: keep their
// clocks synchronised. Each Verifier records a proof until its iat plus
// its own Config.MaxAge (and a second), so Verifiers that share a store
// must have the same MaxAge (while a change rolls out, give every one
// the longest): one with a longer MaxAge would accept the replay of a
// proof that one with a shorter MaxAge recorded, once its entry expired.
// A store that is a RetainingReplayCache is told each Verifier's window
// as the Verifier is built, and can keep every entry for the longest
// instead (or log the difference). A *MemoryReplayCache is one, and keeps
// every proof for the longest MaxAge of the Verifiers built on it; so is
// a type of yours that embeds a *MemoryReplayCache (Retain is promoted),
// whose embedded cache is then told, and, when your AddIfAbsent passes on
// Verify's context and key, keeps the entries recorded through your type
// for the longest window too. A type that holds the cache in a field
// implements Retain by passing it on.
type ReplayCache interface {
	AddIfAbsent(ctx context.Context, key string, expires time.Time) (added bool, err error)
}

// HolderReplayCache is a ReplayCache that is told which proof key (the
// holder) each entry belongs to, so that it can bound what one key holds: a
// bounded cache shared by all clients could otherwise be filled by one
// client with one token, which would lock every other DPoP client out until
// its entries expire. A Verifier whose ReplayCache is a HolderReplayCache
// calls AddIfAbsentFor instead of AddIfAbsent, with holder the unpadded
// base64url RFC 7638 SHA-256 thumbprint of the proof's key (43 characters):
// the key that signed the proof, which the token's cnf jkt names when the
// token is DPoP-bound.
//
// AddIfAbsentFor has the contract of AddIfAbsent. It may also decline to
// record a new key because holder has too many unexpired entries, with an
// error wrapping ErrReplayQuotaExceeded. Like any error, that refuses the
// proof (wrapped in ErrReplayCheckUnavailable), so no proof is accepted
// unchecked; the grpcauth interceptors answer it with
// codes.ResourceExhausted (DPOP_RATE_LIMIT_EXCEEDED) instead of
// codes.Unavailable.
//
// The holder comes beside the key rather than inside it, so that every
// ReplayCache keeps its fixed-length keys and a shared store without a
// quota of its own needs no change: it implements ReplayCache only.
type HolderReplayCache interface {
	ReplayCache
	AddIfAbsentFor(ctx context.Context, holder, key string, expires time.Time) (added bool, err error)
}

// RetainingReplayCache is a ReplayCache that is told how long each
// Verifier built on it records proofs: NewVerifier calls Retain once,
// as the last step of a build that succeeds, with window the Verifier's
// Config.MaxAge and a second (each expires it passes AddIfAbsent is a
// proof's iat plus window) and now its clock (Config.Now). A store
// shared by Verifiers of different MaxAge must keep every entry until
// its iat plus the longest window it was told (expires plus the
// difference, when the shorter window recorded it), or a Verifier with
// the longer MaxAge accepts the replay of a proof the shorter one
// recorded once its entry expired; a store that cannot may log, or
// count, windows that differ, which are a misconfiguration for it.
// Retain must be safe for concurrent use and must not block. now is the
// Verifier's Config.Now, the caller's code: call it before taking a
// lock that AddIfAbsent takes, so that a now that blocks or panics, or
// calls the store, never holds up or breaks the store's other calls.
// A panic of Retain, or of now within it, fails NewVerifier with an error
// that says which, and the panic's value.
//
// *MemoryReplayCache implements it (see MemoryReplayCache.Retain), and
// so does, by promotion, a type of yours that embeds one.
type RetainingReplayCache interface {
	ReplayCache
	Retain(window time.Duration, now func() time.Time)
}

// addProof records key for holder in c until iat plus window (the
// Verifier's MaxAge and a second), at now, the time the Verifier
// checked the proof: with its holder when c is a *MemoryReplayCache or a
// HolderReplayCache, through AddIfAbsent otherwise, with now and window
// in ctx for a *MemoryReplayCache the caller's type wraps
// (withCheckTime). MemoryReplayCache's
// holder method is unexported, so that a type embedding
// *MemoryReplayCache to wrap its AddIfAbsent (to count, or to consult a
// shared store too) is no HolderReplayCache by promotion: its AddIfAbsent
// is called, never bypassed. A *MemoryReplayCache judges expiry at now,
// not on its own clock, so that it never forgets an entry the Verifier
// could still accept, whichever clock it was built with; so does one that
// a wrapper calls, which finds now in ctx (checkTime). A
// *MemoryReplayCache also keeps the entry for the longest window of the
// Verifiers built on it (Retain), when that is longer than window.
func addProof(ctx context.Context, c ReplayCache, now time.Time, holder, key string, iat time.Time, window time.Duration) (bool, error) {
	expires := iat.Add(window)
	switch c := c.(type) {
	case *MemoryReplayCache:
		return c.record(holder, key, expires, window, now)
	case HolderReplayCache:
		return c.AddIfAbsentFor(withCheckTime(ctx, key, now, window), holder, key, expires)
	}
	return c.AddIfAbsent(withCheckTime(ctx, key, now, window), key, expires)
}

// withCheckTime returns ctx carrying now, the time Verify checked the
// proof recorded under key, and window, the Verifier's (MaxAge and a
// second), for checkTime; a nil ctx (which
// context.WithValue refuses) becomes context.Background, so that a
// wrapped MemoryReplayCache judges expiry on the Verifier's clock then too.
func withCheckTime(ctx context.Context, key string, now time.Time, window time.Duration) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithValue(ctx, checkTimeKey{}, checkTimeValue{key: key, now: now, window: window})
}

// checkTimeKey is the context key under which Verify hands a ReplayCache
// of the caller's the time it checked the proof, for a *MemoryReplayCache
// the caller's type wraps: see MemoryReplayCache.AddIfAbsent. Being
// unexported, only Verify can set it.
type checkTimeKey struct{}

// checkTimeValue is the time Verify checked the proof it records under
// key, and the window of the Verifier that records it.
type checkTimeValue struct {
	key    string
	now    time.Time
	window time.Duration
}

// checkTime returns the time Verify checked the proof it records under
// key, and the Verifier's window, when ctx carries them, or false:
// outside Verify, and for another key (a store that records other entries
// too, in a MemoryReplayCache of its own, with Verify's context), whose
// expiry is no business of the Verifier's clock or window.
func checkTime(ctx context.Context, key string) (time.Time, time.Duration, bool) {
	if ctx == nil {
		return time.Time{}, 0, false
	}
	v, ok := ctx.Value(checkTimeKey{}).(checkTimeValue)
	if !ok || v.key != key {
		return time.Time{}, 0, false
	}
	return v.now, v.window, true
}

// MemoryReplayCache is the default ReplayCache: an in-process map bounded to
// a number of unexpired entries, of which one holder (proof key) may have
// at most a share. Expired entries are dropped as new ones arrive. When a
// holder has its maximum of unexpired entries, its new ones are refused
// (ErrReplayQuotaExceeded) while other holders' are still recorded; when the
// cache holds MaxEntries unexpired entries it refuses every new one
// (ErrReplayCacheFull). Either way it never forgets an entry that may still
// be replayed. It is safe for concurrent use.
//
// A Verifier whose ReplayCache is a *MemoryReplayCache tells it each
// proof's holder, as it tells a HolderReplayCache; entries added with
// AddIfAbsent have no holder and count towards the capacity only.
//
// NewVerifier tells the cache its Config.MaxAge, and the cache keeps
// every proof a Verifier records until its iat plus the longest MaxAge
// of the Verifiers built on it (and a second), for the cache's life,
// also once that Verifier is gone (a new cache forgets it): a Verifier
// with a longer MaxAge than another sharing the cache never accepts the
// replay of a proof the other recorded, even one recorded before it was
// built, whose entry the longer MaxAge lengthens. The entries of the
// Verifier with the shorter MaxAge then live that long too, and count
// that long towards the capacity and their key's share of it. A proof
// already older than the longest MaxAge before (and a second) when a
// Verifier with a longer one is built may have been forgotten: from then
// on the cache refuses it as a replay (ErrReplayed), at every Verifier,
// as the shorter ones do. A ReplayCache of yours that embeds the cache
// is told too (Retain is promoted; see RetainingReplayCache), and the
// proofs recorded through its AddIfAbsent are kept as long, when it
// passes on Verify's context and key; one that holds the cache in a
// field must implement Retain itself, passing it on, or give every
// Verifier one MaxAge (see ReplayCache).
type MemoryReplayCache struct {
	max int
	now func() time.Time

	mu        sync.Mutex
	perHolder int                              // at most this many unexpired entries per holder
	entries   map[string]int64                 // key -> stored expiry (see extra)
	holders   map[string]*holderCount          // the holders with unexpired entries
	byTime    expheap.Heap[int64, expiryEntry] // by stored expiry
	// window is the longest window (MaxAge and a second) of the
	// Verifiers built on the cache (Retain), 0 before the first. extra
	// is how much window grew since the first: an entry expires at its
	// stored expiry plus extra (Unix nanoseconds), so that a longer
	// window lengthens the entries already recorded, in one addition.
	window time.Duration
	extra  int64
	// floor is the iat (Unix nanoseconds) before which a proof may have
	// been forgotten by a shorter window than the longest (Retain):
	// record refuses those as replays. math.MinInt64 while window never
	// grew.
	floor int64
	// dropped is the latest time (Unix nanoseconds) at which
	// dropExpired dropped an entry, math.MinInt64 before the first:
	// Retain's floor covers the entries dropped after it read its clock.
	dropped int64
}

// defaultHolderShare is the share of a MemoryReplayCache's capacity one
// holder may fill by default: a quarter.
const defaultHolderShare = 4

// NewMemoryReplayCache returns a MemoryReplayCache holding at most
// maxEntries unexpired entries (DefaultReplayCacheEntries when not
// positive), of which one holder may have a quarter (at least one; see
// SetMaxPerHolder), with now as the clock of AddIfAbsent (time.Now when
// nil). A Verifier records its proofs at the time it checked them, on
// its own clock (Config.Now), so that the cache never forgets a proof
// the Verifier could still accept, whichever clock each has; so does a
// ReplayCache of the caller's that wraps the cache and passes on
// Verify's context and key. Verifiers on different clocks must not share
// one cache: the one ahead drops entries the one behind still accepts,
// and one ahead built with a longer MaxAge than the others makes the
// cache refuse their proofs as replays until their clocks reach its own
// (see MemoryReplayCache). Each entry keeps about 120 bytes alive (its
// 43-byte key, a map slot and a heap slot), and each holder with
// unexpired entries about 110 more (its 43-byte thumbprint, a map slot
// and its count), so the default bound is about 12 MB, and about 23 MB
// if every entry has a holder of its own.
func NewMemoryReplayCache(maxEntries int, now func() time.Time) *MemoryReplayCache {
	if maxEntries <= 0 {
		maxEntries = DefaultReplayCacheEntries
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryReplayCache{
		max: maxEntries, now: now,
		perHolder: defaultPerHolder(maxEntries),
		entries:   make(map[string]int64),
		holders:   make(map[string]*holderCount),
		floor:     math.MinInt64,
		dropped:   math.MinInt64,
	}
}

func defaultPerHolder(maxEntries int) int { return max(1, maxEntries/defaultHolderShare) }

// SetMaxPerHolder sets how many unexpired entries one holder may have: n,
// or the default, a quarter of the capacity, when n is not positive. n at
// least the capacity turns the per-holder bound off. A lower bound than a
// holder already has refuses its new entries until enough of its entries
// expire. It is safe to call at any time.
func (c *MemoryReplayCache) SetMaxPerHolder(n int) {
	if n <= 0 {
		n = defaultPerHolder(c.max)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.perHolder = n
}

// AddIfAbsent implements ReplayCache. The entry has no holder: it counts
// towards the capacity only. A Verifier whose ReplayCache is the
// MemoryReplayCache itself records each proof with its holder instead.
// Called with the context Verify passed its ReplayCache and the key Verify
// gave it (by a type that wraps the MemoryReplayCache), it judges expiry
// at the time the Verifier checked the proof, on the Verifier's clock, and
// keeps the entry for the longest window of the Verifiers it was told of
// (Retain), as when it is the Verifier's ReplayCache itself; otherwise
// (another key, another context, a nil one) on its own clock, and until
// expires.
func (c *MemoryReplayCache) AddIfAbsent(ctx context.Context, key string, expires time.Time) (bool, error) {
	now, window, ok := checkTime(ctx, key)
	if !ok {
		now = c.now()
	}
	return c.record("", key, expires, window, now)
}

// addIfAbsentFor is AddIfAbsent at now for an entry of holder, which may
// have at most SetMaxPerHolder's number of unexpired entries (an empty
// holder is none); past it, the error wraps ErrReplayQuotaExceeded.
func (c *MemoryReplayCache) addIfAbsentFor(holder, key string, expires, now time.Time) (bool, error) {
	return c.record(holder, key, expires, 0, now)
}

// Retain implements RetainingReplayCache. NewVerifier calls it for a
// Verifier whose ReplayCache is c, or a type that embeds c. It tells c
// that a Verifier built on it records each proof for window after its
// iat (its MaxAge and a second), on the clock now (c's own when nil):
// c keeps every proof a
// Verifier records for the longest such window, so that one with a
// longer MaxAge never accepts a replay of a proof that one with a
// shorter MaxAge recorded, once its entry expired. A longer window than
// any before lengthens every entry already recorded too (AddIfAbsent's
// included), by the difference. Entries that expired under the shorter
// window before now (the time the Verifier was built, on its clock) may
// be gone already: from then on c refuses as replays the proofs issued
// before now less that window (floor), which no Verifier with the
// shorter MaxAge accepts any more either (but for one that read its
// clock before now, at the very end of its window: fail closed), or
// before the last time c dropped an entry less that window, if later
// (an entry dropped after now was read). Retain calls now only then,
// when window is longer than an earlier one, and outside c's lock, as
// AddIfAbsent reads c's clock: a now that blocks holds up Retain (and
// NewVerifier) alone, never a proof checked meanwhile, and one that
// calls c does not deadlock. A now that panics panics Retain, c
// unchanged and unlocked, as c's own clock does AddIfAbsent; NewVerifier
// recovers that panic into its error, and builds no Verifier.
func (c *MemoryReplayCache) Retain(window time.Duration, now func() time.Time) {
	c.mu.Lock()
	if c.window == 0 && window > 0 {
		c.window = window // the first: nothing was kept for a shorter one
	}
	grows := window > c.window
	c.mu.Unlock()
	if !grows {
		return
	}
	if now == nil {
		now = c.now
	}
	// The clock outside the lock, as AddIfAbsent reads c's: now may be
	// the caller's Config.Now, which blocks, panics or calls c. An entry
	// dropped meanwhile is in c.dropped; c.window only grows, so it is
	// still set.
	at := unixnano.Of(now())
	c.mu.Lock()
	defer c.mu.Unlock()
	if window <= c.window {
		return
	}
	c.extra += int64(window - c.window)
	c.floor = max(c.floor, addSat(max(at, c.dropped), -int64(c.window)))
	c.window = window
}

// record is addIfAbsentFor for a proof a Verifier recorded with its
// window (0 for an entry of AddIfAbsent outside Verify, kept until
// expires): the entry is kept until expires plus how much the longest
// window of Retain is longer. A proof issued (expires less window) before floor is refused
// as a replay: its entry may have expired under a shorter window.
func (c *MemoryReplayCache) record(holder, key string, expires time.Time, window time.Duration, now time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropExpired(now.UnixNano())
	if _, seen := c.entries[key]; seen {
		return false, nil
	}
	if window > 0 && addSat(unixnano.Of(expires), -int64(window)) < c.floor {
		return false, nil
	}
	if len(c.entries) >= c.max {
		return false, fmt.Errorf("%w (%d unexpired entries)", ErrReplayCacheFull, len(c.entries))
	}
	h := c.holders[holder]
	if h != nil && h.n >= c.perHolder {
		return false, fmt.Errorf("%w (key %s has %d unexpired entries)", ErrReplayQuotaExceeded, holder, h.n)
	}
	if h == nil && holder != "" {
		h = &holderCount{name: holder}
		c.holders[holder] = h
	}
	if h != nil {
		h.n++
	}
	exp := unixnano.Of(expires)
	if window > 0 && c.window > window {
		exp = addSat(exp, int64(c.window-window))
	}
	exp = addSat(exp, -c.extra) // stored: the entry expires at exp plus extra
	c.entries[key] = exp
	c.byTime.Push(exp, expiryEntry{key: key, holder: h})
	return true, nil
}

// Len returns the number of entries the cache holds, expired ones not yet
// dropped included.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// dropExpired removes the entries whose expiry is before now, and the
// holders left without entries.
func (c *MemoryReplayCache) dropExpired(now int64) {
	for c.byTime.Len() > 0 {
		if exp, _ := c.byTime.Min(); addSat(exp, c.extra) >= now {
			return
		}
		e := c.byTime.Pop()
		c.dropped = max(c.dropped, now)
		delete(c.entries, e.key)
		if h := e.holder; h != nil {
			if h.n--; h.n == 0 {
				delete(c.holders, h.name)
			}
		}
	}
}

// addSat returns a+b, saturated to the int64 range: an expiry stored
// less extra (see MemoryReplayCache) and judged plus extra keeps its
// place, its order among the others, and the past or future it is in.
func addSat(a, b int64) int64 {
	switch s := a + b; {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	default:
		return s
	}
}

// holderCount is a holder's number of unexpired entries, shared by its
// entries in the heap.
type holderCount struct {
	name string
	n    int
}

// expiryEntry is an entry of a MemoryReplayCache's heap by expiry.
type expiryEntry struct {
	key    string
	holder *holderCount // nil when the entry has none
}
