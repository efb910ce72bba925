#!/usr/bin/env bash
# Builds the pinned code generators into ./.bin: protoc-gen-go and
# protoc-gen-go-grpc from tools/go.mod, buf from tools/buf/go.mod. buf gets
# a module of its own because it depends on a newer google.golang.org/protobuf
# than the runtime version the library pins, and protoc-gen-go must be
# exactly that runtime version (checked here). Nothing is fetched but Go
# modules. Used by scripts/generate.sh and scripts/usermodule-test.sh; put
# ./.bin first on PATH to use the tools.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bin="$root/.bin"
mkdir -p "$bin"
(cd tools && go build -o "$bin/" google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc)
(cd tools/buf && go build -o "$bin/" github.com/bufbuild/buf/cmd/buf)

# protoc-gen-go must be the runtime version the library builds against:
# generated code checks the runtime at init, and a mismatch is a bug waiting
# for the next upgrade.
# A failing go list stops the script (set -e): it must not skip the check.
runtime=$(go list -m -f '{{.Version}}' google.golang.org/protobuf)
generator=$(cd tools && go list -m -f '{{.Version}}' google.golang.org/protobuf)
if [[ "$runtime" != "$generator" ]]; then
	echo "build-tools: go.mod has google.golang.org/protobuf $runtime but tools/go.mod pins protoc-gen-go $generator; make them equal" >&2
	exit 1
fi
