package browsertest

import (
	"strconv"
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
