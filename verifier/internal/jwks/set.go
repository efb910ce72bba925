package jwks

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/ratelog"
)

var (
	// ErrUnknownKey reports a kid that is not in the set, even after any
	// refresh the lookup was allowed to trigger. The token is the problem,
	// not the server.
	ErrUnknownKey = errors.New("jwks: unknown key id")
	// ErrUnavailable reports that there is no usable key set: the first
	// fetch has not succeeded yet, or the last good set is older than
	// MaxStaleness. The server is the problem, not the token.
	ErrUnavailable = errors.New("jwks: no usable key set")
	// ErrClosed is returned by Ready after Close, and wrapped in the
	// ErrUnavailable of a lookup that needed a fetch after Close.
	ErrClosed = errors.New("jwks: closed")

	// errClosedMiss answers a kid not in the snapshot once Close has
	// stopped or cancelled every fetch: no fetch looked for kid, so the
	// token is not known to be bad.
	errClosedMiss = fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
)

// Key is one usable verification key. A *Key is immutable and pointer-stable:
// a refresh that finds the same kid with the same key material (RFC 7638
// thumbprint) and alg returns the same *Key, so callers may key caches by it.
type Key struct {
	ID        string           // kid, never empty
	Algorithm string           // the JWK's "alg", "" when absent; when set it fits the key type
	Public    crypto.PublicKey // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey

	thumb string // RFC 7638 SHA-256 thumbprint, for pointer reuse across refreshes
}

// Stats counts a Set's fetches. It is a snapshot; fields are not mutually
// consistent to the nanosecond.
type Stats struct {
	Fetches       int64     // HTTP requests for the JWKS document
	Failures      int64     // refreshes that failed (network, status, size, parse, or zero usable keys)
	LastSuccess   time.Time // when the current set was fetched (Config.Now); zero if never
	LastFailure   time.Time // when the last refresh failed (Config.Now); zero if never
	Keys          int       // usable keys in the current set: 0 while it is older than MaxStaleness
	SkippedKeys   int       // entries of the current set's document that were skipped
	Discoveries   int64     // HTTP requests for discovery documents
	URLChanges    int64     // rediscoveries that found a JWKS URL other than the one in use
	MissFetches   int64     // refreshes triggered by an unknown kid
	MissesLimited int64     // unknown-kid lookups answered without a fetch (rate limit, remembered kid, or MaxWaiters reached)
	MissWaits     int64     // unknown-kid lookups that waited for the next refresh the rate limit allowed
}

// Set is a cached, self-refreshing key set. It is safe for concurrent use.
// Create it with New and stop it with Close.
type Set struct {
	cfg       Config
	client    *http.Client
	ownClient bool // client is the Set's own (Config.Client nil, or Config.OwnClient): see closeIdle
	log       *slog.Logger
	// newTimer sets the background refresher's timer (time.NewTimer; tests
	// inject their own): it sends on the channel once the duration has
	// passed, and is set again for each step of a wait (sleep).
	newTimer func(time.Duration) (<-chan time.Time, resettableTimer)
	// afterFunc schedules the rate-limited refresh that waiting lookups
	// share (time.AfterFunc; tests inject their own).
	afterFunc func(time.Duration, func()) (stop func() bool)
	random    func() float64 // in [0,1), for jitter
	nowPanics ratelog.Window // Config.Now's panics (readNow): one record a minute
	onJoin    func()         // test hook: a lookup joined a fetch it did not start
	onWait    func()         // test hook: a lookup started waiting for the next permitted refresh
	onResult  func()         // test hook: a fetch has its result, not yet published

	cur       atomic.Pointer[snapshot]
	lastErr   atomic.Pointer[fetchError]
	ready     chan struct{} // closed when the first set is stored
	readyOnce sync.Once

	ctx       context.Context // the Set's lifetime; every fetch runs under it
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu          sync.Mutex
	closed      bool
	inflight    *fetchCall           // the one running fetch, nil when none
	missFetched bool                 // lastMiss is valid
	lastMiss    time.Time            // start of the last miss-triggered fetch
	missed      map[string]missedKid // kids confirmed absent, when, and why; see storeLocked
	started     uint64               // fetches started so far; numbers each fetchCall
	next        *fetchCall           // the refresh waiting lookups share, not started yet; nil when none
	nextStop    func() bool          // stops next's timer
	waiters     int                  // lookups that joined inflight or wait for next, at most cfg.MaxWaiters
	// withdrawn lists, oldest first, the kids refreshes dropped that no
	// later snapshot has published again, at most maxWithdrawn of at
	// most maxMissedKidLen bytes, with no time limit: a kid in it is
	// remembered as withdrawn whenever it is remembered (rememberMissLocked),
	// however long after the refresh that dropped it. See KnownAbsent.
	withdrawn []string
	// The discovered JWKS URL ("" until a discovery succeeds), whether a
	// fetch from it failed (discover again before the next fetch), when a
	// fetch rediscovers it, and the rediscoveries that failed in a row
	// since the last success (their back-off); see discoveredURL.
	jwksURL             string
	jwksURLFailed       bool
	jwksURLExpires      time.Time
	rediscoveryFailures int
	// retryUntil is when the wait the latest fetch was asked for (a 429's
	// or 503's Retry-After, or a 429's X-Rate-Limit-Reset, within
	// retryAfterCap) ends, zero when that fetch got
	// none, and retrySeq the seq of the fetch that set it; the background
	// refresh waits for it (waitRetryAfter), and so do fetches for unknown
	// kids (missLocked).
	retryUntil time.Time
	retrySeq   uint64

	// exposed remembers the keys a document exposed, refused in every
	// later document; only the fetch in flight uses it.
	exposed exposedKeys

	fetches, failures, discoveries, urlChanges, missFetches, limited, waits atomic.Int64
	lastFailure                                                             atomic.Pointer[time.Time]
}

type fetchError struct{ err error }

// missedKid is what the Set remembers of a kid confirmed absent: when, and
// whether only because the issuer withdrew it (a refresh dropped it, see
// storeLocked) rather than because a fetch that looked for it did not find
// it. Tokens naming a withdrawn kid may be the issuer's own, signed before
// the rotation (see KnownAbsent).
type missedKid struct {
	at        time.Time
	withdrawn bool
}

// fetchCall is one fetch that any number of callers may wait for.
type fetchCall struct {
	done chan struct{} // closed when err and next are set
	err  error
	next time.Duration // refresh interval the response asked for (success only)
	seq  uint64        // s.started when it started; 0 if it never did
	// waiting counts the lookups waiting for it while it is s.next, under
	// s.mu: when the last of them gives up, it is cancelled (leaveNextLocked).
	waiting int
	// kids are the unknown kids it looks for, under s.mu, each with the
	// number of lookups for it: the one whose lookup started it, those of
	// the lookups waiting for it, and those of the lookups that join it
	// looking again after a stale answer (it started after each of them
	// arrived: its answer is theirs), of at most maxMissedKidLen bytes. A
	// waiting lookup that gives up before it starts takes its kid back
	// (leaveNextLocked), so they are at most the slots in use when it
	// starts plus one (a lookup that joins it later held a slot then,
	// joined to the fetch before). A successful fetch remembers those it
	// did not find as it publishes its snapshot, whether or not their
	// lookups are still there to read the answer.
	kids map[string]int
}

// lookedFor records that c looks for kid on behalf of a lookup that arrived
// before c started, unless kid is too long to remember. s.mu is held.
func (c *fetchCall) lookedFor(kid string) {
	if len(kid) > maxMissedKidLen {
		return
	}
	if c.kids == nil {
		c.kids = make(map[string]int)
	}
	c.kids[kid]++
}

// notLookedFor undoes one lookedFor(kid). s.mu is held.
func (c *fetchCall) notLookedFor(kid string) {
	if n, ok := c.kids[kid]; n > 1 {
		c.kids[kid] = n - 1
	} else if ok {
		delete(c.kids, kid)
	}
}

// New starts a Set and returns at once: the first fetch runs in the
// background and is retried with back-off until it succeeds, so New never
// fails because the issuer is down. Zero Config fields take their defaults.
// Close stops every goroutine New starts.
func New(cfg Config) *Set {
	return newSet(cfg, realTimer, realAfterFunc, rand.Float64)
}

// resettableTimer is what the background refresher uses of a *time.Timer.
type resettableTimer interface {
	Reset(time.Duration) bool
	Stop() bool
}

func realTimer(d time.Duration) (<-chan time.Time, resettableTimer) {
	t := time.NewTimer(d)
	return t.C, t
}

func realAfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

func newSet(cfg Config, timer func(time.Duration) (<-chan time.Time, resettableTimer),
	afterFunc func(time.Duration, func()) func() bool, random func() float64) *Set {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Set{
		cfg:       cfg,
		log:       cfg.Logger,
		newTimer:  timer,
		afterFunc: afterFunc,
		random:    random,
		ready:     make(chan struct{}),
		ctx:       ctx,
		cancel:    cancel,
		missed:    make(map[string]missedKid),
	}
	// Config.Now, read through readNow, never panics in the Set's
	// goroutines.
	now := cfg.Now
	s.cfg.Now = func() time.Time { return s.readNow(now) }
	s.client, s.ownClient = newClient(cfg.Client, cfg.FetchTimeout)
	s.ownClient = s.ownClient || cfg.OwnClient
	s.wg.Add(1)
	go s.run()
	return s
}

// Key returns the key with the given kid. A known kid is answered from the
// in-memory snapshot without any network call or lock.
//
// An unknown kid is answered from a fetch that started after the lookup
// arrived: the lookup starts one (at most one per MinRefreshInterval, none
// within the wait a 429 or 503 asked for (see retryAfter); all concurrent
// misses share it), or, when the rate limit forbids it, waits for
// the next permitted one, which every waiting lookup shares. Lookups that
// join a fetch in flight or wait for the next one take one of MaxWaiters
// slots (see docs/key-set.md). A lookup is refused at once, with no wait,
// when the kid was just confirmed absent, when every slot is taken, or,
// instead of waiting for the rate limit, when there is no usable set or the
// latest refresh failed.
// A lookup waits only until ctx ends, and then returns ctx's error.
//
// Otherwise the error is ErrUnknownKey (the set is up to date and lacks kid:
// the token's fault) or ErrUnavailable (there is no usable set, or kid is
// not in the last good set and the refresh the answer relied on failed: the
// server's fault, worth a retry).
func (s *Set) Key(ctx context.Context, kid string) (*Key, error) {
	now := s.cfg.Now()
	snap := s.cur.Load()
	if k := snap.lookup(kid, now, s.cfg.MaxStaleness); k != nil {
		return k, nil
	}
	if kid == "" {
		if snap.usable(now, s.cfg.MaxStaleness) {
			return nil, ErrUnknownKey // never in any set: no fetch can help
		}
		return nil, s.missErr(snap, now)
	}

	s.mu.Lock()
	arrived := s.started // only a fetch started after this one is a fresh answer
	for {
		now, snap = s.cfg.Now(), s.cur.Load()
		if k := snap.lookup(kid, now, s.cfg.MaxStaleness); k != nil {
			s.mu.Unlock() // a fetch finished since the last look
			return k, nil
		}
		c, how, err := s.missLocked(kid, now, snap, arrived)
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		switch {
		case how == joined && s.onJoin != nil:
			s.onJoin()
		case how == waited && s.onWait != nil:
			s.onWait()
		}
		select {
		case <-c.done:
		case <-ctx.Done():
			if how != started {
				s.mu.Lock()
				s.waiters--
				if how == waited {
					s.leaveNextLocked(c, kid)
				}
				s.mu.Unlock()
			}
			return nil, fmt.Errorf("jwks: waiting for key set refresh: %w", ctx.Err())
		}
		s.mu.Lock()
		if how != started {
			s.waiters--
		}
		now, snap = s.cfg.Now(), s.cur.Load()
		if k := snap.lookup(kid, now, s.cfg.MaxStaleness); k != nil {
			s.mu.Unlock()
			return k, nil
		}
		if errors.Is(c.err, ErrClosed) {
			s.mu.Unlock()
			return nil, errClosedMiss
		}
		if c.err != nil || c.seq > arrived {
			// The fetch failed (ErrUnavailable), or it started after this
			// lookup and did not find kid (ErrUnknownKey; the fetch has
			// remembered kid, see fetchCall.kids).
			s.mu.Unlock()
			return nil, s.missErr(snap, now)
		}
		// The fetch joined started before this lookup arrived, so the kid may
		// have been published since: look again, now under the rate limit.
	}
}

// Current returns the key with the given kid from the in-memory snapshot
// without any network call, or nil when the kid is absent or there is no
// usable set (never fetched, or older than MaxStaleness).
func (s *Set) Current(kid string) *Key {
	return s.CurrentAt(kid, s.cfg.Now())
}

// CurrentAt is Current for a caller that has already read the clock: now
// must be a reading of the Set's Now, possibly a little old (the verifier's
// cache hits share one reading for up to 10 ms).
func (s *Set) CurrentAt(kid string, now time.Time) *Key {
	return s.cur.Load().lookup(kid, now, s.cfg.MaxStaleness)
}

// KnownAbsent reports whether a lookup of kid would be refused at once with
// ErrUnknownKey because a fetch that looked for kid did not find it, a
// moment ago (the first step of a lookup of a kid not in the set: see Key
// and docs/key-set.md): a token naming kid cannot verify, whatever it
// claims. It never fetches or waits, and counts a true answer in
// Stats.MissesLimited, as Key would. It takes no lock when the current
// set has kid: no kid it has is remembered (see storeLocked).
//
// A kid remembered only because a refresh dropped it (the issuer
// withdrew it) is not reported, although Key refuses it the same way: a
// token its key signed before the rotation is the issuer's, and when it
// has expired its holder is owed that answer (the verifier's ErrExpired,
// which tells a client to refresh), not ErrUnknownKey. That holds also
// once the refusal's memory (6 × MinRefreshInterval) has ended and a
// token naming the kid whose claims pass (an unexpired one, or one forged,
// as no signature is needed to reach the lookup) has made a fetch look
// for it: the Set keeps the last maxWithdrawn kids refreshes dropped,
// with no time limit (see storeLocked), and remembers such a kid as
// withdrawn whenever it remembers it. Only a kid pushed out of that list
// by later withdrawals, or one this Set never saw in a set (a replica
// started after the rotation cannot know the kid was withdrawn), is
// reported once a fetch has looked for it and not found it.
func (s *Set) KnownAbsent(kid string) bool {
	if snap := s.cur.Load(); snap != nil && snap.keys[kid] != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now() // under s.mu, as Key reads it: no older than the memory it judges
	usable := s.cur.Load().usable(now, s.cfg.MaxStaleness)
	return s.refusedLocked(kid, now, usable, false)
}

// Holds reports whether k is the current set's key for its kid at the
// reading of the Set's Now whose Elapsed is at and whose UnixNano is wall:
// CurrentAt(k.ID, reading) == k, the set's age measured as CurrentAt
// measures it (the larger of its monotonic and wall-clock ages, see
// MaxStaleness), for the verifier's cache hits, which keep their reading
// as integers.
//
// seen remembers, for one k, the last snapshot found to hold it (the
// verifier keeps one per cache entry, zero at first): while that snapshot
// is current, the answer needs no lookup of k's kid. Snapshots never
// change, so a snapshot that held k holds it for as long as it is current.
//
// Holds is false, whatever CurrentAt says, when the reading or the set's
// fetch time is one Elapsed or UnixNano saturates (more than 292 years from
// the process's start, or outside the years 1678 to 2262, as a Config.Now
// may return): their difference is not the set's age then, and the
// verifier's miss path asks CurrentAt.
func (s *Set) Holds(k *Key, at time.Duration, wall int64, seen *atomic.Uint64) bool {
	snap := s.cur.Load()
	switch {
	case snap == nil || saturated(at) || saturated(snap.at) || saturated(wall) || saturated(snap.wall):
		return false
	case since(at, snap.at) > s.cfg.MaxStaleness || since(wall, snap.wall) > s.cfg.MaxStaleness:
		return false
	case seen.Load() == snap.gen:
		return true
	case snap.keys[k.ID] != k:
		return false
	}
	seen.Store(snap.gen)
	return true
}

// Ready blocks until the first key set has been loaded (it returns nil from
// then on, even if the set later goes stale), or ctx ends (ctx's error,
// wrapped with the last fetch error), or the Set is closed (ErrClosed).
func (s *Set) Ready(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	default:
	}
	select {
	case <-s.ready:
		return nil
	case <-s.ctx.Done():
		return ErrClosed
	case <-ctx.Done():
		if e := s.lastErr.Load(); e != nil {
			return fmt.Errorf("jwks: key set not loaded: %w (last fetch: %s)", ctx.Err(), endpoint.ClipError(e.err))
		}
		return fmt.Errorf("jwks: key set not loaded: %w", ctx.Err())
	}
}

// Stats returns the Set's counters. It reads Config.Now once, to tell
// whether the current set is still usable.
func (s *Set) Stats() Stats {
	st := Stats{
		Fetches:       s.fetches.Load(),
		Failures:      s.failures.Load(),
		Discoveries:   s.discoveries.Load(),
		URLChanges:    s.urlChanges.Load(),
		MissFetches:   s.missFetches.Load(),
		MissesLimited: s.limited.Load(),
		MissWaits:     s.waits.Load(),
	}
	if t := s.lastFailure.Load(); t != nil {
		st.LastFailure = *t
	}
	if snap := s.cur.Load(); snap != nil {
		st.LastSuccess, st.SkippedKeys = snap.fetched, snap.skipped
		if snap.usable(s.cfg.Now(), s.cfg.MaxStaleness) {
			st.Keys = len(snap.keys)
		}
	}
	return st
}

// Close stops the background refresh and any fetch in flight, and returns
// once every goroutine the Set started has ended. It is safe to call more
// than once and concurrently. Lookups after Close still answer from the last
// snapshot (the one published by the time Close returns, so without the
// keys exposed by a document a fetch Close interrupted had read) but never
// fetch or wait, and lookups waiting for a refresh return at once (whether
// or not it had started); a kid the last snapshot lacks is then
// ErrUnavailable wrapping ErrClosed, unless it was confirmed absent just
// before.
func (s *Set) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.cancelNextLocked()
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		s.closeIdle()
	})
}

// closeIdle closes the idle connections of the Set's own client (none of
// a caller's client: its connections are the caller's), once a
// refresh, its discovery requests and JWKS fetch together, is over. A
// connection serves a refresh and then nothing until the next, minutes
// later; kept idle for the transport's IdleConnTimeout (90 s), it would
// hold its buffers and two net/http goroutines, whose stacks the garbage
// collector scans every cycle. The cost: each refresh, scheduled or for an
// unknown kid, opens a new connection (a TCP and a TLS handshake).
// Close closes them too, for a fetch it interrupted.
func (s *Set) closeIdle() {
	if s.ownClient {
		s.client.CloseIdleConnections() // its transport's, which the copy shares
	}
}

// startFetchLocked returns the fetch in flight, or starts one. s.mu is held.
// At most one fetch runs at a time, which is what makes a fetch's fields
// (s.jwksURL) safe to use without further locking inside it.
// Whatever its reason, a fetch that starts while lookups wait for the next
// refresh is theirs: it is just as fresh.
func (s *Set) startFetchLocked(reason string) *fetchCall {
	if s.inflight != nil {
		return s.inflight
	}
	c := s.takeNextLocked()
	if c == nil {
		c = &fetchCall{done: make(chan struct{})}
	}
	if s.closed {
		c.err = ErrClosed
		close(c.done)
		return c
	}
	s.started++
	c.seq = s.started
	s.inflight = c
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		snap, next, err := s.refresh(reason)
		s.closeIdle()
		if s.onResult != nil {
			s.onResult()
		}
		// Publish the snapshot and end the call in one critical section, so
		// a lookup that finds no fetch in flight also finds its result. The
		// latest refresh's error goes with it: a lookup made before sees
		// the error of the fetch before, not a success whose keys it cannot
		// see yet (it would blame the token for a kid this fetch found).
		s.mu.Lock()
		if snap != nil {
			s.storeLocked(snap)
		}
		switch {
		case err == nil:
			s.lastErr.Store(nil)
		case err != ErrClosed: // Close's cancellation is no failure of the issuer's
			s.lastErr.Store(&fetchError{err})
		}
		if err == nil {
			// In the critical section that publishes the result: a lookup
			// of one of c's kids that takes s.mu next, maybe before the
			// lookup c answers, finds it remembered and is refused at once.
			now := s.cfg.Now()
			for kid := range c.kids {
				if snap.keys[kid] == nil {
					s.rememberMissLocked(kid, now, false)
				}
			}
		}
		if ra := retryAfterOf(err); ra > 0 {
			s.retryUntil, s.retrySeq = s.cfg.Now().Add(min(ra, s.retryAfterCap())), c.seq
		} else {
			s.retryUntil = time.Time{} // the issuer answered without asking for a pause
		}
		s.inflight = nil
		c.next, c.err = next, err
		s.mu.Unlock()
		if err == nil {
			s.readyOnce.Do(func() { close(s.ready) })
		}
		close(c.done)
	}()
	return c
}

// storeLocked publishes snap. A kid remembered as missing is forgotten when
// snap has it, or when its memory has expired (which makes room for new
// ones); the others stay remembered, so that a flood repeating forged kids
// is not let back into fetching and waiting by every scheduled refresh. The
// kids snap dropped are remembered too: the issuer withdrew them, so a
// token naming one is refused at once rather than made to wait for another
// fetch; they are remembered as withdrawn (see KnownAbsent), and listed
// in s.withdrawn, which forgets the kids snap publishes again. s.mu is held.
//
// Every kid remembered is absent from the current snapshot: a snapshot is
// published only here, and the kids remembered besides (a fetch's
// fetchCall.kids) are those it lacks. KnownAbsent relies on it.
func (s *Set) storeLocked(snap *snapshot) {
	old := s.cur.Swap(snap)
	now := s.cfg.Now()
	for kid, m := range s.missed {
		if snap.keys[kid] != nil || !s.stillMissing(m.at, now) {
			delete(s.missed, kid)
		}
	}
	s.withdrawn = slices.DeleteFunc(s.withdrawn, func(kid string) bool { return snap.keys[kid] != nil })
	if old == nil {
		return
	}
	// Remembered from now, not from snap's fetch: a snapshot that a failed
	// fetch stripped of exposed keys keeps its last good fetch's time.
	for kid := range old.keys {
		if snap.keys[kid] == nil {
			s.withdrawLocked(kid)
			s.rememberMissLocked(kid, now, true)
		}
	}
}

// missTTL is how long a kid confirmed absent is answered without a fetch:
// missTTLFactor × MinRefreshInterval, saturating rather than overflowing
// into a negative duration for an interval of decades.
func (s *Set) missTTL() time.Duration {
	if s.cfg.MinRefreshInterval > math.MaxInt64/missTTLFactor {
		return math.MaxInt64
	}
	return missTTLFactor * s.cfg.MinRefreshInterval
}

// stillMissing reports whether a kid remembered as absent at t is still
// answered without a fetch at now: for missTTL after t. A clock set back
// since t ends the memory, as it ends a Retry-After (retryLeft), rather
// than stretching it by the step.
func (s *Set) stillMissing(t, now time.Time) bool {
	age := now.Sub(t)
	return age >= 0 && age < s.missTTL()
}

// withdrawLocked lists kid, which a refresh dropped, in s.withdrawn,
// forgetting the oldest kid listed when the list is full, unless kid is
// too long to remember or already listed. The kids one refresh drops are
// listed in no particular order. s.mu is held.
func (s *Set) withdrawLocked(kid string) {
	if len(kid) > maxMissedKidLen || slices.Contains(s.withdrawn, kid) {
		return
	}
	if len(s.withdrawn) == maxWithdrawn {
		s.withdrawn = slices.Delete(s.withdrawn, 0, 1) // in place: the array never grows past the bound
	}
	s.withdrawn = append(s.withdrawn, kid)
}

// rememberMissLocked records that kid was absent from a fresh set, so that a
// flood of the same forged kid costs no further fetches or waits: withdrawn
// when the issuer dropped it, else because a fetch that looked for it did
// not find it. A kid remembered as withdrawn stays so while remembered,
// and a kid s.withdrawn lists is remembered as withdrawn, also when a
// fetch looks for it, however long after the refresh that dropped it: the
// tokens its key signed before the rotation are the issuer's all the same
// (see KnownAbsent). Memory is bounded. s.mu is held.
func (s *Set) rememberMissLocked(kid string, now time.Time, withdrawn bool) {
	if len(kid) <= maxMissedKidLen && len(s.missed) < maxMissedKids {
		withdrawn = withdrawn || s.missed[kid].withdrawn || slices.Contains(s.withdrawn, kid)
		s.missed[kid] = missedKid{at: now, withdrawn: withdrawn}
	}
}

// refusedLocked reports whether a lookup of kid, absent from the current
// set (usable or not at now, as usable says), is refused at once with
// ErrUnknownKey because kid is remembered as absent and its memory still
// runs, and counts the refusal in Stats.MissesLimited. A kid remembered
// only as withdrawn is refused so when withdrawnToo is set. It serves
// missLocked's first step and KnownAbsent alike. s.mu is held.
func (s *Set) refusedLocked(kid string, now time.Time, usable, withdrawnToo bool) bool {
	m, ok := s.missed[kid]
	if !ok || !usable || !s.stillMissing(m.at, now) || m.withdrawn && !withdrawnToo {
		return false
	}
	s.limited.Add(1)
	return true
}

// missErr is the error for a kid not in snap: ErrUnknownKey when snap is
// usable and the latest refresh succeeded, else ErrUnavailable with the
// reason. While refreshes fail the set cannot tell a forged kid from a key
// published since the last good fetch, so it does not blame the token.
func (s *Set) missErr(snap *snapshot, now time.Time) error {
	var last string // clipped: it may quote what the server sent, and it reaches every call's error
	if e := s.lastErr.Load(); e != nil {
		last = endpoint.ClipError(e.err)
	}
	switch usable := snap.usable(now, s.cfg.MaxStaleness); {
	case usable && last == "":
		return ErrUnknownKey
	case usable:
		return fmt.Errorf("%w: kid not in the last good set (fetched %s ago) and the latest refresh failed: %s",
			ErrUnavailable, snap.age(now).Round(time.Second), last)
	}
	switch {
	case snap != nil:
		return fmt.Errorf("%w: last good set fetched %s ago exceeds MaxStaleness %s (last fetch: %s)",
			ErrUnavailable, snap.age(now).Round(time.Second), s.cfg.MaxStaleness, last)
	case last != "":
		return fmt.Errorf("%w: no key set has ever loaded (last fetch: %s)", ErrUnavailable, last) // not wrapped: a fetch timeout is not the caller's deadline
	default:
		return fmt.Errorf("%w: no key set has ever loaded (first fetch not complete)", ErrUnavailable)
	}
}
