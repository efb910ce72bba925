// Package connectauth enforces grpcauth's rules on connect-go handlers, for
// every protocol a connect-go handler serves: Connect (what browsers speak
// with fetch), gRPC and gRPC-Web. The rules are the same
// (grpcauth.v1.method) and (grpcauth.v1.service) options, the decision is
// grpcauth's own (Authenticator.ServeCall), and a refused call gets the
// same code, message and google.rpc.ErrorInfo reason as over grpc-go.
//
// It is a module of its own, github.com/grpcauth/grpcauth/connectauth, so
// that a grpc-go server importing grpcauth never pulls connect-go into its
// build.
//
// Use:
//
//	auth, err := grpcauth.New(grpcauth.Config{Verifier: v, Conditions: conds}) // conds: celcond.New, for CreateItem's CEL condition
//	if err != nil {
//		return err
//	}
//	mux := http.NewServeMux()
//	path, h := itemsv1connect.NewItemServiceHandler(svc,
//		connect.WithInterceptors(connectauth.NewInterceptor(auth)),
//		connect.WithReadMaxBytes(4<<20)) // connect-go reads messages unbounded by default
//	mux.Handle(path, h)
//	srv := &http.Server{
//		Addr:    addr,
//		Handler: connectauth.WrapHandler(mux), // TLS state, :authority, method, path and addresses for the interceptor
//	}
//
// WrapHandler passes each request's TLS state, host, HTTP method, path,
// remote address and the listener's local address to the interceptor, as
// the server received the request: a middleware inside it that rewrites
// RemoteAddr from a forwarded header does not make a remote caller local,
// and a plaintext caller over a Unix-domain socket, known by the
// listener's address, counts as local, as over grpc-go. For HTTP/2
// without TLS, let the http.Server speak it (http.Server.Protocols with
// SetUnencryptedHTTP2), which hands WrapHandler each call. With the
// deprecated golang.org/x/net/http2/h2c instead, put WrapHandler inside
// h2c.NewHandler, so that it sees each call rather than the connection's
// first request, and bound that first request with http.MaxBytesHandler
// around h2c.NewHandler: h2c reads the body of an Upgrade request into
// memory before any handler runs, and so before any token is checked.
// Without WrapHandler a call is treated as arriving on a plaintext
// connection, so the default grpcauth.TransportSecureOrLocal accepts
// tokens only from loopback peers (a Unix-socket caller is refused; the
// peer is the RemoteAddr that reaches connect-go's handler, which a
// middleware that sets it from X-Forwarded-For lets any client choose),
// RFC 8705 certificate binding cannot be checked, and a DPoP proof is
// refused (DPOP_PROOF_INVALID) unless its htu names an origin listed in
// grpcauth.Config.DPoP.Origins: the interceptor cannot learn the host the
// client called, so no htu matches the request's own URL. Such a proof
// must also name POST and the procedure's path, even for a
// Connect-protocol GET.
//
// Serving browsers from a grpc-go server instead: wrap the *grpc.Server in
// connectrpc.com/vanguard's vanguardgrpc.NewTranscoder, bounding what it
// buffers (vanguard.WithMaxMessageBufferBytes: 4 GiB by default, read
// before any interceptor runs). The grpc-go interceptors then see every
// Connect and gRPC-Web call as a gRPC call. Of this package, put
// ChallengeHeaders around the transcoder, so that a Connect unary refusal
// carries its challenge in the WWW-Authenticate header, not only as
// Trailer-WWW-Authenticate, and a gRPC refusal makes net/http log nothing;
// and CORS for pages on other origins (docs/browsers.md).
//
// CORS and NewCORS let a browser page on another origin call the service
// and read the status, ErrorInfo details and the WWW-Authenticate and
// DPoP-Nonce headers of a refusal, also under the names
// Trailer-WWW-Authenticate and Trailer-DPoP-Nonce, in which a Connect
// unary response through vanguard carries them without ChallengeHeaders.
// NewCORS refuses an origin no browser sends ("*", a wildcard host,
// "null", a path), which would never match, and allows further request
// headers (traceparent), methods (PUT, PATCH, DELETE for REST routes a
// transcoder serves) and exposed response headers. The interceptor leaves the WWW-Authenticate
// challenge out of a refusal in the gRPC protocol (net/http would drop it
// from the HTTP/2 trailers and log a line per call); Connect and gRPC-Web
// callers get it.
package connectauth
