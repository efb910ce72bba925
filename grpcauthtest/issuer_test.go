package grpcauthtest_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStart_RefusesNonLoopbackAddr(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:0", "example.com:0"} {
		t.Run(addr, func(t *testing.T) {
			iss, err := grpcauthtest.Start(grpcauthtest.Config{Addr: addr})
			if !errors.Is(err, grpcauthtest.ErrNonLoopback) {
				if iss != nil {
					iss.Close()
				}
				t.Fatalf("Start(%q) error %v, want ErrNonLoopback", addr, err)
			}
		})
	}
}

// The opt-in that exposes the issuer beyond the machine says so at start,
// once; a loopback issuer logs nothing, even with the opt-in set.
func TestStart_InsecureAllowNonLoopbackWarnsWhenItExposesTheIssuer(t *testing.T) {
	for _, tc := range []struct {
		addr      string
		wantLines int
	}{{"0.0.0.0:0", 1}, {"127.0.0.1:0", 0}} {
		t.Run(tc.addr, func(t *testing.T) {
			var buf bytes.Buffer
			iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{
				Addr:                     tc.addr,
				InsecureAllowNonLoopback: true,
				Logger:                   slog.New(slog.NewTextHandler(&buf, nil)),
			})
			iss.Close()
			out := buf.String()
			if got := strings.Count(out, "\n"); got != tc.wantLines {
				t.Fatalf("%d log lines, want %d: %q", got, tc.wantLines, out)
			}
			if tc.wantLines > 0 && (!strings.Contains(out, "level=WARN") || !strings.Contains(out, "InsecureAllowNonLoopback")) {
				t.Errorf("log %q: want a WARN naming InsecureAllowNonLoopback", out)
			}
		})
	}
}

func TestStart_AcceptsLoopbackAddrs(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		t.Run(addr, func(t *testing.T) {
			iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Addr: addr})
			if _, body := get(t, iss.JWKSURL()); !strings.Contains(string(body), iss.KeyID()) {
				t.Fatalf("JWKS %s lacks the signing kid", body)
			}
			// Config.Addr's promise: URL names the IP listened on, never
			// the host name Addr gave.
			if u, err := url.Parse(iss.URL()); err != nil || net.ParseIP(u.Hostname()) == nil {
				t.Errorf("URL() = %q, want an IP address for its host", iss.URL())
			}
		})
	}
}

func TestStart_RejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  grpcauthtest.Config
	}{
		{"unknown algorithm", grpcauthtest.Config{Algorithm: "HS256"}},
		{"none algorithm", grpcauthtest.Config{Algorithm: "none"}},
		{"unknown shape", grpcauthtest.Config{Shape: grpcauthtest.Shape(7)}},
		{"path without slash", grpcauthtest.Config{Path: "oauth2"}},
		{"path with trailing slash", grpcauthtest.Config{Path: "/oauth2/"}},
		{"path with pattern characters", grpcauthtest.Config{Path: "/{x}"}},
		{"path with dot segment", grpcauthtest.Config{Path: "/a/../b"}},
		{"negative lifetime", grpcauthtest.Config{TokenLifetime: -1}},
		{"client without ID", grpcauthtest.Config{Clients: []grpcauthtest.Client{{Secret: "s"}}}},
		{"client without secret", grpcauthtest.Config{Clients: []grpcauthtest.Client{{ID: "a"}}}},
		{"duplicate client", grpcauthtest.Config{Clients: []grpcauthtest.Client{{ID: "a", Secret: "s"}, {ID: "a", Secret: "t"}}}},
		{"scope with a space", grpcauthtest.Config{Clients: []grpcauthtest.Client{{ID: "a", Secret: "s", Scopes: []string{"a b"}}}}},
		{"bad addr", grpcauthtest.Config{Addr: "127.0.0.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := grpcauthtest.Start(tc.cfg)
			if err == nil {
				iss.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.HasPrefix(err.Error(), "grpcauthtest: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestClients_ReturnsACopy(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: []grpcauthtest.Client{{ID: "a", Secret: "s", Scopes: []string{"x"}}}})
	cs := iss.Clients()
	if len(cs) != 1 || cs[0].ID != "a" || cs[0].Secret != "s" || cs[0].Scopes[0] != "x" {
		t.Fatalf("Clients() = %+v", cs)
	}
	cs[0].Scopes[0] = "admin"
	if _, err := iss.Token("a", "admin"); err == nil {
		t.Fatal("mutating Clients() result widened the client's scopes")
	}
}

func TestClose_StopsServingAndLeaksNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	iss, err := grpcauthtest.Start(grpcauthtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// An idle keep-alive connection is open when Close runs.
	u, err := url.Parse(iss.URL())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /oauth2/default/v1/keys HTTP/1.1\r\nHost: %s\r\n\r\n", u.Host)
	buf := make([]byte, 1)
	if _, err := conn.Read(buf); err != nil {
		t.Fatal(err)
	}
	// A request cut off by the body limit makes net/http linger on its
	// connection for half a second; Close must wait that out too.
	req := mustRequest(t, http.MethodPost, iss.TokenURL(), strings.NewReader("grant_type="+strings.Repeat("x", 1<<20)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, _ := do(t, req); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized request: status %d", resp.StatusCode)
	}
	iss.Close()
	iss.Close() // idempotent
	if _, err := newClient().Get(iss.JWKSURL()); err == nil {
		t.Fatal("JWKS still served after Close")
	}
	if n := iss.JWKSRequests(); n != 1 {
		t.Errorf("JWKSRequests() = %d, want 1", n)
	}
	if _, err := iss.Token("svc"); err != nil {
		t.Errorf("Token after Close: %v (minting should still work)", err)
	}
}

// fatalTB records Fatal instead of stopping the goroutine.
type fatalTB struct {
	testing.TB
	fatal    []any
	cleanups int
}

func (f *fatalTB) Helper()           {}
func (f *fatalTB) Fatal(args ...any) { f.fatal = args }
func (f *fatalTB) Cleanup(func())    { f.cleanups++ }

func TestNewIssuer_FailsTheTestOnBadConfig(t *testing.T) {
	tb := &fatalTB{TB: t}
	if iss := grpcauthtest.NewIssuer(tb, grpcauthtest.Config{Addr: "0.0.0.0:0"}); iss != nil {
		iss.Close()
		t.Fatal("NewIssuer returned an issuer")
	}
	if len(tb.fatal) != 1 || !errors.Is(tb.fatal[0].(error), grpcauthtest.ErrNonLoopback) || tb.cleanups != 0 {
		t.Fatalf("Fatal(%v), %d cleanups", tb.fatal, tb.cleanups)
	}
}

// On its loopback address the issuer answers loopback host names only: a
// page on a DNS-rebinding site (its name made to resolve to 127.0.0.1)
// would otherwise share an origin with the issuer and could mint and read
// tokens with the clients' secrets, or read the login page.
func TestIssuer_RefusesForeignHostNames(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: []grpcauthtest.Client{{ID: "c", Secret: "s"}}})
	u, err := url.Parse(iss.URL())
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	for host, want := range map[string]int{
		"127.0.0.1:" + port:                  http.StatusOK,
		"localhost:" + port:                  http.StatusOK,
		"[::1]:" + port:                      http.StatusOK,
		"rebind.attacker.example:" + port:    http.StatusMisdirectedRequest,
		"127.0.0.1.attacker.example:" + port: http.StatusMisdirectedRequest,
	} {
		for _, req := range []*http.Request{
			mustRequest(t, http.MethodGet, iss.DiscoveryURL(), nil),
			mustRequest(t, http.MethodPost, iss.TokenURL(), strings.NewReader("grant_type=client_credentials&client_id=c&client_secret=s")),
		} {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Host = host
			resp, body := do(t, req)
			if resp.StatusCode != want {
				t.Errorf("%s %s with Host %s: status %d, want %d", req.Method, req.URL.Path, host, resp.StatusCode, want)
			}
			if want != http.StatusOK && strings.Contains(string(body), "access_token") {
				t.Errorf("%s %s with Host %s answered a token", req.Method, req.URL.Path, host)
			}
		}
	}
}

// An issuer listening on every interface names a loopback address of the
// family Addr gave in its URL: 127.0.0.1 for 0.0.0.0, [::1] for [::] (Go
// listens on 0.0.0.0 through a dual-stack socket, whose address reads
// [::]), and the URL reaches it.
func TestStart_UnspecifiedAddrGivesTheLoopbackOfItsFamily(t *testing.T) {
	for addr, want := range map[string]string{"0.0.0.0:0": "127.0.0.1", "[::]:0": "::1"} {
		t.Run(addr, func(t *testing.T) {
			if addr == "[::]:0" {
				ln, err := net.Listen("tcp6", "[::1]:0")
				if err != nil {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				_ = ln.Close()
			}
			iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{
				Addr:                     addr,
				InsecureAllowNonLoopback: true,
				Logger:                   slog.New(slog.DiscardHandler),
			})
			u, err := url.Parse(iss.URL())
			if err != nil || u.Hostname() != want {
				t.Fatalf("URL() = %q, want host %s", iss.URL(), want)
			}
			if _, body := get(t, iss.JWKSURL()); !strings.Contains(string(body), iss.KeyID()) {
				t.Errorf("JWKS %s lacks the signing kid", body)
			}
		})
	}
}
