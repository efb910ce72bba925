package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/examples/items/web"
	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// startWeb serves the web page and API of a server that trusts iss on a
// loopback port, and returns its base URL.
func startWeb(t *testing.T, iss *grpcauthtest.Issuer) string {
	t.Helper()
	return startWebWith(t, iss, webTimeouts)
}

// startWebWith is startWeb with the timeouts tm.
func startWebWith(t *testing.T, iss *grpcauthtest.Issuer, tm httpTimeouts) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	ln, err := listenWeb("127.0.0.1:0", true, log)
	if err != nil {
		t.Fatal(err)
	}
	page := pageURL(ln)
	h := newWebHandler(t, iss, page)
	ctx, cancel := context.WithCancel(context.Background())
	stop := serveWeb(ctx, ln, h, tm, log)
	t.Cleanup(func() { cancel(); stop() })
	return strings.TrimSuffix(page, "/")
}

// newWebHandler is the web handler (page at page, a URL of a listener on
// a loopback IP address) of a server that trusts iss.
func newWebHandler(t *testing.T, iss *grpcauthtest.Issuer, page string) http.Handler {
	t.Helper()
	s := newTestServer(t, iss, slog.New(slog.DiscardHandler))
	addr, err := net.ResolveTCPAddr("tcp", loopbackPageHost(page))
	if err != nil {
		t.Fatal(err)
	}
	h, err := webHandler(s.grpc, webConfig(iss.URL(), &devIssuer{iss}, page), origin(iss.URL()), addr)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func webGet(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	return webDo(t, http.MethodGet, url, "", "")
}

func webDo(t *testing.T, method, url, token, body string) (*http.Response, string) {
	t.Helper()
	resp := webSend(t, method, url, "application/json", token, strings.NewReader(body))
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// webSend sends a request with token, when not empty, and for a POST
// Connect's headers with contentType. The caller closes the response body.
func webSend(t *testing.T, method, url, contentType, token string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", contentType)
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
	return resp
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

// Browser calls are decided by the gRPC server's interceptors, and a
// refusal's RFC 6750 challenge is the WWW-Authenticate header of the 401 or
// 403 (RFC 9110 §11.6.1), where fetch and HTTP libraries look for it, not
// only vanguard's Trailer-WWW-Authenticate.
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
		challenge  string // the WWW-Authenticate header's first value
	}{
		{"no token", "ListItems", "", http.StatusUnauthorized, "unauthenticated", "CREDENTIALS_MISSING", "Bearer"},
		{"garbage token", "ListItems", "not-a-jwt", http.StatusUnauthorized, "unauthenticated", "ACCESS_TOKEN_INVALID",
			`Bearer error="invalid_token", error_description="invalid access token"`},
		{"reader lists", "ListItems", reader, http.StatusOK, "", "", ""},
		{"reader creates", "CreateItem", reader, http.StatusForbidden, "permission_denied", "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
			`Bearer error="insufficient_scope", error_description="access token lacks a required scope", scope="items:write"`},
		{"public method without token", "GetServerInfo", "", http.StatusOK, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := webDo(t, http.MethodPost, base+"/items.v1.ItemService/"+tt.method, tt.token, `{"name":"x"}`)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
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

// A WatchItems stream on the web port outlives the port's request timeout
// (net/http lifts it once the request body is read) and gets the changes
// made after it passed: the timeouts that cut off slow clients do not cut
// off a long stream.
func TestWeb_StreamOutlivesTheRequestTimeout(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	tm := scaled(webTimeouts)
	base := startWebWith(t, iss, tm)
	tok, err := iss.Token("web-test", "items:read", "items:write")
	if err != nil {
		t.Fatal(err)
	}
	resp := webSend(t, http.MethodPost, base+"/items.v1.ItemService/WatchItems", "application/connect+json", tok,
		bytes.NewReader(append([]byte{0, 0, 0, 0, 2}, "{}"...))) // one Connect envelope
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("WatchItems: %d", resp.StatusCode)
	}
	next := func() string {
		t.Helper()
		var hdr [5]byte
		if _, err := io.ReadFull(resp.Body, hdr[:]); err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		msg := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
		if _, err := io.ReadFull(resp.Body, msg); err != nil || hdr[0] != 0 {
			t.Fatalf("stream message %q (flags %d, %v); want an event", msg, hdr[0], err)
		}
		return string(msg)
	}
	for !strings.Contains(next(), "KIND_SYNCED") {
	}
	<-time.After(2 * tm.request) // the request timeout passes
	if resp, body := webDo(t, http.MethodPost, base+"/items.v1.ItemService/CreateItem", tok, `{"name":"late"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("CreateItem: %d %s", resp.StatusCode, body)
	}
	if ev := next(); !strings.Contains(ev, "KIND_CREATED") || !strings.Contains(ev, `"late"`) {
		t.Fatalf("event after the request timeout: %s; want the created item", ev)
	}
}

// The web port is plain HTTP, and the transcoder hands each call to the
// gRPC server in process: the interceptors still see the browser's own
// address, so a token sent in clear text from another host is refused
// (TRANSPORT_INSECURE, grpcauth.TransportSecureOrLocal), as on the gRPC
// port, and one from this host is accepted.
func TestWeb_TokenSentInPlaintextFromAnotherHostIsRefused(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	h := newWebHandler(t, iss, "http://127.0.0.1:8080/")
	reader, err := iss.Token("web-test", "items:read")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remote     string
		wantStatus int
		wantReason string
	}{
		{"203.0.113.7:4242", http.StatusUnauthorized, "TRANSPORT_INSECURE"},
		{"127.0.0.1:4242", http.StatusOK, ""},
	} {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "http://127.0.0.1:8080/items.v1.ItemService/ListItems", strings.NewReader("{}"))
		req.RemoteAddr = tc.remote
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Connect-Protocol-Version", "1")
		req.Header.Set("Authorization", "Bearer "+reader)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.wantStatus || !strings.Contains(rec.Body.String(), tc.wantReason) {
			t.Errorf("token from %s: status %d %s, want %d %s", tc.remote, rec.Code, rec.Body, tc.wantStatus, tc.wantReason)
		}
	}
}

// The page and the API share one origin, and the web port answers no
// CORS: a page of another origin in the developer's browser (another
// site, or another loopback port) gets no preflight for a call with a
// token or a DPoP proof, so its browser never sends one, and cannot read
// the answer to a call it may send without.
func TestWeb_PagesOfOtherOriginsGetNoCORS(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	base := startWeb(t, iss)
	const other = "http://127.0.0.1:1"
	send := func(method, path string, hdr map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", other)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	preflight := send(http.MethodOptions, "/items.v1.ItemService/ListItems", map[string]string{
		"Access-Control-Request-Method":  http.MethodPost,
		"Access-Control-Request-Headers": "authorization,connect-protocol-version,content-type,dpop",
	})
	if preflight.StatusCode/100 == 2 || preflight.Header.Get("Access-Control-Allow-Origin") != "" || preflight.Header.Get("Access-Control-Allow-Headers") != "" {
		t.Errorf("preflight from %s: %d with %v; want it refused, without CORS headers", other, preflight.StatusCode, preflight.Header)
	}
	call := send(http.MethodPost, "/items.v1.ItemService/GetServerInfo", map[string]string{
		"Content-Type": "application/json", "Connect-Protocol-Version": "1",
	})
	if call.StatusCode != http.StatusOK || call.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GetServerInfo from %s: %d, Access-Control-Allow-Origin %q; want 200 (public) and no CORS header, so the page cannot read it",
			other, call.StatusCode, call.Header.Get("Access-Control-Allow-Origin"))
	}
	for _, path := range []string{"/", "/config.json"} {
		if resp := send(http.MethodGet, path, nil); resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET %s from %s: Access-Control-Allow-Origin %q, want none", path, other, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}

// Every answer of the web port, the page's files as well as config.json,
// the API's, redirects and errors, the loopback guard's refusal of a
// foreign host name included, carries the same security headers: a
// browser applies them to whatever document it loads from the port.
func TestWeb_EveryResponseCarriesTheSecurityHeaders(t *testing.T) {
	h := newTestWebHandler(t)
	for _, r := range []struct {
		method, target, host string
		code                 int // 0: any
	}{
		{http.MethodGet, "/", "127.0.0.1:1", http.StatusOK},
		{http.MethodGet, "/app.js", "127.0.0.1:1", http.StatusOK},
		{http.MethodGet, "/config.json", "127.0.0.1:1", http.StatusOK},
		{http.MethodGet, "/no-such-file", "127.0.0.1:1", http.StatusNotFound},
		{http.MethodGet, "/?code=x&state=y", "localhost:1", http.StatusTemporaryRedirect}, // to the registered host
		{http.MethodPost, "/items.v1.ItemService/ListItems", "127.0.0.1:1", http.StatusUnauthorized},
		{http.MethodPut, "/config.json", "127.0.0.1:1", http.StatusMethodNotAllowed},
		{http.MethodGet, "/", "rebind.attacker.example:1", http.StatusMisdirectedRequest}, // DNS rebinding
		{http.MethodPost, "/items.v1.ItemService/ListItems", "rebind.attacker.example:1", http.StatusMisdirectedRequest},
	} {
		req := httptest.NewRequestWithContext(t.Context(), r.method, "http://"+r.host+r.target, strings.NewReader("{}"))
		if r.method == http.MethodPost {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Connect-Protocol-Version", "1")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		what := fmt.Sprintf("%s %s as %s (%d)", r.method, r.target, r.host, rec.Code)
		if rec.Code != r.code {
			t.Errorf("%s: want status %d", what, r.code)
		}
		checkSecurityHeaders(t, what, rec.Header())
	}
}

// checkSecurityHeaders checks that hdr, the headers of the response what,
// holds each of withSecurityHeaders' headers once, with its value.
func checkSecurityHeaders(t *testing.T, what string, hdr http.Header) {
	t.Helper()
	for name, value := range map[string]string{
		"Cross-Origin-Opener-Policy": "same-origin",
		"X-Content-Type-Options":     "nosniff",
		"Referrer-Policy":            "no-referrer",
	} {
		if got := hdr.Values(name); len(got) != 1 || got[0] != value {
			t.Errorf("%s: %s %q, want %q", what, name, got, value)
		}
	}
	csp := hdr.Values("Content-Security-Policy")
	if len(csp) != 1 {
		t.Errorf("%s: Content-Security-Policy %q, want one", what, csp)
		return
	}
	for _, d := range []string{"default-src 'self'", "frame-ancestors 'none'", "form-action 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp[0], d) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp[0], d)
		}
	}
}
