package items_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the server and client binaries TestMain builds.
var binDir string

// Timeouts of the end-to-end tests. They bound waits that normally end in
// milliseconds; none is a measurement.
const (
	readyTimeout = time.Minute      // server start, including a slow CI machine
	exitTimeout  = 15 * time.Second // process exit after SIGTERM
	callTimeout  = 10 * time.Second // one RPC or token request
)

// buildBinaries compiles ./server and ./client into dir.
func buildBinaries(dir string) error {
	for _, pkg := range []string{"./server", "./client"} {
		out, err := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), pkg).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	}
	return nil
}

// readyLine is what the server prints once it accepts calls.
var readyLine = regexp.MustCompile(`(?m)^serving on (\S+)$`)

// lockedBuffer is an output buffer the exec package's copying goroutine
// writes while the test reads it. It reports the server's ready line on
// ready, once.
type lockedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan string // nil: do not look for the ready line
	found bool
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.ready != nil && !b.found {
		if m := readyLine.FindStringSubmatch(b.buf.String()); m != nil {
			b.found = true
			b.ready <- m[1] // buffered for this one send
		}
	}
	return n, err
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serverProc is a running server binary.
type serverProc struct {
	addr   string
	cmd    *exec.Cmd
	stdout *lockedBuffer
	stderr *lockedBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, set before exited closes
}

// startServer runs the server binary with env (on top of this process's
// environment, minus the server's own settings) and waits for its ready
// line. The server is stopped at the end of the test.
func startServer(t *testing.T, env ...string) *serverProc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "server"))
	cmd.Env = append(cleanEnv(), env...)
	p := &serverProc{
		cmd:    cmd,
		stdout: &lockedBuffer{ready: make(chan string, 1)},
		stderr: &lockedBuffer{},
		exited: make(chan struct{}),
	}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("server: %v\nstdout:\n%s\nstderr:\n%s", err, p.stdout, p.stderr)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	select {
	case p.addr = <-p.stdout.ready:
		return p
	case <-p.exited:
		t.Fatalf("server exited before it was ready: %v\nstdout:\n%s\nstderr:\n%s", p.err, p.stdout, p.stderr)
	case <-ctx.Done():
		t.Fatalf("server not ready after %v\nstdout:\n%s\nstderr:\n%s", readyTimeout, p.stdout, p.stderr)
	}
	return nil
}

// stop sends SIGTERM and waits for the process to exit, killing it if it
// does not exit in time. It returns an error unless the process exited
// cleanly (status 0) on SIGTERM. It may be called more than once.
func (p *serverProc) stop() error {
	select {
	case <-p.exited:
		return p.err
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	timer := time.NewTimer(exitTimeout)
	defer timer.Stop()
	select {
	case <-p.exited:
		return p.err
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("did not exit within %v of SIGTERM; killed", exitTimeout)
	}
}

// runClient runs the client binary with env and returns its standard
// output; it fails the test if the client exits with an error.
func runClient(t *testing.T, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "client"))
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("client: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// cleanEnv is this process's environment without the example's settings,
// so a developer's ISSUER or CLIENT_SECRET cannot leak into a test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "ISSUER", "AUDIENCE", "JWKS_URI", "ADDR", "DEV_ISSUER_ADDR",
			"CLIENT_ID", "CLIENT_SECRET", "SCOPES", "TOKEN_URL", "SCOPE_CLAIMS",
			"CLIENT_IDS", "SKIP_AUDIENCE_CHECK", "REQUIRE_CLAIMS":
			continue
		}
		env = append(env, kv)
	}
	return env
}
