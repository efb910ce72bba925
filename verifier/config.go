package verifier

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/policy"
	"github.com/grpcauth/grpcauth/verifier/internal/jwks"
)

// Defaults applied by New to zero-valued Config fields.
const (
	// DefaultClockSkew is the tolerance applied to exp, nbf and iat: one
	// minute, as Envoy's clock_skew_seconds, enough for NTP-synchronised
	// hosts without keeping an expired token alive for long.
	DefaultClockSkew = time.Minute

	// DefaultMaxTokenSize bounds the token string: 64 KiB, far above any
	// real access token (Okta's are about 1 KiB, Entra ID's about 2-3 KiB)
	// and small enough that parsing a hostile token is cheap.
	DefaultMaxTokenSize = 64 << 10

	// DefaultRefreshInterval is how often the key set is refreshed in the
	// background: one hour, the cache age Okta's own verifier uses.
	DefaultRefreshInterval = time.Hour

	// DefaultMinRefreshInterval is the least time between two fetches of
	// the key set triggered by unknown kids: 10s, so a rotated key is
	// picked up within seconds while a flood of forged kids costs the
	// issuer at most 6 requests a minute per replica (besides the
	// background refresh).
	DefaultMinRefreshInterval = 10 * time.Second

	// DefaultMaxStaleness is how long the last good key set stays usable
	// while the issuer cannot be reached: 24 hours, so an issuer outage does
	// not become a service outage, while a key the issuer revoked is not
	// trusted for ever.
	DefaultMaxStaleness = 24 * time.Hour

	// DefaultFetchTimeout bounds one discovery round or key-set request: 10s.
	DefaultFetchTimeout = 10 * time.Second

	// DefaultMaxResponseSize bounds a discovery document or key set: 1 MiB,
	// about a thousand keys.
	DefaultMaxResponseSize int64 = 1 << 20

	// DefaultMaxKeyWaiters bounds the verifications that wait at once for
	// a key-set fetch they did not start, the one in flight or the next
	// the rate limit allows: 256. Waiting adds no
	// goroutine; it keeps an RPC the server already runs (its goroutine
	// stack, a few KB to tens of KB, and its request) alive for at most
	// MinRefreshInterval plus one fetch, so 256 cost a few MB at most.
	// That is far more than the tokens signed with a freshly published key
	// that reach one replica within one 10s window, and small enough that a
	// flood of forged kids holds few calls open while every call past the
	// cap is refused at once. See docs/key-set.md.
	DefaultMaxKeyWaiters = 256

	// DefaultCacheMaxEntries bounds the verified-token cache: 10,000
	// tokens.
	DefaultCacheMaxEntries = 10000

	// DefaultCacheMaxBytes bounds the memory the verified-token cache keeps
	// alive, as it accounts it (the token, its claims' memory and a fixed
	// per-entry overhead, measured against the live heap): 32 MiB. A
	// typical Okta access token (~1 KB, RS256, scp of 4 scopes) accounts
	// for ~2.4 KB, so the byte limit holds ~14,000 of them and the entry
	// limit binds first; tokens of 2-3 KB (Entra ID) fill it at about
	// 6,000-8,000. See docs/verifier.md.
	DefaultCacheMaxBytes int64 = 32 << 20
)

// DefaultAlgorithms returns the signature algorithms allowed when
// Config.Algorithms is empty: every asymmetric JWS algorithm jwx verifies,
// and RFC 9864's "Ed25519" (verified by jwx's EdDSA verifier). HMAC (HS*)
// and "none" are never allowed, nor is "Ed448", which jwx cannot verify.
// Each call returns a new slice.
func DefaultAlgorithms() []string { return slices.Clone(supportedAlgorithms[:]) }

// supportedAlgorithms are the algorithms Config.Algorithms may name, and the
// default allow-list.
var supportedAlgorithms = [...]string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA", "Ed25519",
}

// Config configures a Verifier. Only Issuer and Audiences are required; every
// other field has a safe default, applied by New.
type Config struct {
	// Issuer is the authorization server's issuer identifier, e.g.
	// "https://example.okta.com/oauth2/default". Required. A token's iss
	// must equal it exactly (no trailing-slash or case normalisation). It
	// must be an https URL, or http on a loopback host (localhost,
	// 127.0.0.0/8, ::1) for tests. Unless JWKSURL is set, the key set's
	// URL is discovered from {Issuer}/.well-known/openid-configuration (or
	// oauth-authorization-server), whose issuer must equal Issuer. It has
	// no query or fragment (RFC 8414, section 2), no userinfo, and no "@"
	// after its host, where a password holding "/", "?" or "#" would put
	// the rest of itself (write such an "@" as %40); a discovered key-set
	// URL may hold one. The key-set URL discovered for an https Issuer must
	// be https too (RFC 8414, section 2; OpenID Connect Discovery 1.0,
	// section 3): a plain-http jwks_uri, even on a loopback host, is
	// refused, and so is a redirect from https to http of a discovery
	// document or a key set; the refusal is a failed fetch (ErrKeysUnavailable,
	// and Ready's error names it). Plain http stays for an http loopback
	// Issuer, and for a JWKSURL you configure.
	Issuer string

	// Audiences lists the audiences this service accepts, e.g.
	// "api://default". Required unless SkipAudienceCheck is set: without
	// it, a token minted for any other API of the same issuer would be
	// accepted. A token's aud (a string or an array) must contain at least
	// one of them.
	Audiences []string

	// SkipAudienceCheck disables the aud check. Default false. Set it only
	// for issuers that mint access tokens without aud (Cognito) and then
	// pin the client with ClientIDs or AssertClaims instead. New refuses
	// it together with Audiences, which it would leave unchecked.
	SkipAudienceCheck bool

	// JWKSURL is the key set's URL. Default: discovered from Issuer, and
	// discovered again at the first key-set fetch (scheduled, or for an
	// unknown kid) once RefreshInterval (or the discovery document's
	// shorter max-age) has passed, and after a fetch from it fails, so a moved jwks_uri is followed even while the
	// old URL still answers; a failed re-discovery keeps the URL in use
	// and is retried after a back-off (docs/key-set.md). Same URL rules as
	// Issuer, query allowed: a key set whose URL holds an "@" (Firebase's)
	// is best left to discovery, or its "@" written %40. Keys are only ever taken
	// from this set: the jku, x5u, x5c and jwk headers of a token are
	// ignored.
	JWKSURL string

	// Algorithms is the signature-algorithm allow-list. Default
	// DefaultAlgorithms (RS, PS and ES of every size, EdDSA and Ed25519).
	// New rejects "none" in any case, HS256/HS384/HS512 and any algorithm
	// it does not know (Ed448 among them): a public key must never be
	// usable as an HMAC secret. A token's alg must be in the list, must
	// equal its key's alg exactly when the key names one (a key marked
	// "EdDSA" verifies only "EdDSA" tokens, one marked "Ed25519" only
	// "Ed25519" tokens), and must fit its key's type (RSA for RS/PS, the
	// matching NIST curve for ES, an Ed25519 key for EdDSA and Ed25519).
	Algorithms []string

	// ClockSkew is the tolerance applied to exp, nbf and iat. Zero means
	// DefaultClockSkew (1 minute); a negative value means no tolerance.
	// New refuses more than an hour: a larger tolerance would keep expired
	// tokens valid for that long.
	ClockSkew time.Duration

	// Now returns the current time. Default time.Now. Tests inject a clock
	// here; it is also passed to the key set (staleness, rate limits, and
	// its background refresh, which is due by Now: after a suspend of the
	// host, it comes at most a minute late).
	// When Now is set, every cache hit reads it (see CacheConfig); by
	// default hits share a reading of time.Now at most 10 ms old, unless
	// the skew is less than a second. A panic of Now is the caller's
	// (no token is accepted without a reading), but in the key set's own
	// goroutines, where no caller's recovery runs, it is recovered: the
	// key set reads time.Now instead, for its schedule and age, and logs
	// the panic at error level, its stack once a minute.
	Now func() time.Time

	// ClientIDs, when not empty, is the allow-list of clients whose access
	// tokens are accepted, checked against Claims.ClientID (cid, client_id
	// or azp, refused when two of them differ; client_id alone under
	// RequireAccessTokenProfile). Default: any client.
	ClientIDs []string

	// AssertClaims lists further claims that must have exact values: a
	// string, a number or a bool, or a slice of them. An expected scalar
	// matches a scalar claim by equality, or an array claim by one element
	// (never by substring); an expected slice requires every element to be
	// present. Numbers compare exactly as rationals (1 equals 1.0, and a
	// float64 by its shortest decimal form, so 0.1 equals the token's
	// 0.1); a token number longer than 400 characters or with an exponent
	// beyond ±400 matches nothing. Default: none. New rejects other value
	// types.
	AssertClaims map[string]any

	// RequireAccessTokenProfile enforces RFC 9068: the typ header must be
	// "at+jwt" or "application/at+jwt" (case-insensitive), and iss, exp,
	// aud, sub, client_id, iat and jti must be present, and not an empty
	// string or array. Default false, because Okta's access tokens carry
	// no typ and name the client in "cid"; turn it on for RFC 9068 issuers
	// to stop ID tokens and other JWTs of the same issuer being used as
	// access tokens. Without it, a typ naming another kind of JWT (any
	// "+jwt" type but at+jwt, such as logout+jwt) is still refused.
	RequireAccessTokenProfile bool

	// ScopeClaims names the claims scopes are read from, each an array or
	// a space-separated string. Default DefaultScopeClaims ("scp",
	// "scope"), which covers Okta, Entra ID, RFC 9068, Keycloak, Cognito
	// and Auth0's scope; add "permissions" or "roles" when scopes arrive
	// there.
	ScopeClaims []string

	// MaxTokenSize bounds the token's length in bytes; a longer token is
	// rejected (ErrMalformed) before any decoding. Default
	// DefaultMaxTokenSize (64 KiB).
	MaxTokenSize int

	// HTTPClient fetches discovery documents and key sets. Default: a
	// client with connect, TLS-handshake and response-header timeouts,
	// response headers of at most 64 KiB, the environment's proxy
	// (http.ProxyFromEnvironment; never for a loopback host, localhost in
	// any case), no cookie jar, and the name localhost dialled on
	// 127.0.0.1 then ::1, never looked up. Its idle connections are
	// closed once each key-set refresh is over (one connection serves the
	// refresh's discovery and key-set requests when both are on one host,
	// else one each; the next refresh dials again) and by Close. A client you pass (its connections are never
	// closed) keeps its transport's limits and dialer: net/http reads up to 10 MiB
	// of response headers unless its MaxResponseHeaderBytes says less, and
	// resolves localhost like any name (the hosts file, then DNS).
	// Whatever the client, fetches use a copy of it without
	// a cookie jar and with the key set's redirect policy: at most 3
	// redirects, each only to a URL Issuer would be allowed to have (https,
	// or http on loopback), never from https to http; and a URL naming
	// localhost in another case (Issuer "http://LOCALHOST:8080", a
	// discovered jwks_uri, a redirect's target) is requested as localhost,
	// in lower case, the one case in which the environment's proxy
	// (http.ProxyFromEnvironment, http.DefaultTransport's) goes direct
	// rather than receive the request in clear text. The token's iss and
	// the discovery document's issuer are still compared with Issuer as
	// written.
	HTTPClient *http.Client

	// RefreshInterval is how often the key set is refreshed in the
	// background (a discovered JWKS URL is discovered again once its
	// lifetime, at most this, has passed), and the longest a stream's
	// token goes before it is verified again (RevalidateAt; grpcauth
	// re-verifies up to a tenth of it sooner, at random), so a stream
	// whose key was withdrawn ends. Default DefaultRefreshInterval (1 hour).
	// The background refresh runs at least every MaxStaleness/2 whatever
	// it says, so that the key set is refreshed before it goes stale.
	RefreshInterval time.Duration

	// MinRefreshInterval is the least time between two key-set fetches
	// triggered by unknown kids, so that a flood of forged kids costs at
	// most one fetch per interval; none starts within the Retry-After
	// (capped at 5 minutes and RefreshInterval) of a 429 or 503 the
	// issuer answered the latest fetch with, nor, for a 429 without a
	// Retry-After, before its X-Rate-Limit-Reset (the Unix time Okta's
	// rate-limit window resets, by Config.Now; 10^12 or more is read as
	// milliseconds), within the same cap. The
	// background refresh (RefreshInterval) and its retries after a failure
	// are scheduled on their own, so an unknown-kid fetch may follow one of
	// them at once.
	// Default DefaultMinRefreshInterval (10s). It must not exceed
	// RefreshInterval.
	MinRefreshInterval time.Duration

	// MaxStaleness is how long the last good key set stays usable while
	// refreshes fail; after that every verification fails with
	// ErrKeysUnavailable. Default DefaultMaxStaleness (24 hours). It must
	// not be less than RefreshInterval. The set's age is the larger of its
	// monotonic and wall-clock ages (both of Now's readings): a suspend of
	// the host, which the monotonic clock does not count, ages it, so if
	// the refresh after a long suspend fails the set is as stale as the
	// wall clock says. The wall clock set back never makes a set fresh
	// again, as long as Now's readings carry a monotonic clock reading, as
	// time.Now's do (a Now of your own whose readings lack one, after
	// Round(0), Truncate or time.Unix for instance, has the wall clock
	// only: set back, it makes the set younger); set forward, it may make
	// the set stale early (fail closed: a lookup starts a fetch when the
	// MinRefreshInterval rate limit allows, and the set serves again once
	// one succeeds).
	MaxStaleness time.Duration

	// FetchTimeout bounds each key-set request and each discovery round
	// (all its documents together), so a refresh that discovers the key
	// set's URL first takes at most twice as long. Default
	// DefaultFetchTimeout (10s).
	FetchTimeout time.Duration

	// MaxResponseSize bounds a discovery document or key set in bytes.
	// Default DefaultMaxResponseSize (1 MiB); at most 1 GiB.
	MaxResponseSize int64

	// MaxKeyWaiters bounds the verifications that wait at once for a key
	// the set does not have yet. A token whose kid is unknown triggers a
	// key-set fetch, at most one per MinRefreshInterval; a token that
	// arrives while that limit forbids a fetch waits (within its ctx) for
	// the next permitted one, shared by every waiting call, so a key the
	// issuer has just published is accepted instead of refused. Calls that
	// join a fetch in flight count too. Past MaxKeyWaiters a call is
	// refused at once with ErrUnknownKey (ErrKeysUnavailable when there is
	// no usable key set or the latest fetch failed). Default
	// DefaultMaxKeyWaiters (256); negative means never wait for the rate
	// limit (up to DefaultMaxKeyWaiters calls still share a fetch in
	// flight). See docs/key-set.md.
	MaxKeyWaiters int

	// Logger receives key-set events (fetch failures, rotations) and, at
	// debug level, the reason each token was rejected. Default
	// slog.Default(). Tokens and claim values are never logged. New
	// refuses a Logger without a handler (a zero slog.Logger{}), which
	// would panic on its first record. A handler that panics (in Handle,
	// Enabled, WithAttrs or WithGroup) loses the record it was given, and
	// the panic goes no further: the key set logs from goroutines of its
	// own, where a panic would end the process, and a verification goes
	// on to its answer.
	Logger *slog.Logger

	// Cache configures the verified-token cache, on by default.
	Cache CacheConfig
}

// CacheConfig configures the verified-token cache. A cache hit is as safe as
// a full verification: entries are keyed by the exact token string, only
// successfully verified access tokens are stored, exp/nbf/iat are re-checked
// on every hit, an entry is dropped once its token expires or its signing
// key leaves the key set, and memory is bounded.
//
// One difference in time: a full verification reads Now, while by default
// hits share one reading of time.Now taken at most 10 ms earlier (on a VM
// one clock read costs more than the rest of a hit). A hit can therefore
// accept a token up to 10 ms after its exp plus ClockSkew, longer only while
// the process is too starved of CPU to run a timer, or by what is left of
// those 10 ms after a host suspend or a forward step of the wall clock
// (the 10 ms are measured on the monotonic clock; in them, a key set the
// suspend made older than MaxStaleness still serves a cached token); it never refuses a
// token Now would accept (such a hit is re-checked against Now). That
// applies only with a skew of at least one second (the default is a
// minute), of which 10 ms is at most 1 %: with a smaller ClockSkew, a
// negative one (no tolerance), or Config.Now set (to time.Now for
// production), every hit reads Now instead.
type CacheConfig struct {
	// Disabled turns the cache off: every call verifies the signature.
	// Default false (on): a long-lived client sends the same token for up
	// to an hour, and a hit costs under 100 ns against 40-120 µs for a
	// signature check.
	Disabled bool

	// MaxEntries bounds the number of cached tokens. Default
	// DefaultCacheMaxEntries (10,000). When full, an entry is evicted.
	MaxEntries int

	// MaxBytes bounds the memory the cache keeps alive, as accounted: the
	// token, the memory its claims own and a fixed per-entry overhead.
	// Default DefaultCacheMaxBytes (32 MiB). Tokens too large for their
	// share are simply not cached.
	MaxBytes int64
}

// settings is a validated Config with defaults applied.
type settings struct {
	Config
	skew      time.Duration // >= 0
	ownClient bool          // HTTPClient was created by validate: the key set closes its idle connections after each refresh and on Close
}

// errConfig wraps every validation failure New reports.
var errConfig = errors.New("verifier: invalid config")

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errConfig, fmt.Sprintf(format, args...))
}

// validate checks cfg and returns it with defaults applied. Slices and maps
// are copied so that later changes by the caller have no effect. The fields
// shared with introspect.Config are checked by internal/policy.
func validate(cfg Config) (settings, error) {
	s := settings{Config: cfg}
	p, err := policy.Validate(cfg.policy(), policy.Defaults{
		ScopeClaims:     DefaultScopeClaims(),
		ClockSkew:       DefaultClockSkew,
		MaxTokenSize:    DefaultMaxTokenSize,
		MaxResponseSize: DefaultMaxResponseSize,
	})
	if err != nil {
		return s, configError("%v", err)
	}
	s.setPolicy(p)
	if err := jwks.CheckURL(cfg.Issuer); err != nil {
		return s, configError("Issuer: %v", err)
	}
	if err := endpoint.CheckIssuer(cfg.Issuer); err != nil {
		return s, configError("Issuer: %v", err)
	}
	if cfg.JWKSURL != "" {
		if err := jwks.CheckURL(cfg.JWKSURL); err != nil {
			return s, configError("JWKSURL: %v", err)
		}
	}

	if len(cfg.Algorithms) == 0 {
		s.Algorithms = DefaultAlgorithms()
	} else {
		s.Algorithms = nil
		for _, alg := range cfg.Algorithms {
			switch {
			case strings.EqualFold(alg, "none"):
				return s, configError("algorithm %q is never allowed", alg)
			case strings.HasPrefix(strings.ToUpper(alg), "HS"):
				return s, configError("HMAC algorithm %q is never allowed: a public key must not be usable as a secret", alg)
			case !slices.Contains(supportedAlgorithms[:], alg):
				return s, configError("unsupported algorithm %q (supported: %s)", alg, strings.Join(supportedAlgorithms[:], " "))
			}
			if !slices.Contains(s.Algorithms, alg) {
				s.Algorithms = append(s.Algorithms, alg)
			}
		}
	}

	s.RefreshInterval = policy.Positive(&err, "RefreshInterval", cfg.RefreshInterval, DefaultRefreshInterval)
	s.MinRefreshInterval = policy.Positive(&err, "MinRefreshInterval", cfg.MinRefreshInterval, DefaultMinRefreshInterval)
	s.MaxStaleness = policy.Positive(&err, "MaxStaleness", cfg.MaxStaleness, DefaultMaxStaleness)
	s.FetchTimeout = policy.Positive(&err, "FetchTimeout", cfg.FetchTimeout, DefaultFetchTimeout)
	s.Cache.MaxEntries = policy.Positive(&err, "Cache.MaxEntries", cfg.Cache.MaxEntries, DefaultCacheMaxEntries)
	s.Cache.MaxBytes = policy.Positive(&err, "Cache.MaxBytes", cfg.Cache.MaxBytes, DefaultCacheMaxBytes)
	switch {
	case err != nil:
		return s, configError("%v", err)
	case s.MinRefreshInterval > s.RefreshInterval:
		return s, configError("MinRefreshInterval (%v) exceeds RefreshInterval (%v)", s.MinRefreshInterval, s.RefreshInterval)
	case s.MaxStaleness < s.RefreshInterval:
		return s, configError("MaxStaleness (%v) is less than RefreshInterval (%v)", s.MaxStaleness, s.RefreshInterval)
	}
	if s.MaxKeyWaiters == 0 {
		s.MaxKeyWaiters = DefaultMaxKeyWaiters
	}
	if s.HTTPClient == nil {
		s.HTTPClient = defaultHTTPClient(s.FetchTimeout)
		s.ownClient = true
	}
	return s, nil
}

// policy returns the fields cfg shares with introspect.Config.
func (cfg *Config) policy() policy.Policy {
	return policy.Policy{
		Issuer: cfg.Issuer, Audiences: cfg.Audiences, SkipAudienceCheck: cfg.SkipAudienceCheck,
		ClientIDs: cfg.ClientIDs, ScopeClaims: cfg.ScopeClaims, ClockSkew: cfg.ClockSkew, Now: cfg.Now,
		MaxTokenSize: cfg.MaxTokenSize, MaxResponseSize: cfg.MaxResponseSize, HTTPClient: cfg.HTTPClient, Logger: cfg.Logger,
	}
}

// setPolicy stores the validated shared fields; the clock skew to apply
// goes to skew, ClockSkew keeps what the caller set.
func (s *settings) setPolicy(p policy.Policy) {
	s.Audiences, s.ClientIDs, s.ScopeClaims = p.Audiences, p.ClientIDs, p.ScopeClaims
	s.skew, s.Now, s.Logger = p.ClockSkew, p.Now, p.Logger
	s.MaxTokenSize, s.MaxResponseSize = p.MaxTokenSize, p.MaxResponseSize
}

// defaultHTTPClient returns the client used when Config.HTTPClient is nil:
// bounded dial, TLS and header timeouts (the whole fetch is bounded by
// FetchTimeout through its context) and no cookie jar. Redirects are not
// its business: the key set fetches through a copy of any client with its
// own redirect policy (at most 3, each to a URL that passes CheckURL, never
// https to http) and no cookie jar; see verifier/internal/jwks.
func defaultHTTPClient(timeout time.Duration) *http.Client {
	return endpoint.NewClient(timeout, 2)
}
