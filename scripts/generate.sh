#!/usr/bin/env bash
# Regenerates every *.pb.go of the repository from its .proto files.
#
#   scripts/generate.sh          lint, then regenerate in place
#   scripts/generate.sh --check  regenerate, then fail if the committed code
#                                was stale (what CI runs; see
#                                scripts/check-generated.sh)
#
# The code generators are pinned Go tools that scripts/build-tools.sh builds
# into ./.bin, which comes first on PATH. Nothing is fetched but Go modules:
# no remote plugins, no Buf Schema Registry (google/protobuf/*.proto ship
# inside buf).
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

"$root/scripts/build-tools.sh"
export PATH="$root/.bin:$PATH"

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
	# A committed .pb.go outside the modules is never regenerated, so
	# never checked: its .proto belongs in buf.yaml.
	outside=$(git ls-files -- '*.pb.go' "${modules[@]/#/:(exclude)}")
	if [[ -n "$outside" ]]; then
		echo "generate: committed outside the modules of buf.yaml, so never checked:" >&2
		echo "$outside" >&2
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
