//go:build linux

package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dieWithTest makes the kernel kill cmd's process when this test binary
// exits, however it exits: t.Cleanup does not run after a go test -timeout
// panic or a signal, and the server would otherwise keep running.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// orphanEnv, set, makes TestStartServer_ServerDiesWithTheTestBinary start
// a server and exit at once, as a timed-out test binary does.
const orphanEnv = "BROWSERTEST_ORPHAN"

var orphanPID = regexp.MustCompile(`(?m)^server pid (\d+)$`)

func TestStartServer_ServerDiesWithTheTestBinary(t *testing.T) {
	if os.Getenv(orphanEnv) != "" {
		srv := startServer(t)
		fmt.Printf("server pid %d\n", srv.pid)
		os.Exit(3) // no cleanup runs, as after a -timeout panic
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStartServer_ServerDiesWithTheTestBinary$", "-test.count=1")
	cmd.Env = append(os.Environ(), orphanEnv+"=1")
	out, _ := cmd.Output() // exits 3
	m := orphanPID.FindSubmatch(out)
	if m == nil {
		t.Fatalf("the helper printed no server pid:\n%s", out)
	}
	pid, _ := strconv.Atoi(string(m[1]))
	// The server is no child of ours, so there is nothing to wait on:
	// poll until it is gone (or a zombie nobody reaps).
	const exitTimeout = 15 * time.Second
	deadline := time.Now().Add(exitTimeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("server %d still runs %v after its test binary exited", pid, exitTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ") // after "pid (comm) "
	return !strings.HasPrefix(rest, "Z")
}
