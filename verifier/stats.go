package verifier

import (
	"time"

	"github.com/grpcauth/grpcauth/verifier/internal/jwks"
)

// Stats is a snapshot of a Verifier's counters, for metrics and health
// checks (the otelmetrics package exports them). Counters only grow; fields
// are read one by one, so they are not mutually consistent to the
// nanosecond.
type Stats struct {
	// Issuer is the Verifier's configured issuer, to label the figures.
	Issuer string

	// CacheHits counts access-token verifications answered from the
	// verified-token cache (including cached tokens found expired since).
	CacheHits int64
	// CacheMisses counts access-token verifications that found no usable
	// cache entry and ran in full (including entries dropped because their
	// key left the key set). A token refused for its form (Malformed) or
	// its iss is not a miss: a MultiVerifier refuses those before any
	// issuer's cache sees them, and a Verifier counts the same alone as
	// inside one. A token whose kid the key set knows is absent is refused
	// before its payload is read (ErrUnknownKey, see KeyMissesLimited), and
	// is a miss whatever its payload: alone, such a token with a wrong iss,
	// or a payload that is not base64url or JSON, is a miss, where a
	// MultiVerifier refuses it for its iss or its form. Both are 0 when the
	// cache is disabled.
	CacheMisses int64
	// CacheEntries is the number of tokens cached now.
	CacheEntries int
	// CacheBytes is the accounted size of the cache now (see CacheConfig).
	CacheBytes int64

	// KeyFetches counts HTTP requests for the JWKS document.
	KeyFetches int64
	// KeyFetchFailures counts key-set refreshes that failed (network,
	// status, size, parse, or no usable key).
	KeyFetchFailures int64
	// KeysFetched is when the current key set was fetched (Config.Now);
	// zero if no fetch has succeeded yet. Its age is how stale the keys
	// are; past MaxStaleness verification fails with ErrKeysUnavailable.
	// That age is the larger of its monotonic and wall-clock ages (see
	// Config.MaxStaleness): time.Since(KeysFetched) gives the monotonic
	// one only, which does not count a suspend of the host.
	KeysFetched time.Time
	// LastFetchFailure is when the last refresh failed (Config.Now); zero
	// if none has.
	LastFetchFailure time.Time
	// Keys is the number of usable keys in the current set: 0 while the
	// set is older than MaxStaleness (at Config.Now), when every lookup
	// fails with ErrKeysUnavailable; KeysFetched and SkippedKeys still
	// describe that set.
	Keys int
	// SkippedKeys is the number of entries of the current set's document
	// that were skipped: unsupported, not for signatures, duplicated,
	// malformed, exposed (by this document or an earlier one) or ambiguous
	// (docs/key-set.md lists the rules; Config.Logger names each entry, and
	// the keys an earlier document exposed in one line). An encryption key
	// counts, so a steady non-zero value can be normal; a key the issuer
	// signs with and the Verifier skips makes its tokens fail with
	// ErrUnknownKey.
	SkippedKeys int

	// Discoveries counts HTTP requests for the issuer's discovery
	// documents: the first fetch's, the rediscovery after a fetch from the
	// discovered JWKS URL failed, and the rediscovery of the first fetch
	// (scheduled, or for an unknown kid) once the discovered URL's
	// lifetime, or the back-off after a failed rediscovery, has passed.
	// Always 0 with Config.JWKSURL.
	Discoveries int64
	// JWKSURLChanges counts rediscoveries that found a JWKS URL other than
	// the one in use: the issuer moved its keys, and the Verifier followed.
	JWKSURLChanges int64

	// KeyMissFetches counts key-set refreshes triggered by a token whose
	// kid was not in the set (rotation, or forged kids), including the
	// shared refresh waiting lookups get. At most one per
	// MinRefreshInterval, and none within a Retry-After the issuer sent.
	KeyMissFetches int64
	// KeyMissesLimited counts verifications of a kid not in the set that
	// were refused without a fetch: the kid was just confirmed absent (a
	// fetch that looked for it did not find it: refused before the
	// token's payload is read; or the issuer withdrew it),
	// MaxKeyWaiters lookups were already waiting (for the fetch in flight
	// or the next), or refreshes are failing and the rate limit (or the
	// issuer's Retry-After) allows none yet. It grows under a flood of
	// forged kids.
	KeyMissesLimited int64
	// KeyMissWaits counts verifications of a kid not in the set that waited
	// (at most MinRefreshInterval, and their context) for the next refresh
	// the rate limit allowed.
	KeyMissWaits int64

	// Malformed counts tokens, access and ID tokens alike, refused for
	// their form (ErrMalformed: empty, larger than MaxTokenSize, not a
	// compact JWS, undecodable header or payload), most before any key
	// lookup; a signature that is not base64url, or a claim of the wrong
	// type (a numeric scope), is found only after it.
	// A MultiVerifier counts those whose iss it could not read itself
	// (MultiStats.Malformed); those it routed here count here. Its growth
	// is garbage sent as tokens, or a client sending the wrong credential.
	Malformed int64
}

// Stats returns the Verifier's cache and key-set counters. It takes no
// lock on the verification path and makes no network call; it is cheap
// enough for a metrics callback, not meant for every request. A Verifier
// New did not build (see Verifier) returns the zero Stats, whose Issuer is
// empty.
func (v *Verifier) Stats() Stats {
	if !v.built() {
		return Stats{}
	}
	st := keyStats(v.set.Stats())
	st.Issuer = v.s.Issuer
	st.Malformed = v.malformed.Load()
	if v.cache != nil {
		st.CacheHits, st.CacheMisses = v.cache.counts()
		st.CacheEntries, st.CacheBytes = v.cache.stats()
	}
	return st
}

// keyStats maps the key set's counters to Stats' key-set fields.
func keyStats(ks jwks.Stats) Stats {
	return Stats{
		KeyFetches:       ks.Fetches,
		KeyFetchFailures: ks.Failures,
		KeysFetched:      ks.LastSuccess,
		LastFetchFailure: ks.LastFailure,
		Keys:             ks.Keys,
		SkippedKeys:      ks.SkippedKeys,
		Discoveries:      ks.Discoveries,
		JWKSURLChanges:   ks.URLChanges,
		KeyMissFetches:   ks.MissFetches,
		KeyMissesLimited: ks.MissesLimited,
		KeyMissWaits:     ks.MissWaits,
	}
}
