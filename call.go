package grpcauth

import (
	"context"
	"errors"
)

// ServeCall authorizes one call that reached the server through a transport
// other than grpc-go's own, and runs serve with the handler's context. It is
// the one decision core behind every adapter: package connectauth uses it
// for connect-go handlers (Connect, gRPC and gRPC-Web protocols), so that a
// call gets the same rule, checks, status codes, ErrorInfo reasons, decision
// record and metrics whichever protocol carried it. Applications serving
// with grpc-go use UnaryServerInterceptor and StreamServerInterceptor
// instead.
//
// ctx must describe the call as grpc-go would: its request headers as
// incoming metadata (metadata.NewIncomingContext, keys in lower case, with
// ":authority" set to the request's host, and no other key starting with
// ":" that the client could have chosen), and its connection as a peer
// (peer.NewContext) whose AuthInfo is credentials.TLSInfo when the
// connection is TLS, with the completed handshake's state (a state whose
// HandshakeComplete is false counts as plaintext and its certificate binds
// no token) and, in its CommonAuthInfo, SecurityLevel
// credentials.PrivacyAndIntegrity, as grpc.Server.ServeHTTP builds it
// (without the level it counts as plaintext, see Config.TransportSecurity),
// and whose LocalAddr is the
// listener's address (a Unix-domain socket's caller counts as local by
// it). An adapter whose
// request was not a POST to the procedure's path (a Connect GET, a REST
// route) sets ":method" and ":path" to the method and the path exactly as
// the client sent it (in net/http, cmp.Or(r.URL.RawPath,
// r.URL.EscapedPath()): EscapedPath alone re-escapes some paths, turning
// "%2F" into "/"), which a DPoP proof's htm and htu must then name; they
// default to "POST" and procedure.
// procedure is the full method name, "/pkg.Service/Method".
// For a unary call, req is the request message, checked against the rule's
// condition (a unary call without one is refused, CONDITION_ERROR, when the
// method has a condition); for a streaming call (stream true) req is
// ignored: a condition that does not read the request (RequestReader) is
// checked as the stream opens (and again when its token is re-verified),
// and one that does on each received message, through Guard.Received.
//
// When the call is refused, serve is not called and the error is a gRPC
// status error (status.FromError) carrying the google.rpc.ErrorInfo detail,
// exactly as the gRPC interceptors return it. Otherwise ServeCall returns
// what serve returns, unless the stream was ended meanwhile (its token
// expired or was refused on re-verification, its re-verified claims failed
// the rule or the token's binding, its sign-in became older than
// the rule's max_age_seconds, the re-verification panicked
// (codes.Internal, see Revalidator), or a received message failed the
// condition): it then returns that refusal whatever serve returned, so
// that the caller cannot mistake the cut for a normal end.
//
// Response metadata is set on ctx as grpc-go's interceptors set it: a
// refusal's www-authenticate challenge (and a USE_DPOP_NONCE refusal's
// dpop-nonce) with grpc.SetTrailer, a fresh dpop-nonce after a DPoP
// proof made with an older one with grpc.SetHeader; when ctx descends
// from a net/http request (http.ServerContextKey), the challenge with
// grpc.SetHeader too (see MetadataWWWAuthenticate). An adapter that
// relays them puts a grpc.ServerTransportStream in ctx
// (grpc.NewContextWithServerTransportStream), as connectauth does;
// without one they are dropped.
//
// A call that the same Authenticator admitted already, through ServeCall
// or its interceptors (ctx descends from the context it gave that call's
// serve or handler, for the same procedure and kind of call: an adapter
// installed twice), is not decided again: serve runs at once with ctx and
// a Guard that never fails, while the first admission's Guard goes on
// checking the stream.
//
// On an Authenticator that New did not build (a nil *Authenticator, whose
// New error went unchecked, or a zero Authenticator), ServeCall refuses
// every call, without calling serve, with codes.Internal, the message
// "grpcauth: internal error" and ReasonInternalError, rather than panic.
// The first such call in the process logs an error record of
// slog.Default(); later ones log nothing, so that callers cannot flood
// the log.
func (a *Authenticator) ServeCall(ctx context.Context, procedure string, stream bool, req any, serve func(ctx context.Context, g *Guard) error) error {
	if !a.built() {
		return refuseNotBuilt()
	}
	if serve == nil {
		return errors.New("grpcauth: ServeCall needs a serve function")
	}
	if a.admitted(ctx, procedure, stream) {
		// a decided this call already (its Interceptor is installed
		// twice): serve with the checks of the first run, which wrap
		// the stream serve runs on.
		return serve(ctx, &Guard{})
	}
	switch {
	case stream:
		req = nil // a stream's messages are checked by Guard.Received
	case req == nil:
		req = noRequest{} // a condition fails closed
	}
	ctx, claims, p, err := a.authorize(ctx, procedure, stream, req)
	if err != nil {
		return err
	}
	if !stream {
		return serve(ctx, &Guard{})
	}
	g := &Guard{gate: a.messageGate(p, procedure, claims)}
	if a.watchesStream(p, claims) {
		err = a.runUntilExpiry(ctx, procedure, p, claims, func(ctx context.Context, w *streamWatch) error {
			g.ctx, g.cut = ctx, w.cutErr
			if g.gate != nil {
				g.gate.bind(ctx, w)
			}
			return serve(ctx, g)
		})
	} else {
		if g.gate != nil {
			var release func()
			ctx, release = g.gate.bind(ctx, nil)
			defer release()
		}
		g.ctx = ctx
		err = serve(ctx, g)
	}
	if ferr := g.gate.err(); ferr != nil {
		return ferr
	}
	return err
}

// Guard carries the checks that go on after ServeCall admitted a streaming
// call: the token's expiry and re-verification, the sign-in's age under a
// rule that sets max_age_seconds, and the rule's condition on every
// received message. An adapter makes its stream's sends and
// receives fail with Err once it is not nil (a receive that was already
// waiting too, whatever it then returns, io.EOF included), and from then
// on keeps the response metadata (headers, trailers) the handler sets from
// the caller, as the gRPC interceptors' streams do (what the handler set
// before still goes out, with the refusal); and it passes every message
// the handler receives to Received. For a unary call both always return
// nil. An adapter that relays the metadata a handler sets with
// grpc.SetHeader and grpc.SetTrailer drops what it sets there once Err is
// not nil, too, with a grpc.ServerTransportStream in the handler's own
// context (as connectauth does), not in ServeCall's ctx, where grpcauth
// sets the cut's challenge once serve has returned.
type Guard struct {
	ctx  context.Context
	cut  func() error // nil when the stream's token is not watched
	gate *messageGate // nil when the method has no condition
}

// Err returns the status error every later send and receive of the stream
// must fail with: the stream's token expired or was refused on
// re-verification, its re-verified claims failed the rule or the token's
// binding, its sign-in became older than the rule's
// max_age_seconds, the re-verification panicked (codes.Internal, see
// Revalidator), or a received message failed the condition. It is nil
// while the stream may go on.
func (g *Guard) Err() error {
	if g.cut != nil {
		if err := g.cut(); err != nil {
			return err
		}
	}
	return g.gate.err()
}

// Received checks msg, a message the stream's handler has just received:
// that the stream was not cut while the receive waited (a message that
// arrives after the token expired, or was refused on re-verification, must
// not reach the handler), then the method's condition. It returns the
// refusal, a status error that the receive must return instead of msg
// (clearing msg where the handler could still read it), or nil. Once a
// message is refused, Err reports the refusal, the context ServeCall gave
// serve is cancelled (its cause the refusal, as a cut's is), and the
// stream must end.
func (g *Guard) Received(msg any) error {
	if g.cut != nil {
		if err := g.cut(); err != nil {
			return err
		}
	}
	if g.gate == nil {
		return nil
	}
	return g.gate.check(g.ctx, msg)
}
