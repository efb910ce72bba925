#!/usr/bin/env bash
# Builds a throw-away user module in a temporary directory, the way
# docs/proto-options.md tells users to, and runs a call through the
# interceptors: its own greeter.v1.GreeterService (proto, Go test and buf
# configuration in internal/usermodule/testdata/greeter) imports
# "grpcauth/v1/auth.proto" and replaces github.com/grpcauth/grpcauth with this
# repository.
#
#   1. buf: the vendored-copy recipe (auth.proto copied under proto/, its Go
#      code excluded, its go_package kept), the copy checked with cmp, code
#      generated, the module's tests run (scoped method OK with the scope,
#      PermissionDenied without, Unauthenticated without a token; public
#      method OK without a token; method without a rule denied and reported
#      by Check; the vendored copy matches the library's, and a drifted
#      copy fails that test, with a vendor directory too).
#   2. protoc: the same with -I "$GRPCAUTH/proto" (GRPCAUTH from go list -m, as the docs say).
#   3. Double registration: auth.proto generated a second time, into the
#      user's package, panics at start-up; with the conflict ignored,
#      grpcauth's Check reports ErrUnreadableOption.
#
# The code generators are the pinned ones (scripts/build-tools.sh). protoc is
# Debian's protobuf-compiler, with libprotobuf-dev for
# google/protobuf/descriptor.proto: installed with apt-get when missing and
# possible; otherwise steps 2 and 3 are skipped, loudly, unless
# GRPCAUTH_REQUIRE_PROTOC is set (as .ci/run sets it), when the script
# fails. Needs only the Go module proxy (and the Debian mirror for protoc).
# CI runs this.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build-tools.sh"
export PATH="$root/.bin:$PATH"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step() { printf '\n--- usermodule: %s\n' "$*"; }
fail() {
	echo "usermodule: $*" >&2
	exit 1
}

# newmodule DIR PATH: a module at DIR named PATH that requires grpcauth,
# replaced by this repository.
newmodule() {
	(cd "$1" && go mod init "$2" >/dev/null 2>&1 &&
		go mod edit -require github.com/grpcauth/grpcauth@v0.0.0 -replace "github.com/grpcauth/grpcauth=$root")
}

mod="$tmp/greeter"
cp -r "$root/internal/usermodule/testdata/greeter" "$mod"
newmodule "$mod" example.com/greeter
cd "$mod"
go mod download github.com/grpcauth/grpcauth
GRPCAUTH=$(go list -mod=readonly -m -f '{{.Dir}}' github.com/grpcauth/grpcauth)

step "buf: vendored auth.proto, generate, test"
mkdir -p proto/grpcauth/v1
install -m 0644 "$GRPCAUTH/proto/grpcauth/v1/auth.proto" proto/grpcauth/v1/auth.proto
cmp "$GRPCAUTH/proto/grpcauth/v1/auth.proto" proto/grpcauth/v1/auth.proto
buf generate
[[ -f gen/greeter/v1/greeter.pb.go && -f gen/greeter/v1/greeter_grpc.pb.go ]] || fail "buf generated no greeter code"
[[ ! -e gen/grpcauth ]] || fail "buf generated Go code for auth.proto; exclude_paths did not apply"
grep -q '"github.com/grpcauth/grpcauth/proto/grpcauth/v1"' gen/greeter/v1/greeter.pb.go ||
	fail "greeter.pb.go does not import github.com/grpcauth/grpcauth/proto/grpcauth/v1"
go mod tidy
go vet ./...
go test -count=1 ./...

# A vendored copy that drifted from the library is caught, also in a module
# with a vendor directory, where go list -m reports no module directory.
drift_caught() {
	if go test -count=1 -run TestVendoredAuthProtoMatchesLibrary . >"$tmp/drift.log" 2>&1; then
		fail "TestVendoredAuthProtoMatchesLibrary passed on a drifted copy $1"
	fi
	grep -q "copy it again" "$tmp/drift.log" || { cat "$tmp/drift.log" >&2; fail "unexpected failure on a drifted copy $1"; }
}
echo "// drifted" >>proto/grpcauth/v1/auth.proto
drift_caught ""
go mod vendor
drift_caught "with a vendor directory"
rm -rf vendor

# protoc_ready: protoc runs and finds google/protobuf/descriptor.proto, which
# auth.proto imports. Debian ships that file in libprotobuf-dev, which
# protobuf-compiler only recommends: where apt installs no recommended
# packages, protoc alone cannot compile auth.proto.
protoc_pkgs=(protobuf-compiler libprotobuf-dev)
protoc_ready() {
	command -v protoc >/dev/null &&
		(cd "$tmp" && protoc --descriptor_set_out=/dev/null google/protobuf/descriptor.proto) >/dev/null 2>&1
}
if ! protoc_ready; then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		step "installing protoc (Debian ${protoc_pkgs[*]})"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq "${protoc_pkgs[@]}" >"$tmp/apt.log" 2>&1 ||
			(apt-get update -qq && apt-get install -y -qq "${protoc_pkgs[@]}") >>"$tmp/apt.log" 2>&1 ||
			tail -5 "$tmp/apt.log" >&2
	fi
fi
if ! protoc_ready; then
	[[ -z "${GRPCAUTH_REQUIRE_PROTOC:-}" ]] ||
		fail "GRPCAUTH_REQUIRE_PROTOC is set but protoc or its google/protobuf/descriptor.proto is missing and apt-get could not install ${protoc_pkgs[*]}"
	step "SKIPPED the protoc and double-registration steps: protoc or its google/protobuf/descriptor.proto is missing and apt-get could not install ${protoc_pkgs[*]}; only the buf recipe was tested"
	exit 0
fi

step "protoc $(protoc --version): -I \$GRPCAUTH/proto, generate, test"
rm -rf gen proto/grpcauth
mkdir gen
protoc -I proto -I "$GRPCAUTH/proto" \
	--go_out=gen --go_opt=paths=source_relative \
	--go-grpc_out=gen --go-grpc_opt=paths=source_relative \
	greeter/v1/greeter.proto
[[ ! -e gen/grpcauth ]] || fail "protoc generated Go code for auth.proto"
go vet ./...
go test -count=1 ./...

step "double registration: auth.proto generated into the user's package"
dup="$tmp/dup"
mkdir -p "$dup/gen"
cp "$root/internal/usermodule/testdata/dup/main.go" "$dup/"
# zz.example sorts after github.com, so the copy initialises after
# grpcauth's own package and its extension types replace grpcauth's when
# the conflict is ignored.
newmodule "$dup" zz.example/dup
m="Mgrpcauth/v1/auth.proto=zz.example/dup/gen/grpcauth/v1;grpcauthv1,Mgreeter/v1/greeter.proto=zz.example/dup/gen/greeter/v1;greeterv1"
protoc -I "$mod/proto" -I "$GRPCAUTH/proto" \
	--go_out="$dup/gen" --go_opt="paths=source_relative,$m" \
	--go-grpc_out="$dup/gen" --go-grpc_opt="paths=source_relative,$m" \
	greeter/v1/greeter.proto grpcauth/v1/auth.proto
cd "$dup"
go mod tidy
go build -o "$tmp/dupbin" .
if GOLANG_PROTOBUF_REGISTRATION_CONFLICT= "$tmp/dupbin" >"$tmp/dup.out" 2>&1; then
	fail "a second copy of auth.proto did not panic at start-up"
fi
# protobuf-go puts a space or a no-break space (chosen by a hash of the
# executable) after "proto:".
grep -Eq 'panic: proto:.{1,2}file "grpcauth/v1/auth.proto" is already registered' "$tmp/dup.out" ||
	{ cat "$tmp/dup.out" >&2; fail "unexpected start-up failure"; }
head -4 "$tmp/dup.out"
GOLANG_PROTOBUF_REGISTRATION_CONFLICT=ignore "$tmp/dupbin" >"$tmp/dup.out" 2>&1 ||
	{ cat "$tmp/dup.out" >&2; fail "with the conflict ignored, the program failed"; }
grep -q '/greeter.v1.GreeterService/SayHello (method option): grpcauth: invalid rule: unreadable option: .*generated a second time' "$tmp/dup.out" ||
	{ cat "$tmp/dup.out" >&2; fail "Check did not report the second copy"; }
grep 'SayHello' "$tmp/dup.out"

step "ok"
