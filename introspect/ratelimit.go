package introspect

import (
	"fmt"
	"sync"
	"time"
)

// errRateLimited: a request would have exceeded Config.MaxRequestRate.
var errRateLimited = fmt.Errorf("%w: MaxRequestRate reached, request not sent", ErrUnavailable)

// limiter is a token bucket: rate requests a second on average, up to
// burst at once. Its time is the Verifier's Config.Now.
type limiter struct {
	mu     sync.Mutex
	rate   float64 // > 0
	burst  float64 // >= 1
	tokens float64 // requests that may be sent now, at most burst
	last   time.Time
}

// newLimiter returns a full bucket for rate requests a second, holding one
// second's worth, at least one.
func newLimiter(rate float64, now time.Time) *limiter {
	burst := max(rate, 1)
	return &limiter{rate: rate, burst: burst, tokens: burst, last: now}
}

// allow takes one request from the bucket at now, and reports whether
// there was one. A clock that goes back refills nothing, and the bucket
// refills from its new time on.
func (l *limiter) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := now.Sub(l.last); d > 0 {
		l.tokens = min(l.burst, l.tokens+d.Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// giveBack returns one request to the bucket, up to burst: one allow let
// pass but that was not sent.
func (l *limiter) giveBack() {
	l.mu.Lock()
	l.tokens = min(l.burst, l.tokens+1)
	l.mu.Unlock()
}

// knownEntry is a token introspection found active: from when its next
// request may pass Config.MaxRequestRate, and until when. taken marks an
// entry whose request is on its way: only that request's outcome (settle)
// or a newer verdict (put, forget) changes it.
type knownEntry struct {
	from, until time.Time
	taken       bool
}

// knownSet remembers, by hash, the tokens an answer of the server called
// active and the Verifier accepted, so that asking about them again (once
// their cached answer has ended) does not wait for a flood of made-up
// tokens to stop. It holds at most max entries: knownEntryOverhead bytes
// each. Only a Verifier with both MaxRequestRate and the cache has one.
type knownSet struct {
	mu  sync.Mutex
	m   map[tokenKey]knownEntry
	max int
}

// knownEntryOverhead is about what a knownSet entry keeps alive: the
// 32-byte hash, two time.Time and a flag at the map's load factor.
const knownEntryOverhead = 128

func newKnownSet(maxEntries int) *knownSet {
	return &knownSet{m: make(map[tokenKey]knownEntry), max: maxEntries}
}

// put records k, replacing its entry, unless e is of no use (ended at now,
// or never usable), reclaiming a few ended entries and then evicting
// arbitrary ones to stay within max. e's times lose their monotonic
// readings (wall).
func (s *knownSet) put(k tokenKey, e knownEntry, now time.Time) {
	e.from, e.until = wall(e.from), wall(e.until)
	if !now.Before(e.until) || !e.from.Before(e.until) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
	makeRoom(s.m, now, func(e knownEntry) time.Time { return e.until },
		func() bool { return len(s.m) < s.max }, func(k tokenKey, _ knownEntry) { delete(s.m, k) })
	s.m[k] = e
}

// take marks k's entry taken and reports whether it was usable at now:
// from its from on, before its until, not already taken. A request for k
// then passes the rate limit once; its outcome settles the entry.
func (s *knownSet) take(k tokenKey, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	switch {
	case !ok || e.taken || now.Before(e.from):
		return false
	case !now.Before(e.until):
		delete(s.m, k)
		return false
	}
	e.taken = true
	s.m[k] = e
	return true
}

// settle ends the request take let pass for k, unless a newer answer has
// replaced or forgotten its entry since: kept, the entry is usable again
// from from on; otherwise it is forgotten.
func (s *knownSet) settle(k tokenKey, keep bool, from, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	if !ok || !e.taken {
		return
	}
	if !keep || !now.Before(e.until) || !from.Before(e.until) {
		delete(s.m, k)
		return
	}
	s.m[k] = knownEntry{from: wall(from), until: e.until}
}

// forget removes k's entry: the server's verdict on it was not "active".
func (s *knownSet) forget(k tokenKey) {
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

// len returns the number of entries, usable or not yet reclaimed.
func (s *knownSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// clear empties the set.
func (s *knownSet) clear() {
	s.mu.Lock()
	clear(s.m)
	s.mu.Unlock()
}

// backoffFirst is the pause after the first burst of answers that back
// off (see backoff); each consecutive burst doubles it, up to
// maxRetryAfter.
const backoffFirst = time.Second

// backoffQuiet is how long after its last step a backoff starts again
// from backoffFirst: the endpoint has not asked to wait for that long.
const backoffQuiet = 2 * time.Minute

// backoffMaxSteps is the number of steps after which backoffFirst,
// doubled as often, reaches maxRetryAfter (2^6 s is more than a minute).
const backoffMaxSteps = 6

// backoff is the pause begun by an answer that says the endpoint is
// overloaded or down without saying for how long (see Verifier.statusError):
// a 429 or 503 with neither a usable Retry-After nor an X-Rate-Limit-Reset,
// or a 502 or 504 (a gateway's: the server behind it did not answer); and
// by a request that got no answer (unreachable, refused, timed out, its
// answer broken off: see Verifier.networkError). It is backoffFirst,
// doubled for each consecutive burst of such failures, at most
// maxRetryAfter. A burst is the answers to the requests sent before the
// pause its first one begins is recorded (gen): the requests in flight
// together when an overloaded server starts refusing them count as one
// step, not as many. A burst of network failures whose backoff has not
// begun (no step since it was last started again) is forgiven: it moves
// gen, pausing nothing, and only the next, of requests sent after it,
// takes the first step; but a status that backs off, answered to a
// request of the forgiven burst, takes it then (see justForgiven). So one transient failure (a connection reset, a
// load balancer's restart) pauses nothing, while an endpoint that stays
// unreachable is asked again after 1, 2, 4 … 60 s, not at MaxRequestRate.
//
// A usable answer, the server's own word on its state (see reset: a 200
// whose body the Verifier could read, a 401 or 403 saying invalid_client,
// or a 429 or 503 whose Retry-After or X-Rate-Limit-Reset decides),
// backoffQuiet without a step, or a clock set back before the last step
// starts it again from backoffFirst; a 200 whose body is unusable (not
// JSON, too large, malformed), and any other status that does not back
// off (a 500, a 400, a 401 or 403 without invalid_client: one request
// failed or refused, perhaps by something on the way, perhaps provoked by
// its token), do neither. Only an answer to a request sent in the
// current generation counts, for both: one sent before the last step, or
// while it recorded its pause, answers for a server as it was before that
// burst (see current).
// Its lock is never held while user code runs (Config.Now, which
// recording a step's pause reads): see step.
type backoff struct {
	mu       sync.Mutex
	steps    int       // consecutive bursts counted, at most backoffMaxSteps
	forgiven bool      // a burst of network failures was forgiven since the backoff started again
	gen      uint64    // moved by each step once its pause is recorded: see sent
	stepping bool      // a step is recording its pause: gen has not moved yet
	last     time.Time // when the last step (or forgiven burst) was taken
}

// sent returns what a request about to be sent passes to step or reset
// with its answer: the generation of the burst it belongs to. Read it
// before checking for a pause (Verifier.paused): step records its pause
// before it lets sent read the generation it moved to, so a request that
// reads that one sees the pause and is not sent, and one sent without
// seeing it read the generation before, and its answer is of that step's
// burst.
func (b *backoff) sent() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gen
}

// current reports whether the answer to a request sent at generation gen
// (see sent) is of the current one: no step was taken since that request
// was sent, nor is being taken. Any other is of a burst already counted
// (step), or a straggler that says how the server was before the last
// step began (reset). b.mu is held.
func (b *backoff) current(gen uint64) bool {
	return gen == b.gen && !b.stepping
}

// step records, at now, a failure that backs off, of a request sent at
// generation gen (see sent): unless it is not current (the failure is one
// of a burst already counted) and is not a status of the burst just
// forgiven (see justForgiven), it takes the next step, and has record
// record the step's pause, before the generation it moves to can be read.
// It returns the pause record returned, or 0 for none. A network failure
// (network) that finds the backoff started again and not yet forgiven is
// forgiven instead: the generation moves, and nothing pauses (see
// backoff). record runs without b's lock (it reads Config.Now, which may
// block or call anything): meanwhile sent still returns the generation
// before, and the answer to a request sent at it is of this step's burst,
// since it was sent before the pause began. (Before, record ran under the
// lock, so a Config.Now that blocked held every request about to be sent
// in sent.)
func (b *backoff) step(gen uint64, now time.Time, network bool, record func(time.Duration) time.Duration) time.Duration {
	b.mu.Lock()
	if !b.current(gen) && (network || !b.justForgiven(gen)) {
		b.mu.Unlock()
		return 0
	}
	if now.Before(b.last) || now.Sub(b.last) >= backoffQuiet {
		b.steps, b.forgiven = 0, false
	}
	b.last = now
	if network && b.steps == 0 && !b.forgiven {
		b.forgiven = true
		b.gen++
		b.mu.Unlock()
		return 0
	}
	d := min(backoffFirst<<b.steps, maxRetryAfter)
	b.steps = min(b.steps+1, backoffMaxSteps)
	b.stepping = true
	b.mu.Unlock()
	defer func() { // even if record panics: a step left stepping would be the last
		b.mu.Lock()
		b.stepping = false
		b.gen++
		b.mu.Unlock()
	}()
	return record(d)
}

// justForgiven reports whether a request sent at generation gen was of
// the burst of network failures forgiven last, with no step, nor any
// usable answer, since: forgiven with no step counted means that the last
// move of the generation was that forgiveness (a step counts one, and
// reset, or a step starting the backoff again, clears forgiven), so the
// generation before the current one is the burst forgiven. A status that
// backs off (a 429 or 503 without a wait, a 502 or 504), answered to a
// request of that burst, takes the step its burst never took: had it come
// before the burst's first network failure, it would have taken it, and
// that failure been of its burst; the order in which one burst's answers
// come must not decide whether it pauses anything. (Before, it was
// dropped as a straggler, so a server's explicit 429 was lost because a
// network failure sent alongside came back first.) A network failure of
// that burst stays forgiven with it. b.mu is held.
func (b *backoff) justForgiven(gen uint64) bool {
	return b.forgiven && b.steps == 0 && gen+1 == b.gen
}

// reset starts the backoff again from backoffFirst: the endpoint gave a
// usable answer to a request sent at generation gen (see sent). An answer
// that is not current (see current) resets nothing: a request sent before
// the last step, answered after it, says nothing of the server since.
// (Before, any answer reset it, so a straggler's 200 answered after an
// overloaded server's first 429s started every next burst's pause from a
// second again.) A pause already begun runs to its end.
func (b *backoff) reset(gen uint64) {
	b.mu.Lock()
	if b.current(gen) {
		b.steps, b.forgiven = 0, false
	}
	b.mu.Unlock()
}
