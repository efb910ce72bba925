// Package otelmetrics exports grpcauth's decisions and the verifiers' cache,
// key-set and introspection figures through the OpenTelemetry metric API
// (go.opentelemetry.io/otel/metric). It is a separate package so that a
// program that does not import it links no OpenTelemetry code, and the
// interceptors run no metric code at all.
//
// Wire it with the MeterProvider of your OpenTelemetry SDK:
//
//	m, err := otelmetrics.New(otelmetrics.Config{
//		MeterProvider: provider,              // an sdk/metric MeterProvider
//		Verifiers:     []otelmetrics.Source{v}, // the grpcauth.Config.Verifier
//	})
//	if err != nil { ... }
//	defer m.Close()
//	auth, err := grpcauth.New(grpcauth.Config{
//		Verifier:   v,
//		OnDecision: m.OnDecision,
//	})
//
// Instruments (meter "github.com/grpcauth/grpcauth"):
//
//	grpcauth.decisions            counter        {call}     method, outcome, reason
//	grpcauth.verify.duration      histogram      s          method, outcome, reason
//	grpcauth.cache.hits           counter        {lookup}   issuer   (observed)
//	grpcauth.cache.misses         counter        {lookup}   issuer   (observed)
//	grpcauth.cache.entries        updowncounter  {token}    issuer   (observed)
//	grpcauth.cache.size           updowncounter  By         issuer   (observed)
//	grpcauth.jwks.fetches         counter        {request}  issuer   (observed)
//	grpcauth.jwks.failures        counter        {refresh}  issuer   (observed)
//	grpcauth.jwks.keys            updowncounter  {key}      issuer   (observed)
//	grpcauth.jwks.skipped_keys    updowncounter  {key}      issuer   (observed)
//	grpcauth.jwks.age             gauge          s          issuer   (observed)
//	grpcauth.jwks.discoveries     counter        {request}  issuer   (observed)
//	grpcauth.jwks.url_changes     counter        {change}   issuer   (observed)
//	grpcauth.jwks.miss_fetches    counter        {refresh}  issuer   (observed)
//	grpcauth.jwks.misses_limited  counter        {lookup}   issuer   (observed)
//	grpcauth.jwks.miss_waits      counter        {lookup}   issuer   (observed)
//	grpcauth.malformed_tokens     counter        {token}    issuer   (observed)
//
// and, for an *introspect.Verifier (alone or in an *introspect.Combined):
//
//	grpcauth.introspection.cache.hits           counter        {lookup}    issuer
//	grpcauth.introspection.cache.negative_hits  counter        {lookup}    issuer
//	grpcauth.introspection.cache.misses         counter        {lookup}    issuer
//	grpcauth.introspection.cache.entries        updowncounter  {token}     issuer, cache (positive, negative)
//	grpcauth.introspection.cache.size           updowncounter  By          issuer
//	grpcauth.introspection.requests             counter        {request}   issuer
//	grpcauth.introspection.failures             counter        {request}   issuer
//	grpcauth.introspection.inactive             counter        {response}  issuer
//	grpcauth.introspection.coalesced            counter        {call}      issuer
//	grpcauth.introspection.in_flight            updowncounter  {request}   issuer
//	grpcauth.introspection.malformed            counter        {token}     issuer
//	grpcauth.introspection.rate_limited         counter        {request}   issuer
//
// The levels held now (entries, sizes, keys, requests in flight) are
// up-down counters, the OpenTelemetry kind for a figure whose sum over
// its attributes means something (the entries of every issuer's cache);
// the key set's age, which does not add up, is a gauge.
//
// A *verifier.MultiVerifier reports the cache and key-set instruments once
// per issuer, and
//
//	grpcauth.unknown_issuers  counter  {token}  (none)   (observed)
//
// the tokens it refused because their iss is missing or names no
// configured issuer (no attribute: that iss is the caller's choice; summed
// over the MultiVerifiers observed); the malformed tokens whose iss it
// could not read count in grpcauth.malformed_tokens without an attribute,
// likewise.
// See Source for what each kind of verifier offers, and
// docs/introspection.md for reading the introspection figures.
//
// The observed instruments are read from the verifiers' Stats in a callback at
// collection time, so they cost nothing per call. OnDecision costs one
// lock-free map lookup, one counter Add and one histogram Record per call.
// Give [Config].Verifiers the value given to grpcauth.Config.Verifier:
// a *verifier.Verifier, a *verifier.MultiVerifier, an *introspect.Verifier
// or an *introspect.Combined. Attribute values are bounded: methods the server does
// not know are reported as [UnknownMethod].
//
// The repository's docs/observability.md describes each instrument, the
// decision log records and useful queries.
package otelmetrics
