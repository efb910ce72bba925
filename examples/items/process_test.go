package items_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
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

// binaries builds the server and client binaries (buildBinaries) into a
// directory kept between runs, under the user's cache directory and named
// after this package's directory and the race setting, so that go build
// finds them up to date and relinks nothing when no source changed. A lock
// file keeps two test processes of one checkout from building while the
// other runs the binaries: the build holds it exclusively, the run shared,
// until release. Where the kept directory or its lock cannot be had (file
// locks need flock(2), which not every system has: lockFile), it builds
// into a temporary directory, which release removes.
func binaries() (dir string, release func(), err error) {
	if dir, release, ok := keptBinaries(); ok {
		return dir, release, nil
	}
	tmp, err := os.MkdirTemp("", "items-e2e-")
	if err != nil {
		return "", nil, err
	}
	if err := buildBinaries(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", nil, err
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// keptBinaries is binaries with the kept directory; ok is false when it
// cannot be used, or the build there failed (binaries then tries again in a
// temporary directory, and reports that build's error).
func keptBinaries() (dir string, release func(), ok bool) {
	wd, err := os.Getwd()
	if err != nil {
		return "", nil, false
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", nil, false
	}
	sum := sha256.Sum256([]byte(wd))
	dir = filepath.Join(cache, "grpcauth-items-e2e", fmt.Sprintf("%x-race=%v", sum[:8], raceEnabled))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, false
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", nil, false
	}
	if lockFile(lock, true) != nil || buildBinaries(dir) != nil || lockFile(lock, false) != nil {
		lock.Close()
		return "", nil, false
	}
	return dir, func() { lock.Close() }, true
}

// buildBinaries compiles ./server and ./client into dir, in one go
// command, with the race detector when this test binary has it: then every
// package they import is already compiled, for this test binary, with the
// same flags, so at most the two links are left to do; and the server and
// client run under the race detector too (a race report makes them exit
// with status 66, which fails the test).
func buildBinaries(dir string) error {
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./server", "./client")
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
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
	grew  chan struct{} // closed (and replaced) by each Write; nil until waitFor
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.grew != nil {
		close(b.grew)
		b.grew = nil
	}
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

// waitFor returns the buffer's contents once they hold s, or what they
// hold when exited closes or readyTimeout passes. The server writes stdout
// and stderr through two pipes, each copied by its own goroutine, so a
// line it wrote to stderr before its ready line on stdout may reach its
// buffer after the ready line reached the other.
func (b *lockedBuffer) waitFor(s string, exited <-chan struct{}) string {
	timeout := time.NewTimer(readyTimeout)
	defer timeout.Stop()
	for {
		b.mu.Lock()
		got := b.buf.String()
		if strings.Contains(got, s) {
			b.mu.Unlock()
			return got
		}
		if b.grew == nil {
			b.grew = make(chan struct{})
		}
		grew := b.grew
		b.mu.Unlock()
		select {
		case <-grew:
		case <-exited:
			return b.String()
		case <-timeout.C:
			return b.String()
		}
	}
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
// environment, minus the server's own settings, and WEB_ADDR=127.0.0.1:0)
// and waits for its ready line. The server is stopped at the end of the
// test.
func startServer(t *testing.T, env ...string) *serverProc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "server"))
	// The web page on a random port too, unless env says otherwise (a
	// later entry wins): its default, 127.0.0.1:8080, is a developer's
	// running server's.
	cmd.Env = append(append(cleanEnv(), "WEB_ADDR=127.0.0.1:0"), env...)
	dieWithTest(cmd)
	p := &serverProc{
		cmd:    cmd,
		stdout: &lockedBuffer{ready: make(chan string, 1)},
		stderr: &lockedBuffer{},
		exited: make(chan struct{}),
	}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	// Pdeathsig (dieWithTest) fires when the thread that started the
	// server ends, not the process (go.dev/issue/27505), and Go ends a
	// thread when a goroutine locked to it ends: start the server from a
	// goroutine that keeps its thread until the server exits, as chromedp
	// starts Chromium.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		t.Fatalf("start server: %v", err)
	}
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
		case "ISSUER", "AUDIENCE", "JWKS_URI", "ADDR", "DEV_ISSUER_ADDR", "DEV_DPOP_NONCES",
			"CLIENT_ID", "CLIENT_SECRET", "SCOPES", "TOKEN_URL", "SCOPE_CLAIMS",
			"CLIENT_IDS", "SKIP_AUDIENCE_CHECK", "REQUIRE_CLAIMS", "REQUIRE_ACCESS_TOKEN_PROFILE",
			"METRICS_ADDR", "WEB_ADDR", "RESOURCE", "AUTH_METHOD", "TOKEN_TYPE":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// getenvCall is how the server and client read a setting.
var getenvCall = regexp.MustCompile(`[gG]etenv\("([A-Z_]+)"\)`)

// A setting exported in the developer's shell (WEB_ADDR, say, as the
// README suggests) must not reach the binaries the tests start: parallel
// servers on one fixed address would fail, and other settings change what
// the tests check.
func TestCleanEnv_DropsEverySettingTheBinariesRead(t *testing.T) {
	var names []string
	for _, dir := range []string{"server", "client"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range getenvCall.FindAllSubmatch(src, -1) {
				names = append(names, string(m[1]))
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only the settings %v; is getenvCall out of date?", names)
	}
	for _, n := range names {
		t.Setenv(n, "from-the-shell")
	}
	for _, kv := range cleanEnv() {
		if name, _, _ := strings.Cut(kv, "="); slices.Contains(names, name) {
			t.Errorf("cleanEnv keeps %s", kv)
		}
	}
}
