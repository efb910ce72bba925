package browsertest

import (
	"net/url"
	"strings"
	"testing"

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
