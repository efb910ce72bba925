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
	p.signIn("reader")
	p.do("hold answers back", chromedp.Evaluate[chromedp.Void](`(() => {
		const fetch0 = window.fetch;
		let release;
		const held = new Promise((r) => { release = r; });
		window.releaseAnswer = release;
		window.fetch = async (...args) => { const r = await fetch0(...args); await held; return r; };
	})()`))
	n := p.count(`#log li`)
	li := chromedp.CSS(`#log li:nth-child(` + strconv.Itoa(n+1) + `)`)
	p.do("list, and sign out before the answer comes",
		chromedp.Click(chromedp.CSS(`#list`)),
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
