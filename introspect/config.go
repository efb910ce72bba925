package introspect

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/policy"
	"github.com/grpcauth/grpcauth/verifier"
)

// Defaults applied by New to zero-valued Config fields.
const (
	// DefaultCacheTTL bounds how long a positive introspection result is
	// reused: one minute, so a revoked token stops working within a minute
	// (measured: a token revoked right after it was introspected is
	// refused 60 s later, TestEndToEnd_RevokedTokenWorksForOneCacheTTL)
	// while a client sending the same token on every call costs the
	// authorization server one request a minute. An entry never outlives
	// the token's exp plus Config.ClockSkew.
	DefaultCacheTTL = time.Minute

	// DefaultNegativeCacheTTL is how long an inactive or rejected token's
	// result is reused: 10 seconds, so a client retrying a revoked token, or
	// a replayed garbage token, costs at most 6 requests a minute.
	DefaultNegativeCacheTTL = 10 * time.Second

	// DefaultCacheMaxEntries bounds the positive cache: 10,000 tokens.
	DefaultCacheMaxEntries = 10000

	// DefaultCacheMaxBytes bounds the memory the positive cache keeps
	// alive, as it accounts it (each entry's claims' footprint, member index
	// included, and a fixed per-entry overhead, measured against the live
	// heap): 32 MiB, as verifier.DefaultCacheMaxBytes. A typical Okta
	// answer (~0.5 KB: a user's token, 4 scopes, a few custom claims)
	// accounts for ~1.5 KB, so the byte limit holds ~21,000 and the entry
	// limit binds first; answers of ~2 KB (a dozen more custom claims,
	// ~3.7 KB accounted) fill it at about 9,000. Answers of up to
	// MaxResponseSize, which take several times their size once their
	// members are indexed (~450 KB for 64 KiB of short members), cannot
	// keep more than 32 MiB alive in all. See docs/introspection.md.
	DefaultCacheMaxBytes int64 = 32 << 20

	// DefaultNegativeCacheMaxEntries bounds the negative cache separately,
	// so that a flood of distinct garbage tokens never evicts good entries.
	DefaultNegativeCacheMaxEntries = 1000

	// DefaultMaxConcurrent bounds introspection requests in flight at once:
	// 16, enough for a busy service (each distinct token is introspected
	// once per DefaultCacheTTL) while a flood of new tokens cannot open
	// unbounded connections to the authorization server.
	DefaultMaxConcurrent = 16

	// DefaultTimeout bounds one introspection request: 5 seconds. It is on
	// the path of an RPC, whose own deadline usually ends the wait sooner.
	DefaultTimeout = 5 * time.Second

	// DefaultMaxResponseSize bounds an introspection response: 64 KiB, far
	// above the 0.5-2 KiB real responses take.
	DefaultMaxResponseSize int64 = 64 << 10

	// DefaultMaxTokenSize bounds the tokens sent for introspection: 8 KiB.
	// Opaque tokens are tens of bytes, Okta's org authorization server
	// tokens about 1 KiB; a larger string is not worth a request.
	DefaultMaxTokenSize = 8 << 10
)

// DefaultTokenTypes returns the token_type values accepted when
// Config.TokenTypes is empty (compared case-insensitively): "Bearer", which
// RFC 7662 prescribes, and "access_token", which some servers send instead.
// Each call returns a fresh slice: changing it changes nothing else.
func DefaultTokenTypes() []string { return []string{"Bearer", "access_token"} }

// AuthMethod is how the Verifier authenticates to the introspection
// endpoint (RFC 7662 §2.1 requires client authentication).
type AuthMethod int

const (
	// ClientSecretBasic sends the client id and secret in an HTTP Basic
	// Authorization header, each form-urlencoded first (RFC 6749 §2.3.1).
	// The default, and the method RFC 6749 says servers must support.
	ClientSecretBasic AuthMethod = iota
	// ClientSecretPost sends client_id and client_secret in the form body.
	ClientSecretPost
)

// String returns "client_secret_basic" or "client_secret_post".
func (m AuthMethod) String() string {
	switch m {
	case ClientSecretBasic:
		return "client_secret_basic"
	case ClientSecretPost:
		return "client_secret_post"
	}
	return fmt.Sprintf("AuthMethod(%d)", int(m))
}

// Config configures a Verifier. Endpoint, Issuer, ClientID, ClientSecret and
// Audiences are required; every other field has a safe default. The fields
// it shares with verifier.Config (Issuer, Audiences, SkipAudienceCheck,
// ClientIDs, ScopeClaims, ClockSkew, Now, MaxTokenSize, MaxResponseSize,
// HTTPClient, Logger) mean the same there and are validated by the same
// code; only the size defaults differ.
type Config struct {
	// Endpoint is the introspection endpoint, e.g.
	// "https://example.okta.com/oauth2/v1/introspect" (Okta's org
	// authorization server). Required. It must be https, or http on a
	// loopback host (localhost, 127.0.0.0/8, ::1) for tests, and carry no
	// userinfo, nor an "@" in its path, query or fragment, where a password
	// holding "/", "?" or "#" would put the rest of itself (write such an
	// "@" as %40). New's errors quote nothing of it; logs name it without
	// its query or fragment.
	Endpoint string

	// Issuer is the authorization server's issuer identifier, e.g.
	// "https://example.okta.com". Required. A response's iss, when
	// present, must equal it exactly (verifier.ErrIssuer); a response
	// without iss gets it, so Claims.Issuer always names the server that
	// vouched for the token. It must parse as a URL (it is never
	// requested: another scheme or plain http is accepted) and carry no
	// userinfo, nor an "@" after its host, as Endpoint, nor a query or a
	// fragment, which an issuer identifier never has (RFC 8414, section 2;
	// verifier.New refuses them too): Stats, metric labels and a printed
	// Verifier show it as it is. New's errors quote nothing of it.
	Issuer string

	// ClientID and ClientSecret are this resource server's credentials at
	// the authorization server. Required. The secret is sent only to
	// Endpoint and never logged. A Config formatted with fmt (any verb) or
	// logged with log/slog shows "[REDACTED]" in its place (see
	// Config.Format); the Verifier keeps it where fmt cannot reach it.
	ClientID     string
	ClientSecret string

	// AuthMethod selects how the credentials are sent. Default
	// ClientSecretBasic.
	AuthMethod AuthMethod

	// Audiences lists the audiences this service accepts. Required unless
	// SkipAudienceCheck is set: an active token minted for another API of
	// the same server must not be accepted here. The response's aud (a
	// string or an array) must contain at least one of them.
	Audiences []string

	// SkipAudienceCheck disables the aud check. Default false. Set it only
	// when the server's responses carry no aud, and pin the client with
	// ClientIDs instead. New refuses it together with Audiences, which it
	// would leave unchecked.
	SkipAudienceCheck bool

	// ClientIDs, when not empty, is the allow-list of clients whose tokens
	// are accepted, checked against Claims.ClientID: the client that the
	// non-empty strings of cid, client_id and azp name. An answer naming
	// none is refused, and so is one in which two of them name different
	// clients (see verifier.Claims.ClientID). Default: any client.
	ClientIDs []string

	// ScopeClaims names the response members scopes are read from.
	// Default verifier.DefaultScopeClaims() ("scp", "scope"); RFC 7662's is
	// "scope", a space-separated string.
	ScopeClaims []string

	// TokenTypes lists the token_type values accepted when a response has
	// one (compared case-insensitively). Default DefaultTokenTypes()
	// ("Bearer", "access_token"): a DPoP-bound token (token_type "DPoP",
	// RFC 9449), or a refresh token a server answers for despite the
	// access_token hint, is rejected with a *verifier.ClaimError for
	// "token_type".
	//
	// To accept DPoP-bound opaque tokens, add "DPoP":
	// append(DefaultTokenTypes(), "DPoP"). A "DPoP" response must then
	// carry the key binding, cnf with a non-empty string member named
	// exactly jkt (RFC 9449, section 6.2; "JKT" is not it), or it is
	// rejected with a *verifier.ClaimError for "cnf"; the claims
	// keep cnf. This package does not check the DPoP proof: the grpcauth
	// interceptors do, for every token whose claims carry cnf.jkt (the DPoP
	// scheme and a proof signed by that key are then required). Any other
	// caller must check the proof itself, with package dpop.
	TokenTypes []string

	// SkipExpiryRequirement accepts active responses without exp. Default
	// false: a response without exp is rejected (*verifier.ClaimError for
	// "exp"), because such a token would be cached for the whole CacheTTL
	// and a stream it opened would never be ended at expiry.
	SkipExpiryRequirement bool

	// ClockSkew is the tolerance applied to exp, nbf and iat. Zero means
	// verifier.DefaultClockSkew (1 minute); a negative value means none.
	// New refuses more than an hour.
	ClockSkew time.Duration

	// Now returns the current time. Default time.Now. It decides expiry
	// and cache lifetimes; tests inject a clock here. A panic of Now (or
	// of HTTPClient's transport) on the goroutine a request runs on,
	// where no caller's recovery runs, is recovered: the request's
	// callers are refused with ErrUnavailable, and the panic is logged at
	// error level, its stack at most once a minute per Verifier, by the
	// process's clock. On the caller's goroutine it is the caller's.
	Now func() time.Time

	// MaxTokenSize bounds the token's length in bytes; a longer token is
	// rejected (verifier.ErrMalformed) without a request. Default
	// DefaultMaxTokenSize (8 KiB).
	MaxTokenSize int

	// Timeout bounds one introspection request. Default DefaultTimeout
	// (5s). The body of an answer refused by its status (any but 200) or
	// its Content-Type is read for at most a second of it, from its
	// headers, and up to 64 KiB (MaxResponseSize when less): past either
	// bound the request ends and its connection is closed (over HTTP/2,
	// its stream is reset and the connection kept).
	Timeout time.Duration

	// MaxResponseSize bounds a response body in bytes. Default
	// DefaultMaxResponseSize (64 KiB); at most 1 GiB. A refused answer's
	// body is read up to 64 KiB at most (see Timeout).
	MaxResponseSize int64

	// MaxConcurrent bounds the introspection requests in flight at once;
	// further distinct tokens wait for a slot (as long as their callers'
	// contexts allow). Default DefaultMaxConcurrent (16).
	MaxConcurrent int

	// MaxRequestRate, when positive, bounds the introspection requests
	// sent per second: on average, with up to one second's worth (at least
	// one) at once after a quiet spell. A token that would need a request
	// beyond it fails at once with ErrUnavailable (codes.Unavailable: the
	// client may retry), is not cached, and counts in Stats.RateLimited.
	// Only requests sent spend it: a call whose context has already ended
	// sends none, nor does a request all of whose callers left before it
	// reached the limit, and one abandoned by its callers while it waited
	// for a MaxConcurrent slot gives its share back.
	// Default 0: no bound but MaxConcurrent's, so a flood of distinct
	// made-up tokens, which no cache absorbs, is introspected as fast as
	// MaxConcurrent requests at a time allow. Set it below the rate limit
	// the authorization server grants (Okta sets its limits per
	// organisation and endpoint), so that such a flood cannot use all of
	// it; tokens already cached keep working meanwhile. With the cache on,
	// the bound applies only to tokens not known to be good: a token the
	// server called active (and this Verifier accepted) is asked about
	// again, once its cached answer has ended, without drawing on
	// MaxRequestRate (at most once per answer, until its exp plus
	// ClockSkew, or one more Cache.TTL without exp; after a failed request,
	// again no sooner than Cache.NegativeTTL later), so a flood does not
	// refuse good tokens or hold back the re-verification that cuts a
	// revoked token's stream. At most Cache.MaxEntries such tokens are
	// remembered, by hash, at most about 150 bytes of heap each (not
	// counted in Cache.MaxBytes). See docs/introspection.md.
	MaxRequestRate float64

	// HTTPClient sends the requests. Default: a client with dial, TLS and
	// response-header timeouts, MaxConcurrent idle connections kept for
	// reuse, response headers of at most 64 KiB, the environment's proxy
	// (http.ProxyFromEnvironment; never for a loopback host, localhost in
	// any case), no cookie jar, and the name localhost dialled on 127.0.0.1
	// then ::1, never looked up. A
	// client you pass keeps its transport's limits and dialer: net/http
	// reads up to 10 MiB of response headers unless its
	// MaxResponseHeaderBytes says less, and resolves localhost like any
	// name (the hosts file, then DNS). An Endpoint naming localhost in
	// another case ("http://LOCALHOST:8080/...") is requested as
	// localhost, in lower case, the one case in which the environment's
	// proxy (http.ProxyFromEnvironment, http.DefaultTransport's) goes
	// direct. Whatever the client,
	// redirects are not followed (a redirected POST would carry the token
	// and the client's credentials elsewhere, even to plain http); a
	// redirect answer counts as the endpoint being unavailable; and no
	// cookie is sent or stored. New uses a copy of a client you pass, with
	// that policy and without its cookie jar, and leaves yours as it is.
	HTTPClient *http.Client

	// Logger receives endpoint failures (warning; a 401 or 403 answer,
	// refused client credentials among them, at error level) and, at
	// debug level, why a token was rejected. Default slog.Default().
	// Tokens, secrets and claim values are never logged. Any caller can
	// make requests fail while the endpoint is down or refusing (each
	// made-up token is a request), so failures are logged at most one a
	// minute per kind of failure and Verifier (the record's "kind":
	// network, server_error, rate_limited, refused, invalid_client,
	// status, malformed, oversized; each in a minute of its own, so that a
	// trickle of one kind a caller keeps up holds back no other's record),
	// timed by Now: the first at once, the others within the minute
	// counted, and the next record of the kind says how many it did not
	// log (its "suppressed" attribute); each
	// still shows at debug level as its token's rejection, and in
	// Stats.Failures. The first answer after a failure, logged or
	// counted, is logged at info level, "introspect: introspection
	// recovered", at most one a minute, with the failures not logged
	// since ("suppressed"). New refuses a Logger without a handler (a
	// zero slog.Logger{}), which would panic on its first record. A
	// handler that panics (in Handle, Enabled, WithAttrs or WithGroup)
	// loses the record it was given, and the panic goes no further: the
	// request's callers get the endpoint's answer. (Failures and
	// recoveries are logged on an introspection request's own goroutine,
	// where such a panic failed its callers with ErrUnavailable.)
	Logger *slog.Logger

	// Cache configures the result caches, on by default.
	Cache CacheConfig
}

// CacheConfig configures the caches of introspection results. Entries are
// keyed by the SHA-256 of the token, never by the token itself: an opaque
// token is a bearer credential, and the cache is long-lived memory that
// should not hold one (a heap dump or a debugger then shows hashes, not
// usable tokens).
type CacheConfig struct {
	// Disabled turns both caches off: every call introspects (concurrent
	// calls with the same token still share one request). Default false.
	Disabled bool

	// TTL bounds how long a positive result is reused. Default
	// DefaultCacheTTL (1 minute). Each result is reused up to a tenth of
	// TTL (at most 5 minutes) less, at random, so that tokens introspected
	// together (the streams of every client reconnecting after a restart)
	// are not all introspected again in the same instant. It is the
	// longest a revoked token keeps working on unary calls: with the
	// default, 60 s after the revocation at worst (measured with an
	// injected clock, the jitter off, in
	// TestEndToEnd_RevokedTokenWorksForOneCacheTTL). A stream opened with
	// the token is re-verified by the time the entry ends, so it is cut
	// within the same bound (see docs/introspection.md). An entry never
	// outlives the token's exp plus Config.ClockSkew; one that ends there
	// answers with a *verifier.TokenExpiredError without a request.
	TTL time.Duration

	// NegativeTTL is how long an inactive or rejected token's result is
	// reused. Default DefaultNegativeCacheTTL (10s). An active answer this
	// Verifier refuses on its own clock is such a result, never a positive
	// one: expired, or with nbf or iat more than Config.ClockSkew ahead,
	// the latter reused only until both come within ClockSkew. Failures to
	// reach the endpoint are never cached. It is also how long a 401 or 403 answer
	// saying invalid_client (RFC 6749, 5.2: the server refused this
	// service's client credentials, whatever the token) pauses
	// requests, at most a minute, with the caches on or off: meanwhile a
	// token without a cached answer fails with ErrUnavailable without a
	// request (Stats.RateLimited).
	NegativeTTL time.Duration

	// MaxEntries bounds the number of entries of the positive cache.
	// Default DefaultCacheMaxEntries (10,000). When full, an entry is
	// evicted.
	MaxEntries int

	// MaxBytes bounds the memory the positive cache keeps alive, as
	// accounted: the memory each entry's claims own (the answer, and its
	// member index, counted before it is built) and a fixed per-entry
	// overhead. Default DefaultCacheMaxBytes (32 MiB). Answers too large
	// for it are simply not cached: every call with their token asks the
	// server.
	MaxBytes int64

	// MaxNegativeEntries bounds the negative cache. Default
	// DefaultNegativeCacheMaxEntries (1,000). Its entries are of fixed
	// size (a hash, an error and its lifetime, about 150 bytes), so it has
	// no byte bound.
	MaxNegativeEntries int
}

// settings is a validated Config with defaults applied. Its
// Config.ClientSecret is empty: clientSecret returns it, out of reach of
// fmt, which prints every field of a struct it cannot call methods on (an
// unexported one, or any with a verb wrong for its type), so that printing
// a Verifier, or anything holding one, shows no secret.
type settings struct {
	Config
	clientSecret func() string
	skew         time.Duration // >= 0
	ownClient    bool
}

var errConfig = errors.New("introspect: invalid config")

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errConfig, fmt.Sprintf(format, args...))
}

// validate checks cfg and returns it with defaults applied; slices are
// copied, so later changes by the caller have no effect. The fields shared
// with verifier.Config are checked by internal/policy.
func validate(cfg Config) (settings, error) {
	s := settings{Config: cfg}
	if err := checkURL(cfg.Endpoint); err != nil {
		return s, configError("Endpoint: %v", err)
	}
	// Requested as localhost in lower case when it names it in another
	// case, so that a given client's environment proxy goes direct
	// (endpoint.LowerLocalhost).
	if u, err := url.Parse(cfg.Endpoint); err == nil && endpoint.LowerLocalhost(u) {
		s.Endpoint = u.String()
	}
	p, err := policy.Validate(cfg.policy(), policy.Defaults{
		ScopeClaims:     verifier.DefaultScopeClaims(),
		ClockSkew:       verifier.DefaultClockSkew,
		MaxTokenSize:    DefaultMaxTokenSize,
		MaxResponseSize: DefaultMaxResponseSize,
	})
	if err != nil {
		return s, configError("%v", err)
	}
	s.setPolicy(p)
	if err := checkIssuer(cfg.Issuer); err != nil {
		return s, configError("Issuer: %v", err)
	}
	switch {
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return s, configError("ClientID and ClientSecret are required: RFC 7662 introspection needs client authentication")
	case cfg.AuthMethod != ClientSecretBasic && cfg.AuthMethod != ClientSecretPost:
		return s, configError("unknown AuthMethod %v", cfg.AuthMethod)
	case slices.Contains(cfg.TokenTypes, ""):
		return s, configError("TokenTypes contains an empty string")
	}
	secret := cfg.ClientSecret
	s.clientSecret, s.ClientSecret = func() string { return secret }, ""
	s.TokenTypes = slices.Clone(cfg.TokenTypes)
	if len(s.TokenTypes) == 0 {
		s.TokenTypes = DefaultTokenTypes()
	}
	s.Timeout = policy.Positive(&err, "Timeout", cfg.Timeout, DefaultTimeout)
	s.MaxConcurrent = policy.Positive(&err, "MaxConcurrent", cfg.MaxConcurrent, DefaultMaxConcurrent)
	if r := cfg.MaxRequestRate; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return s, configError("MaxRequestRate must be a finite number of requests a second, or 0 for no bound")
	}
	c := &s.Cache
	c.TTL = policy.Positive(&err, "Cache.TTL", c.TTL, DefaultCacheTTL)
	c.NegativeTTL = policy.Positive(&err, "Cache.NegativeTTL", c.NegativeTTL, DefaultNegativeCacheTTL)
	c.MaxEntries = policy.Positive(&err, "Cache.MaxEntries", c.MaxEntries, DefaultCacheMaxEntries)
	c.MaxBytes = policy.Positive(&err, "Cache.MaxBytes", c.MaxBytes, DefaultCacheMaxBytes)
	c.MaxNegativeEntries = policy.Positive(&err, "Cache.MaxNegativeEntries", c.MaxNegativeEntries, DefaultNegativeCacheMaxEntries)
	if err != nil {
		return s, configError("%v", err)
	}
	if s.HTTPClient == nil {
		s.HTTPClient = defaultHTTPClient(s.Timeout, s.MaxConcurrent)
		s.ownClient = true
	} else {
		c := *s.HTTPClient // the caller's stays as it is
		c.CheckRedirect = noRedirect
		c.Jar = nil // never send or store cookies, as the key set's fetches
		s.HTTPClient = &c
	}
	return s, nil
}

// policy returns the fields cfg shares with verifier.Config.
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

// checkURL applies the verifier's rule for authorization-server URLs
// (internal/endpoint): https, or plain http on a loopback host, without
// userinfo. Its errors do not repeat raw.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("required")
	}
	u, err := parseURL(raw)
	if err != nil {
		return err
	}
	return endpoint.Check(u)
}

// checkIssuer refuses an Issuer that may hold a password: one with
// userinfo, or with an "@" where the rest of a password holding "/", "?"
// or "#" would land (what endpoint.Check refuses with ErrUserInfo), or one
// that does not parse as a URL (as such a password may make it); and one
// with a query or a fragment (endpoint.CheckIssuer), which an issuer
// identifier never has (RFC 8414, section 2; verifier.New refuses them
// too) and which Stats, and the metric labels made of it, would show as
// they are (a tenant's key, say).
// Its errors quote nothing of raw. It is only compared with iss, never
// requested: endpoint.Check's other rules (https, or http on a loopback
// host) do not apply.
func checkIssuer(raw string) error {
	u, err := parseURL(raw)
	if err != nil {
		return err
	}
	if err := endpoint.Check(u); errors.Is(err, endpoint.ErrUserInfo) {
		return err
	}
	return endpoint.CheckIssuer(raw)
}

// parseURL is url.Parse with an error that does not repeat raw
// (endpoint.Parse): its userinfo or query may hold a secret.
func parseURL(raw string) (*url.URL, error) {
	u, err := endpoint.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	return u, nil
}

// defaultHTTPClient returns the client used when Config.HTTPClient is nil:
// the verifier's timeouts and no cookie jar, an idle connection kept for
// each of the maxConcurrent requests that may be in flight (fewer would
// have every burst above them dial and handshake again; the transport's
// total, 100 as http.DefaultTransport's, is raised to match), and
// redirects never followed (a redirected introspection request would carry
// the token and the client credentials to another URL).
func defaultHTTPClient(timeout time.Duration, maxConcurrent int) *http.Client {
	c := endpoint.NewClient(timeout, maxConcurrent)
	t := c.Transport.(*http.Transport)
	t.MaxIdleConns = max(t.MaxIdleConns, maxConcurrent)
	c.CheckRedirect = noRedirect
	return c
}

// noRedirect is the redirect policy of every introspection request: a
// redirect is not followed, and its answer counts as the endpoint being
// unavailable.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
