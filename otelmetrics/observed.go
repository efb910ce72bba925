package otelmetrics

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/grpcauth/grpcauth/verifier"
)

// observed are the instruments read from Verifier.Stats at collection time.
type observed struct {
	hits, misses, fetches, failures metric.Int64ObservableCounter
	entries, keys                   metric.Int64ObservableGauge
	age                             metric.Float64ObservableGauge
}

func newObserved(meter metric.Meter) (*observed, error) {
	o := &observed{}
	counters := []struct {
		dst               *metric.Int64ObservableCounter
		name, unit, descr string
	}{
		{&o.hits, "grpcauth.cache.hits", "{lookup}", "Access-token verifications answered from the verified-token cache."},
		{&o.misses, "grpcauth.cache.misses", "{lookup}", "Access-token verifications that found no usable cache entry and ran in full."},
		{&o.fetches, "grpcauth.jwks.fetches", "{request}", "HTTP requests for the issuer's JWKS document."},
		{&o.failures, "grpcauth.jwks.failures", "{refresh}", "Key-set refreshes that failed."},
	}
	for _, c := range counters {
		var err error
		if *c.dst, err = meter.Int64ObservableCounter(c.name, metric.WithUnit(c.unit), metric.WithDescription(c.descr)); err != nil {
			return nil, err
		}
	}
	var err error
	if o.entries, err = meter.Int64ObservableGauge("grpcauth.cache.entries", metric.WithUnit("{token}"),
		metric.WithDescription("Tokens in the verified-token cache.")); err != nil {
		return nil, err
	}
	if o.keys, err = meter.Int64ObservableGauge("grpcauth.jwks.keys", metric.WithUnit("{key}"),
		metric.WithDescription("Usable keys in the current key set.")); err != nil {
		return nil, err
	}
	if o.age, err = meter.Float64ObservableGauge("grpcauth.jwks.age", metric.WithUnit("s"),
		metric.WithDescription("Time since the current key set was fetched; absent until the first fetch succeeds.")); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *observed) instruments() []metric.Observable {
	return []metric.Observable{o.hits, o.misses, o.fetches, o.failures, o.entries, o.keys, o.age}
}

// observe reports one verifier's figures.
func (o *observed) observe(ob metric.Observer, st verifier.Stats, now time.Time) {
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("issuer", st.Issuer)))
	ob.ObserveInt64(o.hits, st.CacheHits, attrs)
	ob.ObserveInt64(o.misses, st.CacheMisses, attrs)
	ob.ObserveInt64(o.entries, int64(st.CacheEntries), attrs)
	ob.ObserveInt64(o.fetches, st.KeyFetches, attrs)
	ob.ObserveInt64(o.failures, st.KeyFetchFailures, attrs)
	ob.ObserveInt64(o.keys, int64(st.Keys), attrs)
	if !st.KeysFetched.IsZero() {
		ob.ObserveFloat64(o.age, now.Sub(st.KeysFetched).Seconds(), attrs)
	}
}
