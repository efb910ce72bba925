package tokencreds_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestVet_CopyIsReported: go vet (its copylocks check, which go vet runs
// by default) reports a copy of a Credentials or a DPoPTransport, c2 :=
// *c, and a parameter taking one by value, in testdata/vetcopy. A copy
// shares the original's state, the state being behind a pointer: it is a
// second name for the same client, never a second client, so vet
// reports it as it reports a copy of a sync.WaitGroup. Before, with no
// lock held by value in either type, vet said nothing.
func TestVet_CopyIsReported(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet")
	}
	out, err := exec.Command("go", "vet", "-copylocks", "./testdata/vetcopy").CombinedOutput()
	if exit := (*exec.ExitError)(nil); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("go vet -copylocks ./testdata/vetcopy: %v, want exit status 1 (its reports)\n%s", err, out)
	}
	const pkg = "github.com/grpcauth/grpcauth/tokencreds."
	want := []string{
		"testdata/vetcopy/copy.go:9:8: assignment copies lock value to c2: " + pkg + "Credentials contains " + pkg + "noCopy",
		"testdata/vetcopy/copy.go:10:8: assignment copies lock value to t2: " + pkg + "DPoPTransport contains " + pkg + "noCopy",
		"testdata/vetcopy/copy.go:15:16: ByValue passes lock by value: " + pkg + "Credentials contains " + pkg + "noCopy",
	}
	var got []string
	for line := range strings.Lines(string(out)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			got = append(got, line)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("go vet -copylocks ./testdata/vetcopy reported\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
