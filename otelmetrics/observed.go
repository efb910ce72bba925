package otelmetrics

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// observed are the instruments read from the verifiers' Stats at
// collection time.
type observed struct {
	// From verifier.Stats.
	hits, misses, fetches, failures       metric.Int64ObservableCounter
	discoveries, urlChanges               metric.Int64ObservableCounter
	missFetches, missesLimited, missWaits metric.Int64ObservableCounter
	malformed                             metric.Int64ObservableCounter       // also MultiStats.Malformed
	entries, size, keys, skippedKeys      metric.Int64ObservableUpDownCounter // levels: they add up over issuers
	age                                   metric.Float64ObservableGauge       // does not add up

	// From verifier.MultiStats.
	unknownIssuerTokens metric.Int64ObservableCounter

	// From introspect.Stats.
	iHits, iNegHits, iMisses, iRequests metric.Int64ObservableCounter
	iFailures, iInactive, iCoalesced    metric.Int64ObservableCounter
	iMalformed, iRateLimited            metric.Int64ObservableCounter
	iEntries, iSize, iInFlight          metric.Int64ObservableUpDownCounter
}

func newObserved(meter metric.Meter) (*observed, error) {
	o := &observed{}
	counters := []struct {
		dst               *metric.Int64ObservableCounter
		name, unit, descr string
	}{
		{&o.hits, "grpcauth.cache.hits", "{lookup}", "Access-token verifications answered from the verified-token cache."},
		{&o.misses, "grpcauth.cache.misses", "{lookup}", "Access-token verifications that found no usable cache entry and ran in full (not those refused for their form or iss)."},
		{&o.fetches, "grpcauth.jwks.fetches", "{request}", "HTTP requests for the issuer's JWKS document."},
		{&o.failures, "grpcauth.jwks.failures", "{refresh}", "Key-set refreshes that failed."},
		{&o.discoveries, "grpcauth.jwks.discoveries", "{request}", "HTTP requests for the issuer's discovery documents."},
		{&o.urlChanges, "grpcauth.jwks.url_changes", "{change}", "Rediscoveries that found a JWKS URL other than the one in use: the issuer moved its keys."},
		{&o.missFetches, "grpcauth.jwks.miss_fetches", "{refresh}", "Key-set refreshes triggered by a token whose kid was not in the set."},
		{&o.missesLimited, "grpcauth.jwks.misses_limited", "{lookup}", "Verifications of a kid not in the set refused without a refresh (kid just confirmed absent, waiter cap, rate limit while refreshes fail, or the issuer's Retry-After)."},
		{&o.missWaits, "grpcauth.jwks.miss_waits", "{lookup}", "Verifications of a kid not in the set that waited for the next refresh the rate limit allowed."},
		{&o.malformed, "grpcauth.malformed_tokens", "{token}", "Tokens refused for their form (most before any key lookup), by the issuer's verifier (issuer) or by a MultiVerifier that could not read their iss (no attribute)."},
		{&o.unknownIssuerTokens, "grpcauth.unknown_issuer_tokens", "{token}", "Tokens a MultiVerifier refused because their iss is missing or names no configured issuer."},
		{&o.iHits, "grpcauth.introspection.cache.hits", "{lookup}", "Verifications answered from the positive introspection cache."},
		{&o.iNegHits, "grpcauth.introspection.cache.negative_hits", "{lookup}", "Verifications answered from the negative introspection cache (inactive or refused tokens)."},
		{&o.iMisses, "grpcauth.introspection.cache.misses", "{lookup}", "Verifications that found no usable introspection cache entry."},
		{&o.iRequests, "grpcauth.introspection.requests", "{request}", "Introspection requests sent to the authorization server."},
		{&o.iFailures, "grpcauth.introspection.failures", "{request}", "Introspection requests that got no usable answer."},
		{&o.iInactive, "grpcauth.introspection.inactive", "{response}", "Introspection answers saying the token is not active."},
		{&o.iCoalesced, "grpcauth.introspection.coalesced", "{call}", "Verifications that shared an introspection request already in flight."},
		{&o.iMalformed, "grpcauth.introspection.malformed", "{token}", "Tokens refused for their form without an introspection request."},
		{&o.iRateLimited, "grpcauth.introspection.rate_limited", "{request}", "Introspection requests not sent because they would have exceeded MaxRequestRate, or fell within a pause (at most a minute): the Retry-After of the authorization server's 429 or 503, its 429's X-Rate-Limit-Reset, the backoff after its 429s or 503s with neither, a gateway's 502s or 504s, or network failures, or its invalid_client refusal; their tokens failed as unavailable."},
	}
	for _, c := range counters {
		var err error
		if *c.dst, err = meter.Int64ObservableCounter(c.name, metric.WithUnit(c.unit), metric.WithDescription(c.descr)); err != nil {
			return nil, err
		}
	}
	// Levels, counts and sizes held now: their sum over issuers (or
	// caches) means something, the OpenTelemetry guidance for an
	// (asynchronous) UpDownCounter rather than a gauge.
	levels := []struct {
		dst               *metric.Int64ObservableUpDownCounter
		name, unit, descr string
	}{
		{&o.entries, "grpcauth.cache.entry.count", "{entry}", "Entries (tokens) in the verified-token cache."},
		{&o.size, "grpcauth.cache.size", "By", "Accounted size of the verified-token cache, bounded by its MaxBytes."},
		{&o.keys, "grpcauth.jwks.key.count", "{key}", "Usable keys in the current key set; 0 while it is older than the verifier's MaxStaleness."},
		{&o.skippedKeys, "grpcauth.jwks.key.skipped", "{key}", "Entries of the current key set's document that were skipped (unsupported, not for signatures, duplicated, malformed, exposed or ambiguous)."},
		{&o.iEntries, "grpcauth.introspection.cache.entry.count", "{entry}", "Entries in the introspection caches, by cache (positive, negative)."},
		{&o.iSize, "grpcauth.introspection.cache.size", "By", "Accounted size of the positive introspection cache, bounded by its MaxBytes."},
		{&o.iInFlight, "grpcauth.introspection.in_flight", "{request}", "Introspection requests in flight."},
	}
	for _, g := range levels {
		var err error
		if *g.dst, err = meter.Int64ObservableUpDownCounter(g.name, metric.WithUnit(g.unit), metric.WithDescription(g.descr)); err != nil {
			return nil, err
		}
	}
	var err error
	if o.age, err = meter.Float64ObservableGauge("grpcauth.jwks.age", metric.WithUnit("s"),
		metric.WithDescription("Time since the current key set was fetched; absent until the first fetch succeeds.")); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *observed) instruments() []metric.Observable {
	return []metric.Observable{o.hits, o.misses, o.fetches, o.failures, o.entries, o.keys, o.age,
		o.size, o.discoveries, o.urlChanges, o.missFetches, o.missesLimited, o.missWaits, o.skippedKeys, o.unknownIssuerTokens,
		o.malformed, o.iHits, o.iNegHits, o.iMisses, o.iRequests, o.iFailures, o.iInactive, o.iCoalesced, o.iMalformed, o.iRateLimited, o.iEntries, o.iSize, o.iInFlight}
}

// observe reports one key-set verifier's sums (counters and levels), and
// its gauge when st is fresh (read in this collection, not the last good
// Stats of a Source whose Stats failed; see collector): the key set's age
// at now, unless now is zero (Config.Now failed). A level of the last
// good Stats stands in like a counter: it is a sum too, which the SDK
// forgets under delta temporality when its series misses a collection.
func (o *observed) observe(ob metric.Observer, st verifier.Stats, now time.Time, fresh bool) {
	attrs := metric.WithAttributeSet(attribute.NewSet(attrIssuer.String(st.Issuer)))
	ob.ObserveInt64(o.hits, st.CacheHits, attrs)
	ob.ObserveInt64(o.misses, st.CacheMisses, attrs)
	ob.ObserveInt64(o.fetches, st.KeyFetches, attrs)
	ob.ObserveInt64(o.failures, st.KeyFetchFailures, attrs)
	ob.ObserveInt64(o.discoveries, st.Discoveries, attrs)
	ob.ObserveInt64(o.urlChanges, st.JWKSURLChanges, attrs)
	ob.ObserveInt64(o.missFetches, st.KeyMissFetches, attrs)
	ob.ObserveInt64(o.missesLimited, st.KeyMissesLimited, attrs)
	ob.ObserveInt64(o.missWaits, st.KeyMissWaits, attrs)
	ob.ObserveInt64(o.malformed, st.Malformed, attrs)
	ob.ObserveInt64(o.entries, int64(st.CacheEntries), attrs)
	ob.ObserveInt64(o.size, st.CacheBytes, attrs)
	ob.ObserveInt64(o.keys, int64(st.Keys), attrs)
	ob.ObserveInt64(o.skippedKeys, int64(st.SkippedKeys), attrs)
	if fresh && !st.KeysFetched.IsZero() && !now.IsZero() {
		// The larger of the monotonic and the wall-clock age, as the key
		// set judges MaxStaleness: after a suspend of the host only the
		// wall clock has moved on, and the gauge must show the set as
		// stale as the verifier finds it. Not below 0: a Now behind the
		// verifier's clock finds the set just fetched.
		age := max(now.Sub(st.KeysFetched), now.Round(0).Sub(st.KeysFetched.Round(0)), 0)
		ob.ObserveFloat64(o.age, age.Seconds(), attrs)
	}
}

// observeIntrospection reports one introspection verifier's sums: its
// counters and levels (see observe).
func (o *observed) observeIntrospection(ob metric.Observer, st introspect.Stats) {
	iss := attrIssuer.String(st.Issuer)
	attrs := metric.WithAttributeSet(attribute.NewSet(iss))
	ob.ObserveInt64(o.iHits, st.CacheHits, attrs)
	ob.ObserveInt64(o.iNegHits, st.NegativeHits, attrs)
	ob.ObserveInt64(o.iMisses, st.CacheMisses, attrs)
	ob.ObserveInt64(o.iRequests, st.Requests, attrs)
	ob.ObserveInt64(o.iFailures, st.Failures, attrs)
	ob.ObserveInt64(o.iInactive, st.Inactive, attrs)
	ob.ObserveInt64(o.iCoalesced, st.Coalesced, attrs)
	ob.ObserveInt64(o.iMalformed, st.Malformed, attrs)
	ob.ObserveInt64(o.iRateLimited, st.RateLimited, attrs)
	ob.ObserveInt64(o.iInFlight, int64(st.InFlight), attrs)
	ob.ObserveInt64(o.iSize, st.CacheBytes, attrs)
	ob.ObserveInt64(o.iEntries, int64(st.CacheEntries),
		metric.WithAttributeSet(attribute.NewSet(iss, attrCacheType.String("positive"))))
	ob.ObserveInt64(o.iEntries, int64(st.NegativeEntries),
		metric.WithAttributeSet(attribute.NewSet(iss, attrCacheType.String("negative"))))
}
