package connectauth_test

import (
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
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
