// Package otelmetrics exports grpcauth's decisions and the verifier's cache
// and key-set figures through the OpenTelemetry metric API
// (go.opentelemetry.io/otel/metric). It is a separate package so that a
// program that does not import it links no OpenTelemetry code, and the
// interceptors run no metric code at all.
//
// Wire it with the MeterProvider of your OpenTelemetry SDK:
//
//	m, err := otelmetrics.New(otelmetrics.Config{
//		MeterProvider: provider,              // an sdk/metric MeterProvider
//		Verifiers:     []otelmetrics.Source{v}, // *verifier.Verifier
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
//	grpcauth.decisions        counter    {call}     method, outcome, reason
//	grpcauth.verify.duration  histogram  s          method, outcome, reason
//	grpcauth.cache.hits       counter    {lookup}   issuer   (observed)
//	grpcauth.cache.misses     counter    {lookup}   issuer   (observed)
//	grpcauth.cache.entries    gauge      {token}    issuer   (observed)
//	grpcauth.jwks.fetches     counter    {request}  issuer   (observed)
//	grpcauth.jwks.failures    counter    {refresh}  issuer   (observed)
//	grpcauth.jwks.keys        gauge      {key}      issuer   (observed)
//	grpcauth.jwks.age         gauge      s          issuer   (observed)
//
// The observed instruments are read from Verifier.Stats in a callback at
// collection time, so they cost nothing per call. OnDecision costs one
// lock-free map lookup, one counter Add and one histogram Record per call.
// For a *verifier.MultiVerifier, list each issuer's Verifier in
// [Config].Verifiers. Attribute values are bounded: methods the server does
// not know are reported as [UnknownMethod].
//
// The repository's docs/observability.md describes each instrument, the
// decision log records and useful queries.
package otelmetrics
