package connectauth

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync/atomic"

	"golang.org/x/net/http/httpguts"

	"github.com/grpcauth/grpcauth/internal/judged"
)

// requestInfoKey is the context key of a request's *requestInfo: that of
// package judged, through which grpcauth's decision marks the request
// judged, whichever adapter (this package's Interceptor, the grpc-go
// interceptors under grpc.Server.ServeHTTP or vanguard) made it.
type requestInfoKey = judged.Key

// requestInfo is what the interceptor needs of the HTTP request that
// connect-go does not pass on, and what WrapHandler's guard needs to know
// of the calls it served.
type requestInfo struct {
	host   string
	method string   // the HTTP method the client sent
	path   string   // the escaped path the client sent
	remote string   // the connection's remote address, as the server set it
	local  net.Addr // the server's own address on the connection
	tls    *tls.ConnectionState

	// handedOff: the request asked to hand its connection over to h2c
	// (h2cHandoff) and a handler took the connection (Hijack), so its
	// calls reach a WrapHandler inside as requests of their own, which
	// it judges by their own request lines.
	handedOff atomic.Bool

	// judged: grpcauth decided a call of this request (judged.Mark),
	// which lets its response through the guard.
	judged atomic.Bool
	guard  guardWriter // the ResponseWriter of an RPC request
}

// MarkJudged implements judged.Marker.
func (i *requestInfo) MarkJudged() { i.judged.Store(true) }

// handoffWriter is the ResponseWriter of a request that asks for an h2c
// handoff: it records in info that a handler took the connection over, as
// h2c.NewHandler does through http.ResponseController.
type handoffWriter struct {
	http.ResponseWriter
	info *requestInfo
}

// Unwrap lets http.ResponseController reach the server's ResponseWriter.
func (w handoffWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher, which handlers such as connect-go's
// assert.
func (w handoffWriter) Flush() { _ = w.FlushError() }

// FlushError is what http.ResponseController.Flush calls: it reports the
// server's write error, which Flush cannot.
func (w handoffWriter) FlushError() error {
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker and records the handoff.
func (w handoffWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.info.handedOff.Store(true)
	}
	return c, rw, err
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
// X-Forwarded-For, which any client can send. For HTTP/2 without TLS,
// prefer http.Server.Protocols (SetUnencryptedHTTP2), under which every
// call is a request of its own. With the deprecated
// golang.org/x/net/http2/h2c, wrap the handler inside h2c.NewHandler: the
// calls of an HTTP/2 connection reach that handler as requests of their
// own, while a WrapHandler outside it sees only the connection's first
// request ("PRI *"), which every call would inherit; and put
// http.MaxBytesHandler around h2c.NewHandler, which reads an Upgrade
// request's body into memory, unbounded, before any handler runs.
//
// A WrapHandler inside another (a handler that wraps itself, mounted in
// the application's outermost WrapHandler) serves the request the outer
// one saw, the client's: a middleware between the two that rewrites
// RemoteAddr cannot make a remote caller local, and one that strips a
// path prefix or rewrites the host does not change what a DPoP proof must
// name. The one exception is h2c: where the outer request hands its
// connection over to HTTP/2 ("PRI *", or an Upgrade to h2c of a request
// that is no RPC: the guard below hands no unjudged RPC request's
// connection to a handler, and an RPC request's Upgrade to h2c is
// dropped, so that h2c serves it over HTTP/1.1), the inner
// WrapHandler takes the host, method and path of each call it serves, and
// keeps the outer's remote and local addresses and TLS state, the
// connection's. A request that asks for the upgrade but is not upgraded
// (no h2c handler took its connection) is served as the outer saw it,
// even where a middleware presents it as HTTP/2 (vanguard does, for a
// gRPC target).
//
// WrapHandler also withholds the answer of a handler that runs without
// the Interceptor (connect-go installs interceptors per handler: one
// mounted without connect.WithInterceptors would serve every caller
// without a token). Each call grpcauth decides marks its request (this
// package's Interceptor, and the grpc-go interceptors of a grpc.Server
// inside h, directly or behind vanguard); the response of an RPC request
// (gRPC, gRPC-Web or Connect streaming content, application/proto, a
// Connect-Protocol-Version header or connect query parameter, or a
// hand-made Connect unary call: a JSON POST, or a GET with the encoding
// and message query parameters, to a path that ends in
// /package.Service/Method naming a method of a service registered in
// protoregistry.GlobalFiles, as protoc-gen-go's code registers those
// protoc-gen-connect-go's handlers serve) that nothing marked is
// replaced, once it begins with a message (or, a stream that sends none,
// once its handler returns with an OK end, and a Connect unary answer
// with an empty body), with CodeInternal, the message
// "connectauth: internal error" and the ErrorInfo reason
// grpcauth.ReasonInternalError, in the call's protocol, without the
// handler's headers and trailers, and the path is logged as an error
// record of slog.Default(), once (64 paths at most); an informational
// status it sends first (103 Early Hints) is dropped. An error written
// before any decision (a malformed request, a 404, a stream that ends
// with an error before any message), and a response whose
// Content-Type is not an application/ type, as every RPC's answer is (a
// plain handler that a client reached with an RPC's headers), go out as
// they are, and other requests are untouched: a plain JSON route whose
// path only has a procedure's shape (/hooks/example.com/receive) among
// them. A service whose descriptors are not in protoregistry.GlobalFiles
// (built at run time) is recognised by its clients' protocol headers and
// content types only, not by a hand-made call's path. The guarding writer
// has no Unwrap, which would hand out the server's writer: it passes
// http.ResponseController's Flush, deadlines and EnableFullDuplex on, and
// refuses Hijack to a call not judged, whatever it asks for (an Upgrade
// to h2c too, which its client chooses), answering
// it as a withheld one once its handler set an application/ type. It is a
// tripwire for the first call in development, not the protection: the
// handler has run, with its side effects, by the time its answer is
// withheld. There is no opt-out: give a handler meant to be open the
// Interceptor and a public rule (grpcauth.Config.Public), or mount one
// that must bypass grpcauth (a reverse proxy to a backend that
// authenticates itself) outside WrapHandler.
//
// A nil h (or a nil *http.ServeMux or other nil pointer or func in it)
// is logged, as an error record of slog.Default(), when WrapHandler is
// called, and every request is then answered with 500 Internal Server
// Error, rather than a panic on each: WrapHandler cannot return an error.
// A nil handler inside another (http.StripPrefix("/x", nil)) is not seen:
// the requests that reach it panic, as without WrapHandler.
func WrapHandler(h http.Handler) http.Handler {
	if missing(h) {
		return noHandler(errNoHandler("WrapHandler", h))
	}
	log := new(unjudgedLog)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outer, nested := r.Context().Value(requestInfoKey{}).(*requestInfo)
		if nested && !(outer.handedOff.Load() && r.ProtoMajor == 2) {
			// Inside another WrapHandler, on its request, whatever a
			// middleware between them made of it. Only an HTTP/2 call
			// is one of a connection handed over to h2c: an HTTP/1.1
			// request that asked for the upgrade and reached this
			// handler was not upgraded (or is the upgrade's own
			// request, which the outer saw), and its client chose
			// its headers. Nor does a middleware that presents such a
			// request as HTTP/2 (vanguard does, for a gRPC target)
			// make it one: no handler took its connection.
			h.ServeHTTP(w, r)
			return
		}
		p := rpcProtocolOf(r)
		if p != notRPC {
			r = withoutH2CUpgrade(r)
		}
		info := &requestInfo{host: r.Host, method: r.Method, path: cmp.Or(r.URL.RawPath, r.URL.EscapedPath()), remote: r.RemoteAddr, tls: r.TLS}
		info.local, _ = r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if nested {
			// A call of the h2c connection the outer saw: this call's
			// request, on the outer's connection.
			info.remote, info.local, info.tls = outer.remote, outer.local, outer.tls
		} else if h2cHandoff(r) {
			w = handoffWriter{w, info}
		}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
		if p == notRPC {
			h.ServeHTTP(w, r)
			return
		}
		info.guard = guardWriter{ResponseWriter: w, info: info, contentType: r.Header.Get("Content-Type"), log: log, protocol: p}
		h.ServeHTTP(&info.guard, r)
		info.guard.finish()
	})
}

// withoutH2CUpgrade returns r without an Upgrade to h2c (and its
// HTTP2-Settings), which the guard would let no handler of an RPC
// request take (guardWriter.Hijack): h2c.NewHandler inside then serves
// the request over HTTP/1.1, as a server may ignore an Upgrade (RFC 9110
// section 7.8), where it would answer 500 when Hijack failed, and does
// not read its whole body into memory first.
func withoutH2CUpgrade(r *http.Request) *http.Request {
	if !httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "h2c") {
		return r
	}
	r = r.Clone(r.Context())
	r.Header.Del("Upgrade")
	r.Header.Del("Http2-Settings")
	return r
}

// h2cHandoff reports whether r may hand its connection over to HTTP/2
// without TLS, as h2c.NewHandler does with the preface of a client with
// prior knowledge ("PRI *", RFC 9113 section 3.3) and with an HTTP/1.1
// upgrade to h2c (RFC 7540 section 3.2): the calls of the connection then
// reach the handler as requests of their own, whose contexts derive from
// r's. The preface is recognised exactly as h2c does (method PRI, path *,
// HTTP/2.0, no headers), so an HTTP/2 request that merely uses the method
// PRI is not one. An Upgrade errs on the side of a handoff: a WrapHandler
// inside judges by their own requests only the HTTP/2 calls it serves
// after a handler took the connection over (handoffWriter), which a
// client cannot make of an HTTP/1.1 request with these headers, nor a
// middleware that presents that request as HTTP/2.
func h2cHandoff(r *http.Request) bool {
	priorKnowledge := r.Method == "PRI" && len(r.Header) == 0 && r.URL.Path == "*" && r.Proto == "HTTP/2.0" // h2c's own test
	return priorKnowledge || httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "h2c")
}
