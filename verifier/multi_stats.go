package verifier

// MultiStats is a snapshot of a MultiVerifier's counters: each issuer's
// Stats and their aggregate.
type MultiStats struct {
	// Total sums the issuers' counters, cache sizes, keys and skipped
	// keys. Its Issuer is empty; KeysFetched is the oldest issuer's (zero
	// while any issuer has no key set yet), so its age is the stalest key
	// set's; LastFetchFailure is the latest of any issuer.
	Total Stats
	// Issuers holds each issuer's Stats, in Config order.
	Issuers []Stats
	// UnknownIssuerTokens counts tokens (not issuers) refused because
	// their iss is missing or names no configured issuer (ErrIssuer),
	// access and ID tokens alike. They reach no issuer's Verifier, so no
	// issuer's Stats, nor Total, counts them. Its growth is a flood of foreign tokens, or a tenant
	// missing from the configuration. Tokens refused for their form count
	// in Malformed instead: every token the MultiVerifier refuses itself
	// for its form or its iss counts in exactly one of the two. A call
	// refused before the token is looked at (after Close, or VerifyIDToken
	// without a client id) counts in neither, as with a lone Verifier.
	UnknownIssuerTokens int64
	// Malformed counts tokens refused for their form (ErrMalformed) before
	// the MultiVerifier could read their iss, access and ID tokens alike:
	// they reach no issuer's Verifier. A token whose iss routed it to an
	// issuer whose Verifier then refused it for its form counts in that
	// issuer's Stats.Malformed (and Total) instead.
	Malformed int64
}

// Stats returns every issuer's Stats (see Verifier.Stats), their
// aggregate, and the counts of tokens of unknown issuers and of malformed
// tokens it refused itself. The slice is the caller's own. Like Verifier.Stats it is
// cheap enough for a metrics callback, not meant for every call. A
// MultiVerifier NewMulti did not build (see MultiVerifier) returns the zero
// MultiStats, without Issuers.
func (m *MultiVerifier) Stats() MultiStats {
	if !m.built() {
		return MultiStats{}
	}
	ms := MultiStats{Issuers: make([]Stats, len(m.list)), UnknownIssuerTokens: m.unknownIssuerTokens.Load(), Malformed: m.malformed.Load()}
	t := &ms.Total
	for i, v := range m.list {
		st := v.Stats()
		ms.Issuers[i] = st
		t.CacheHits += st.CacheHits
		t.CacheMisses += st.CacheMisses
		t.CacheEntries += st.CacheEntries
		t.CacheBytes += st.CacheBytes
		t.KeyFetches += st.KeyFetches
		t.KeyFetchFailures += st.KeyFetchFailures
		t.Keys += st.Keys
		t.SkippedKeys += st.SkippedKeys
		t.Discoveries += st.Discoveries
		t.JWKSURLChanges += st.JWKSURLChanges
		t.KeyMissFetches += st.KeyMissFetches
		t.KeyMissesLimited += st.KeyMissesLimited
		t.KeyMissWaits += st.KeyMissWaits
		t.Malformed += st.Malformed
		if i == 0 || (!t.KeysFetched.IsZero() && (st.KeysFetched.IsZero() || st.KeysFetched.Before(t.KeysFetched))) {
			t.KeysFetched = st.KeysFetched
		}
		if st.LastFetchFailure.After(t.LastFetchFailure) {
			t.LastFetchFailure = st.LastFetchFailure
		}
	}
	return ms
}
