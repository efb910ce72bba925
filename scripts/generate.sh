#!/usr/bin/env bash
# Regenerates every *.pb.go of the repository from its .proto files.
#
#   scripts/generate.sh          lint, then regenerate in place
#   scripts/generate.sh --check  regenerate, then fail if the committed code
#                                was stale (what CI runs; see
#                                scripts/check-generated.sh)
#
# The code generators are pinned Go tools, built from tools/go.mod
# (protoc-gen-go, protoc-gen-go-grpc) and tools/buf/go.mod (buf) into ./.bin,
# which comes first on PATH. buf gets a module of its own because it depends
# on a newer google.golang.org/protobuf than the runtime version the
# library pins, and protoc-gen-go must be exactly that runtime version.
# Nothing is fetched but Go modules: no remote plugins, no Buf Schema
# Registry (google/protobuf/*.proto ship inside buf).
#
# Each module of buf.yaml is generated on its own (`buf generate <module>
# -o <module>`) so that, with paths=source_relative, every .pb.go lands next
# to its .proto.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

check=false
case "${1:-}" in
"") ;;
--check) check=true ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

bin="$root/.bin"
mkdir -p "$bin"
(cd tools && go build -o "$bin/" google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc)
(cd tools/buf && go build -o "$bin/" github.com/bufbuild/buf/cmd/buf)
export PATH="$bin:$PATH"

# protoc-gen-go must be the runtime version the library builds against:
# generated code checks the runtime at init, and a mismatch is a bug waiting
# for the next upgrade.
runtime=$(go list -m -f '{{.Version}}' google.golang.org/protobuf 2>/dev/null || true)
generator=$(cd tools && go list -m -f '{{.Version}}' google.golang.org/protobuf)
if [[ -n "$runtime" && "$runtime" != "$generator" ]]; then
	echo "generate: go.mod has google.golang.org/protobuf $runtime but tools/go.mod pins protoc-gen-go $generator; make them equal" >&2
	exit 1
fi

# The modules, in buf.yaml's order ("  - path: DIR" lines).
mapfile -t modules < <(sed -n 's/^  - path: *//p' buf.yaml)
if [[ ${#modules[@]} -eq 0 ]]; then
	echo "generate: no modules found in buf.yaml" >&2
	exit 1
fi

buf lint

for m in "${modules[@]}"; do
	if [[ -z "$(find "$m" -name '*.proto' -print -quit 2>/dev/null)" ]]; then
		echo "generate: skipping $m (no .proto files yet)" >&2
		continue
	fi
	# Remove what an earlier run generated, so a deleted .proto leaves no
	# stale .pb.go behind.
	find "$m" -name '*.pb.go' -delete
	buf generate "$m" --template buf.gen.yaml -o "$m"
done

if $check; then
	stale=false
	pbgo=()
	for m in "${modules[@]}"; do
		pbgo+=(":(glob)$m/**/*.pb.go")
	done
	if ! git diff --exit-code --stat -- "${pbgo[@]}"; then
		stale=true
	fi
	untracked=$(git ls-files --others --exclude-standard -- "${pbgo[@]}")
	if [[ -n "$untracked" ]]; then
		echo "generate: generated but not committed:" >&2
		echo "$untracked" >&2
		stale=true
	fi
	if $stale; then
		echo "generate: committed generated code is stale; run scripts/generate.sh and commit the result" >&2
		exit 1
	fi
	echo "generate: generated code is up to date"
fi
