// Package browsertest drives the items example's web page in a real,
// headless Chromium: sign in at the development issuer, call ItemService
// from the page, and check each call's outcome as the page shows it. It is
// a module of its own so that chromedp never enters the main module's
// go.mod. docs/browsers.md describes the page and how to run this test.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium package's executable.
const chromiumPath = "/usr/bin/chromium"

// browserTimeout bounds the whole browser session; it normally takes a few
// seconds. A guard, not a measurement.
const browserTimeout = 2 * time.Minute

// newBrowser starts a headless Chromium with a fresh profile and returns a
// tab's context and a recorder of the page's requests. Without Chromium the
// test is skipped, unless GRPCAUTH_REQUIRE_BROWSER is set (as .ci/run sets
// it), when it fails.
func newBrowser(t *testing.T) (context.Context, *recorder) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("GRPCAUTH_REQUIRE_BROWSER") != "" {
			t.Fatalf("GRPCAUTH_REQUIRE_BROWSER is set but %s is missing: %v", chromiumPath, err)
		}
		t.Skipf("%s missing (apt-get install chromium): %v", chromiumPath, err)
	}
	// Chromium keeps its singleton socket in a directory of TMPDIR that
	// it leaves behind when it is killed: give it one that the test
	// removes once the browser has exited (cleanups run last first). Not
	// t.TempDir: the socket's path must stay under the 108 bytes of a
	// Unix socket address.
	browserTmp, err := os.MkdirTemp("", "chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(browserTmp) })
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("TMPDIR=" + browserTmp),
		chromedp.WindowSize(1000, 900),
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), browserTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	rec := &recorder{}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser process to exit
		cancelTimeout()
		if t.Failed() {
			for _, line := range rec.consoleLines() {
				t.Log("page console: " + line)
			}
		}
	})
	if err := chromedp.Listen(tab, rec.event); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	if _, err := chromedp.Call(tab, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("enabling network events: %v", err)
	}
	return tab, rec
}

// recorder keeps the page's console messages, uncaught exceptions and
// ItemService requests and responses, as Chromium reports them.
type recorder struct {
	mu        sync.Mutex
	console   []string
	requests  []capturedRequest
	responses []capturedResponse
}

// capturedResponse is an ItemService response the page got: its URL,
// status and headers (names in lower case).
type capturedResponse struct {
	url     string
	status  int64
	headers map[string]string
}

// event runs on chromedp's reading goroutine: it only records.
func (r *recorder) event(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			if a.Value != nil {
				args = append(args, string(a.Value))
			} else {
				args = append(args, a.Description)
			}
		}
		r.console = append(r.console, string(ev.Type)+": "+strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		r.console = append(r.console, "exception: "+msg)
	case *network.EventRequestWillBeSent:
		if ev.Request.Method != "POST" || !strings.Contains(ev.Request.URL, "/items.v1.ItemService/") {
			return
		}
		c := capturedRequest{url: ev.Request.URL, headers: map[string]string{}}
		for k, v := range ev.Request.Headers {
			if s, ok := v.(string); ok {
				c.headers[strings.ToLower(k)] = s
			}
		}
		for _, e := range ev.Request.PostDataEntries {
			c.body = append(c.body, e.Bytes...)
		}
		r.requests = append(r.requests, c)
	case *network.EventResponseReceived:
		if !strings.Contains(ev.Response.URL, "/items.v1.ItemService/") {
			return
		}
		c := capturedResponse{url: ev.Response.URL, status: ev.Response.Status, headers: map[string]string{}}
		for k, v := range ev.Response.Headers {
			if s, ok := v.(string); ok {
				c.headers[strings.ToLower(k)] = s
			}
		}
		r.responses = append(r.responses, c)
	}
}

// answered returns the recorded responses of the ItemService method.
func (r *recorder) answered(method string) []capturedResponse {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ofMethod(r.responses, func(c capturedResponse) string { return c.url }, method)
}

// ofMethod returns those of items whose URL names the ItemService method.
func ofMethod[T any](items []T, urlOf func(T) string, method string) []T {
	var out []T
	for _, c := range items {
		if strings.HasSuffix(urlOf(c), "/"+method) {
			out = append(out, c)
		}
	}
	return out
}

func (r *recorder) consoleLines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.console...)
}

// sent returns the recorded requests to the ItemService method.
func (r *recorder) sent(method string) []capturedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ofMethod(r.requests, func(c capturedRequest) string { return c.url }, method)
}

// page drives the example page in one tab.
type page struct {
	t   *testing.T
	tab context.Context
	url string
}

// do runs actions, failing the test with what on error.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.tab, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// get runs one action that returns a value.
func get[T any](p *page, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	v, err := chromedp.Run(p.tab, a)
	if err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// signIn opens the page, signs in at the development issuer as user and
// waits until the page is back and ready: its rules table (asked for
// after the sign-in completes) filled too, so that the calls and the
// screenshot that follow find the whole page. It waits for the page's
// readiness, which a failed sign-in reaches too, not for the signed-in
// user: a sign-in that fails ends the test at once with the page's log,
// not after browserTimeout.
func (p *page) signIn(user string) {
	p.t.Helper()
	p.signInAs(user)
	who := get(p, "read #who", chromedp.Text(chromedp.CSS(`#who`)))
	if !strings.Contains(who, "Signed in as "+user) || !strings.Contains(who, "DPoP token") {
		p.t.Fatalf("after signing in as %s the page says %q (log: %s); want the user and a DPoP token", user, who, p.logText())
	}
}

// signInAs goes through the sign-in as user, as signIn does, and returns
// once the page is back and ready, whatever came of the sign-in.
func (p *page) signInAs(user string) {
	p.t.Helper()
	p.do("sign in as "+user,
		chromedp.Navigate(p.url),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready]`)),
		chromedp.Click(chromedp.CSS(`#signin`)),
		chromedp.WaitVisible(chromedp.CSS(`#user-`+user)),
		chromedp.Click(chromedp.CSS(`#user-`+user)),
		// The issuer's login page has no data-ready: this is the page,
		// back from the issuer.
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready]`)),
	)
}

// logText returns the page's call log as its text, for failure messages.
func (p *page) logText() string {
	p.t.Helper()
	return get(p, "read the log", chromedp.Evaluate[string](`document.getElementById('log').innerText`))
}

// outcome is one call as the page's log shows it.
type outcome struct {
	method, outcome, code, reason, text string
}

// call clicks sel and returns the outcome the page then logs.
func (p *page) call(sel string) outcome {
	p.t.Helper()
	n := p.count(`#log li`)
	li := chromedp.CSS(`#log li:nth-child(` + strconv.Itoa(n+1) + `)`)
	p.do("click "+sel, chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(li))
	attrs := get(p, "read the log entry", chromedp.Attributes(li))
	return outcome{
		method: attrs["data-method"], outcome: attrs["data-outcome"], code: attrs["data-code"], reason: attrs["data-reason"],
		text: get(p, "read the log entry", chromedp.Text(li)),
	}
}

// count returns how many elements match the CSS selector sel.
func (p *page) count(sel string) int {
	p.t.Helper()
	return get(p, "count "+sel, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
}

// capturedRequest is a request the page sent, as Chromium reports it.
type capturedRequest struct {
	url     string
	headers map[string]string
	body    []byte
}

// screenshot saves the page as browser.png in the test's artifact
// directory (kept with go test -artifacts -outputdir DIR).
func (p *page) screenshot() { p.screenshotAs("browser.png") }

// screenshotAs saves the page as name in the test's artifact directory.
func (p *page) screenshotAs(name string) {
	p.t.Helper()
	png := get(p, "screenshot", chromedp.FullScreenshot(100))
	path := filepath.Join(p.t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
}

// TestBrowser_EachUserGetsWhatItsScopesAllow signs in as each development
// user in turn and checks what the page shows for each call: the reader
// lists but may not create, the writer creates and deletes its own item
// but not the server's, the admin deletes any. Then it replays the
// writer's captured DPoP proof.
func TestBrowser_EachUserGetsWhatItsScopesAllow(t *testing.T) {
	srv := startServer(t)
	tab, rec := newBrowser(t)
	p := &page{t: t, tab: tab, url: srv.webURL}

	p.signIn("reader")
	// The server's errors carry the ErrorInfo in "debug" too; the page
	// must also read it from the protobuf alone (reason is field 1,
	// domain field 2), as other Connect servers send it.
	const infoProto = "ChNDUkVERU5USUFMU19NSVNTSU5HEghncnBjYXV0aA" // reason CREDENTIALS_MISSING, domain grpcauth
	if got := get(p, "decode an ErrorInfo", chromedp.Evaluate[string](
		`errorReason([{type: 'google.rpc.ErrorInfo', value: '`+infoProto+`'}]) + ' ' + protoString(b64decode('`+infoProto+`'), 2)`)); got != "CREDENTIALS_MISSING grpcauth" {
		t.Errorf("the page decodes the ErrorInfo as %q, want %q", got, "CREDENTIALS_MISSING grpcauth")
	}
	if o := p.call(`#list`); o.method != "ListItems" || o.outcome != "allowed" {
		t.Errorf("reader ListItems: %+v, want allowed", o)
	}
	if rows := p.count(`#items tbody tr`); rows < 2 {
		t.Errorf("the page shows %d items after ListItems, want the 2 seeded ones", rows)
	}
	o := p.call(`#create`)
	if o.method != "CreateItem" || o.outcome != "refused" || o.code != "PermissionDenied" || o.reason != "ACCESS_TOKEN_SCOPE_INSUFFICIENT" {
		t.Errorf("reader CreateItem: %+v, want refused PermissionDenied (ACCESS_TOKEN_SCOPE_INSUFFICIENT)", o)
	}

	p.signIn("writer")
	if o := p.call(`#create`); o.method != "CreateItem" || o.outcome != "allowed" {
		t.Errorf("writer CreateItem: %+v, want allowed", o)
	}
	if o := p.call(`#list`); o.outcome != "allowed" {
		t.Errorf("writer ListItems: %+v, want allowed", o)
	}
	if rows := p.count(`#items tbody tr`); rows != 3 {
		t.Errorf("the page shows %d items after the writer's create, want 3", rows)
	}
	// DeleteItem needs items:write and ownership (checked by the handler)
	// or items:admin: the writer may delete its own item, not the server's.
	firstDelete, lastDelete := `#items tbody tr:first-child button.delete`, `#items tbody tr:last-child button.delete`
	if o := p.call(firstDelete); o.method != "DeleteItem" || o.outcome != "refused" || o.code != "PermissionDenied" {
		t.Errorf("writer DeleteItem of the server's item: %+v, want refused PermissionDenied", o)
	}
	if o := p.call(lastDelete); o.method != "DeleteItem" || o.outcome != "allowed" {
		t.Errorf("writer DeleteItem of its own item: %+v, want allowed", o)
	}

	p.signIn("admin")
	p.call(`#list`)
	if o := p.call(firstDelete); o.method != "DeleteItem" || o.outcome != "allowed" {
		t.Errorf("admin DeleteItem of the server's item: %+v, want allowed", o)
	}
	if rows := p.count(`#items tbody tr`); rows != 1 {
		t.Errorf("the page shows %d items after the deletes, want 1", rows)
	}
	// The log keeps every user's calls across the sign-ins.
	if n := p.count(`#log li.refused`); n != 2 {
		t.Errorf("the log shows %d refused calls, want 2 (reader's create, writer's delete)", n)
	}
	p.screenshot()

	creates := rec.sent("CreateItem")
	if len(creates) != 2 {
		t.Fatalf("captured %d CreateItem requests, want 2 (reader's and writer's)", len(creates))
	}
	writers := creates[1]
	if !strings.HasPrefix(writers.headers["authorization"], "DPoP ") || writers.headers["dpop"] == "" {
		t.Fatalf("the writer's CreateItem was sent without a DPoP-bound token and proof: headers %v", keys(writers.headers))
	}

	t.Run("ReplayedProofIsRefused", func(t *testing.T) {
		code, reason := replay(t, writers)
		if code != "unauthenticated" || reason != "DPOP_REPLAYED" {
			t.Errorf("replayed CreateItem: code %q, reason %q; want unauthenticated, DPOP_REPLAYED", code, reason)
		}
	})
}

// replay re-sends a captured request with Go's HTTP client, as an attacker
// who copied the token and the proof off the wire would, and returns the
// Connect error's code and ErrorInfo reason.
func replay(t *testing.T, c capturedRequest) (code, reason string) {
	t.Helper()
	if len(c.body) == 0 {
		t.Fatal("the captured request has no body")
	}
	req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"content-type", "connect-protocol-version", "authorization", "dpop"} {
		req.Header.Set(h, c.headers[h])
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Code    string `json:"code"`
		Details []struct {
			Type  string `json:"type"`
			Debug struct {
				Reason string `json:"reason"`
			} `json:"debug"`
		} `json:"details"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e); err != nil {
		t.Fatalf("replay answered %s with a body that is not a Connect error: %v", resp.Status, err)
	}
	for _, d := range e.Details {
		if d.Type == "google.rpc.ErrorInfo" {
			reason = d.Debug.Reason
		}
	}
	return e.Code, reason
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
