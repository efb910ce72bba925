package greeter

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVendoredAuthProtoMatchesLibrary fails when the vendored
// proto/grpcauth/v1/auth.proto, which buf compiles, differs from the one in
// the github.com/grpcauth/grpcauth version that go.mod selects, whose
// generated Go code the program links. Copy this test into a module that
// vendors auth.proto (docs/proto-options.md).
func TestVendoredAuthProtoMatchesLibrary(t *testing.T) {
	const vendored = "proto/grpcauth/v1/auth.proto"
	got, err := os.ReadFile(vendored)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("no vendored auth.proto: protoc reads the module's own copy")
	}
	if err != nil {
		t.Fatal(err)
	}
	// -mod=readonly: with a vendor directory, go list -m would report no
	// directory.
	out, err := exec.Command("go", "list", "-mod=readonly", "-m", "-f", "{{.Dir}}", "github.com/grpcauth/grpcauth").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		// Joined with "", the path would be the vendored copy itself.
		t.Fatal("github.com/grpcauth/grpcauth is not in the module cache: run go mod download github.com/grpcauth/grpcauth")
	}
	lib := filepath.Join(dir, "proto", "grpcauth", "v1", "auth.proto")
	want, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from %s: copy it again (install -m 0644 %s %s)", vendored, lib, lib, vendored)
	}
}
