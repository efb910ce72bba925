package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/examples/items/web"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// startWeb serves the web page and API of a server that trusts iss on a
// loopback port, and returns its base URL.
func startWeb(t *testing.T, iss *grpcauthtest.Issuer) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	s, err := newServer(v, iss.URL(), iss.Audience(), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := listenWeb("127.0.0.1:0", true, log)
	if err != nil {
		t.Fatal(err)
	}
	page := pageURL(ln)
	h, err := webHandler(s.grpc, webConfig(iss.URL(), &devIssuer{iss}, page), origin(iss.URL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := serveWeb(ctx, ln, h, log)
	t.Cleanup(func() { cancel(); stop() })
	return strings.TrimSuffix(page, "/")
}

func webGet(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	return webDo(t, http.MethodGet, url, "", "")
}

func webDo(t *testing.T, method, url, token, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Connect-Protocol-Version", "1")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestWeb_ServesThePageAndItsConfig(t *testing.T) {
	// With a public client, as startDevIssuer registers the page, the
	// issuer has an authorization endpoint (the port is not the page's:
	// only config.json is checked here).
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{PublicClients: webClients("http://127.0.0.1:1/"), Users: webUsers()})
	base := startWeb(t, iss)

	resp, body := webGet(t, base+"/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<script src="app.js"`) {
		t.Fatalf("GET /: %d %q", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "connect-src 'self' " + origin(iss.URL()), "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	for _, f := range []string{"/app.js", "/style.css"} {
		if resp, _ := webGet(t, base+f); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", f, resp.StatusCode)
		}
	}

	resp, body = webGet(t, base+"/config.json")
	var cfg web.Config
	if err := json.Unmarshal([]byte(body), &cfg); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /config.json: %d %q %v", resp.StatusCode, body, err)
	}
	want := web.Config{
		Issuer: iss.URL(), AuthorizationEndpoint: iss.AuthorizeURL(), TokenEndpoint: iss.TokenURL(),
		ClientID: webClientID, RedirectURI: base + "/", Scope: "items:read items:write items:admin",
		IssParameterSupported: true,
	}
	if cfg != want {
		t.Errorf("config.json\n got %+v\nwant %+v", cfg, want)
	}
}

func TestWeb_ConnectCallsAreDecidedByTheInterceptors(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	base := startWeb(t, iss)
	reader, err := iss.Token("web-test", "items:read")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		method     string
		token      string
		wantStatus int
		wantCode   string // Connect error code; "" for success
		wantReason string
	}{
		{"no token", "ListItems", "", http.StatusUnauthorized, "unauthenticated", "CREDENTIALS_MISSING"},
		{"garbage token", "ListItems", "not-a-jwt", http.StatusUnauthorized, "unauthenticated", "ACCESS_TOKEN_INVALID"},
		{"reader lists", "ListItems", reader, http.StatusOK, "", ""},
		{"reader creates", "CreateItem", reader, http.StatusForbidden, "permission_denied", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"},
		{"public method without token", "GetServerInfo", "", http.StatusOK, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := webDo(t, http.MethodPost, base+"/items.v1.ItemService/"+tt.method, tt.token, `{"name":"x"}`)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantCode == "" {
				return
			}
			var e struct {
				Code    string `json:"code"`
				Details []struct {
					Debug struct {
						Reason string `json:"reason"`
					} `json:"debug"`
				} `json:"details"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatal(err)
			}
			if e.Code != tt.wantCode || len(e.Details) == 0 || e.Details[0].Debug.Reason != tt.wantReason {
				t.Errorf("error %s, want code %s reason %s", body, tt.wantCode, tt.wantReason)
			}
		})
	}
}

func TestListenWeb_DefaultAddressBusyRunsWithoutThePage(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	if ln, err := listenWeb(addr, false, log); ln != nil || err != nil {
		t.Errorf("busy default: %v, %v; want no listener and no error", ln, err)
	}
	if ln, err := listenWeb(addr, true, log); ln != nil || err == nil {
		t.Errorf("busy explicit address: %v, %v; want an error", ln, err)
	}
	if ln, err := listenWeb(webOff, true, log); ln != nil || err != nil {
		t.Errorf("off: %v, %v; want no listener and no error", ln, err)
	}
}

// The issuer sends the sign-in answer to the page's registered URL (on
// 127.0.0.1) only: the page opened as localhost is sent there first, so
// the sign-in starts on the origin it ends on. API calls are not moved.
func TestWeb_PageUnderAnotherLoopbackNameRedirectsToTheRegisteredURL(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	base := startWeb(t, iss)
	other := strings.Replace(base, "127.0.0.1", "localhost", 1)
	noFollow := &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := noFollow.Get(other + "/?from=bookmark")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := base + "/?from=bookmark"; resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != want {
		t.Errorf("GET %s/: %d to %q, want %d to %q", other, resp.StatusCode, resp.Header.Get("Location"), http.StatusTemporaryRedirect, want)
	}
	if resp, _ := webGet(t, base+"/"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s/: %d, want 200", base, resp.StatusCode)
	}
	// Through a tunnel to another port the page's own URL may lead
	// nowhere: no redirect.
	req, err := http.NewRequest(http.MethodGet, base+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "localhost:1"
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET / with Host %s: %d, want 200", req.Host, resp.StatusCode)
	}
	if resp, body := webDo(t, http.MethodPost, other+"/items.v1.ItemService/GetServerInfo", "", "{}"); resp.StatusCode != http.StatusOK {
		t.Errorf("POST GetServerInfo as localhost: %d %s, want 200", resp.StatusCode, body)
	}
}
