package dpop_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/waittest"
)

// quotaEnv is a Verifier over a MemoryReplayCache of 8 entries (2 per key
// by default) with a clock the test moves.
type quotaEnv struct {
	now   time.Time
	cache *dpop.MemoryReplayCache
	v     *dpop.Verifier
}

func newQuotaEnv(t *testing.T) *quotaEnv {
	t.Helper()
	e := &quotaEnv{now: t0}
	clock := func() time.Time { return e.now }
	e.cache = dpop.NewMemoryReplayCache(8, clock)
	e.v = newVerifier(t, dpop.Config{ReplayCache: e.cache, Now: clock})
	return e
}

// key returns a new ES256 key whose proofs are issued at the env's time.
func (e *quotaEnv) key(t *testing.T) *grpcauthtest.DPoPKey {
	k := newKey(t, "ES256")
	k.Now = func() time.Time { return e.now }
	return k
}

// proof makes a fresh proof (new jti) signed by k.
func (e *quotaEnv) proof(t *testing.T, k *grpcauthtest.DPoPKey) string {
	t.Helper()
	p, err := k.Proof("POST", testURL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// verify verifies proof, signed by k, for a token bound to k.
func (e *quotaEnv) verify(t *testing.T, k *grpcauthtest.DPoPKey, proof string) error {
	req := testReq
	req.KeyThumbprint = k.Thumbprint()
	_, err := e.v.Verify(t.Context(), proof, req)
	return err
}

// One key sending fresh proofs as fast as it can fills its quarter of the
// cache and is then refused (ErrReplayQuotaExceeded, wrapped in
// ErrReplayCheckUnavailable: fail closed), while another key's proofs are
// still accepted; the flooding key's proofs are never accepted twice, and
// it is served again once its entries expire.
func TestVerify_OneKeyFloodingTheCacheDoesNotLockOutOthers(t *testing.T) {
	e := newQuotaEnv(t)
	flood, other := e.key(t), e.key(t)
	var accepted []string
	for range 8 { // as many proofs as the whole cache holds
		p := e.proof(t, flood)
		switch err := e.verify(t, flood, p); {
		case err == nil:
			accepted = append(accepted, p)
		case !errors.Is(err, dpop.ErrReplayQuotaExceeded) || !errors.Is(err, dpop.ErrReplayCheckUnavailable):
			t.Fatalf("flooding key: %v, want ErrReplayQuotaExceeded in ErrReplayCheckUnavailable", err)
		}
	}
	if len(accepted) != 2 {
		t.Errorf("flooding key: %d proofs accepted, want 2 (a quarter of 8)", len(accepted))
	}
	if err := e.verify(t, other, e.proof(t, other)); err != nil {
		t.Fatalf("another key locked out by the flood: %v", err)
	}
	for _, p := range accepted {
		if err := e.verify(t, flood, p); !errors.Is(err, dpop.ErrReplayed) {
			t.Fatalf("replay of an accepted proof: %v, want ErrReplayed", err)
		}
	}

	e.now = e.now.Add(dpop.DefaultMaxAge + 2*time.Second) // every entry expires
	if err := e.verify(t, flood, e.proof(t, flood)); err != nil {
		t.Fatalf("flooding key after its entries expired: %v", err)
	}
	if got := e.cache.Len(); got != 1 {
		t.Errorf("Len = %d after expiry, want 1", got)
	}
}

// The whole cache still fills, four keys at a quarter each, and then
// refuses everyone with ErrReplayCacheFull (the server's problem, reported
// before any key's quota); SetMaxPerHolder moves a key's bound.
func TestMemoryReplayCache_HolderQuotaAndCapacity(t *testing.T) {
	now := t0
	c := dpop.NewMemoryReplayCache(8, func() time.Time { return now })
	ctx := t.Context()
	exp := t0.Add(time.Minute)
	add := func(holder string, i int) error {
		added, err := dpop.AddIfAbsentFor(c, holder, holder+strconv.Itoa(i), exp)
		if err == nil && !added {
			t.Fatalf("%s/%d: not added and no error", holder, i)
		}
		return err
	}
	for _, h := range []string{"a", "b", "c", "d"} {
		for i := range 2 {
			if err := add(h, i); err != nil {
				t.Fatalf("%s/%d: %v", h, i, err)
			}
		}
		if err := add(h, 2); h != "d" && !errors.Is(err, dpop.ErrReplayQuotaExceeded) {
			t.Fatalf("%s's third entry: %v, want ErrReplayQuotaExceeded", h, err)
		}
	}
	for _, h := range []string{"a", "e"} { // a full cache says so, to every holder
		if err := add(h, 3); !errors.Is(err, dpop.ErrReplayCacheFull) {
			t.Fatalf("%s in a full cache: %v, want ErrReplayCacheFull", h, err)
		}
	}
	if ok, err := c.AddIfAbsent(ctx, "no holder", exp); ok || !errors.Is(err, dpop.ErrReplayCacheFull) {
		t.Fatalf("AddIfAbsent in a full cache = %v, %v; want ErrReplayCacheFull", ok, err)
	}

	c2 := dpop.NewMemoryReplayCache(8, func() time.Time { return now })
	c2.SetMaxPerHolder(8) // one holder may fill it all
	for i := range 4 {
		if ok, err := dpop.AddIfAbsentFor(c2, "a", strconv.Itoa(i), exp); !ok || err != nil {
			t.Fatalf("entry %d with no per-holder bound = %v, %v", i, ok, err)
		}
	}
	c2.SetMaxPerHolder(0) // the default again: 2, which a already exceeds
	if _, err := dpop.AddIfAbsentFor(c2, "a", "over", exp); !errors.Is(err, dpop.ErrReplayQuotaExceeded) {
		t.Fatalf("a over the lowered bound: %v, want ErrReplayQuotaExceeded", err)
	}
	now = exp.Add(time.Nanosecond)
	if ok, err := dpop.AddIfAbsentFor(c2, "a", "after", exp.Add(time.Minute)); !ok || err != nil {
		t.Fatalf("after expiry = %v, %v", ok, err)
	}
}

// Many goroutines, each a key sending fresh proofs and replaying each
// one, share a small cache: no proof is ever accepted twice, no key
// gets more than its quota, and every refusal is the key's quota or a
// full cache.
func TestVerify_ConcurrentKeysWithinTheirQuotas(t *testing.T) {
	e := newQuotaEnv(t) // 8 entries, 2 per key
	const keys, proofs = 6, 4
	ks := make([]*grpcauthtest.DPoPKey, keys)
	for i := range ks {
		ks[i] = e.key(t)
	}
	accepted := make(chan int, keys*proofs)
	errs := make(chan error, 2*keys*proofs)
	var wg sync.WaitGroup
	for i, k := range ks {
		for range proofs {
			p := e.proof(t, k)
			for range 2 { // the proof and its replay, concurrently
				wg.Go(func() {
					if err := e.verify(t, k, p); err != nil {
						errs <- err
						return
					}
					accepted <- i
				})
			}
		}
	}
	wg.Wait()
	close(accepted)
	close(errs)
	perKey := make([]int, keys)
	total := 0
	for i := range accepted {
		perKey[i]++
		total++
	}
	for i, n := range perKey {
		if n > 2 {
			t.Errorf("key %d: %d proofs accepted, more than its quota of 2", i, n)
		}
	}
	if total != 8 {
		t.Errorf("%d proofs accepted in all, want 8 (the cache's capacity)", total)
	}
	replayed := 0
	for err := range errs {
		switch {
		case errors.Is(err, dpop.ErrReplayed):
			replayed++
		case errors.Is(err, dpop.ErrReplayQuotaExceeded), errors.Is(err, dpop.ErrReplayCacheFull):
		default:
			t.Errorf("unexpected refusal: %v", err)
		}
	}
	if replayed < total {
		t.Errorf("%d replays refused as ErrReplayed for %d accepted proofs: a replay got through", replayed, total)
	}
}

// slowStore is a shared ReplayCache (the memory cache on the test's
// clock) that takes delay to answer: the time moves on while the proof is
// being recorded, as with a store that is slow or far away.
type slowStore struct {
	*dpop.MemoryReplayCache
	now   *time.Time
	delay time.Duration
}

func (s *slowStore) AddIfAbsent(_ context.Context, key string, expires time.Time) (bool, error) {
	*s.now = s.now.Add(s.delay)
	// A store of its own, which expires keys on its own clock: it knows
	// nothing of the time the Verifier checked the proof.
	return s.MemoryReplayCache.AddIfAbsent(context.Background(), key, expires)
}

// A replay checked at the very end of its proof's window, whose record
// reaches the replay store after the first proof's entry expired there,
// is refused: the proof's age is judged again once it is recorded.
func TestVerify_ReplayRecordedAfterTheWindowBySlowStoreIsRefused(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	store := &slowStore{MemoryReplayCache: dpop.NewMemoryReplayCache(10, clock), now: &now}
	v := newVerifier(t, dpop.Config{Now: clock, ReplayCache: store})
	proof, _ := newKey(t, "ES256").Proof("POST", testURL, testToken) // iat t0
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(dpop.DefaultMaxAge) // the last instant iat is accepted
	store.delay = 2 * time.Second    // the store answers after the entry expired
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); err == nil {
		t.Fatal("replay recorded after its window was accepted")
	} else if !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("replay: %v, want ErrInvalidProof (iat too old once recorded)", err)
	}
}

// A MemoryReplayCache whose own clock is ahead of its Verifier's (here a
// cache on another clock than the Verifier's Config.Now) still refuses a
// replay: it judges the expiry of the proofs a Verifier records on that
// Verifier's clock, also when a ReplayCache of the caller's (a type
// embedding it, to count or to consult a shared store too) wraps it and
// passes on Verify's context.
func TestVerify_MemoryCacheOnAnotherClockStillRefusesReplays(t *testing.T) {
	for _, wrapped := range []bool{false, true} {
		cache := dpop.NewMemoryReplayCache(10, func() time.Time { return t0.Add(time.Hour) })
		var store dpop.ReplayCache = cache
		if wrapped {
			store = &countingCache{MemoryReplayCache: cache}
		}
		v := newVerifier(t, dpop.Config{ReplayCache: store}) // clock t0
		proof, _ := newKey(t, "ES256").Proof("POST", testURL, testToken)
		if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); err != nil {
			t.Fatalf("wrapped %v: %v", wrapped, err)
		}
		if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); !errors.Is(err, dpop.ErrReplayed) {
			t.Errorf("wrapped %v: replay: %v, want ErrReplayed", wrapped, err)
		}
		if c, ok := store.(*countingCache); ok && c.calls != 2 {
			t.Errorf("the wrapper's AddIfAbsent was called %d times, want 2", c.calls)
		}
	}
}

// Verify passes a ReplayCache of the caller's the time it checked the
// proof in the context it was given; without one (a nil context, which
// the caller's store may well ignore) it still records the proof rather
// than panic.
func TestVerify_NilContextWithAStoreOfTheCallersDoesNotPanic(t *testing.T) {
	cache := &countingCache{MemoryReplayCache: dpop.NewMemoryReplayCache(10, func() time.Time { return t0 })}
	v := newVerifier(t, dpop.Config{ReplayCache: cache})
	proof, _ := newKey(t, "ES256").Proof("POST", testURL, testToken)
	var ctx context.Context // nil
	if _, err := v.Verify(ctx, proof, reqFor(t, proof)); err != nil || cache.calls != 1 {
		t.Fatalf("Verify = %v after %d AddIfAbsent calls, want accepted after 1", err, cache.calls)
	}
}

// dedupeStore is a ReplayCache of the caller's that wraps a
// MemoryReplayCache and, with the context Verify gave it, also records an
// entry of its own (a request id, say) in another MemoryReplayCache on
// that cache's own clock.
type dedupeStore struct {
	*dpop.MemoryReplayCache
	other *dpop.MemoryReplayCache
	added bool // what other answered for the request id
}

func (s *dedupeStore) AddIfAbsent(ctx context.Context, key string, expires time.Time) (bool, error) {
	var err error
	if s.added, err = s.other.AddIfAbsent(ctx, "request-id", t0.Add(-time.Hour+10*time.Second)); err != nil {
		return false, err
	}
	return s.MemoryReplayCache.AddIfAbsent(ctx, key, expires)
}

// The time Verify checked a proof reaches only the record of that proof:
// an entry of another key that a store of the caller's records with
// Verify's context, in a MemoryReplayCache of its own, is judged on that
// cache's clock, so that one still unexpired there is not let in twice
// because the Verifier's clock is ahead.
func TestVerify_CheckTimeDoesNotReachAnotherKeyOfTheStore(t *testing.T) {
	other := dpop.NewMemoryReplayCache(10, func() time.Time { return t0.Add(-time.Hour) })
	if added, err := other.AddIfAbsent(t.Context(), "request-id", t0.Add(-time.Hour+10*time.Second)); !added || err != nil {
		t.Fatalf("first request id: %v, %v", added, err)
	}
	store := &dedupeStore{MemoryReplayCache: dpop.NewMemoryReplayCache(10, nil), other: other}
	v := newVerifier(t, dpop.Config{ReplayCache: store}) // clock t0
	proof, _ := newKey(t, "ES256").Proof("POST", testURL, testToken)
	if _, err := v.Verify(t.Context(), proof, reqFor(t, proof)); err != nil {
		t.Fatal(err)
	}
	if store.added {
		t.Error("the request id, unexpired on its cache's clock, was recorded again at the Verifier's time")
	}
}

// With a nil context, a MemoryReplayCache that a store of the caller's
// wraps still judges expiry on the Verifier's clock, not its own (here an
// hour ahead), so a replay is refused as with any other context.
func TestVerify_NilContextWrappedMemoryCacheOnAnotherClockRefusesReplays(t *testing.T) {
	cache := &countingCache{MemoryReplayCache: dpop.NewMemoryReplayCache(10, func() time.Time { return t0.Add(time.Hour) })}
	v := newVerifier(t, dpop.Config{ReplayCache: cache}) // clock t0
	proof, _ := newKey(t, "ES256").Proof("POST", testURL, testToken)
	var ctx context.Context // nil
	if _, err := v.Verify(ctx, proof, reqFor(t, proof)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, proof, reqFor(t, proof)); !errors.Is(err, dpop.ErrReplayed) {
		t.Errorf("replay: %v, want ErrReplayed", err)
	}
}

// sharedCacheEnv is a MemoryReplayCache shared by Verifiers of
// different MaxAge on one clock, and a key signing proofs for testReq.
type sharedCacheEnv struct {
	t     *testing.T
	now   time.Time
	cache *dpop.MemoryReplayCache
	key   *grpcauthtest.DPoPKey
	req   dpop.Request
}

func newSharedCacheEnv(t *testing.T) *sharedCacheEnv {
	e := &sharedCacheEnv{t: t, now: t0}
	e.cache = dpop.NewMemoryReplayCache(100, e.clock)
	e.key = newKey(t, "ES256")
	e.key.Now = e.clock
	e.req = testReq
	e.req.KeyThumbprint = e.key.Thumbprint()
	return e
}

func (e *sharedCacheEnv) clock() time.Time { return e.now }

// verifier builds a Verifier with maxAge on the shared cache, at e.now.
func (e *sharedCacheEnv) verifier(maxAge time.Duration) *dpop.Verifier {
	return newVerifier(e.t, dpop.Config{MaxAge: maxAge, ReplayCache: e.cache, Now: e.clock})
}

// proof is a new proof issued at e.now.
func (e *sharedCacheEnv) proof() string {
	return mustProof(e.t, e.key, grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken})
}

func (e *sharedCacheEnv) verify(v *dpop.Verifier, proof string) error {
	_, err := v.Verify(e.t.Context(), proof, e.req)
	return err
}

// A MemoryReplayCache shared by Verifiers of different MaxAge (two
// Authenticators on two listeners, one rebuilt with a longer MaxAge)
// keeps every proof for the longest window: the Verifier with the longer
// MaxAge refuses the replay of a proof the other one recorded, also when
// it was built after that proof was recorded, and up to the end of its
// own window. Each entry used to expire at the end of the window of the
// Verifier that recorded it, and the other one accepted the replay.
func TestVerify_SharedMemoryCacheKeepsProofsForTheLongestMaxAge(t *testing.T) {
	e := newSharedCacheEnv(t)
	short := e.verifier(time.Minute)
	before := e.proof() // recorded before the longer Verifier exists
	if err := e.verify(short, before); err != nil {
		t.Fatal(err)
	}
	e.now = t0.Add(30 * time.Second)
	long := e.verifier(10 * time.Minute)
	after := e.proof() // recorded by the shorter one once both exist
	if err := e.verify(short, after); err != nil {
		t.Fatal(err)
	}

	e.now = t0.Add(9*time.Minute + 30*time.Second) // past the short window, within the long one
	for name, p := range map[string]string{"recorded before": before, "recorded after": after} {
		if err := e.verify(long, p); !errors.Is(err, dpop.ErrReplayed) {
			t.Errorf("%s the longer Verifier was built: replay at it = %v, want ErrReplayed", name, err)
		}
	}
	// The entries still expire, at the end of the longest window.
	e.now = t0.Add(11 * time.Minute)
	if err := e.verify(long, e.proof()); err != nil {
		t.Fatal(err)
	}
	if n := e.cache.Len(); n != 1 {
		t.Errorf("cache holds %d entries past the longest window, want the 1 just added", n)
	}
}

// A Verifier built on a shared MemoryReplayCache with a longer MaxAge
// than the cache kept proofs for refuses, as replays, the proofs the
// cache may already have forgotten: those older than that shorter
// window when it was built. Their entries may have been dropped (here by
// the next proof the shorter Verifier recorded), and the longer Verifier
// used to accept their replay within its MaxAge. So does one built later
// still, with a longer MaxAge again: what the cache forgot stays
// forgotten. Proofs within the shorter window then are still remembered
// and refused, and fresh ones accepted.
func TestVerify_LongerMaxAgeRefusesProofsTheSharedCacheMayHaveForgotten(t *testing.T) {
	e := newSharedCacheEnv(t)
	short := e.verifier(time.Minute)
	old := e.proof()
	if err := e.verify(short, old); err != nil {
		t.Fatal(err)
	}
	e.now = t0.Add(70 * time.Second) // old's entry expires, and this proof's entry drops it
	recent := e.proof()
	if err := e.verify(short, recent); err != nil {
		t.Fatal(err)
	}
	e.now = t0.Add(80 * time.Second)
	longer := e.verifier(5 * time.Minute)
	e.now = t0.Add(90 * time.Second)
	longest := e.verifier(10 * time.Minute)

	e.now = t0.Add(4 * time.Minute)
	for vname, v := range map[string]*dpop.Verifier{"longer": longer, "longest": longest} {
		for name, p := range map[string]string{"older than the shorter window": old, "within it": recent} {
			if err := e.verify(v, p); !errors.Is(err, dpop.ErrReplayed) {
				t.Errorf("replay at the %s Verifier of the proof %s when it was built = %v, want ErrReplayed", vname, name, err)
			}
		}
		if err := e.verify(v, e.proof()); err != nil {
			t.Errorf("fresh proof at the %s Verifier: %v", vname, err)
		}
	}
}

// A Verifier built on a shared MemoryReplayCache after one with a longer
// MaxAge leaves the cache's window as it was: the proofs the shorter one
// records are still kept for the longer window, and the longer Verifier
// refuses their replay past the shorter one's.
func TestVerify_ShorterMaxAgeBuiltLastKeepsTheSharedCachesLongerWindow(t *testing.T) {
	e := newSharedCacheEnv(t)
	long := e.verifier(10 * time.Minute)
	short := e.verifier(time.Minute)
	e.checkLongerRefusesReplayOfShorters(short, long)
}

// checkLongerRefusesReplayOfShorters has short, a Verifier with a MaxAge
// of a minute, record a new proof at t0, and checks that long, one of ten
// minutes, refuses its replay at t0+5m: past the short window, within the
// long one.
func (e *sharedCacheEnv) checkLongerRefusesReplayOfShorters(short, long *dpop.Verifier) {
	e.t.Helper()
	p := e.proof()
	if err := e.verify(short, p); err != nil {
		e.t.Fatal(err)
	}
	e.now = t0.Add(5 * time.Minute)
	if err := e.verify(long, p); !errors.Is(err, dpop.ErrReplayed) {
		e.t.Errorf("replay at the longer Verifier = %v, want ErrReplayed", err)
	}
}

// An entry added with AddIfAbsent to a MemoryReplayCache that Verifiers
// are built on is kept until the expiry given, not lengthened by their
// window: past it, the key can be added again.
func TestMemoryReplayCache_AddIfAbsentEntryExpiresAsGivenBesideAVerifier(t *testing.T) {
	e := newSharedCacheEnv(t)
	e.verifier(10 * time.Minute)
	ctx := t.Context()
	if added, err := e.cache.AddIfAbsent(ctx, "k", t0.Add(time.Minute)); !added || err != nil {
		t.Fatalf("AddIfAbsent = %v, %v; want added", added, err)
	}
	e.now = t0.Add(2 * time.Minute)
	if added, err := e.cache.AddIfAbsent(ctx, "k", e.now.Add(time.Minute)); !added || err != nil {
		t.Errorf("AddIfAbsent past the first entry's expiry = %v, %v; want added", added, err)
	}
}

// A ReplayCache of the caller's that embeds the shared MemoryReplayCache
// (to count, or to consult a shared store too) is told the MaxAge of the
// Verifiers built on it, as the cache is (Retain is promoted), and the
// proofs recorded through its AddIfAbsent are kept for the longest
// window: a Verifier with a longer MaxAge refuses the replay of a proof
// one with a shorter MaxAge recorded, whichever of the two reaches the
// cache through the wrapper. Neither used to be so: the wrapper's
// Verifiers were not told, and its entries expired at the end of their
// own Verifier's window, so the longer one accepted the replay.
func TestVerify_WrapperEmbeddingTheMemoryCacheKeepsProofsForTheLongestMaxAge(t *testing.T) {
	for _, wrapped := range []string{"shorter", "longer"} {
		t.Run(wrapped+" MaxAge through the wrapper", func(t *testing.T) {
			e := newSharedCacheEnv(t)
			wrapper := &countingCache{MemoryReplayCache: e.cache}
			cacheOf := map[bool]dpop.ReplayCache{true: wrapper, false: e.cache}
			short := newVerifier(t, dpop.Config{MaxAge: time.Minute, ReplayCache: cacheOf[wrapped == "shorter"], Now: e.clock})
			long := newVerifier(t, dpop.Config{MaxAge: 10 * time.Minute, ReplayCache: cacheOf[wrapped == "longer"], Now: e.clock})
			e.checkLongerRefusesReplayOfShorters(short, long)
			if wrapper.calls != 1 {
				t.Errorf("the wrapper's AddIfAbsent was called %d times, want 1 (never bypassed)", wrapper.calls)
			}
		})
	}
}

// retainLog is a store of the caller's that is a RetainingReplayCache:
// it records what each Verifier built on it told it.
type retainLog struct {
	*dpop.MemoryReplayCache
	mu      sync.Mutex
	windows []time.Duration
	clocks  []time.Time // each Verifier's clock, read as it told the store
}

func (s *retainLog) Retain(window time.Duration, now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows, s.clocks = append(s.windows, window), append(s.clocks, now())
}

// NewVerifier tells a ReplayCache of the caller's that is a
// RetainingReplayCache how long it records proofs (its MaxAge and a
// second) and its clock, so that a shared store can keep every entry for
// the longest MaxAge (or report the mismatch); a Verifier that fails to
// build tells it nothing. Such a store used to be told nothing.
func TestNewVerifier_TellsARetainingStoreEachVerifiersWindow(t *testing.T) {
	store := &retainLog{MemoryReplayCache: dpop.NewMemoryReplayCache(10, nil)}
	later := t0.Add(time.Hour)
	newVerifier(t, dpop.Config{MaxAge: time.Minute, ReplayCache: store})
	newVerifier(t, dpop.Config{MaxAge: 10 * time.Minute, ReplayCache: store, Now: func() time.Time { return later }})
	if _, err := dpop.NewVerifier(dpop.Config{MaxAge: 48 * time.Hour, ReplayCache: store}); err == nil {
		t.Fatal("NewVerifier with a MaxAge of two days: no error")
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if want := []time.Duration{time.Minute + time.Second, 10*time.Minute + time.Second}; !slices.Equal(store.windows, want) {
		t.Errorf("windows told = %v, want %v (each MaxAge and a second; none for the Verifier that failed)", store.windows, want)
	}
	if want := []time.Time{t0, later}; !slices.Equal(store.clocks, want) {
		t.Errorf("clocks read = %v, want each Verifier's own, %v", store.clocks, want)
	}
}

// failAfter bounds the waits of the tests below for what must happen at
// once (a call that returns, a clock that is read): when a defence is
// removed, the test fails saying what did not come instead of hanging.
// It is a failure bound, never a synchronisation: the tests wait on
// channels.
const failAfter = 5 * time.Second

// within runs f on a goroutine of its own and fails the test if it has
// not returned within failAfter.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	waittest.Within(t, failAfter, what, f)
}

// A Verifier's clock (Config.Now, the caller's code) that blocks while
// NewVerifier tells the shared MemoryReplayCache its window (Retain)
// holds up that build alone: a proof checked by another Verifier on the
// cache, and an AddIfAbsent, complete meanwhile. Retain used to read the
// clock holding the cache's lock, and every proof waited for the clock.
func TestMemoryReplayCache_RetainWhoseClockBlocksHoldsUpNoProof(t *testing.T) {
	e := newSharedCacheEnv(t)
	short := e.verifier(time.Minute)
	p := e.proof()
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // lets the calls held up end when the test fails
	retained := make(chan struct{})
	go func() {
		defer close(retained)
		e.cache.Retain(10*time.Minute, func() time.Time {
			close(entered)
			<-release
			return t0
		})
	}()
	within(t, "Retain's read of its clock", func() { <-entered })

	var verr, aerr error
	var added bool
	within(t, "Verify while Retain's clock blocks", func() { verr = e.verify(short, p) })
	within(t, "AddIfAbsent while Retain's clock blocks", func() { added, aerr = e.cache.AddIfAbsent(t.Context(), "k", t0.Add(time.Minute)) })
	if verr != nil {
		t.Errorf("Verify while Retain's clock blocks: %v", verr)
	}
	if !added || aerr != nil {
		t.Errorf("AddIfAbsent while Retain's clock blocks = %v, %v; want added", added, aerr)
	}
	unblock()
	within(t, "Retain once its clock returned", func() { <-retained })
}

// A Verifier's clock that calls the shared MemoryReplayCache while
// NewVerifier tells the cache its window (here: a proof checked by the
// shorter Verifier, as another goroutine would between the clock's read
// and the cache's lock) does not deadlock; Retain used to read the clock
// holding the lock. The entry that proof's record dropped (an older
// proof's, expired under the shorter window) is still counted as
// possibly forgotten: the longer Verifier refuses that older proof as a
// replay, although it was issued after the clock's reading less the
// shorter window.
func TestNewVerifier_ClockThatCallsTheSharedCacheDoesNotDeadlock(t *testing.T) {
	e := newSharedCacheEnv(t)
	short := e.verifier(time.Minute)
	old := e.proof()
	if err := e.verify(short, old); err != nil {
		t.Fatal(err)
	}
	e.now = t0.Add(70 * time.Second)
	recent := e.proof()
	read := false
	clock := func() time.Time {
		if read {
			return e.now
		}
		read = true
		// Retain's read: the shorter Verifier records recent (at 70 s),
		// which drops old's entry (expired at 61 s); the clock says 50 s,
		// when old's entry was still held.
		if err := e.verify(short, recent); err != nil {
			t.Errorf("recent at the shorter Verifier: %v", err)
		}
		return t0.Add(50 * time.Second)
	}
	var long *dpop.Verifier
	var err error
	within(t, "NewVerifier with a clock that calls the cache", func() {
		long, err = dpop.NewVerifier(dpop.Config{MaxAge: 10 * time.Minute, ReplayCache: e.cache, Now: clock})
	})
	if err != nil {
		t.Fatal(err)
	}
	e.now = t0.Add(80 * time.Second)
	for name, p := range map[string]string{"whose entry was dropped": old, "recorded": recent} {
		if err := e.verify(long, p); !errors.Is(err, dpop.ErrReplayed) {
			t.Errorf("replay of the proof %s at the longer Verifier = %v, want ErrReplayed", name, err)
		}
	}
	if err := e.verify(long, e.proof()); err != nil {
		t.Errorf("fresh proof at the longer Verifier: %v", err)
	}
}

// A clock that panics in Retain panics Retain (as the cache's own clock
// panics AddIfAbsent: the package recovers no clock's panic) and leaves
// the cache as it was, unlocked: the next Retain lengthens the entries
// by the longer window's difference once. The first Retain, which needs
// no clock, calls none (so building the first Verifier on a cache does
// not call its Config.Now). Retain used to read the clock
// holding the lock, after it had lengthened the entries but before it
// recorded the window, so the next Retain lengthened them again.
func TestMemoryReplayCache_RetainWhoseClockPanicsLeavesTheCacheUnchanged(t *testing.T) {
	now := t0
	c := dpop.NewMemoryReplayCache(100, func() time.Time { return now })
	clockBug := func() time.Time { panic("clock bug") }
	c.Retain(time.Minute, clockBug) // the first window needs no clock: not called
	add := func(key string, expires time.Time) bool {
		t.Helper()
		var added bool
		var err error
		within(t, "AddIfAbsent", func() { added, err = c.AddIfAbsent(t.Context(), key, expires) })
		if err != nil {
			t.Fatal(err)
		}
		return added
	}
	if !add("k", t0.Add(time.Second)) {
		t.Fatal("first add of k refused")
	}
	func() {
		defer func() {
			if p := recover(); p != "clock bug" {
				t.Errorf("Retain with a clock that panics: recovered %v, want its panic", p)
			}
		}()
		c.Retain(10*time.Minute, clockBug)
	}()
	c.Retain(10*time.Minute, nil) // lengthens k's entry by 9 minutes
	now = t0.Add(time.Second + 9*time.Minute)
	if add("k", now.Add(time.Minute)) {
		t.Fatal("k added again within its lengthened entry")
	}
	now = now.Add(time.Nanosecond)
	if !add("k", now.Add(time.Minute)) {
		t.Error("k refused past its entry lengthened once: the window's growth was counted twice")
	}
}

// A Config.Now that panics as NewVerifier tells a shared
// MemoryReplayCache a longer MaxAge (the one time it reads the clock) fails
// NewVerifier with an error naming Config.Now and the panic's value, not
// a panic of NewVerifier (and of grpcauth.New, at a server's start-up);
// the cache still serves a later Verifier with that MaxAge and a working
// clock (that it is left as it was is
// TestMemoryReplayCache_RetainWhoseClockPanicsLeavesTheCacheUnchanged's).
// A RetainingReplayCache of the
// caller's whose Retain panics on its own fails NewVerifier too, with an
// error naming its Retain. Both used to panic NewVerifier.
func TestNewVerifier_RetainThatPanicsIsAnError(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	cache := dpop.NewMemoryReplayCache(100, clock)
	short := newVerifier(t, dpop.Config{MaxAge: time.Minute, ReplayCache: cache, Now: clock})
	k := newKey(t, "ES256")
	proof, err := k.Proof("POST", testURL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := short.Verify(t.Context(), proof, reqFor(t, proof)); err != nil {
		t.Fatal(err)
	}
	var v *dpop.Verifier
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("NewVerifier panicked: %v", p)
			}
		}()
		v, err = dpop.NewVerifier(dpop.Config{MaxAge: 10 * time.Minute, ReplayCache: cache, Now: func() time.Time { panic("clock bug 7f3a") }})
	}()
	if want := "dpop: Config.Now panicked as NewVerifier told Config.ReplayCache the Verifier's MaxAge: clock bug 7f3a"; v != nil || err == nil || err.Error() != want {
		t.Fatalf("NewVerifier with a Config.Now that panics = %v, %v; want nil, %q", v, err, want)
	}
	// The cache still serves: a Verifier with a working clock and the
	// longer MaxAge keeps the proof's entry past the shorter window.
	long := newVerifier(t, dpop.Config{MaxAge: 10 * time.Minute, ReplayCache: cache, Now: clock})
	now = t0.Add(5 * time.Minute)
	if _, err := long.Verify(t.Context(), proof, reqFor(t, proof)); !errors.Is(err, dpop.ErrReplayed) {
		t.Errorf("replay within the lengthened entry: %v, want ErrReplayed", err)
	}

	store := &panickingRetain{MemoryReplayCache: dpop.NewMemoryReplayCache(10, nil)}
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("NewVerifier panicked: %v", p)
			}
		}()
		v, err = dpop.NewVerifier(dpop.Config{ReplayCache: store})
	}()
	if want := "dpop: Config.ReplayCache: the Retain method of a *dpop_test.panickingRetain panicked: store bug"; v != nil || err == nil || err.Error() != want {
		t.Fatalf("NewVerifier with a Retain that panics = %v, %v; want nil, %q", v, err, want)
	}
}

// panickingRetain is a RetainingReplayCache of the caller's whose Retain
// panics without reading its clock.
type panickingRetain struct{ *dpop.MemoryReplayCache }

func (*panickingRetain) Retain(time.Duration, func() time.Time) { panic("store bug") }
