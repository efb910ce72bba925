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

// With DEV_DPOP_NONCES the development issuer answers the page's first
// token request with use_dpop_nonce, as Okta does: the page retries with
// the nonce and ends signed in with a DPoP token.
func TestBrowser_SignInWhenTheIssuerRequiresDPoPNonces(t *testing.T) {
	srv := startServer(t, "DEV_DPOP_NONCES=true")
	tab, _ := newBrowser(t)
	p := &page{t: t, tab: tab, url: srv.webURL}
	p.signIn("reader") // fails unless the page signs in with a DPoP token
	if o := p.call(`#list`); o.outcome != "allowed" {
		t.Errorf("reader ListItems: %+v, want allowed", o)
	}
}
