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
// ":authority" set to the request's host), and its connection as a peer
// (peer.NewContext) whose AuthInfo is credentials.TLSInfo when the
// connection is TLS. procedure is the full method name, "/pkg.Service/Method";
// stream says whether the method is streaming.
//
// When the call is refused, serve is not called and the error is a gRPC
// status error (status.FromError) carrying the google.rpc.ErrorInfo detail,
// exactly as the gRPC interceptors return it. Otherwise ServeCall returns
// what serve returns, with one exception: a stream whose token expires
// while it runs (see Config.SkipStreamExpiry) has serve's context cancelled
// at the token's expiry plus the clock skew, expired then reports true, and
// ServeCall returns the ACCESS_TOKEN_EXPIRED status error whatever serve
// returned, so that the caller cannot mistake the cut for a normal end. An
// adapter should make its stream's sends and receives fail once expired
// reports true.
func (a *Authenticator) ServeCall(ctx context.Context, procedure string, stream bool, serve func(ctx context.Context, expired func() bool) error) error {
	if serve == nil {
		return errors.New("grpcauth: ServeCall needs a serve function")
	}
	ctx, claims, err := a.authorize(ctx, procedure, stream)
	if err != nil {
		return err
	}
	if !stream || !a.watchesStream(claims) {
		return serve(ctx, notExpired)
	}
	return a.runUntilExpiry(ctx, claims.Expiry(), serve)
}

func notExpired() bool { return false }
