package browsertest

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Signing out takes off the page the items read with the token, and the
// answer to a call still under way when the person signs out is not shown
// either: the next person at the tab sees none of the signed-out user's
// items. The call is still logged, as made by that user.
func TestBrowser_SignOutTakesTheItemsOffThePage(t *testing.T) {
	srv := startServer(t)
	tab, _ := newBrowser(t)
	p := &page{t: t, tab: tab, url: srv.webURL}

	p.signIn("reader")
	if o := p.call(`#list`); o.outcome != "allowed" {
		t.Fatalf("reader ListItems: %+v, want allowed", o)
	}
	if rows := p.count(`#items tbody tr`); rows < 2 {
		t.Fatalf("the page shows %d items after ListItems, want the 2 seeded ones", rows)
	}
	p.do("sign out", chromedp.Click(chromedp.CSS(`#signout`)), chromedp.WaitVisible(chromedp.CSS(`#signin`)))
	if rows := p.count(`#items tbody tr`); rows != 0 {
		t.Errorf("after signing out the page still shows %d items read with the reader's token, want none", rows)
	}

	// The page's fetch now holds every answer back until releaseAnswer
	// is called: ListItems is answered only once the reader has signed out.
	// Signing out waits until the call is sent (body[data-sent]), its
	// DPoP proof signed: a sign-out while the proof is being made stops
	// the call before it is sent (TestBrowser_SignOutWhileTheProofIsMadeSendsNothing).
	p.signIn("reader")
	p.do("hold answers back", chromedp.Evaluate[chromedp.Void](`(() => {
		const fetch0 = window.fetch;
		let release;
		const held = new Promise((r) => { release = r; });
		window.releaseAnswer = release;
		window.fetch = async (...args) => {
			document.body.dataset.sent = 'true';
			const r = await fetch0(...args);
			await held;
			return r;
		};
	})()`))
	n := p.count(`#log li`)
	li := chromedp.CSS(`#log li:nth-child(` + strconv.Itoa(n+1) + `)`)
	p.do("list, and sign out before the answer comes",
		chromedp.Click(chromedp.CSS(`#list`)),
		chromedp.WaitVisible(chromedp.CSS(`body[data-sent]`)),
		chromedp.Click(chromedp.CSS(`#signout`)),
		chromedp.WaitVisible(chromedp.CSS(`#signin`)),
		chromedp.Evaluate[chromedp.Void](`releaseAnswer()`),
		chromedp.WaitVisible(li),
	)
	if rows := p.count(`#items tbody tr`); rows != 0 {
		t.Errorf("the answer to a ListItems sent before signing out put %d items on the page after it, want none", rows)
	}
	if text := get(p, "read the log entry", chromedp.Text(li)); !strings.HasPrefix(text, "ListItems as reader: allowed") {
		t.Errorf("log entry %q, want the ListItems logged as the reader's", text)
	}
}

// A sign-out that comes while a call's DPoP proof is being signed (the
// page awaits WebCrypto) forgets the key the proof needs: the call is not
// sent with the signed-out user's token, and is logged as Canceled, not
// lost with an uncaught error. The page's own functions are called in one
// script, so the sign-out lands there every time.
func TestBrowser_SignOutWhileTheProofIsMadeSendsNothing(t *testing.T) {
	srv := startServer(t)
	tab, _ := newBrowser(t)
	p := &page{t: t, tab: tab, url: srv.webURL}

	p.signIn("reader")
	n := p.count(`#log li`)
	sent := get(p, "call ListItems and sign out at once", chromedp.Evaluate[int](`(async () => {
		let sent = 0;
		const fetch0 = window.fetch;
		window.fetch = (...args) => { sent++; return fetch0(...args); };
		const answer = call('ListItems', {});
		signOut();
		if (await answer !== null) throw new Error('call returned an answer after signing out');
		return sent;
	})()`, chromedp.EvalAwaitPromise))
	if sent != 0 {
		t.Errorf("the page sent %d requests after signing out, want none", sent)
	}
	if got := p.count(`#log li`); got != n+1 {
		t.Fatalf("the log has %d entries, want %d: the canceled call logged once", got, n+1)
	}
	li := chromedp.CSS(`#log li:nth-child(` + strconv.Itoa(n+1) + `)`)
	if text := get(p, "read the log entry", chromedp.Text(li)); !strings.HasPrefix(text, "ListItems as reader: refused Canceled") {
		t.Errorf("log entry %q, want the ListItems logged as the reader's and Canceled", text)
	}
}
