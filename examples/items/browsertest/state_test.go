package browsertest

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// An authorization error answer that no sign-in of the page started (no
// saved state) is refused as invalid_state, so a crafted link cannot put
// its own text in the page's call log.
func TestBrowser_UnsolicitedErrorAnswerIsNotShown(t *testing.T) {
	srv := startServer(t)
	tab, _ := newBrowser(t)
	p := &page{t: t, tab: tab, url: srv.webURL}
	q := url.Values{
		"error":             {"access_denied"},
		"error_description": {"Your session expired. Sign in again at https://evil.example/login"},
	}
	p.do("open a crafted link",
		chromedp.Navigate(srv.webURL+"?"+q.Encode()),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready]`)),
	)
	log := get(p, "read the log", chromedp.Evaluate[string](`document.getElementById('log').textContent`))
	if strings.Contains(log, "evil.example") || !strings.Contains(log, "invalid_state") {
		t.Errorf("call log %q: want the answer refused as invalid_state, without its text", log)
	}
}

// The development issuer sends iss with every authorization response and
// says so (RFC 9207 metadata, mirrored in config.json): an answer without
// iss, even with the right state, is refused before its code is used
// (RFC 9207 §2.4), as one from a mixed-up issuer would be.
func TestBrowser_AnswerWithoutIssIsRefused(t *testing.T) {
	srv := startServer(t)
	tab, _ := newBrowser(t)
	p := &page{t: t, tab: tab, url: srv.webURL}
	// answer starts a sign-in as the page does (its state and verifier,
	// kept as signIn keeps them), answers it with query and returns the
	// call log's entry for the answer.
	answer := func(query string) map[string]string {
		p.do("start a sign-in",
			chromedp.Navigate(srv.webURL),
			chromedp.WaitVisible(chromedp.CSS(`body[data-ready]`)),
			chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('pkce', JSON.stringify({verifier: randomString(32), state: 'st8'}))`),
		)
		p.do("answer "+query,
			chromedp.Navigate(srv.webURL+"?"+query),
			chromedp.WaitVisible(chromedp.CSS(`body[data-ready]`)),
		)
		return get(p, "read the log entry", chromedp.Attributes(chromedp.CSS(`#log li:last-child`)))
	}
	if attrs := answer("code=some-code&state=st8"); attrs["data-method"] != "sign-in" || attrs["data-code"] != "invalid_state" {
		t.Errorf("answer without iss logged as %v, want sign-in refused as invalid_state", attrs)
	}
	// The same answer with iss passes the page's checks and reaches the
	// token endpoint, which does not know the code: so the refusal above
	// was for the missing iss, not for a sign-in state the page lost.
	iss := get(p, "read the issuer", chromedp.Evaluate[string](`session.cfg.issuer`))
	if attrs := answer("code=some-code&state=st8&iss=" + url.QueryEscape(iss)); attrs["data-method"] != "sign-in" || attrs["data-code"] != "invalid_grant" {
		t.Errorf("answer with iss logged as %v, want sign-in refused by the token endpoint as invalid_grant", attrs)
	}
}

// The issuer's answer (its code and state) leaves the address bar and the
// history before the page awaits anything: found in review, a failed
// /config.json fetch left them there, and the PKCE verifier in
// sessionStorage.
func TestBrowser_AnswerLeavesTheAddressBarWhenTheConfigCannotLoad(t *testing.T) {
	srv := startServer(t)
	tab, _ := newBrowser(t)
	p := &page{t: t, tab: tab, url: srv.webURL}
	p.do("start a sign-in",
		chromedp.Navigate(srv.webURL),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready]`)),
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('pkce', JSON.stringify({verifier: randomString(32), state: 'st8'}))`),
	)
	block := network.SetBlockedURLsParams{URLPatterns: []*network.BlockPattern{{URLPattern: "*://*:*/config.json", Block: true}}}
	if _, err := chromedp.Call(tab, network.SetBlockedURLs, block); err != nil {
		t.Fatal(err)
	}
	p.do("answer while /config.json cannot load", chromedp.Navigate(srv.webURL+"?code=some-code&state=st8"))
	if loc := get(p, "read the location", chromedp.Evaluate[string](`location.href`)); strings.Contains(loc, "code=") {
		t.Errorf("location %q still holds the code", loc)
	}
	if saved := get(p, "read the stored verifier", chromedp.Evaluate[string](`String(sessionStorage.getItem('pkce'))`)); saved != "null" {
		t.Errorf("sessionStorage still holds the sign-in's verifier: %s", saved)
	}
}
