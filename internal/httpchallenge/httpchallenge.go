package httpchallenge

import (
	"net/http"
	"strings"
)

// connectTrailerPrefix is how the Connect protocol spells a trailer in a
// unary response: a header named "Trailer-" and the trailer's name.
const connectTrailerPrefix = "Trailer-"

// moved are the fields of a refusal that belong in a 401 or 403 response's
// headers: the challenge (RFC 9110 §11.6.1, RFC 6750 §3) and a DPoP nonce
// the server demands (RFC 9449 §9).
var moved = []string{"Www-Authenticate", "Dpop-Nonce"}

// invalidTrailer is the field that net/http drops from a response's
// trailers (RFC 9110 §6.5.1 forbids authentication fields there) and logs
// a line for, in the http.Server's ErrorLog, each time.
const invalidTrailer = "Www-Authenticate"

// Handler returns h with the challenge of a refusal moved to where HTTP
// clients look for it:
//
//   - in a 401 or 403 response carrying Trailer-WWW-Authenticate or
//     Trailer-DPoP-Nonce (a Connect unary refusal translated from gRPC
//     trailers) and no WWW-Authenticate or DPoP-Nonce header, the values
//     become those headers, before the response's headers are written;
//   - a WWW-Authenticate that h adds to the trailers after the headers
//     (http.TrailerPrefix, as grpc.Server.ServeHTTP does for a gRPC
//     caller) is removed when h returns, which net/http would drop anyway,
//     logging a line per response.
//
// The writer h gets implements http.Flusher, as grpc.Server.ServeHTTP
// requires, and Unwrap for http.ResponseController.
func Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(writer{w}, r)
		hdr := w.Header()
		for _, key := range keys(hdr, http.TrailerPrefix+invalidTrailer) {
			delete(hdr, key)
		}
	})
}

// writer moves the challenge into the headers of a 401 or 403 response.
type writer struct{ http.ResponseWriter }

// WriteHeader moves the challenge for a 401 or 403 before writing the
// headers.
func (w writer) WriteHeader(code int) {
	if code == http.StatusUnauthorized || code == http.StatusForbidden {
		moveTrailers(w.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

// Flush flushes the response.
func (w writer) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap returns the ResponseWriter it wraps, for http.ResponseController.
func (w writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// moveTrailers moves the Connect protocol's Trailer- spelling of the moved
// fields to the fields themselves, where the response has none of its own.
func moveTrailers(h http.Header) {
	for _, name := range moved {
		if len(keys(h, name)) > 0 {
			continue
		}
		for _, key := range keys(h, connectTrailerPrefix+name) {
			h[name] = append(h[name], h[key]...)
			delete(h, key)
		}
	}
}

// keys returns h's keys equal to name but for case. Handlers set keys that
// http.CanonicalHeaderKey leaves alone ("Trailer:www-authenticate", since
// ':' is no token character) or none at all (a map assignment of a gRPC
// metadata key, which is lower case).
func keys(h http.Header, name string) []string {
	var found []string
	for key := range h {
		if strings.EqualFold(key, name) {
			found = append(found, key)
		}
	}
	return found
}
