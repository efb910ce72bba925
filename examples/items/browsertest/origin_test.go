package browsertest

import (
	"strings"
	"testing"
)

// The server answers to every loopback name, and people type localhost.
// The issuer sends the code to the page's registered URL (127.0.0.1), a
// different origin with its own sessionStorage: a sign-in started at
// localhost must still end signed in, not as invalid_state.
func TestBrowser_SignInFromLocalhostEndsSignedIn(t *testing.T) {
	srv := startServer(t)
	tab, _ := newBrowser(t)
	if !strings.HasPrefix(srv.webURL, "http://127.0.0.1:") {
		t.Fatalf("page URL %s: want a 127.0.0.1 URL", srv.webURL)
	}
	p := &page{t: t, tab: tab, url: strings.Replace(srv.webURL, "127.0.0.1", "localhost", 1)}
	p.signIn("reader")
	if o := p.call(`#list`); o.outcome != "allowed" {
		t.Errorf("reader ListItems after signing in from localhost: %+v, want allowed", o)
	}
}
