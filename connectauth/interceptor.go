package connectauth

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"connectrpc.com/connect"
	"golang.org/x/net/http/httpguts"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/grpcauth/grpcauth"
)

// Interceptor is a connect.Interceptor that authorizes every call a
// connect-go handler receives with a grpcauth.Authenticator. Handlers read
// the caller's claims with grpcauth.ClaimsFromContext, as behind the
// grpc-go interceptors, and the request headers as incoming metadata
// (metadata.FromIncomingContext), as grpc-go hands them over: without the
// keys its transport keeps from handlers (te, grpc-timeout,
// grpc-encoding, grpc-status, grpc-message, grpc-message-type), nor the
// Connect protocol's counterparts (connect-timeout-ms: the caller's
// timeout is the context's deadline; content-encoding,
// connect-content-encoding), nor content-length, nor host (connect-go
// sets it from the request's Host; the host is ":authority", which
// WrapHandler passes on: grpc-go's server hands over no host key), nor
// HTTP/1.1's connection headers (connection, keep-alive, proxy-connection, upgrade,
// transfer-encoding, and an Upgrade to h2c's http2-settings), which
// HTTP/2 forbids, nor the headers meant for the hop the request came
// over: proxy-authorization (the caller's credentials for a proxy, never
// a token source: grpcauth reads one authorization header only), and
// expect and trailer, which net/http removes from HTTP/2 requests itself.
// Forwarded to another call, they would describe the caller's request,
// not the handler's, or hand the caller's proxy credentials on. Other
// headers that a Connection header names stay, for the authorization too:
// this server is their recipient. It does nothing on the client side.
//
// Make one with NewInterceptor. An Interceptor without an Authenticator
// (NewInterceptor(nil), a zero Interceptor, a nil *Interceptor) refuses
// every call: see NewInterceptor.
type Interceptor struct {
	auth *grpcauth.Authenticator

	// noAuthLogged: logNoAuthenticator logged that auth is nil. A
	// pointer, set by NewInterceptor, so that an Interceptor stays a
	// plain value that copies as before (go vet's copylocks flags a
	// copied atomic.Bool), and its copies log once between them; a zero
	// Interceptor has none and logs for each handler.
	noAuthLogged *atomic.Bool
}

var _ connect.Interceptor = (*Interceptor)(nil)

// NewInterceptor returns an Interceptor deciding with auth. Install it on
// every handler with connect.WithInterceptors, and wrap the server's
// handler with WrapHandler.
//
// With a nil auth (an Authenticator variable left unset, whose grpcauth.New
// error went unchecked), the Interceptor fails closed, as it cannot return
// an error: every call a handler built with it receives is refused, before
// the handler runs, with CodeInternal, the message "connectauth: internal
// error" and the ErrorInfo reason grpcauth.ReasonInternalError, and it logs
// an error record of slog.Default() (connectauth: the Interceptor has no
// Authenticator ...) once (its copies with it: an Interceptor may be
// copied), when a streaming handler is built with it or a unary handler
// receives its first call (not when the unary handler is built: connect-go
// wraps clients with the same method, and on a client the Interceptor
// does nothing, logging nothing). So is every call through a zero
// Interceptor or a nil *Interceptor, which log once per handler.
// An auth that grpcauth.New did not build (a zero grpcauth.Authenticator)
// refuses every call through its ServeCall, with the message "grpcauth:
// internal error" and the same code and reason, and logs once (see
// Authenticator.ServeCall).
func NewInterceptor(auth *grpcauth.Authenticator) *Interceptor {
	return &Interceptor{auth: auth, noAuthLogged: new(atomic.Bool)}
}

// WrapUnary authorizes a unary call before next runs. What the handler
// sets with grpc.SetHeader and grpc.SendHeader on its context goes out
// with the call's response headers, what it sets with grpc.SetTrailer with
// its trailers, with a response and with an error alike, as behind
// grpc-go (filtered as WrapStreamingHandler says); as there, grpc.SetHeader
// and grpc.SendHeader return an error after grpc.SendHeader.
func (i *Interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	if i == nil || i.auth == nil {
		// Logged at the handler's first call, not here: connect-go also
		// calls WrapUnary when a client is built (connect.NewClient, for
		// each client), whose calls pass.
		var logged atomic.Bool
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if req.Spec().IsClient {
				return next(ctx, req)
			}
			if logged.CompareAndSwap(false, true) {
				i.logNoAuthenticator()
			}
			return nil, internalError()
		}
	}
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		var (
			res connect.AnyResponse
			h   handlerResult
			gm  *guardedMetadata // the handler's, once it runs
		)
		rmd := &responseMetadata{method: req.Spec().Procedure}
		err := i.auth.ServeCall(callContext(ctx, req.Header(), req.Peer(), rmd), req.Spec().Procedure, false, req.Any(),
			func(ctx context.Context, g *grpcauth.Guard) error {
				gm = &guardedMetadata{method: rmd.method, guard: g}
				var herr error
				res, herr = next(grpc.NewContextWithServerTransportStream(ctx, gm), req)
				return h.record(herr)
			})
		if herr, ok := h.passed(err); ok {
			// The call's own response headers and trailers, which
			// connect-go sends with a response and with an error alike,
			// not the handler's response value: a handler may return one
			// shared value to every caller.
			var header, trailer http.Header
			if ci, ok := connect.CallInfoForHandlerContext(ctx); ok {
				header, trailer = ci.ResponseHeader(), ci.ResponseTrailer()
			} else if res != nil {
				header, trailer = res.Header(), res.Trailer()
			}
			if header != nil {
				rmd.moveTo(header)
				gm.sendHeader(header)
				gm.trailer.trailersIn(req.Peer().Protocol).moveTo(trailer)
			}
			return res, herr
		}
		return nil, connectError(err, rmd.trailersIn(req.Peer().Protocol))
	}
}

// WrapStreamingClient returns next unchanged: the interceptor is for
// servers.
func (i *Interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler authorizes a streaming call before next runs, checks
// every message the handler receives against the rule's condition, and,
// unless grpcauth.Config.SkipStreamExpiry is set, ends the stream with
// CodeUnauthenticated when its token expires (ACCESS_TOKEN_EXPIRED), is
// refused on re-verification (ACCESS_TOKEN_REVOKED; see
// grpcauth.Revalidator), or, on a method whose rule sets
// max_age_seconds, once its sign-in is older than that
// (INSUFFICIENT_USER_AUTHENTICATION, with the rule's step-up challenge):
// the handler's context is cancelled, its later
// sends and receives fail, and the response headers and trailers it sets
// from then on are never sent, as after a message the condition refused:
// what it set before still goes out with the refusal, and a map it took
// from ResponseHeader or ResponseTrailer before the end and writes to
// after is still sent (connect-go's metadata are plain maps, checked when
// the handler asks for one); what it sets from then on with grpc.SetHeader,
// grpc.SendHeader or grpc.SetTrailer on its context is dropped too (they
// return the refusal). Until then, these go out with the stream's response
// headers (with the first message the handler sends, or at its end) and
// trailers, as behind grpc-go; as there, grpc.SetHeader and grpc.SendHeader
// return an error once the headers went out (the first message sent) or
// grpc.SendHeader made them final, which here does not send them sooner
// than the first message. Keys the protocols keep for themselves
// (content-type, content-length, te, grpc-status, the encodings, ...) and
// names that are no HTTP field name (and values that are no HTTP field
// value) are dropped from them, as grpc-go's
// transport drops its reserved keys; in the gRPC protocol, whose trailers
// are HTTP trailers, so are the trailers net/http forbids (Authorization,
// WWW-Authenticate, Cache-Control, If-*, ...: it would drop them and log a
// line for each on every call). The cut carries the WWW-Authenticate challenge
// error="invalid_token" in the stream's trailers (Connect and gRPC-Web; a
// gRPC-protocol refusal carries none, see the package doc).
func (i *Interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	if i == nil || i.auth == nil {
		i.logNoAuthenticator()
		return func(context.Context, connect.StreamingHandlerConn) error { return internalError() }
	}
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		var (
			h  handlerResult
			gm *guardedMetadata // the handler's, once it runs
		)
		rmd := &responseMetadata{method: conn.Spec().Procedure}
		err := i.auth.ServeCall(callContext(ctx, conn.RequestHeader(), conn.Peer(), rmd), conn.Spec().Procedure, true, nil,
			func(ctx context.Context, g *grpcauth.Guard) error {
				rmd.moveTo(conn.ResponseHeader())
				gm = &guardedMetadata{method: rmd.method, guard: g}
				ctx = grpc.NewContextWithServerTransportStream(ctx, gm)
				return h.record(next(ctx, &guardedConn{StreamingHandlerConn: conn, guard: g, md: gm}))
			})
		if herr, ok := h.passed(err); ok {
			if gm != nil {
				gm.sendHeader(conn.ResponseHeader())
				gm.trailer.trailersIn(conn.Peer().Protocol).moveTo(conn.ResponseTrailer())
			}
			return herr
		}
		if gm != nil { // what the handler set before the refusal goes with it
			_ = rmd.add(gm.header.take())
			_ = rmd.add(gm.trailer.take())
		}
		return connectError(err, rmd.trailersIn(conn.Peer().Protocol))
	}
}

// handlerResult tells the handler's own result apart from a refusal that
// ServeCall returns instead (the call was refused before the handler ran,
// or its stream was cut). It hands ServeCall the handler's error inside a
// wrapper of its own, whose pointer identity says, without comparing the
// handler's error values (which may not be comparable: a map type
// implementing error would panic on ==), whether ServeCall passed it on.
type handlerResult struct {
	served  bool
	err     error
	wrapped *handlerError
}

// handlerError is a handler's error on its way through ServeCall.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// record notes that the handler ran and returned err, and returns what to
// give ServeCall.
func (h *handlerResult) record(err error) error {
	h.served, h.err = true, err
	if err == nil {
		return nil
	}
	h.wrapped = &handlerError{err}
	return h.wrapped
}

// passed reports whether err, what ServeCall returned, is the handler's
// own result, and returns that result.
func (h *handlerResult) passed(err error) (error, bool) {
	switch {
	case !h.served:
		return nil, false
	case h.wrapped == nil:
		return nil, err == nil
	}
	if we, ok := err.(*handlerError); ok && we == h.wrapped {
		return h.err, true
	}
	return nil, false
}

// guardedConn is a stream whose sends and receives fail once its guard
// reports an error (the token expired or was refused on re-verification, or
// a received message failed the condition), whose response metadata the
// handler can no longer reach from then on, and whose received messages
// go through the guard.
type guardedConn struct {
	connect.StreamingHandlerConn
	guard *grpcauth.Guard
	md    *guardedMetadata // what the handler sets through its context

	dropOnce sync.Once
	dropped  [2]http.Header // header and trailer maps that are never sent
}

// ResponseHeader returns the stream's response headers, or, once the
// guard reports an error, headers of the handler's own that connect-go
// never sends: as grpc-go's SetHeader fails after the stream ended, what
// the handler sets from then on must not reach a caller whose token ended
// or whose message was refused. What it set before still goes out.
// connect-go's headers are a plain map, checked when the handler asks for
// it: a map taken before the end and written after it is still sent.
func (c *guardedConn) ResponseHeader() http.Header {
	if c.guard.Err() != nil {
		return c.drop()[0]
	}
	return c.StreamingHandlerConn.ResponseHeader()
}

// ResponseTrailer is ResponseHeader for the trailers, which grpc-go's
// SetTrailer drops after the stream ended.
func (c *guardedConn) ResponseTrailer() http.Header {
	if c.guard.Err() != nil {
		return c.drop()[1]
	}
	return c.StreamingHandlerConn.ResponseTrailer()
}

// drop returns the header and trailer maps that stand in for the stream's
// once it ended, the same on every call, so that a handler reads back
// what it set there.
func (c *guardedConn) drop() *[2]http.Header {
	c.dropOnce.Do(func() { c.dropped = [2]http.Header{{}, {}} })
	return &c.dropped
}

func (c *guardedConn) Send(m any) error {
	if err := c.guard.Err(); err != nil {
		return connectError(err, nil)
	}
	c.md.sendHeader(c.StreamingHandlerConn.ResponseHeader()) // grpc.SetHeader's, with the first message
	return c.StreamingHandlerConn.Send(m)
}

// Receive checks the guard again once the receive has returned, as
// grpc-go's stream does: a receive already waiting when the stream was cut
// ends with the cut, whether a message came (it must not reach the
// handler) or the client's close (io.EOF, which the handler could take
// for a complete stream). A refused message is cleared from m, where
// connect.ClientStream.Msg would still show it to the handler.
func (c *guardedConn) Receive(m any) error {
	if err := c.guard.Err(); err != nil {
		return connectError(err, nil)
	}
	if err := c.StreamingHandlerConn.Receive(m); err != nil {
		if gerr := c.guard.Err(); gerr != nil {
			return connectError(gerr, nil)
		}
		return err
	}
	err := c.guard.Received(m)
	if pm, ok := m.(proto.Message); ok && err != nil {
		proto.Reset(pm)
	}
	return connectError(err, nil)
}

// callContext describes the call as grpc-go would for grpcauth: the
// request headers as incoming metadata (lower-case keys, the values of
// names equal but for case joined, a binary key's ("-bin") decoded from
// base64 (binaryValues); none of incomingReserved (te, grpc-timeout,
// connect-timeout-ms, content-length, host, connection, proxy-authorization,
// expect, ...), which say how the caller's request travels; ":authority", ":method" and ":path" from
// WrapHandler, and no other key starting with ":", as grpc-go drops them
// too, nor any other name that is no HTTP token: no client can send one,
// and strings.ToLower would fold its
// non-ASCII letters into ASCII ones, "Authorİzation" into
// "authorization"), the connection as a peer with its TLS
// state and remote address (WrapHandler's, when it ran: connect-go's
// Peer.Addr is the RemoteAddr of the request as it reached the handler,
// which a middleware in between may have rewritten; and the listener's
// address, as grpc.Server.ServeHTTP gives it, by which grpcauth knows a
// Unix-domain socket), and rmd as the transport stream that collects the
// response metadata grpcauth sets.
func callContext(ctx context.Context, h http.Header, p connect.Peer, rmd *responseMetadata) context.Context {
	md := make(metadata.MD, len(h)+3)
	for k, v := range h {
		if !httpguts.ValidHeaderFieldName(k) { // not ":authority", nor "Authorİzation"
			continue
		}
		key := strings.ToLower(k)
		if incomingReserved[key] { // te, grpc-timeout, ...
			continue
		}
		if strings.HasSuffix(key, "-bin") {
			v = binaryValues(v)
		}
		// Appended, not set: a name that is not in canonical form
		// ("authorization", set by a middleware) is another value of the
		// same key, as grpc-go makes it.
		if prev, ok := md[key]; ok {
			v = slices.Concat(prev, v)
		}
		if len(v) > 0 {
			md[key] = v
		}
	}
	pr := &peer.Peer{Addr: peerAddr(p.Addr)}
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		pr.Addr, pr.LocalAddr = peerAddr(info.remote), info.local
		for _, kv := range [...][2]string{{":authority", info.host}, {":method", info.method}, {":path", info.path}} {
			if kv[1] != "" {
				md[kv[0]] = []string{kv[1]}
			}
		}
		if info.tls != nil {
			pr.AuthInfo = credentials.TLSInfo{
				State:          *info.tls,
				CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
			}
		}
	}
	ctx = grpc.NewContextWithServerTransportStream(ctx, rmd)
	return peer.NewContext(metadata.NewIncomingContext(ctx, md), pr)
}

// binaryValues returns the values of a binary request header (its name
// ends in "-bin") decoded from base64, padded or not, as grpc-go hands
// them to a handler; a value that is not base64, which grpc-go refuses
// the call for, is left out.
func binaryValues(vs []string) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if b, err := connect.DecodeBinaryHeader(v); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

// peerAddr returns the peer's address, an "ip:port" string from net/http,
// as a *net.TCPAddr, or nil when it is not one (a Unix socket's peer, "@"):
// grpcauth then treats the connection as local only when its local address
// is a Unix socket.
func peerAddr(s string) net.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}

// connectError converts a grpcauth refusal, a gRPC status error, into the
// connect.Error with the same code, message and details (the
// google.rpc.ErrorInfo) and the response metadata rmd collected (the
// challenge of a refusal about the credentials), which connect-go then
// sends in whatever protocol the caller speaks.
func connectError(err error, rmd *responseMetadata) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	ce := connect.NewError(connect.Code(st.Code()), errors.New(st.Message()))
	if rmd != nil {
		rmd.moveTo(ce.Meta())
	}
	for _, d := range st.Proto().GetDetails() {
		m, err := d.UnmarshalNew()
		if err != nil {
			continue
		}
		if detail, err := connect.NewErrorDetail(m); err == nil {
			ce.AddDetail(detail)
		}
	}
	return ce
}
