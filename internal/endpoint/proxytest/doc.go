// Package proxytest stands in for the proxy the environment names
// (HTTP_PROXY), for the tests that a given client or transport using it
// never gets a request for a loopback URL, whatever the case of the name
// localhost in it:
//
//	p := proxytest.New(t)
//	v := newVerifier(t, Config{Issuer: "http://LOCALHOST:" + port, HTTPClient: &http.Client{Transport: p.Transport()}})
//	...
//	if u, ok := p.Proxied(); ok {
//		t.Errorf("a request went to the proxy, for %s", u)
//	}
//
// The process's environment is left alone: net/http reads it once per
// process, and tests run in parallel.
package proxytest
