package browsertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
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

// startTimeout bounds the build and the server's start; both normally take
// seconds. It is a guard, not a measurement.
const startTimeout = 3 * time.Minute

// server is the example server, built and run as a subprocess.
type server struct {
	webURL string // the page, e.g. http://127.0.0.1:41234/
	addr   string // the gRPC address
	pid    int
	stderr *syncBuffer
}

// syncBuffer collects the server's stderr (its log) for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	webLine   = regexp.MustCompile(`^web page on (\S+)$`)
	readyLine = regexp.MustCompile(`^serving on (\S+)$`)
)

// startServer builds ./examples/items/server of the main module into a
// temporary directory and runs it with the development issuer, every
// address on a free loopback port, and env's settings. It returns once the server has printed
// its page URL and its ready line, and stops it (SIGTERM, then wait) when
// the test ends.
func startServer(t *testing.T, env ...string) *server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "server")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/items/server")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin)
	cmd.Env = append(append(cleanEnv(), "ADDR=127.0.0.1:0", "DEV_ISSUER_ADDR=127.0.0.1:0", "WEB_ADDR=127.0.0.1:0"), env...)
	dieWithTest(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{stderr: &syncBuffer{}}
	cmd.Stderr = s.stderr
	// Pdeathsig (dieWithTest) fires when the thread that started the
	// server ends, not the process (go.dev/issue/27505), and Go ends a
	// thread when a goroutine locked to it ends: start the server from a
	// goroutine that keeps its thread until the server exits, as chromedp
	// starts Chromium.
	started := make(chan error, 1)
	exited := make(chan error, 1)
	lines := make(chan string)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	s.pid = cmd.Process.Pid
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		timer := time.NewTimer(startTimeout)
		defer timer.Stop()
		for {
			select {
			case _, ok := <-lines:
				if ok {
					continue
				}
				select {
				case err := <-exited:
					if err != nil {
						t.Errorf("server exit: %v\nlog:\n%s", err, s.stderr)
					}
				case <-timer.C:
					_ = cmd.Process.Kill()
					t.Error("server did not exit after SIGTERM")
				}
				return
			case <-timer.C:
				_ = cmd.Process.Kill()
				t.Error("server did not exit after SIGTERM")
				return
			}
		}
	})

	for s.addr == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("server exited before it was ready\nlog:\n%s", s.stderr)
			}
			if m := webLine.FindStringSubmatch(line); m != nil {
				s.webURL = m[1]
			}
			if m := readyLine.FindStringSubmatch(line); m != nil {
				s.addr = m[1]
			}
		case <-ctx.Done():
			t.Fatalf("server not ready within %v\nlog:\n%s", startTimeout, s.stderr)
		}
	}
	if s.webURL == "" {
		t.Fatalf("server did not print its web page URL\nlog:\n%s", s.stderr)
	}
	// Keep draining stdout so the server never blocks on a full pipe.
	go func() {
		for range lines {
		}
	}()
	return s
}

// cleanEnv is this process's environment without the example's settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "ISSUER", "AUDIENCE", "JWKS_URI", "ADDR", "DEV_ISSUER_ADDR", "DEV_DPOP_NONCES", "WEB_ADDR", "METRICS_ADDR",
			"SCOPE_CLAIMS", "CLIENT_IDS", "SKIP_AUDIENCE_CHECK", "REQUIRE_CLAIMS", "REQUIRE_ACCESS_TOKEN_PROFILE":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (s *server) String() string { return fmt.Sprintf("server at %s, page %s", s.addr, s.webURL) }

// A setting exported in the developer's shell must not reach the server
// the tests start: every getenv("NAME") of ../server is dropped.
func TestCleanEnv_DropsEverySettingTheServerReads(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "server", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`[gG]etenv\("([A-Z_]+)"\)`).FindAllSubmatch(src, -1) {
			names = append(names, string(m[1]))
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only the settings %v in ../server", names)
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
