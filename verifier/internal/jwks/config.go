package jwks

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/grpcauth/grpcauth/internal/safelog"
)

// Defaults applied by New to zero (or negative) Config fields. The reasons
// are given in docs/key-set.md.
const (
	// DefaultRefreshInterval is how often the set is re-fetched in the
	// background when the response gives no shorter Cache-Control max-age.
	DefaultRefreshInterval = time.Hour
	// DefaultMinRefreshInterval is the minimum time between two fetches
	// triggered by unknown kids, and the floor for a Cache-Control max-age.
	DefaultMinRefreshInterval = 10 * time.Second
	// DefaultMaxStaleness is how long the last good set keeps serving while
	// every fetch fails.
	DefaultMaxStaleness = 24 * time.Hour
	// DefaultFetchTimeout bounds one JWKS request, and one discovery round.
	DefaultFetchTimeout = 10 * time.Second
	// DefaultMaxResponseSize bounds one HTTP response body (1 MiB).
	DefaultMaxResponseSize int64 = 1 << 20
	// DefaultMaxWaiters bounds the lookups that wait at once for a fetch
	// they did not start: the one in flight, or the next the rate limit
	// allows.
	DefaultMaxWaiters = 256
)

// Fixed policy values. They are not options because no deployment has a
// reason to change them; docs/key-set.md explains each.
const (
	backoffBase     = time.Second     // first retry after a failed fetch
	backoffMax      = 5 * time.Minute // retry interval cap (and never above RefreshInterval)
	jitterFraction  = 0.1             // ±10% on every scheduled wait
	maxRedirects    = 3               // redirects followed per request
	maxLoggedSkips  = 16              // skipped entries logged one by one per fetch; the rest in one line
	maxMissedKids   = 1024            // bound on remembered unknown kids
	maxMissedKidLen = 256             // longer kids are never remembered
	maxWithdrawn    = 64              // bound on remembered withdrawn kids (Set.withdrawn)
	maxExposedKeys  = 256             // bound on remembered exposed keys (thumbprints)
	maxDerivedKeys  = 32              // EC/OKP private scalars per document whose public key is derived
	// maxEntries bounds the entries of a key-set document (of all its
	// "keys" members together): a document with more is refused, a failed
	// fetch, its first maxEntries entries read only for the private key
	// material they publish (parseEntries), none beyond. Real issuers publish a handful of keys (Google about 3,
	// Okta 2 to 4, Entra ID about 10, Cognito, Auth0 2 or 3, Keycloak a
	// few), so 1000 leaves two orders of magnitude of headroom, while
	// jwx's parsing of each entry (about 20 µs and 12 KiB for a tiny
	// hostile one) stays at about 20 ms and 13 MB per document, whatever
	// its size (at most about 65 ms and 31 MB for the costliest entries a
	// 1 MiB document holds 1000 of, private RSA-1024 JWKs, as for any
	// document within the cap): 1 MiB of tiny entries, over 30,000, cost
	// 0.6 s and 420 MB before.
	maxEntries    = 1000
	missTTLFactor = 6 // unknown kid remembered for 6×MinRefreshInterval
	minRSABits    = 2048
	maxRSABits    = 8192
)

// Config configures a Set. Zero values take the Default… constants above;
// verifier.New validates URLs with CheckURL before calling New, and a Set
// also checks every URL it requests.
type Config struct {
	// Issuer is the issuer identifier. When URL is empty the JWKS URL is
	// discovered from {Issuer}/.well-known/openid-configuration, falling back
	// to the RFC 8414 oauth-authorization-server document; the document's
	// "issuer" must equal Issuer exactly, and for an https Issuer its
	// jwks_uri must be https too (plain http is refused even on loopback,
	// as is a redirect from https to http: see downgrade).
	Issuer string
	// URL is the JWKS URL. Empty means discover it from Issuer, again at
	// the first fetch after the discovered URL's lifetime (the discovery
	// response's max-age within [MinRefreshInterval, RefreshInterval],
	// else RefreshInterval) and after a fetch from it fails; see
	// discoveredURL.
	URL string
	// Client makes the HTTP requests; nil means endpoint.NewClient's
	// (the verifier's default client) with its own transport. The Set never uses the
	// client's cookie jar or redirect policy (see docs/key-set.md), and sends
	// no credentials. Its Transport must not add any either. A URL naming
	// localhost in another case is requested as localhost
	// (endpoint.LowerLocalhost; see get), so that a transport using the
	// environment's proxy goes direct.
	Client *http.Client
	// OwnClient reports that Client was made for this Set alone (the
	// verifier's default client): the Set closes its idle connections
	// after each refresh and on Close, as it does those of the client it
	// makes when Client is nil. Never set it for a caller's client.
	OwnClient bool
	// RefreshInterval is the background refresh period (default 1h); a
	// response's Cache-Control max-age can only shorten it. It is lowered to
	// MaxStaleness/2 when larger, so the set is refreshed before it goes stale.
	RefreshInterval time.Duration
	// MinRefreshInterval is the minimum time between two fetches triggered
	// by unknown kids (none starts within the latest fetch's Retry-After,
	// or X-Rate-Limit-Reset: see retryAfter and retryingLocked), and the
	// floor for a Cache-Control max-age (default 10s). It is lowered to RefreshInterval when larger (the
	// RefreshInterval given, not the one MaxStaleness lowers).
	MinRefreshInterval time.Duration
	// MaxStaleness is how long the last good set keeps serving after its
	// fetch while refreshes fail (default 24h); beyond it lookups return
	// ErrUnavailable. The set's age is the larger of its age on the
	// monotonic clock and on the wall clock (both Now's readings): a host
	// suspend, during which the monotonic clock stands still, ages it, so
	// a set older than MaxStaleness by the wall clock is stale at resume
	// if the refresh then fails. The wall clock set back never makes a set
	// fresh again when Now's readings carry a monotonic clock reading (a
	// reading without one has only the wall clock, which, set back, makes
	// the set younger); set forward, it may make the set stale early
	// (lookups fail closed with ErrUnavailable until a fetch, which the
	// next lookup starts when the rate limit allows, succeeds).
	MaxStaleness time.Duration
	// FetchTimeout bounds each JWKS request, and each discovery round: the
	// documents of one round share one deadline (default 10s). A fetch
	// thus takes at most FetchTimeout, or twice that when a discovery
	// round comes first.
	FetchTimeout time.Duration
	// MaxResponseSize bounds each response body in bytes (default 1 MiB);
	// a larger body is a failed fetch.
	MaxResponseSize int64
	// MaxWaiters bounds the lookups of unknown kids that wait at once for
	// a fetch they did not start: the one in flight, or the next the rate
	// limit allows (default DefaultMaxWaiters, 256); past it a lookup is
	// refused at once. Negative means no lookup waits for the rate limit: a
	// rate-limited miss is refused at once, and up to DefaultMaxWaiters
	// lookups still share a fetch in flight.
	MaxWaiters int
	// Now is the clock for staleness and rate-limit decisions (default
	// time.Now). The background refresh is due by it too: its timers, on
	// real time, wait at most a minute each before it is read again, and
	// never longer in all than the wait itself (see sleep). The timer of
	// the refresh rate-limited lookups wait for uses real time.
	Now func() time.Time
	// Logger receives fetch failures (warn), skipped keys and refreshes
	// (debug/warn). Nil discards. Nothing logged contains a secret. A
	// handler that panics loses its record: the panic is recovered
	// (internal/safelog), on the Set's goroutines as on a caller's.
	Logger *slog.Logger

	// wallNow is the process's clock (time.Now; a test's), which the Set
	// reads when Now panics (readNow).
	wallNow func() time.Time

	// maxJoiners bounds the lookups that wait for a fetch they did not
	// start, set by withDefaults: MaxWaiters, or DefaultMaxWaiters when
	// MaxWaiters turns waiting for the rate limit off.
	maxJoiners int
}

// withDefaults returns c with every zero or negative field defaulted.
func (c Config) withDefaults() Config {
	dur := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	dur(&c.RefreshInterval, DefaultRefreshInterval)
	dur(&c.MinRefreshInterval, DefaultMinRefreshInterval)
	dur(&c.MaxStaleness, DefaultMaxStaleness)
	dur(&c.FetchTimeout, DefaultFetchTimeout)
	if c.MinRefreshInterval > c.RefreshInterval {
		c.MinRefreshInterval = c.RefreshInterval
	}
	// Lowered after MinRefreshInterval is settled: refreshing before the set
	// goes stale must not loosen the rate limit on unknown-kid fetches.
	if c.RefreshInterval > c.MaxStaleness/2 {
		c.RefreshInterval = max(c.MaxStaleness/2, time.Second) // refresh well before the set goes stale
	}
	switch {
	case c.MaxWaiters == 0:
		c.MaxWaiters = DefaultMaxWaiters
	case c.MaxWaiters < 0:
		c.MaxWaiters = 0
	}
	c.maxJoiners = c.MaxWaiters
	if c.maxJoiners == 0 {
		c.maxJoiners = DefaultMaxWaiters
	}
	if c.MaxResponseSize <= 0 {
		c.MaxResponseSize = DefaultMaxResponseSize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.wallNow == nil {
		c.wallNow = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	// The Set logs from its own goroutines, where no caller's recovery
	// runs: a handler that panics loses its record, not the process.
	c.Logger = safelog.New(c.Logger)
	return c
}
