package connectauth_test

import (
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
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
