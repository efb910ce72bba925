// Package loadtest holds grpcauth's load and soak test: an in-process gRPC
// server for the example's items.v1.ItemService behind the grpcauth
// interceptors, on a real loopback TCP port, driven by many concurrent
// callers whose tokens (valid with various scopes, expired, forged, for
// another audience, garbage) each deserve a known status code, while the
// issuer rotates and retires its signing keys underneath. Every decision is
// checked, and goroutines, heap and JWKS requests are measured.
//
// The package has no API; it is its test. The short configuration runs with
// the other tests (a few seconds):
//
//	go test -race -count=1 ./internal/loadtest/
//
// The soak runs longer, with flags (see docs/soak.md):
//
//	go test -count=1 -v -timeout=30m -run=TestLoad ./internal/loadtest/ \
//		-soak.duration=10m -soak.callers=64
package loadtest
