package connectauth_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	"github.com/grpcauth/grpcauth/connectauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// fieldErrors is an error type whose values cannot be compared with ==,
// like validation libraries' map-of-errors types.
type fieldErrors map[string]error

func (fieldErrors) Error() string { return "invalid request" }

// A handler's own error reaches the caller unchanged, even when its type
// is not comparable (the Interceptor must not compare error values with
// ==, which panics on a map type), unary and streaming alike.
func TestConnect_HandlerErrorOfAnUncomparableTypeReachesTheCaller(t *testing.T) {
	f := newFixture(t)
	fail := fieldErrors{"name": errors.New("required")}
	opts := func(name string) connect.HandlerOption {
		return connect.WithHandlerOptions(connect.WithSchema(method("TestService", name)), connect.WithInterceptors(connectauth.NewInterceptor(f.auth)))
	}
	mux := http.NewServeMux()
	mux.Handle("/authtest.v1.TestService/AllOf", connect.NewUnaryHandler("/authtest.v1.TestService/AllOf",
		func(context.Context, *connect.Request[authtestv1.AllOfRequest]) (*connect.Response[authtestv1.AllOfResponse], error) {
			return nil, fail
		}, opts("AllOf")))
	mux.Handle("/authtest.v1.TestService/ServerStream", connect.NewServerStreamHandler("/authtest.v1.TestService/ServerStream",
		func(context.Context, *connect.Request[authtestv1.ServerStreamRequest], *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
			return fail
		}, opts("ServerStream")))
	srv := serveTLS(t, connectauth.WrapHandler(mux))

	req := connect.NewRequest(&authtestv1.AllOfRequest{})
	req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read", "test:write"))
	_, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/AllOf").CallUnary(t.Context(), req)
	if !isHandlerError(err) {
		t.Errorf("unary: caller got %v, want the handler's error (unknown: invalid request)", err)
	}

	sreq := connect.NewRequest(&authtestv1.ServerStreamRequest{Count: 1})
	sreq.Header().Set("Authorization", "Bearer "+f.token(t, "test:read", "test:stream"))
	stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/ServerStream").CallServerStream(t.Context(), sreq)
	if err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
	}
	if err := stream.Err(); !isHandlerError(err) {
		t.Errorf("stream: caller got %v, want the handler's error (unknown: invalid request)", err)
	}
	_ = stream.Close()
}

// isHandlerError reports whether err is fieldErrors' as a client sees it.
func isHandlerError(err error) bool {
	var ce *connect.Error
	return errors.As(err, &ce) && ce.Code() == connect.CodeUnknown && ce.Message() == "invalid request"
}
