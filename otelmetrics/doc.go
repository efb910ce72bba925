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
//	grpcauth.decisions            counter        {call}     grpcauth.method, grpcauth.outcome, grpcauth.reason
//	grpcauth.verify.duration      histogram      s          grpcauth.method, grpcauth.outcome, grpcauth.reason
//	grpcauth.cache.hits           counter        {lookup}   grpcauth.issuer   (observed)
//	grpcauth.cache.misses         counter        {lookup}   grpcauth.issuer   (observed)
//	grpcauth.cache.entry.count    updowncounter  {entry}    grpcauth.issuer   (observed)
//	grpcauth.cache.size           updowncounter  By         grpcauth.issuer   (observed)
//	grpcauth.jwks.fetches         counter        {request}  grpcauth.issuer   (observed)
//	grpcauth.jwks.failures        counter        {refresh}  grpcauth.issuer   (observed)
//	grpcauth.jwks.key.count       updowncounter  {key}      grpcauth.issuer   (observed)
//	grpcauth.jwks.key.skipped     updowncounter  {key}      grpcauth.issuer   (observed)
//	grpcauth.jwks.age             gauge          s          grpcauth.issuer   (observed)
//	grpcauth.jwks.discoveries     counter        {request}  grpcauth.issuer   (observed)
//	grpcauth.jwks.url_changes     counter        {change}   grpcauth.issuer   (observed)
//	grpcauth.jwks.miss_fetches    counter        {refresh}  grpcauth.issuer   (observed)
//	grpcauth.jwks.misses_limited  counter        {lookup}   grpcauth.issuer   (observed)
//	grpcauth.jwks.miss_waits      counter        {lookup}   grpcauth.issuer   (observed)
//	grpcauth.malformed_tokens     counter        {token}    grpcauth.issuer   (observed)
//
// and, for an *introspect.Verifier (alone or in an *introspect.Combined):
//
//	grpcauth.introspection.cache.hits           counter        {lookup}    grpcauth.issuer
//	grpcauth.introspection.cache.negative_hits  counter        {lookup}    grpcauth.issuer
//	grpcauth.introspection.cache.misses         counter        {lookup}    grpcauth.issuer
//	grpcauth.introspection.cache.entry.count    updowncounter  {entry}     grpcauth.issuer, grpcauth.introspection.cache.type (positive, negative)
//	grpcauth.introspection.cache.size           updowncounter  By          grpcauth.issuer
//	grpcauth.introspection.requests             counter        {request}   grpcauth.issuer
//	grpcauth.introspection.failures             counter        {request}   grpcauth.issuer
//	grpcauth.introspection.inactive             counter        {response}  grpcauth.issuer
//	grpcauth.introspection.coalesced            counter        {call}      grpcauth.issuer
//	grpcauth.introspection.in_flight            updowncounter  {request}   grpcauth.issuer
//	grpcauth.introspection.malformed            counter        {token}     grpcauth.issuer
//	grpcauth.introspection.rate_limited         counter        {request}   grpcauth.issuer
//
// Attribute keys are in the grpcauth namespace, as OpenTelemetry's naming
// guidance asks of a library's own attributes (Prometheus shows them as
// grpcauth_method, grpcauth_issuer, …); they were method, outcome,
// reason, issuer and cache before.
//
// The levels held now (entries, sizes, keys, requests in flight) are
// up-down counters, the OpenTelemetry kind for a figure whose sum over
// its attributes means something (the entries of every issuer's cache);
// the key set's age, which does not add up, is a gauge. The up-down
// counters' names are singular (grpcauth.cache.entry.count, not
// grpcauth.cache.entries), as OpenTelemetry's naming guidance asks of an
// up-down counter; they were grpcauth.cache.entries, grpcauth.jwks.keys,
// grpcauth.jwks.skipped_keys and grpcauth.introspection.cache.entries
// before.
//
// A *verifier.MultiVerifier reports the cache and key-set instruments once
// per issuer, and
//
//	grpcauth.unknown_issuer_tokens  counter  {token}  (none)   (observed)
//
// the tokens it refused because their iss is missing or names no
// configured issuer (no attribute: that iss is the caller's choice; summed
// over the MultiVerifiers observed); the malformed tokens whose iss it
// could not read count in grpcauth.malformed_tokens without an attribute,
// likewise. It was grpcauth.unknown_issuers before, a name that read as a
// count of issuers.
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
