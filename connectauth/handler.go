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
	host string
	tls  *tls.ConnectionState
}

// WrapHandler returns h with each request's host (the gRPC :authority) and
// TLS state made available to the Interceptor, which needs them for
// grpcauth.Config.TransportSecurity, RFC 8705 certificate binding and
// DPoP's htu. Wrap the handler that serves the connect-go handlers.
func WrapHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &requestInfo{host: r.Host, tls: r.TLS}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info)))
	})
}
