package verifier

import "time"

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
	// CacheMisses counts verifications that found no usable cache entry
	// and ran in full (including entries dropped because their key left
	// the key set). Both are 0 when the cache is disabled.
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
	KeysFetched time.Time
	// LastFetchFailure is when the last refresh failed (Config.Now); zero
	// if none has.
	LastFetchFailure time.Time
	// Keys is the number of usable keys in the current set.
	Keys int
}

// Stats returns the Verifier's cache and key-set counters. It takes no
// lock on the verification path and makes no network call; it is cheap
// enough for a metrics callback, not meant for every request.
func (v *Verifier) Stats() Stats {
	ks := v.set.Stats()
	st := Stats{
		Issuer:           v.s.Issuer,
		KeyFetches:       ks.Fetches,
		KeyFetchFailures: ks.Failures,
		KeysFetched:      ks.LastSuccess,
		LastFetchFailure: ks.LastFailure,
		Keys:             ks.Keys,
	}
	if v.cache != nil {
		st.CacheHits, st.CacheMisses = v.cache.counts()
		st.CacheEntries, st.CacheBytes = v.cache.stats()
	}
	return st
}
