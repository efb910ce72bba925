// Package httpchallenge puts the challenge of a refusal that a grpc-go
// server sends as gRPC trailers where HTTP clients look for it, when the
// server is reached through a translating handler such as
// connectrpc.com/vanguard's transcoder. connectauth.ChallengeHeaders
// exports it; the items example's web port uses it directly.
//
//	transcoder, err := vanguardgrpc.NewTranscoder(grpcServer)
//	if err != nil {
//		return err
//	}
//	mux.Handle("POST /items.v1.ItemService/", httpchallenge.Handler(transcoder))
package httpchallenge
