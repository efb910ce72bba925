package browsertest

import (
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
)

// The page lists each method's rule as GetServerInfo gives it, before
// anyone signs in (the method is public), without logging the call among
// the decisions; and it says every requirement a MethodInfo can carry, in
// the Go client's words (client/rules.go).
func TestBrowser_PageListsEachMethodsRule(t *testing.T) {
	srv := startServer(t)
	tab, _ := newBrowser(t)
	p := &page{t: t, tab: tab, url: srv.webURL}
	p.do("open the page", chromedp.Navigate(p.url), chromedp.WaitVisible(chromedp.CSS(`body[data-ready]`)))

	if n := p.count(`#rules tbody tr`); n != 8 {
		t.Errorf("the page lists %d rules, want one for each of ItemService's 8 methods", n)
	}
	for method, want := range map[string]string{
		"GetServerInfo": "nothing: public",
		"ListItems":     "items:read",
		"CreateItem":    "items:write; a condition on the request",
		"PurgeItems":    "items:admin; step-up: acr urn:grpcauth:example:mfa; signed in at most 300 s ago",
	} {
		sel := `#rules tr[data-method="` + method + `"] td:last-child`
		if got := get(p, "read the rule of "+method, chromedp.Text(chromedp.CSS(sel))); got != want {
			t.Errorf("%s: the page says %q, want %q", method, got, want)
		}
	}
	if n := p.count(`#log li`); n != 0 {
		t.Errorf("the call log has %d entries before any call, want none (GetServerInfo is set-up)", n)
	}

	// The example's own rules need no DPoP, certificate or any-of set and
	// none is in dry run: needs says these too, in proto3 JSON's names.
	for _, tt := range []struct{ m, want string }{
		{`{}`, "any valid token"},
		{`{"denied": true}`, "denied: the server has no usable rule"},
		{`{"denied": true, "dryRun": true}`, "denied: the server has no usable rule; dry run: any valid token passes, refusals only logged"},
		{`{"scopes": ["items:read"], "anyOf": [{"scopes": ["a"]}, {"scopes": ["b", "c"]}]}`, "items:read; one of a or b + c"},
		{`{"anyOf": [{"scopes": ["a"]}], "requireDpop": true}`, "one of a; a DPoP-bound token"},
		{`{"scopes": ["a"], "requireCertificateBinding": true}`, "a; a certificate-bound token"},
		{`{"scopes": ["items:read"], "dryRun": true}`, "items:read; dry run: any valid token passes, refusals only logged"},
		{`{"public": true, "dryRun": true}`, "nothing: public; dry run: nothing to relax on a public method"},
		{`{"scopes": ["a"], "acrValues": ["mfa", "hwk"], "maxAgeSeconds": "0"}`, "a; step-up: acr mfa or hwk"},
	} {
		if got := get(p, "needs("+tt.m+")", chromedp.Evaluate[string](`needs(JSON.parse(`+strconv.Quote(tt.m)+`))`)); got != tt.want {
			t.Errorf("needs(%s) = %q, want %q", tt.m, got, tt.want)
		}
	}
}
