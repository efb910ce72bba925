package connectauth

import (
	"net/http"

	"github.com/grpcauth/grpcauth/internal/httpchallenge"
)

// ChallengeHeaders returns h, the handler in front of a grpc-go server
// with the grpcauth interceptors (connectrpc.com/vanguard's transcoder),
// with a refusal's challenge where HTTP clients look for it. The
// interceptors send the WWW-Authenticate challenge, and a demanded DPoP
// nonce, as gRPC trailers, which vanguard turns into the headers
// Trailer-WWW-Authenticate and Trailer-DPoP-Nonce of a Connect unary
// response: in a 401 or 403 response without WWW-Authenticate or
// DPoP-Nonce headers of its own, ChallengeHeaders moves them to
// WWW-Authenticate and DPoP-Nonce before the headers are written (RFC 9110
// §11.6.1 and RFC 6750 §3 want the challenge in that header, RFC 9449 §9
// the nonce in that one). Connect clients read them there as before
// (connect-go's Error.Meta, connect-es's ConnectError.metadata merge
// headers and trailers). A gRPC caller's WWW-Authenticate trailer, which
// net/http drops from HTTP/2 trailers and logs a line about in the
// server's ErrorLog for every refused call, is removed instead, as
// NewInterceptor leaves it out of a gRPC-protocol refusal.
//
// Put it outside the transcoder (and inside CORS, which then exposes both
// names). Streams pass through unchanged: their responses are 200, with
// the challenge in the protocol's own trailers. The writer h gets
// implements http.Flusher, as grpc.Server.ServeHTTP requires, and Unwrap
// for http.ResponseController.
//
// A nil h (or a nil pointer or func in it) is logged, as an error record
// of slog.Default(), when ChallengeHeaders is called, and every request
// is then answered with 500 Internal Server Error, rather than a panic on
// each: ChallengeHeaders cannot return an error.
func ChallengeHeaders(h http.Handler) http.Handler {
	if missing(h) {
		return noHandler(errNoHandler("ChallengeHeaders", h))
	}
	return httpchallenge.Handler(h)
}
