package connectauth

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	connectcors "connectrpc.com/cors"
)

// Headers a browser must be allowed to send and to read beyond what
// connectrpc.com/cors lists for the protocols themselves: the credentials
// (Authorization, and DPoP's proof) and the challenge a refusal carries
// (WWW-Authenticate, and DPoP-Nonce for a server that demands nonces).
// Each response name comes twice: a grpc-go server behind vanguard's
// transcoder sends them as gRPC trailers, which the Connect protocol
// carries in a unary response as headers prefixed with "Trailer-".
var (
	authRequestHeaders  = []string{"Authorization", "DPoP"}
	authResponseHeaders = []string{"WWW-Authenticate", "DPoP-Nonce", "Trailer-WWW-Authenticate", "Trailer-DPoP-Nonce"}
)

// CORS returns h behind a CORS policy that lets pages served from origins
// call it with the Connect, gRPC-Web and gRPC protocols, send an
// Authorization header and a DPoP proof, and read a refusal's status
// (grpc-status, grpc-message, grpc-status-details-bin, and the Connect
// protocol's error body) and its WWW-Authenticate and DPoP-Nonce headers,
// also as the Trailer-WWW-Authenticate and Trailer-DPoP-Nonce headers in
// which a Connect unary response through vanguard carries them without
// ChallengeHeaders.
//
// origins are exact origins such as "https://app.example.com" or
// "http://127.0.0.1:8080". A request from any other origin is served
// without CORS headers, so the browser withholds the response from the
// page. No cookies are involved: the token travels in a header the page
// sets, so the policy never allows credentials.
func CORS(h http.Handler, origins ...string) http.Handler {
	allowed := slices.Clone(origins)
	methods := strings.Join(connectcors.AllowedMethods(), ", ")
	reqHeaders := strings.Join(append(connectcors.AllowedHeaders(), authRequestHeaders...), ", ")
	exposed := strings.Join(append(connectcors.ExposedHeaders(), authResponseHeaders...), ", ")
	maxAge := strconv.Itoa(2 * 60 * 60)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		if origin == "" || !slices.Contains(allowed, origin) {
			h.ServeHTTP(w, r)
			return
		}
		hdr := w.Header()
		hdr.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			hdr.Add("Vary", "Access-Control-Request-Method")
			hdr.Add("Vary", "Access-Control-Request-Headers")
			hdr.Set("Access-Control-Allow-Methods", methods)
			hdr.Set("Access-Control-Allow-Headers", reqHeaders)
			hdr.Set("Access-Control-Max-Age", maxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		hdr.Set("Access-Control-Expose-Headers", exposed)
		h.ServeHTTP(w, r)
	})
}
