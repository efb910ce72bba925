package grpcauth

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// panicnilChild is set in the environment of the child process a test
// runs itself in with GODEBUG=panicnil=1 (UnderPanicnil).
const panicnilChild = "GRPCAUTH_TEST_PANICNIL_CHILD"

// UnderPanicnil (exported for the external test package) reports whether t runs in its child process with
// GODEBUG=panicnil=1 (read only at start), where recover sees no value
// for panic(nil): in the parent it runs t's test in such a child, fails t
// unless the child passed, and returns false; in the child it checks the
// setting took effect and returns true, and the test goes on.
func UnderPanicnil(t *testing.T) bool {
	t.Helper()
	if os.Getenv(panicnilChild) == "" {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), panicnilChild+"=1", "GODEBUG="+strings.TrimPrefix(os.Getenv("GODEBUG")+",panicnil=1", ","))
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
			t.Fatalf("child with GODEBUG=panicnil=1: %v\n%s", err, out)
		}
		return false
	}
	if v := func() (v any) { defer func() { v = recover() }(); panic(nil) }(); v != nil {
		t.Fatalf("recover() = %v under GODEBUG=%s; want nil", v, os.Getenv("GODEBUG"))
	}
	return true
}
