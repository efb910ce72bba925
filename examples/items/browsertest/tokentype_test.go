package browsertest

import (
	"strings"
	"testing"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// wrapTokenFetch runs script in every document the tab loads, before the
// page's own: it replaces window.fetch for the page's token request (the
// URL ends in /v1/token), standing in for an issuer that answers
// otherwise than the development issuer does.
func wrapTokenFetch(p *page, script string) {
	p.t.Helper()
	src := `(() => { const orig = window.fetch; window.fetch = async (url, init) => {
	  if (!String(url).endsWith('/v1/token')) return orig(url, init);
	  ` + script + ` }; })();`
	if _, err := chromedp.Call(p.tab, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
		p.t.Fatalf("installing the fetch wrapper: %v", err)
	}
}

// An issuer that ignores the page's DPoP key answers a bearer token. The
// page uses it, but says on the page, not only in the token type next to
// the user, that anyone who copies the token can use it.
func TestBrowser_BearerTokenFromAnIssuerWithoutDPoPIsSignalled(t *testing.T) {
	p := newPage(t)
	// Without the DPoP header the development issuer answers as an issuer
	// without DPoP does: token_type Bearer.
	wrapTokenFetch(p, `const h = Object.assign({}, init.headers); delete h.DPoP; return orig(url, Object.assign({}, init, { headers: h }));`)
	p.signInAs("reader")
	who := get(p, "read #who", chromedp.Text(chromedp.CSS(`#who`)))
	if !strings.Contains(who, "Signed in as reader") || !strings.Contains(who, "Bearer token") {
		t.Fatalf("after a bearer sign-in the page says %q (log: %s); want the user and a Bearer token", who, p.logText())
	}
	warning := get(p, "read #bearer-warning", chromedp.Evaluate[string](`(e => e.hidden ? '' : e.innerText)(document.getElementById('bearer-warning'))`))
	if !strings.Contains(warning, "anyone who copies the token can use it") {
		t.Errorf("#bearer-warning after a bearer sign-in: %q, want it shown", warning)
	}
	if o := p.call(`#list`); o.outcome != "allowed" {
		t.Errorf("reader ListItems with the bearer token: %+v, want allowed", o)
	}
	p.do("sign out", chromedp.Click(chromedp.CSS(`#signout`)))
	if hidden := get(p, "read #bearer-warning", chromedp.Evaluate[bool](`document.getElementById('bearer-warning').hidden`)); !hidden {
		t.Error("#bearer-warning still shown after signing out")
	}
}

// A token_type the page does not know (RFC 6749, section 7.1: a client
// must not use such a token) ends the sign-in, logged, signed out.
func TestBrowser_TokenOfAnUnknownTypeIsNotUsed(t *testing.T) {
	p := newPage(t)
	wrapTokenFetch(p, `const resp = await orig(url, init); const tr = await resp.json(); tr.token_type = 'N_A';
	  return new Response(JSON.stringify(tr), { status: resp.status, headers: resp.headers });`)
	p.signInAs("reader")
	if who := get(p, "read #who", chromedp.Text(chromedp.CSS(`#who`))); who != "Not signed in." {
		t.Errorf("after a token of type N_A the page says %q, want Not signed in.", who)
	}
	last := get(p, "read the last log entry", chromedp.Evaluate[string](`(l => l ? l.dataset.method + ' ' + l.dataset.code : '')(document.querySelector('#log li:last-child'))`))
	if last != "sign-in unsupported_token_type" {
		t.Errorf("last log entry %q (log: %s), want sign-in unsupported_token_type", last, p.logText())
	}
}

// The log cuts an unknown token_type, the issuer's text, at a whole
// character: one that ends in an astral character (two UTF-16 units, a
// surrogate pair) where a cut by UTF-16 units would fall leaves no lone
// surrogate in the entry shown or kept.
func TestBrowser_UnknownTokenTypeIsCutAtACharacter(t *testing.T) {
	p := newPage(t)
	wrapTokenFetch(p, `const resp = await orig(url, init); const tr = await resp.json(); tr.token_type = 'x'.repeat(39) + '\u{1F600}'.repeat(200);
	  return new Response(JSON.stringify(tr), { status: resp.status, headers: resp.headers });`)
	p.signInAs("reader")
	got := get(p, "read the last log entry", chromedp.Evaluate[map[string]any](`(() => {
		const saved = JSON.parse(sessionStorage.getItem('log')).pop();
		const li = document.querySelector('#log li:last-child');
		return { code: saved.code, message: saved.message, savedWellFormed: saved.message.isWellFormed(), shownWellFormed: li.textContent.isWellFormed() };
	})()`))
	if got["code"] != "unsupported_token_type" {
		t.Fatalf("last log entry %v (log: %s), want sign-in unsupported_token_type", got, p.logText())
	}
	if got["savedWellFormed"] != true || got["shownWellFormed"] != true {
		msg, _ := got["message"].(string)
		t.Errorf("the log entry of an unknown token_type holds a lone surrogate (kept: %v, shown: %v): message ending %+q", got["savedWellFormed"], got["shownWellFormed"], msg[max(0, len(msg)-40):])
	}
	if msg, _ := got["message"].(string); !strings.Contains(msg, strings.Repeat("x", 39)+"\U0001F600") || !strings.HasSuffix(msg, " bytes in all)") {
		t.Errorf("message %q: want the token type, cut with a note of its whole length", msg)
	}
}
