// Package judged carries, in an HTTP request's context, the mark by which
// grpcauth's decision tells connectauth.WrapHandler, around the handlers,
// that a call of the request went through it. WrapHandler withholds the
// response message of an RPC request that no interceptor judged: a
// connect-go handler mounted without connect.WithInterceptors would
// otherwise serve every caller without authentication, silently.
//
// The mark is set for every call grpcauth decides, admitted or refused,
// whichever adapter brought it there (the grpc-go interceptors under
// grpc.Server.ServeHTTP or a vanguard transcoder, connectauth's
// Interceptor, ServeCall), as long as the call's context descends from
// the request's:
//
//	// WrapHandler, per request (info implements Marker):
//	ctx := context.WithValue(r.Context(), judged.Key{}, info)
//	// grpcauth, per decided call:
//	judged.Mark(ctx)
package judged
