package connectauth

import (
	"net/http"
	"strings"
	"sync"

	"connectrpc.com/connect"
	"golang.org/x/net/http/httpguts"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/internal/ascii"
)

// responseMetadata collects the response metadata grpcauth sets while it
// decides a call (grpc.SetHeader and grpc.SetTrailer: the www-authenticate
// challenge of a refusal about the credentials, a fresh dpop-nonce),
// standing in for the grpc.ServerTransportStream that grpc-go would put in
// the context, so that the Interceptor can send it to a connect-go caller
// as response headers.
type responseMetadata struct {
	method string

	mu sync.Mutex
	md metadata.MD
}

var _ grpc.ServerTransportStream = (*responseMetadata)(nil)

func (r *responseMetadata) Method() string { return r.method }

func (r *responseMetadata) add(md metadata.MD) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.md = metadata.Join(r.md, md)
	return nil
}

func (r *responseMetadata) SetHeader(md metadata.MD) error  { return r.add(md) }
func (r *responseMetadata) SendHeader(md metadata.MD) error { return r.add(md) }
func (r *responseMetadata) SetTrailer(md metadata.MD) error { return r.add(md) }

// guardedMetadata is the grpc.ServerTransportStream a streaming handler's
// context carries, in place of its call's responseMetadata: what the
// handler sets with grpc.SetHeader and grpc.SendHeader goes out with the
// stream's response headers (moved there with the first message it sends,
// or at its end), what it sets with grpc.SetTrailer with its trailers,
// as behind grpc-go; a refusal carries both. Once the guard reports that
// the stream ended, all three drop what they are given and return the
// guard's error (the refusal), as the stream's ResponseHeader and
// ResponseTrailer do (guardedConn), so that a handler that goes on cannot
// send metadata to a caller whose token ended or whose message was
// refused. grpcauth's own metadata (the cut's challenge) goes to the
// call's responseMetadata through ServeCall's context.
//
// Response headers go out once, as behind grpc-go: with the first message
// the handler sends (connect-go has no way to send them sooner, so
// grpc.SendHeader marks them final without sending them), or at the end.
// From then on grpc.SetHeader and grpc.SendHeader return errHeaderSent,
// where they would otherwise succeed and their metadata never reach the
// caller.
type guardedMetadata struct {
	method          string
	guard           *grpcauth.Guard
	header, trailer responseMetadata
	headerSent      bool // under header.mu: SetHeader and SendHeader refuse
}

// errHeaderSent is what grpc.SetHeader and grpc.SendHeader return once a
// stream's response headers went out, with grpc-go's code for it.
var errHeaderSent = status.Error(codes.Internal, "connectauth: the response headers were already sent")

var _ grpc.ServerTransportStream = (*guardedMetadata)(nil)

func (g *guardedMetadata) Method() string { return g.method }

func (g *guardedMetadata) add(r *responseMetadata, md metadata.MD) error {
	if err := g.guard.Err(); err != nil {
		return err
	}
	return r.add(md)
}

// setHeader adds md to the response headers unless they went out; send
// (grpc.SendHeader) makes them final.
func (g *guardedMetadata) setHeader(md metadata.MD, send bool) error {
	if err := g.guard.Err(); err != nil {
		return err
	}
	g.header.mu.Lock()
	defer g.header.mu.Unlock()
	if g.headerSent {
		return errHeaderSent
	}
	g.header.md = metadata.Join(g.header.md, md)
	g.headerSent = send
	return nil
}

// sendHeader moves the response headers to h, the stream's, as they go
// out, and makes them final.
func (g *guardedMetadata) sendHeader(h http.Header) {
	g.header.mu.Lock()
	g.headerSent = true
	g.header.mu.Unlock()
	g.header.moveTo(h)
}

func (g *guardedMetadata) SetHeader(md metadata.MD) error  { return g.setHeader(md, false) }
func (g *guardedMetadata) SendHeader(md metadata.MD) error { return g.setHeader(md, true) }
func (g *guardedMetadata) SetTrailer(md metadata.MD) error { return g.add(&g.trailer, md) }

// take returns the metadata collected so far and forgets it.
func (r *responseMetadata) take() metadata.MD {
	r.mu.Lock()
	defer r.mu.Unlock()
	md := r.md
	r.md = nil
	return md
}

// moveTo moves the metadata collected so far to h, with the HTTP spelling
// of the two names grpcauth uses (WWW-Authenticate, DPoP-Nonce), which
// connectauth.CORS exposes to pages. Moved, not copied: a stream refused
// after its start (cut, or a message the condition refused) sent its
// admission's DPoP-Nonce with the response headers already, and its
// refusal must not repeat it in the trailers. A key that is no HTTP
// field name or that the protocols keep for themselves (protocolKey) is
// dropped, as grpc-go's transport drops its reserved keys; the value of a
// binary key ("-bin") goes in base64, as grpc-go sends it and
// connect.DecodeBinaryHeader reads it, and another value that is no HTTP
// field value (a control character: grpc-go's metadata allows only
// printable ASCII there) is dropped, as net/http drops it from an HTTP/2
// response, where it would break an HTTP/1.1 one.
func (r *responseMetadata) moveTo(h http.Header) {
	for k, vs := range r.take() {
		if protocolKey(k) {
			continue
		}
		binary := strings.HasSuffix(ascii.Lower(k), "-bin")
		for _, v := range vs {
			if binary {
				v = connect.EncodeBinaryHeader([]byte(v))
			} else if !httpguts.ValidHeaderFieldValue(v) {
				continue // net/http drops it from HTTP/2; in HTTP/1.1 it breaks the response
			}
			h.Add(k, v) // http.Header.Add canonicalises the name
		}
	}
}

// grpcReservedKeys are the keys grpc-go's transport reserves
// (isReservedHeader) and keeps from a handler's incoming metadata, where
// it passes on only content-type and user-agent of its reserved keys: the
// timeout, the message encoding, the status and "te".
var grpcReservedKeys = []string{"grpc-message-type", "grpc-encoding", "grpc-message", "grpc-status", "grpc-timeout", "te"}

// incomingReserved are the request keys callContext leaves out of the
// incoming metadata, those that say how this request travels rather than
// what the caller sends: grpcReservedKeys, as grpc-go does; the Connect
// protocol's counterparts of grpc-timeout (connect-timeout-ms, which
// connect-go turns into the context's deadline) and of grpc-encoding
// (content-encoding, connect-content-encoding: connect-go has decoded the
// message); the body's length (content-length), which grpc-go's clients
// never send and connect-go's and browsers do; "host", which connect-go
// sets on every request from Request.Host, the host the caller named
// (grpc-go's server hands no handler a host key: gRFC A41 has it discard
// one beside :authority, which carries the host, here from WrapHandler);
// HTTP/1.1's connection headers (connectionKeys); and the headers meant
// for the hop the request came over (hopKeys). A handler that forwards its
// incoming metadata to another call then declares neither the caller's
// body length nor its encoding for its own request, which a net/http
// server refuses (PROTOCOL_ERROR) or cannot decode, nor hands on the
// caller's timeout, which the deadline carries, "te: trailers", its
// connection's headers, its credentials for a proxy, or a host of the
// caller's choosing beside the backend's own :authority (a handler behind
// grpc.Server.ServeHTTP or vanguard there reads it as a "host" key), in
// any protocol.
var incomingReserved = keySet(grpcReservedKeys, connectionKeys, hopKeys,
	[]string{"connect-timeout-ms", "content-encoding", "connect-content-encoding", "content-length", "host"})

// hopKeys are request headers meant for the hop the request came over,
// not for the handler, which callContext leaves out of the incoming
// metadata: Proxy-Authorization, the caller's credentials for a proxy
// (RFC 9110 section 11.7.2), which net/http/httputil.ReverseProxy
// removes as hop-by-hop and which must not reach another call's server
// through a handler that forwards its metadata (grpcauth takes
// credentials from authorization alone); Expect, which asks for a 100
// Continue before this request's body; and Trailer, which names this
// request's trailer fields. net/http removes the last two from an HTTP/2
// request, so no handler behind grpc-go sees them, and leaves them in an
// HTTP/1.1 one (Trailer when the body has a Content-Length).
var hopKeys = []string{"proxy-authorization", "expect", "trailer"}

// connectionKeys are HTTP/1.1's framing and connection headers, which
// HTTP/2 forbids (RFC 9113 section 8.2.2), so that no handler behind
// grpc-go sees them, and which net/http leaves in an HTTP/1.1 request's
// headers (browsers send Connection: keep-alive; Transfer-Encoding it
// removes itself), and HTTP2-Settings, which RFC 7540 section 3.2.1 makes
// connection-specific: an Upgrade to h2c carries it, and h2c.NewHandler
// serves that request's call with it. callContext leaves them out of the
// incoming metadata: forwarded to another call through a grpc-go client,
// which sends them, a "connection" key makes the grpc-go server refuse the
// stream as malformed (PROTOCOL_ERROR). Other headers that a Connection
// header names stay, as net/http leaves them: RFC 9110 section 7.6.1 has
// an intermediary remove them before it forwards a message, and this
// server is their recipient; dropping them would let a caller withhold
// any header from the authorization and the handler, even one that a
// proxy in front adds, where it passes the caller's Connection header on.
var connectionKeys = []string{"transfer-encoding", "connection", "keep-alive", "proxy-connection", "upgrade", "http2-settings"}

// protocolKeys are the response metadata keys that a handler's
// grpc.SetHeader, grpc.SendHeader and grpc.SetTrailer do not send: those
// grpc-go's transport drops (grpcReservedKeys, content-type, user-agent),
// HTTP/1.1's connection headers (connectionKeys) and those connect-go
// keeps out of a unary handler's headers and
// trailers (content-length, the encodings, connect-timeout-ms, ...). A
// stream's metadata goes to its HTTP response as it is, so without this a
// handler that forwards its incoming metadata, every request header
// (Content-Length and Content-Type included), would declare the caller's
// body length and encodings for its own response, which the client then
// cannot read.
var protocolKeys = keySet(grpcReservedKeys, connectionKeys, []string{
	"content-type", "user-agent", // grpc-go's reserved keys that it passes on to handlers
	// connect-go's protocol headers
	"content-length", "content-encoding", "host", "trailer", "date",
	"accept-encoding", "connect-content-encoding", "connect-accept-encoding",
	"connect-timeout-ms", "connect-protocol-version", "grpc-accept-encoding",
	"grpc-status-details-bin",
})

// keySet returns the keys of lists as a set.
func keySet(lists ...[]string) map[string]bool {
	set := map[string]bool{}
	for _, l := range lists {
		for _, k := range l {
			set[k] = true
		}
	}
	return set
}

// protocolKey reports whether a response metadata key is dropped: one in
// protocolKeys, in any case, or one that is no HTTP field name (a
// pseudo-header such as ":authority").
func protocolKey(k string) bool {
	return !httpguts.ValidHeaderFieldName(k) || protocolKeys[ascii.Lower(k)]
}

// trailersIn returns r, ready to go as the trailers of a call speaking
// protocol (connect.Peer.Protocol): what a stream handler sets with
// grpc.SetTrailer, and a refusal's metadata. In gRPC these are HTTP
// trailers, where net/http drops the names RFC 9110 (section 6.5.1)
// forbids in trailers (httpguts.ValidTrailerHeader: WWW-Authenticate,
// Authorization, Cache-Control, If-*, the framing headers, ...) and writes
// a line to the server's ErrorLog for each, on each call: a refusal's
// challenge, or a handler that forwards its incoming metadata as trailers,
// would let any caller flood the log. Those keys are left out there,
// over HTTP/1.1 too, which connect-go also serves gRPC over: there
// net/http would write them (it checks only the names a Trailer header
// declares, and connect-go writes its trailers through
// http.TrailerPrefix), but RFC 9110 forbids a sender to generate them,
// and a gRPC caller gets the same trailers over either version. What a
// handler writes to connect-go's ResponseTrailer map itself is not
// filtered. Connect and gRPC-Web carry trailers in the body and keep them
// all.
func (r *responseMetadata) trailersIn(protocol string) *responseMetadata {
	if protocol == connect.ProtocolGRPC {
		r.mu.Lock()
		for k := range r.md {
			if !httpguts.ValidTrailerHeader(k) {
				delete(r.md, k)
			}
		}
		r.mu.Unlock()
	}
	return r
}
