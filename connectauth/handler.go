package connectauth

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
)

type requestInfoKey struct{}

// requestInfo is what the interceptor needs of the HTTP request that
// connect-go does not pass on.
type requestInfo struct {
	host   string
	method string   // the HTTP method the client sent
	path   string   // the escaped path the client sent
	remote string   // the connection's remote address, as the server set it
	local  net.Addr // the server's own address on the connection
	tls    *tls.ConnectionState
}

// WrapHandler returns h with each request's host (the gRPC :authority),
// method, path, remote and local addresses and TLS state made available to
// the Interceptor, which needs them for grpcauth.Config.TransportSecurity,
// RFC 8705 certificate binding and DPoP's htm and htu. Wrap the outermost
// handler, the one the server hands requests to (outside any
// http.StripPrefix or vanguard transcoder), so that a DPoP proof is checked
// against the request the client made (a Connect GET needs a proof for GET,
// a REST route through vanguard one for its own method and path), and so
// that the transport policy judges the connection's own remote address,
// not one that a middleware inside sets from a header such as
// X-Forwarded-For, which any client can send. With h2c
// (golang.org/x/net/http2/h2c), wrap the handler inside h2c.NewHandler: the
// calls of an HTTP/2 connection reach that handler as requests of their
// own, while a WrapHandler outside it sees only the connection's first
// request ("PRI *"), which every call would inherit.
//
// A WrapHandler inside another (a handler that wraps itself, mounted in
// the application's outermost WrapHandler) keeps the remote and local
// addresses and TLS state the outer one saw, the connection's, and takes
// the host, method and path of the request it serves: a middleware between
// the two that rewrites RemoteAddr cannot make a remote caller local, and
// under h2c with a WrapHandler on both sides each call keeps its own.
func WrapHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &requestInfo{host: r.Host, method: r.Method, path: r.URL.EscapedPath(), remote: r.RemoteAddr, tls: r.TLS}
		info.local, _ = r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if outer, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
			// Inside another WrapHandler: the connection is the one the
			// outer saw, whatever a middleware between them made of
			// RemoteAddr. The request is this one, which is another
			// than the outer's under h2c.
			info.remote, info.local, info.tls = outer.remote, outer.local, outer.tls
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info)))
	})
}
