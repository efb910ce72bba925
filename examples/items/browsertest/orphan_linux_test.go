//go:build linux

package browsertest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dieWithTest makes the kernel kill cmd's process when this test binary
// exits, however it exits: t.Cleanup does not run after a go test -timeout
// panic or a signal, and the server would otherwise keep running. The
// kernel does so when the thread that started cmd ends: startServer starts
// it from a goroutine locked to its thread until cmd exits.
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
	// The helper's os.Exit skips the cleanup of its t.TempDir, which holds
	// the server it built: make that directory one inside ours.
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), orphanEnv+"=1", "TMPDIR="+tmp)
	out, _ := cmd.Output() // exits 3
	if left, _ := os.ReadDir(tmp); len(left) == 0 {
		t.Errorf("the helper built its server outside TMPDIR %s: it stays behind", tmp)
	}
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

// Pdeathsig fires when the thread that started the child ends, not the
// process (go.dev/issue/27505), and Go ends a thread when a goroutine
// locked to it ends without unlocking. A server started from such a
// goroutine must outlive it.
func TestStartServer_ServerOutlivesTheThreadThatStartedIt(t *testing.T) {
	var srv *server
	tid := onEndingThread(func() { srv = startServer(t) })
	if srv == nil {
		t.Fatal("the server did not start")
	}
	// Once the thread is gone from /proc, the kernel has sent the
	// Pdeathsig of the children it started (exit_notify before release).
	task := fmt.Sprintf("/proc/self/task/%d", tid)
	const exitTimeout = 15 * time.Second
	deadline := time.Now().Add(exitTimeout)
	for {
		if _, err := os.Stat(task); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %s still runs %v after its locked goroutine ended", task, exitTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := (&http.Client{Timeout: exitTimeout}).Get(srv.webURL)
	if err != nil {
		t.Fatalf("the page after the thread that started the server ended: %v", err)
	}
	resp.Body.Close()
}

// onEndingThread runs f in a goroutine locked to an OS thread that ends
// with it, and returns that thread's id once f has returned. Go keeps the
// main thread when its locked goroutine ends: a goroutine that lands there
// holds it and runs f from another.
func onEndingThread(f func()) (tid int) {
	tids := make(chan int, 1)
	go func() {
		runtime.LockOSThread() // no unlock: the thread ends with the goroutine
		if syscall.Gettid() == os.Getpid() {
			defer runtime.UnlockOSThread()
			tids <- onEndingThread(f)
			return
		}
		defer func() { tids <- syscall.Gettid() }() // f may t.Fatal
		f()
	}()
	return <-tids
}
