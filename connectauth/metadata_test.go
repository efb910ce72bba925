package connectauth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// A request header that a middleware sets under a name that is not in
// canonical form ("authorization", by a map assignment) beside the
// client's Authorization header is a second value of the same metadata
// key, as grpc-go makes it: the call has two authorization values and is
// refused, every time, rather than decided on one of the two picked at
// random.
func TestConnect_HeaderSpelledTwiceIsTwoMetadataValues(t *testing.T) {
	f := newFixture(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header["authorization"] = []string{"Bearer not.a.jwt"}
		connectHandlers(f).ServeHTTP(w, r)
	})
	srv := serveTLS(t, h)
	c := call{method: "AllOf", token: "valid", scopes: []string{"test:read", "test:write"}}
	for range 16 {
		if o, _ := viaConnect(t, f, srv.Client(), srv.URL, nil, c); o != (outcome{codes.Unauthenticated, grpcauth.ReasonTokenInvalid}) {
			t.Fatalf("got %v %q, want Unauthenticated %q", o.code, o.reason, grpcauth.ReasonTokenInvalid)
		}
	}
}

// A request header whose name is no HTTP token never reaches the decision:
// no client can send one (net/http answers 400, and HTTP/2 and grpc-go
// refuse the stream), so only a middleware could have set it, and
// strings.ToLower would fold its non-ASCII letters to ASCII ones ("İ",
// U+0130, to "i"), making "Authorİzation" the authorization metadata that
// a middleware comparing names in ASCII let through.
func TestConnect_HeaderNameThatIsNoTokenIsNoMetadata(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, "test:read", "test:write")
	h := connectauth.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header["Author\u0130zation"] = []string{"Bearer " + tok}
		connectHandlers(f).ServeHTTP(w, r)
	}))
	srv := serveTLS(t, h)
	for pname, opts := range protocols {
		o, authenticated := viaConnect(t, f, srv.Client(), srv.URL, opts, call{method: "Public", token: "none"})
		if o != (outcome{code: codes.OK}) || authenticated {
			t.Errorf("%s: got %v %q, authenticated %v; want OK and no caller: the header is no authorization", pname, o.code, o.reason, authenticated)
		}
	}
}

// elsewhere is a RoundTripper that moves a call's credentials out of its
// Authorization header to where (a query parameter, a cookie, a header
// with a prefix some gateways strip, a request trailer) before sending it
// with base.
type elsewhere struct {
	base  http.RoundTripper
	where string
}

func (e elsewhere) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	auth := r.Header.Get("Authorization")
	r.Header.Del("Authorization")
	token := strings.TrimPrefix(auth, "Bearer ")
	switch e.where {
	case "query":
		q := r.URL.Query()
		q.Set("access_token", token)
		q.Set("authorization", auth)
		r.URL.RawQuery = q.Encode()
	case "cookie":
		r.AddCookie(&http.Cookie{Name: "access_token", Value: token})
		r.AddCookie(&http.Cookie{Name: "authorization", Value: url.QueryEscape(auth)})
	case "prefixed header":
		for _, name := range []string{"Grpc-Metadata-Authorization", "Connect-Authorization", "Trailer-Authorization", "X-Authorization"} {
			r.Header.Set(name, auth)
		}
	case "trailer":
		r.Header.Set("Trailer", "Authorization")
		r.Trailer = http.Header{"Authorization": {auth}}
		r.ContentLength = -1 // chunked: HTTP/1.1 carries trailers only then
	}
	return e.base.RoundTrip(r)
}

// A call's credentials are its Authorization header and nothing else:
// a token in the query string (access_token, RFC 6750 §2.3, which leaks
// into logs and Referer), a cookie (which a browser attaches to requests
// other sites make), a header under a gateway's prefix
// (Grpc-Metadata-Authorization, which grpc-gateway turns into metadata)
// or the Connect protocol's (Connect-, Trailer-), or an HTTP/1.1 request
// trailer, which arrives after the body, authenticate no one: a public
// method serves the call as anonymous, over HTTP/1.1 and HTTP/2, in every
// protocol the server speaks there, from a connect-go server with the
// Interceptor and from a grpc-go server behind vanguard. (An HTTP/2
// request trailer named Authorization never reaches a handler: net/http
// refuses the stream, RFC 9110 §6.5.1.)
func TestConnect_CredentialsComeOnlyFromTheAuthorizationHeader(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + f.token(t, "test:read", "test:write")
	for sname, h := range map[string]http.Handler{
		"connect-go": connectMux(f),
		"vanguard":   vanguardHandler(t, grpcServer(f)),
	} {
		h1 := httptest.NewServer(h) // HTTP/1.1 on loopback: local, tokens accepted in plaintext
		t.Cleanup(h1.Close)
		for _, srv := range []*httptest.Server{h1, serveTLS(t, h)} {
			http2 := srv.TLS != nil
			for pname, opts := range protocols {
				if pname == "grpc" && !http2 {
					continue // gRPC needs HTTP/2
				}
				for _, where := range []string{"header", "query", "cookie", "prefixed header", "trailer"} {
					if where == "trailer" && http2 {
						continue
					}
					name := fmt.Sprintf("%s/HTTP2=%v/%s/%s", sname, http2, pname, where)
					hc := &http.Client{Transport: srv.Client().Transport}
					if where != "header" {
						hc.Transport = elsewhere{base: hc.Transport, where: where}
					}
					req := connect.NewRequest(&authtestv1.PublicRequest{})
					req.Header().Set("Authorization", auth)
					res, err := connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](hc, srv.URL+"/authtest.v1.TestService/Public", opts...).CallUnary(t.Context(), req)
					if err != nil {
						t.Errorf("%s: %v", name, err)
						continue
					}
					if got, want := res.Msg.GetCaller().GetAuthenticated(), where == "header"; got != want {
						t.Errorf("%s: authenticated = %v, want %v", name, got, want)
					}
				}
			}
		}
	}
}
