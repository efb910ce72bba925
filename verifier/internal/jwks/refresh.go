package jwks

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/jwxpanic"
)

// refresh fetches and parses the key set once and returns the next
// snapshot and the refresh interval the response asked for; the caller
// publishes the snapshot, and the error as the latest refresh's (lastErr),
// in one critical section. A failed fetch returns a snapshot only when the
// last good set must lose keys the document exposed (see fetchKeys). It runs only inside startFetchLocked's goroutine,
// one at a time, under the Set's own context, so no caller's cancellation
// can fail it for the others. A fetch that Close cancelled is ErrClosed,
// not a failure of the issuer: it is neither counted, logged nor stored as
// the latest refresh's error. It still returns the snapshot without the
// keys a document read before Close exposed: lookups after Close answer
// from the last snapshot, which must not hold a key anyone can sign with.
func (s *Set) refresh(reason string) (*snapshot, time.Duration, error) {
	snap, next, err := s.fetchSnapshot()
	if err != nil {
		if s.ctx.Err() != nil {
			return snap, 0, ErrClosed
		}
		s.failures.Add(1)
		now := s.cfg.Now()
		s.lastFailure.Store(&now)
		s.logFailure(reason, err, now)
		return snap, 0, err
	}
	return snap, next, nil
}

// logFailure logs a failed refresh, saying what lookups are answered from
// now on: nothing (no set has ever loaded, or the last good one is past
// MaxStaleness), or the last good set.
func (s *Set) logFailure(reason string, err error, now time.Time) {
	snap := s.cur.Load()
	errText := endpoint.ClipError(err)
	switch {
	case snap == nil:
		s.log.Warn("jwks: key set refresh failed; no key set has ever loaded, every lookup fails with ErrUnavailable",
			"reason", reason, "error", errText)
	case !snap.usable(now, s.cfg.MaxStaleness):
		s.log.Warn("jwks: key set refresh failed; the last good set is older than MaxStaleness, every lookup fails with ErrUnavailable",
			"reason", reason, "error", errText, "age", snap.age(now).Round(time.Second))
	default:
		s.log.Warn("jwks: key set refresh failed; keeping the last good set",
			"reason", reason, "error", errText, "age", snap.age(now).Round(time.Second))
	}
}

// fetchSnapshot fetches the key set from the configured URL, or from the
// discovered one (see discoveredURL).
func (s *Set) fetchSnapshot() (*snapshot, time.Duration, error) {
	url, discovered := s.cfg.URL, false
	if url == "" {
		u, err := s.discoveredURL()
		if err != nil {
			return nil, 0, err
		}
		url, discovered = u, true
	}
	snap, next, err := s.fetchKeys(url)
	if err != nil && discovered {
		// The issuer may have moved its keys: discover again next time.
		s.mu.Lock()
		s.jwksURLFailed = true
		s.mu.Unlock()
	}
	return snap, next, err
}

// errNoUsableKeys marks a well-formed document without a single usable key.
var errNoUsableKeys = errors.New("jwks: key set has no usable keys")

func (s *Set) fetchKeys(url string) (*snapshot, time.Duration, error) {
	s.fetches.Add(1)
	body, header, err := s.get(s.ctx, url)
	if err != nil {
		return nil, 0, err
	}
	keys, skipped, err := parseJWKS(body)
	exposeFactored(skipped, s.cur.Load()) // a published prime exposes a key of the last good set too
	s.exposed.add(skipped)
	if err != nil {
		// skipped holds what a refused document still exposes: the
		// entries of its "keys" members when it is no key set (a "keys"
		// of another type, or a private JWK alone), its first maxEntries
		// entries when it has more, or, when its parsing
		// panicked (a *jwxpanic.Error), its entries before the panic and
		// the entry that panicked (panickedEntry); with the keys of the
		// last good set their published primes factor (exposeFactored).
		// Those keys leave the
		// last good set, as below. A panic is logged at error level with
		// its stack, a bug to report; the failed fetch is logged as any
		// other.
		if e, ok := jwxpanic.Find(err); ok {
			s.log.Error("jwks: parsing the key set panicked; the fetch fails", "url", redactString(url), "error", endpoint.ClipError(err), "stack", string(e.Stack))
		}
		s.logSkipped(url, skipped, nil)
		return s.cur.Load().withoutExposed(skipped), 0, fmt.Errorf("jwks: %s: %w", redactString(url), err)
	}
	keys, refused := s.exposed.refuse(keys)
	s.logSkipped(url, skipped, refused)
	if len(keys) == 0 {
		// A failed fetch: the last good set keeps serving, except a key
		// whose private material the document publishes (anyone can sign
		// with it now).
		return s.cur.Load().withoutExposed(skipped), 0,
			fmt.Errorf("%w (%s: %d entries, all skipped)", errNoUsableKeys, redactString(url), len(skipped)+len(refused))
	}
	snap := newSnapshot(keys, len(skipped)+len(refused), s.cur.Load(), s.cfg.Now())
	next := nextInterval(header, s.cfg.MinRefreshInterval, s.cfg.RefreshInterval)
	s.log.Debug("jwks: key set refreshed", "url", redactString(url), "keys", len(keys), "skipped", len(skipped)+len(refused), "next", next)
	return snap, next, nil
}

// logSkipped logs the entries of the document from url that were not kept.
// A broken or hostile document may hold half a million entries: the first
// skipped ones are logged one by one, the rest in one line. Keys an earlier
// document exposed (refused) are logged in one line at warn, however many.
func (s *Set) logSkipped(url string, skipped []skippedKey, refused []*Key) {
	restLevel := slog.LevelDebug
	for i, sk := range skipped {
		level := slog.LevelDebug
		if sk.Warn {
			level = slog.LevelWarn
		}
		if i >= maxLoggedSkips {
			restLevel = max(restLevel, level)
			continue
		}
		s.log.Log(s.ctx, level, "jwks: key skipped", "url", redactString(url), "index", sk.Index, "kid", sk.KID, "reason", sk.Reason)
	}
	if n := len(skipped) - maxLoggedSkips; n > 0 {
		s.log.Log(s.ctx, restLevel, "jwks: more keys skipped, not logged one by one", "url", redactString(url), "count", n)
	}
	if len(refused) > 0 {
		kids := make([]string, 0, min(len(refused), maxLoggedSkips))
		for _, k := range refused[:cap(kids)] {
			kids = append(kids, clip(k.ID))
		}
		s.log.Warn("jwks: keys skipped: an earlier document published their private key material, so they are exposed, never used",
			"url", redactString(url), "count", len(refused), "kids", kids)
	}
}
