package browsertest

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// An item's name is whatever its creator sent, and any caller with
// items:write may create one: the page shows it as text, never as markup,
// both in the answer to CreateItem and when another user lists it.
func TestBrowser_HostileItemNameIsShownAsText(t *testing.T) {
	srv := startServer(t)
	tab, _ := newBrowser(t)
	p := &page{t: t, tab: tab, url: srv.webURL}
	const name = `<img src="x" onerror="document.title='pwned'"><b id="injected">x</b>`

	p.signIn("writer")
	p.do("type the name", chromedp.SetValue(chromedp.CSS(`#name`), name))
	if o := p.call(`#create`); o.outcome != "allowed" {
		t.Fatalf("writer CreateItem: %+v, want allowed", o)
	}
	check := func(when string) {
		t.Helper()
		if n := p.count(`#items img, #items b, #injected`); n != 0 {
			t.Errorf("%s: the item's name made %d elements in the page, want none", when, n)
		}
		q := `[...document.querySelectorAll('#items td')].some((td) => td.textContent === ` + strconv.Quote(name) + `)`
		if !get(p, "find the name", chromedp.Evaluate[bool](q)) {
			t.Errorf("%s: no cell shows the name as its text", when)
		}
	}
	check("after CreateItem")

	p.signIn("reader")
	if o := p.call(`#list`); o.outcome != "allowed" {
		t.Fatalf("reader ListItems: %+v, want allowed", o)
	}
	check("listed by another user")
}

// A refusal's strings are the server's, up to 4 MiB each: the call log
// shows, and keeps in sessionStorage, at most MAX_SHOWN bytes of each (the
// Go client's bound, display.MaxShown: 256), cut at a whole character,
// with a note of the whole length.
func TestBrowser_LongRefusalIsCutInTheLog(t *testing.T) {
	p := openPage(t)
	got := get(p, "log a long refusal", chromedp.Evaluate[map[string]any](`(async () => {
		const fetch0 = window.fetch;
		const body = JSON.stringify({
			code: 'x'.repeat(1 << 20),
			message: 'a' + '\u{1F600}'.repeat(100),
			details: [{ type: 'google.rpc.ErrorInfo', debug: { reason: 'é'.repeat(1000) } }],
		});
		window.fetch = async () => new Response(body, { status: 403 });
		try {
			await call('ListItems', {});
		} finally {
			window.fetch = fetch0;
		}
		const li = document.querySelector('#log li:last-child');
		const saved = JSON.parse(sessionStorage.getItem('log')).pop();
		return { code: li.dataset.code, reason: li.dataset.reason, text: li.textContent,
			savedMessage: saved.message, stored: sessionStorage.getItem('log').length };
	})()`, chromedp.EvalAwaitPromise))
	want := map[string]string{
		"code":         "X" + strings.Repeat("x", 255) + " ... (1048576 bytes in all)",
		"reason":       strings.Repeat("é", 128) + " ... (2000 bytes in all)",
		"savedMessage": "a" + strings.Repeat("\U0001F600", 63) + " ... (401 bytes in all)",
	}
	for k, w := range want {
		if g, _ := got[k].(string); g != w {
			t.Errorf("%s: %d bytes ending %q, want %q", k, len(g), g[max(0, len(g)-60):], w)
		}
	}
	if text, _ := got["text"].(string); len(text) > 2<<10 || !strings.HasSuffix(text, ": "+want["savedMessage"]) {
		t.Errorf("the log shows %d bytes ending %q, want the message cut at its end", len(text), text[max(0, len(text)-60):])
	}
	if n, _ := got["stored"].(float64); n > 8<<10 {
		t.Errorf("sessionStorage holds %.0f characters of log after one refusal, want a few KiB at most", n)
	}
}
