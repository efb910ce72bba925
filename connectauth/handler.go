package connectauth

import (
	"context"
	"crypto/tls"
	"net/http"
)

type requestInfoKey struct{}

// requestInfo is what the interceptor needs of the HTTP request that
// connect-go does not pass on.
type requestInfo struct {
	host   string
	method string // the HTTP method the client sent
	path   string // the escaped path the client sent
	tls    *tls.ConnectionState
}

// WrapHandler returns h with each request's host (the gRPC :authority),
// method, path and TLS state made available to the Interceptor, which needs
// them for grpcauth.Config.TransportSecurity, RFC 8705 certificate binding
// and DPoP's htm and htu. Wrap the outermost handler, the one the server
// hands requests to (outside any http.StripPrefix or vanguard transcoder),
// so that a DPoP proof is checked against the request the client made: a
// Connect GET needs a proof for GET, a REST route through vanguard one for
// its own method and path.
func WrapHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &requestInfo{host: r.Host, method: r.Method, path: r.URL.EscapedPath(), tls: r.TLS}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info)))
	})
}
