package connectauth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
)

// fromAnotherHost is an http.RoundTripper that serves each request with h
// in process, as a server would a request on a plaintext connection from
// remote, an address on another host.
type fromAnotherHost struct {
	h            http.Handler
	remote       string
	forwardedFor string // the X-Forwarded-For header the caller sends, if not ""
}

func (p fromAnotherHost) RoundTrip(r *http.Request) (*http.Response, error) {
	sr := r.Clone(r.Context())
	sr.RemoteAddr, sr.Host, sr.RequestURI = p.remote, r.URL.Host, r.URL.RequestURI()
	if p.forwardedFor != "" {
		sr.Header.Set("X-Forwarded-For", p.forwardedFor)
	}
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, sr)
	return rec.Result(), nil
}

// forwardedFor stands for a middleware that sets RemoteAddr from a
// forwarded header, as some proxy-header middlewares do with
// X-Forwarded-For, whoever sent it.
func forwardedFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := r.Header.Get("X-Forwarded-For"); f != "" {
			r.RemoteAddr, _, _ = strings.Cut(f, ",")
		}
		h.ServeHTTP(w, r)
	})
}

// TestConnect_ForwardedLoopbackAddressDoesNotMakeARemoteCallerLocal checks
// that the transport policy judges the connection WrapHandler saw: a
// plaintext caller from another host that claims a loopback address in
// X-Forwarded-For, which a middleware inside WrapHandler copies into
// RemoteAddr, still gets TRANSPORT_INSECURE, as over grpc-go, which never
// reads such headers. connectMux wraps its handlers in WrapHandler too: the
// outer WrapHandler, which saw the request before the middleware, is the
// one that counts.
func TestConnect_ForwardedLoopbackAddressDoesNotMakeARemoteCallerLocal(t *testing.T) {
	f := newFixture(t)
	h := connectauth.WrapHandler(forwardedFor(connectMux(f)))
	c := call{method: "AllOf", token: "valid", scopes: []string{"test:read", "test:write"}}

	for _, forwarded := range []string{"", "127.0.0.1:1", "[::1]:1"} {
		hc := &http.Client{Transport: fromAnotherHost{h: h, remote: "192.0.2.7:40000", forwardedFor: forwarded}}
		if o, _ := viaConnect(t, f, hc, "http://api.example", nil, c); o != (outcome{codes.Unauthenticated, grpcauth.ReasonTransportInsecure}) {
			t.Errorf("X-Forwarded-For %q: got %v %q, want Unauthenticated %q", forwarded, o.code, o.reason, grpcauth.ReasonTransportInsecure)
		}
	}
}
