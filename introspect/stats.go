package introspect

import "sync/atomic"

// Stats is a snapshot of a Verifier's counters, for metrics and health
// checks (the otelmetrics package exports them). Counters only grow; fields
// are read one by one, so they are not mutually consistent to the
// nanosecond.
type Stats struct {
	// Issuer is the Verifier's Config.Issuer, to label the figures:
	// exactly as configured, which New accepts only without user info,
	// query or fragment.
	Issuer string

	// CacheHits counts verifications answered from the positive cache
	// (including cached tokens found expired since).
	CacheHits int64
	// NegativeHits counts verifications answered from the negative cache:
	// an inactive or refused token seen within Cache.NegativeTTL.
	NegativeHits int64
	// CacheMisses counts verifications that found no usable entry and
	// waited for an introspection request (their own or a shared one), or
	// took the verdict of one that ended just after they missed (counted
	// in Coalesced too).
	// The three cache counters are 0 when the caches are disabled.
	CacheMisses int64
	// CacheEntries and NegativeEntries are the number of entries in the
	// positive and the negative cache now, live or not yet reclaimed.
	CacheEntries, NegativeEntries int
	// CacheBytes is the accounted size of the positive cache now, bounded
	// by Cache.MaxBytes (see CacheConfig).
	CacheBytes int64

	// Requests counts introspection requests sent to the endpoint: the
	// load this Verifier puts on the authorization server.
	Requests int64
	// Failures counts requests that got no usable answer (ErrUnavailable:
	// unreachable, timed out, a status other than 200, a malformed body).
	Failures int64
	// Inactive counts answers with "active": false.
	Inactive int64
	// Coalesced counts verifications that joined a request already in
	// flight for the same token instead of sending their own, or took the
	// verdict of one that ended after they missed the cache.
	Coalesced int64
	// InFlight is the number of requests in flight now, at most
	// Config.MaxConcurrent.
	InFlight int
	// Malformed counts tokens refused for their form without a request
	// (verifier.ErrMalformed: empty, larger than MaxTokenSize, characters
	// outside RFC 6750's b64token). Behind a Combined, a token the JWT
	// verifier gets counts in its own Stats instead.
	Malformed int64
	// RateLimited counts requests not sent because they would have
	// exceeded Config.MaxRequestRate, or fell within the Retry-After of a
	// 429 or 503 answer (or a 429's X-Rate-Limit-Reset, the backoff after
	// a 429 or 503 with neither, a 502 or 504, or network failures, or the
	// Cache.NegativeTTL after a 401 or 403 invalid_client; at most a
	// minute): their tokens failed with ErrUnavailable. Not counted in
	// Requests or Failures.
	RateLimited int64
}

// counters are the Verifier's monotonic counts.
type counters struct {
	hits, negHits, misses         atomic.Int64
	requests, failures, inactive  atomic.Int64
	coalesced, malformed, limited atomic.Int64
}

// Stats returns the Verifier's cache and request counters. It takes no
// lock on the verification path and makes no request; it is cheap enough
// for a metrics callback, not meant for every call.
func (v *Verifier) Stats() Stats {
	if !v.built() {
		return Stats{} // see Verifier
	}
	st := Stats{
		Issuer:       v.s.Issuer,
		CacheHits:    v.n.hits.Load(),
		NegativeHits: v.n.negHits.Load(),
		CacheMisses:  v.n.misses.Load(),
		Requests:     v.n.requests.Load(),
		Failures:     v.n.failures.Load(),
		Inactive:     v.n.inactive.Load(),
		Coalesced:    v.n.coalesced.Load(),
		Malformed:    v.n.malformed.Load(),
		RateLimited:  v.n.limited.Load(),
		InFlight:     len(v.sem),
	}
	if v.pos != nil {
		st.CacheEntries, st.CacheBytes = v.pos.stats()
		st.NegativeEntries = v.neg.len()
	}
	return st
}
