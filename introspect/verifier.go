package introspect

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/jitter"
	"github.com/grpcauth/grpcauth/internal/jwxpanic"
	"github.com/grpcauth/grpcauth/verifier"
)

// Verifier verifies access tokens by asking the authorization server's
// token introspection endpoint (RFC 7662): for opaque tokens, which cannot
// be verified locally, such as those of Okta's org authorization server. It
// satisfies grpcauth.TokenVerifier and is safe for concurrent use. Create
// one per endpoint with New, share it, and Close it when done. A Verifier
// that New did not build (a zero Verifier, or a nil *Verifier) refuses
// every token, and Close, with an "introspect: ... not built with New"
// error wrapping ErrUnavailable (codes.Unavailable behind grpcauth),
// logged once per process through slog.Default(); its Stats are zero, its
// ClockSkew 0, and its RevalidateAt now. It never panics.
//
// Results are cached by the SHA-256 of the token (see CacheConfig);
// concurrent calls with the same token share one request; at most
// Config.MaxConcurrent requests are in flight at once.
type Verifier struct {
	s          settings
	endpoint   string          // Endpoint without query or fragment, for logs (endpoint.Redact)
	issuerJSON json.RawMessage // Issuer as a JSON string
	pos, neg   *resultCache    // nil when disabled
	sem        chan struct{}   // one slot per request in flight
	rate       *limiter        // nil without Config.MaxRequestRate
	known      *knownSet       // tokens that bypass rate; nil without rate or pos
	n          counters        // for Stats
	failLog    failureLog      // bounds the records of failed requests
	random     func() float64  // jitter.Random: a positive answer's lifetime is jittered
	retryUntil atomic.Int64    // Unix ns (wall) the endpoint's pause ends (Retry-After, backoff, invalid_client): see retryLeft
	backoff    backoff         // the pause of 429s and 503s that say not how long, 502s, 504s and network failures: see backoff
	// afterFunc runs f after d, unless the stop it returns (which reports
	// whether it did stop f) is called first: time.AfterFunc, or a test's
	// clock. It bounds the reading of a refused answer's body (readRefused).
	afterFunc func(d time.Duration, f func()) (stop func() bool)
	// runPanics bounds the stacks of the panics recoverRun recovers to
	// one a minute, by wallNow, the process's clock (time.Now; a test's
	// clock): Config.Now may be what panicked.
	runPanics jwxpanic.StackLog
	wallNow   func() time.Time

	base context.Context // cancelled by Close
	stop context.CancelFunc
	wg   sync.WaitGroup // one per flight goroutine

	mu      sync.Mutex
	flights map[tokenKey]*flight
	closed  bool
	closing sync.Once

	// Test hooks, nil in production: joined runs (under mu) when a caller
	// joins or starts a flight, waitSlot when a flight has to wait for a
	// concurrency slot, ran (under mu) when a flight has recorded its
	// outcome, pauseRead when pause has read the pause it may replace,
	// missed when a caller has missed the caches, before it joins a flight,
	// checked when a request has found no pause after its slot, before it
	// is sent.
	joined    func()
	missed    func()
	waitSlot  func()
	ran       func()
	pauseRead func()
	checked   func()
}

// flight is one introspection request and the callers waiting for it.
type flight struct {
	done    chan struct{} // closed when claims and err are set
	claims  verifier.Claims
	err     error
	waiters int                // callers still waiting; guarded by Verifier.mu
	cancel  context.CancelFunc // abandons the request
}

// New validates cfg and returns a Verifier. It makes no request: an
// unreachable endpoint shows as ErrUnavailable on the first verification.
// An invalid Config is reported with an "introspect: invalid config" error
// naming the field.
func New(cfg Config) (*Verifier, error) {
	s, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(s.Endpoint) // checked by validate
	v := &Verifier{
		s:          s,
		endpoint:   endpoint.Redact(u),
		issuerJSON: issuerJSONValue(s.Issuer),
		sem:        make(chan struct{}, s.MaxConcurrent),
		flights:    make(map[tokenKey]*flight),
		random:     jitter.Random,
		afterFunc:  afterFunc,
		wallNow:    time.Now,
	}
	if !s.Cache.Disabled {
		v.pos = newResultCache(s.Cache.MaxEntries, s.Cache.MaxBytes)
		// Negative entries are of fixed size: MaxNegativeEntries bounds
		// their memory.
		v.neg = newResultCache(s.Cache.MaxNegativeEntries, math.MaxInt64)
	}
	if s.MaxRequestRate > 0 {
		v.rate = newLimiter(s.MaxRequestRate, s.Now())
		if v.pos != nil {
			v.known = newKnownSet(s.Cache.MaxEntries)
		}
	}
	v.base, v.stop = context.WithCancel(context.Background())
	return v, nil
}

// afterFunc is time.AfterFunc, returning its Timer's Stop.
func afterFunc(d time.Duration, f func()) (stop func() bool) { return time.AfterFunc(d, f).Stop }

// Close abandons the requests in flight, waits for their goroutines to end
// and empties the caches. Callers waiting for a request get
// verifier.ErrClosed, as do later calls. It is safe to call more than once,
// also concurrently: every call returns only once the goroutines have
// ended. It returns nil, but for a Verifier New did not build, which has
// nothing to close: the "not built with New" error (see Verifier).
func (v *Verifier) Close() error {
	if !v.built() {
		return errNotBuilt
	}
	v.closing.Do(func() {
		v.mu.Lock()
		v.closed = true
		v.mu.Unlock()
		v.stop()
		v.wg.Wait()
		if v.pos != nil {
			v.pos.clear()
			v.neg.clear()
		}
		if v.known != nil {
			v.known.clear()
		}
		if v.s.ownClient {
			v.s.HTTPClient.CloseIdleConnections()
		}
	})
	return nil
}

// VerifyAccessToken verifies token (without the "Bearer " prefix) by
// introspection and returns the response's members as claims (including
// "active" and, when the response has one, "token_type"; scopes from
// Config.ScopeClaims; iss set to Config.Issuer when the response has none).
//
// The token must be at most Config.MaxTokenSize bytes of RFC 6750 b64token
// characters (verifier.ErrMalformed otherwise, without a request). Then it
// is answered from the caches, or by a request shared with concurrent
// callers of the same token. An inactive token fails with ErrInactive
// (but with a *verifier.TokenExpiredError when the Verifier cached an
// earlier answer whose exp has passed: see ErrInactive); an
// active one must pass the issuer (verifier.ErrIssuer), audience
// (verifier.ErrAudience), client and token-type (*verifier.ClaimError)
// checks, have an exp unless Config.SkipExpiryRequirement is set, and be
// within its exp (*verifier.TokenExpiredError), nbf and iat
// (verifier.ErrNotYetValid), with Config.ClockSkew. A failure to get an
// answer is ErrUnavailable (errors.Is verifier.ErrKeysUnavailable); when ctx
// ends first, its error is returned. Error text is for server logs and
// never contains the token. A Verifier New did not build refuses every
// token with an error wrapping ErrUnavailable (see Verifier). A nil ctx is
// taken for context.Background(), as the JWT verifier answers one.
func (v *Verifier) VerifyAccessToken(ctx context.Context, token string) (verifier.Claims, error) {
	if !v.built() {
		return verifier.Claims{}, notBuilt(errNotBuilt)
	}
	if ctx == nil {
		// A caller that forgot its context: the JWT verifier answers it
		// without complaint (on every path that does not wait for a key
		// set), so refusing it here would make the same call fail on
		// introspection only; unchecked, it panicked on the first cache
		// miss, ending a server's process.
		ctx = context.Background()
	}
	if err := v.checkToken(token); err != nil {
		v.n.malformed.Add(1)
		v.logRejection(ctx, err)
		return verifier.Claims{}, err
	}
	key := sha256.Sum256([]byte(token))
	var knownExp time.Time // the exp of a positive entry that ended, if any
	if v.pos != nil {
		now := v.s.Now()
		r, hit, exp := v.cached(key, now)
		if hit != nil {
			hit.Add(1)
			if r.err != nil {
				v.logRejection(ctx, r.err)
				return verifier.Claims{}, ownError(r.err)
			}
			return v.accept(ctx, r.claims, now)
		}
		knownExp = exp
		v.n.misses.Add(1)
	}
	if err := ctx.Err(); err != nil {
		// No one would wait for the answer: send no request, and spend
		// no MaxRequestRate budget on it.
		return verifier.Claims{}, fmt.Errorf("introspect: not asking the introspection endpoint: %w", err)
	}
	if v.missed != nil {
		v.missed()
	}
	f, err := v.join(key, token, knownExp)
	if err != nil {
		return verifier.Claims{}, err
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		v.leave(key, f)
		return verifier.Claims{}, fmt.Errorf("introspect: waiting for the introspection endpoint: %w", ctx.Err())
	}
	if f.err != nil {
		v.logRejection(ctx, f.err)
		return verifier.Claims{}, ownError(f.err)
	}
	return v.accept(ctx, f.claims, v.s.Now())
}

// checkToken rejects what is not worth a request: an empty token, one
// longer than MaxTokenSize, or one with characters outside RFC 6750's
// b64token (letters, digits, "-._~+/", then any "=" padding).
func (v *Verifier) checkToken(token string) error {
	switch {
	case token == "":
		return errEmpty
	case len(token) > v.s.MaxTokenSize:
		return errTooLarge
	}
	padding := false
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c == '=':
			padding = true
		case padding || !b64tokenByte[c]:
			return errCharset
		}
	}
	if token[0] == '=' {
		return errCharset
	}
	return nil
}

// b64tokenByte marks the characters of RFC 6750's b64token before padding.
var b64tokenByte = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/") {
		t[c] = true
	}
	return t
}()

// accept checks claims' times at now: exp (with skew), nbf and iat.
func (v *Verifier) accept(ctx context.Context, c verifier.Claims, now time.Time) (verifier.Claims, error) {
	if err := v.timeError(c, now); err != nil {
		v.logRejection(ctx, err)
		return verifier.Claims{}, err
	}
	return c, nil
}

// timeError returns the error accept refuses c with at now, or nil: a
// *verifier.TokenExpiredError once exp (plus ClockSkew) has passed, or
// errNotYet or errIssuedLate while nbf or iat lies more than ClockSkew
// ahead.
func (v *Verifier) timeError(c verifier.Claims, now time.Time) error {
	late := now.Add(v.s.skew)
	switch exp := c.Expiry(); {
	case pastExp(exp, now, v.s.skew):
		return &verifier.TokenExpiredError{Expiry: exp}
	case c.NotBefore().After(late):
		return errNotYet
	case c.IssuedAt().After(late):
		return errIssuedLate
	}
	return nil
}

// refusalUntil returns until when run reuses refusal, timeError's refusal
// of claims at now: Cache.NegativeTTL, as any refusal, but a token not yet
// valid only until its nbf and iat come within ClockSkew, when accept
// would take it (the server is asked again then, not told "not yet" for
// the rest of NegativeTTL).
func (v *Verifier) refusalUntil(refusal error, claims verifier.Claims, now time.Time) time.Time {
	until := now.Add(v.s.Cache.NegativeTTL)
	if errors.Is(refusal, verifier.ErrNotYetValid) {
		valid := claims.NotBefore()
		if iat := claims.IssuedAt(); iat.After(valid) {
			valid = iat
		}
		if valid = valid.Add(-v.s.skew); valid.Before(until) {
			until = valid
		}
	}
	return until
}

// pastExp reports whether exp is set and now is at or past exp plus
// tolerance: the one rule by which the Verifier calls a token expired
// (*verifier.TokenExpiredError). Where the Verifier would refuse a token on
// its own clock (accept, an active answer in run, an ended entry in
// cached), tolerance is ClockSkew, as the JWT verifier judges a JWT's exp:
// no token is refused as expired that a JWT verifier with the same skew
// would accept. Where the server has already refused it (an inactive
// answer in run), tolerance is 0: the refusal stands whatever the label,
// and past the exp the server gave, expiry is its likeliest reason, so the
// client is told to refresh (ACCESS_TOKEN_EXPIRED, and a re-verified
// stream is not cut as revoked) from exp on, not from exp plus skew.
func pastExp(exp, now time.Time, tolerance time.Duration) bool {
	return !exp.IsZero() && !now.Before(exp.Add(tolerance))
}

func (v *Verifier) logRejection(ctx context.Context, err error) {
	if v.s.Logger.Enabled(ctx, slog.LevelDebug) {
		v.s.Logger.DebugContext(ctx, "introspect: token rejected", "error", err)
	}
}

// join adds the caller to the flight for key, starting one if none is in
// flight and none has cached a verdict since the caller missed the caches
// (see landed). A flight it starts reports an inactive answer as expired
// once knownExp, or the exp of an ended entry landed finds, has passed. It
// fails after Close.
func (v *Verifier) join(key tokenKey, token string, knownExp time.Time) (*flight, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, verifier.ErrClosed
	}
	f := v.flights[key]
	if f == nil {
		var exp time.Time
		if f, exp = v.landed(key); !exp.IsZero() {
			knownExp = exp
		}
	}
	if f == nil {
		ctx, cancel := context.WithCancel(v.base)
		f = &flight{done: make(chan struct{}), cancel: cancel}
		v.flights[key] = f
		v.wg.Add(1)
		go v.run(ctx, key, token, knownExp, f)
	} else {
		v.n.coalesced.Add(1)
	}
	f.waiters++
	if v.joined != nil {
		v.joined()
	}
	return f, nil
}

// cached returns the caches' answer for key at now, counted by hit
// (Stats.CacheHits or NegativeHits) when they have one: the claims of a
// live positive entry, still to be checked by accept; the error of a live
// negative entry; or, for a positive entry that ended as its token's exp
// (plus ClockSkew) passed, a *verifier.TokenExpiredError, which the
// negative cache then holds in its place (the server's answer would be a
// bare "active": false). Without one, hit is nil and knownExp is the exp
// of a positive entry that ended before it, if any: run reports an
// inactive answer for that token as expired once knownExp has passed. An
// ended positive entry is kept (see run); v.pos must not be nil.
func (v *Verifier) cached(key tokenKey, now time.Time) (r result, hit *atomic.Int64, knownExp time.Time) {
	r, ok := v.pos.lookup(key, now) // an ended entry stays: see run
	if ok {
		return r, &v.n.hits, time.Time{}
	}
	knownExp = r.claims.Expiry()
	if pastExp(knownExp, now, v.s.skew) {
		err := &verifier.TokenExpiredError{Expiry: knownExp}
		v.neg.put(key, result{err: err, until: now.Add(v.s.Cache.NegativeTTL)}, now)
		v.pos.dropEnded(key, now)
		return result{err: err}, &v.n.hits, time.Time{}
	}
	if r, ok := v.neg.get(key, now); ok {
		return r, &v.n.negHits, time.Time{}
	}
	return result{}, nil, knownExp
}

// landed returns, as an ended flight, the answer the caches hold for key
// now (see cached), or nil and the exp of a positive entry that ended.
// v.mu must be held. run caches a flight's verdict and ends the flight
// under v.mu, so a caller that missed the caches just before a flight's
// verdict was stored, and finds no flight once it has ended, takes that
// verdict here instead of asking again (a second request, which
// MaxRequestRate might refuse), as a cache hit at this instant would. The
// cache-hit path takes no v.mu.
func (v *Verifier) landed(key tokenKey) (*flight, time.Time) {
	if v.pos == nil {
		return nil, time.Time{}
	}
	r, hit, knownExp := v.cached(key, v.s.Now())
	if hit == nil {
		return nil, knownExp
	}
	f := &flight{done: make(chan struct{}), claims: r.claims, err: r.err, cancel: func() {}}
	close(f.done)
	return f, time.Time{}
}

// leave removes a caller that stopped waiting. The last one to leave
// abandons the request, so that nobody's token is introspected for nobody.
func (v *Verifier) leave(key tokenKey, f *flight) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if f.waiters--; f.waiters > 0 {
		return
	}
	f.cancel()
	if v.flights[key] == f {
		delete(v.flights, key)
	}
}

// run performs one flight's request, caches its outcome and releases its
// callers. A panic there, on the flight's own goroutine, is recovered
// (recoverRun): its callers are refused with ErrUnavailable.
func (v *Verifier) run(ctx context.Context, key tokenKey, token string, knownExp time.Time, f *flight) {
	defer v.wg.Done()
	defer f.cancel()
	settled := false // f's callers have their answer
	defer v.recoverRun(key, f, &settled)
	// A positive answer is cached for at most TTL from before the request
	// was sent: a token revoked while the request was on its way is then
	// accepted for at most TTL after the revocation, as documented.
	sent := v.s.Now()
	bypass, renewed := false, false
	if v.known != nil {
		bypass = v.known.take(key, sent)
	}
	claims, err := v.introspect(ctx, token, !bypass)
	if err != nil && v.base.Err() != nil {
		err = verifier.ErrClosed
	}
	now := v.s.Now()
	if err == ErrInactive && pastExp(knownExp, now, 0) {
		// The server said this token expires at knownExp, which has
		// passed: that is why it is no longer active, as far as anyone
		// can tell. Report it as a JWT's expiry is reported. Without
		// ClockSkew (see pastExp): the server has refused the token
		// already, and only the reason is at stake.
		err = &verifier.TokenExpiredError{Expiry: knownExp}
	}
	// An active answer refused on this clock (expired, or nbf or iat ahead)
	// is a refusal, as an inactive one is: cached as one when its callers
	// waited, and forgetting the token (see knownSet) even when none did.
	var refusal error
	if err == nil {
		refusal = v.timeError(claims, now)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.flights[key] == f {
		delete(v.flights, key)
	}
	// An abandoned flight (every caller left) caches nothing: a newer
	// request for the token may already have cached a later verdict. Nor
	// does a failure to get a verdict drop the token's ended positive
	// entry: the exp it gave still tells, at the next attempt, that an
	// inactive token expired (rather than was revoked). A verdict replaces
	// it: a positive one by put (dropEnded when put keeps nothing), a
	// refusal by dropEnded, or by keepEnded for one not yet valid, whose
	// exp is the server's word.
	if v.pos != nil && ctx.Err() == nil {
		switch {
		case refusal != nil:
			// Active for the server, refused here: expired, or nbf or iat
			// in the future (clocks differ, or the server issues tokens
			// ahead of their use). Remember the refusal, or every call
			// would ask again; never as a positive answer, which would
			// make the token known (see knownSet) and let its every
			// request, once the entry ended, pass MaxRequestRate.
			v.neg.put(key, result{err: refusal, from: sent, until: v.refusalUntil(refusal, claims, now)}, now)
			if errors.Is(refusal, verifier.ErrNotYetValid) {
				// Its exp is the server's word, as an ended answer's is:
				// kept, it tells, should the server call the token
				// inactive once it has passed, that the token expired.
				v.pos.keepEnded(key, claims, now)
			} else {
				v.pos.dropEnded(key, now)
			}
			v.forget(key)
		case err == nil:
			// Up to a tenth of the TTL sooner, at random: tokens
			// introspected together (every stream reopened after a
			// restart) are not all asked about again in one instant,
			// every TTL, as their streams are re-verified.
			until := sent.Add(jitter.Earlier(v.s.Cache.TTL, v.random()))
			exp := claims.Expiry()
			if end := exp.Add(v.s.skew); !exp.IsZero() && end.Before(until) {
				until = end // used until it expires, as a cached JWT is
			}
			// An ended entry goes even when this answer is not cached
			// (too large, or ended already): its exp is no longer the
			// server's word.
			v.pos.dropEnded(key, now)
			v.pos.put(key, result{claims: claims, from: sent, until: until}, now)
			if v.known != nil {
				// Asking again once this answer has ended passes
				// MaxRequestRate: a flood of made-up tokens does not hold
				// back the re-verification of this one, nor refuse it.
				end := until.Add(v.s.Cache.TTL)
				if !exp.IsZero() {
					end = exp.Add(v.s.skew)
				}
				v.known.put(key, knownEntry{from: until, until: end}, now)
				renewed = true
			}
		case cacheable(err):
			v.neg.put(key, result{err: err, from: sent, until: now.Add(v.s.Cache.NegativeTTL)}, now)
			v.pos.dropEnded(key, now)
			v.forget(key)
		}
	}
	if bypass && !renewed {
		// No verdict of its own (a failure, or an answer nobody waited
		// for): unless a newer request has had one since, the token is
		// still known when the answer was no refusal (neither inactive
		// nor refused here, on its claims or its times), but its next
		// request passes the rate limit no sooner than a failure's is
		// retried.
		v.known.settle(key, refusal == nil && (err == nil || !cacheable(err)), now.Add(v.s.Cache.NegativeTTL), now)
	}
	f.claims, f.err = claims, err
	close(f.done)
	settled = true
	if v.ran != nil {
		v.ran()
	}
}

// forget makes key unknown, for MaxRequestRate: the server's verdict on it
// was not "active" (or not accepted).
func (v *Verifier) forget(key tokenKey) {
	if v.known != nil {
		v.known.forget(key)
	}
}

// cacheable reports whether err is the server's verdict on the token
// (inactive, or an active token this service does not accept), rather than
// a failure to get a verdict.
func cacheable(err error) bool {
	return !errors.Is(err, verifier.ErrKeysUnavailable) && !errors.Is(err, verifier.ErrClosed) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// introspect waits for a concurrency slot, sends the request and
// interprets the answer. Once ctx has ended (every caller left) it fails
// with ctx's error, touching neither the rate limit nor Stats. Within a
// Retry-After the endpoint sent or a backoff (see retryLeft), and, when limited, beyond
// Config.MaxRequestRate, it fails at once, without a request or a wait. A
// request that passed the rate limit but is not sent (ctx ended first, or
// a Retry-After began while it waited for its slot) gives its share back.
func (v *Verifier) introspect(ctx context.Context, token string, limited bool) (verifier.Claims, error) {
	if err := ctx.Err(); err != nil {
		return verifier.Claims{}, err
	}
	now := v.s.Now()
	if err := v.paused(now); err != nil {
		return verifier.Claims{}, err
	}
	limited = limited && v.rate != nil
	if limited && !v.rate.allow(now) {
		v.n.limited.Add(1)
		return verifier.Claims{}, errRateLimited
	}
	err := v.acquire(ctx)
	var gen uint64
	if err == nil {
		defer func() { <-v.sem }()
		// Read before the pause is checked (see backoff.sent): a
		// backoff step taken since is then either seen as a pause here,
		// or, taken after this check, leaves this request in its burst.
		gen = v.backoff.sent()
		// The answer to a request sent before this one queued may
		// have begun a pause: every request queued behind a 429
		// would otherwise still be sent, MaxConcurrent at a time.
		err = v.paused(v.s.Now())
		if err == nil && v.checked != nil {
			v.checked()
		}
	}
	if err != nil {
		if limited {
			v.rate.giveBack()
		}
		return verifier.Claims{}, err
	}
	v.n.requests.Add(1)
	body, err := v.post(ctx, token, gen)
	var claims verifier.Claims
	if err == nil {
		claims, err = v.interpret(ctx, body)
		if !errors.Is(err, ErrUnavailable) {
			// A usable answer: the backoff starts again, unless the
			// request was sent before its last step (backoff.reset). A
			// 200 whose body was unusable (not JSON, too large,
			// malformed: ErrUnavailable) does not count. (Before, any
			// 200 did, as soon as its status came.)
			v.backoff.reset(gen)
			v.answered(ctx)
		}
	}
	switch {
	case errors.Is(err, ErrUnavailable):
		v.n.failures.Add(1)
	case err == ErrInactive:
		v.n.inactive.Add(1)
	}
	return claims, err
}

// acquire takes a concurrency slot, waiting for one as long as ctx allows.
// It fails with ctx's error, holding no slot, once ctx has ended.
func (v *Verifier) acquire(ctx context.Context) error {
	select {
	case v.sem <- struct{}{}:
	default:
		if v.waitSlot != nil {
			v.waitSlot()
		}
		select {
		case v.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil { // ended while the slot came free
		<-v.sem
		return err
	}
	return nil
}

// maxRetryAfter bounds the pause a Retry-After makes: while it runs every
// token without a cached answer fails with ErrUnavailable, so a server
// asking for an hour (or a broken one asking for 2^31 s) is asked again
// once a minute (until its next 429 comes back), not never.
const maxRetryAfter = time.Minute

// pause records a pause of d (a Retry-After, an X-Rate-Limit-Reset, a
// backoff step, or refused client credentials) from now, at most maxRetryAfter: no request is sent until it ends. A
// shorter one does not end a pause that runs longer; one that has ended,
// or that a clock set back has made longer than maxRetryAfter (see
// retryLeft), it replaces.
func (v *Verifier) pause(d time.Duration) {
	d = min(d, maxRetryAfter)
	for {
		cur := v.retryUntil.Load()
		if v.pauseRead != nil {
			v.pauseRead()
		}
		// The clock is read after cur: a pause another answer recorded
		// by then began no later than now, so it runs at most
		// maxRetryAfter past it unless the clock was set back. (A now
		// read before, by the caller, made a minute's pause recorded
		// meanwhile look longer than that, and a shorter one replace it.)
		now := v.s.Now()
		until := wall(now.Add(d)).UnixNano()
		// cur itself is judged, never a value read again: a pause another
		// answer recorded since then fails the swap, and the next round
		// judges it. (Reading it again here let a shorter pause, recorded
		// meanwhile over one a clock set back had ended, keep this longer
		// one out.)
		if (cur >= until && pauseLeft(cur, now) > 0) || v.retryUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// paused returns, counted in Stats.RateLimited, the error of a request
// not sent because a Retry-After runs at now (see retryLeft); nil when
// none does.
func (v *Verifier) paused(now time.Time) error {
	d := v.retryLeft(now)
	if d <= 0 {
		return nil
	}
	v.n.limited.Add(1)
	return unavailable("the endpoint's pause (Retry-After, X-Rate-Limit-Reset, backoff after a 429 or 503 without either, a 502 or 504, or network failures, or refused client credentials) runs %v more, request not sent", pauseText(d))
}

// retryLeft returns how long the latest Retry-After still runs at now: 0
// once it has ended, or when it would run longer than maxRetryAfter (the
// clock was set back since it was given).
func (v *Verifier) retryLeft(now time.Time) time.Duration { return pauseLeft(v.retryUntil.Load(), now) }

// pauseLeft is retryLeft for a pause that ends at until (Unix ns).
func pauseLeft(until int64, now time.Time) time.Duration {
	if d := time.Duration(until - now.UnixNano()); d > 0 && d <= maxRetryAfter {
		return d
	}
	return 0
}
