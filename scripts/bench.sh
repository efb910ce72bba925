#!/usr/bin/env bash
# Runs every benchmark of the repository and prints the ratios:
#   - the verifier: cold verification per algorithm beside the bare signature
#     check on the same token (x-baseline column), cached hits beside a map
#     lookup (x-map), rejections beside a cold verification (x-cold, with the
#     JWKS fetches they caused), BenchmarkRatios (each ratio alternated with
#     its baseline in every iteration, the figures docs/verifier.md quotes),
#     the worst-shape rejections (B/token-byte) and the 100,000-token cache
#     flood;
#   - the interceptors: their own overhead per call, unary and stream, beside
#     the same server without them;
#   - bench/: grpcauth against jwx, golang-jwt + keyfunc and go-oidc on the
#     same tokens, JWKS requests under an unknown-kid flood, and end-to-end
#     throughput over loopback gRPC with and without the interceptors.
# Not timed as a whole. bench/'s part (go run . -count 3) took about 3 minutes
# on 2 cores before its unknown-kid table gave each call a 20 ms deadline,
# which adds about 45 s at any setting (docs/benchmarks.md, "How to run").
# Pass -quick for a shorter look.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "-quick" ]]; then
	go test -run='^$' -bench=. -benchmem -benchtime=200ms ./verifier/ .
	(cd bench && go run . -benchtime 100ms -rounds 1 -calls 5000)
else
	go test -run='^$' -bench=. -benchmem -count=3 ./verifier/ .
	(cd bench && go run . -count 3)
fi
