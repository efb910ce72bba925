package proxytest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"golang.org/x/net/http/httpproxy"
)

// Proxy is an HTTP proxy in the process that answers every request 502
// Bad Gateway and records its URL.
type Proxy struct {
	srv     *httptest.Server
	proxied chan string
}

// New starts a Proxy, closed when t ends.
func New(t testing.TB) *Proxy {
	t.Helper()
	p := &Proxy{proxied: make(chan string, 16)}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case p.proxied <- r.URL.String():
		default: // the first 16 tell enough
		}
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// Transport returns a new transport that sends through p what
// http.ProxyFromEnvironment would send to HTTP_PROXY naming p, NO_PROXY
// being empty: the proxy function is the one that uses. Its keep-alives
// are off, so that it leaves no idle connection behind.
func (p *Proxy) Transport() *http.Transport {
	fromEnv := (&httpproxy.Config{HTTPProxy: p.srv.URL}).ProxyFunc()
	return &http.Transport{
		Proxy:             func(r *http.Request) (*url.URL, error) { return fromEnv(r.URL) },
		DisableKeepAlives: true,
	}
}

// Proxied returns the URL of a request p got and has not returned yet,
// and false when there is none.
func (p *Proxy) Proxied() (string, bool) {
	select {
	case u := <-p.proxied:
		return u, true
	default:
		return "", false
	}
}
