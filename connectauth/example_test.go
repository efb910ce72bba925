package connectauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// Example serves a connect-go handler behind the Interceptor and calls it
// with the Connect protocol, without a token and with one: the refusal
// carries the same code and ErrorInfo reason as over grpc-go. A generated
// handler (protoc-gen-connect-go) takes the same options.
func Example() {
	iss, err := grpcauthtest.Start(grpcauthtest.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer iss.Close()
	ctx := context.Background()
	v, err := verifier.New(ctx, verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()
	const check = "/grpc.health.v1.Health/Check"
	auth, err := grpcauth.New(grpcauth.Config{
		Verifier: v,
		Rules:    map[string]*grpcauthv1.Rule{check: {Scopes: []string{"health:read"}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	mux := http.NewServeMux()
	mux.Handle(check, connect.NewUnaryHandler(check,
		func(ctx context.Context, _ *connect.Request[healthpb.HealthCheckRequest]) (*connect.Response[healthpb.HealthCheckResponse], error) {
			claims, _ := grpcauth.ClaimsFromContext(ctx)
			fmt.Println("handler runs for", claims.ClientID())
			return connect.NewResponse(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}), nil
		},
		connect.WithInterceptors(connectauth.NewInterceptor(auth)),
		connect.WithReadMaxBytes(4<<20)))
	srv := httptest.NewServer(connectauth.WrapHandler(mux)) // plaintext on loopback: local
	defer srv.Close()

	client := connect.NewClient[healthpb.HealthCheckRequest, healthpb.HealthCheckResponse](srv.Client(), srv.URL+check)
	_, err = client.CallUnary(ctx, connect.NewRequest(&healthpb.HealthCheckRequest{}))
	fmt.Println(connect.CodeOf(err), reason(err))

	tok, err := iss.Token("svc", "health:read")
	if err != nil {
		fmt.Println(err)
		return
	}
	req := connect.NewRequest(&healthpb.HealthCheckRequest{})
	req.Header().Set("Authorization", "Bearer "+tok)
	res, err := client.CallUnary(ctx, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Msg.GetStatus())
	// Output:
	// unauthenticated CREDENTIALS_MISSING
	// handler runs for svc
	// SERVING
}

// reason returns the grpcauth ErrorInfo reason of a connect-go error.
func reason(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if info, ok := v.(*errdetails.ErrorInfo); ok && info.GetDomain() == grpcauth.ErrorDomain {
				return info.GetReason()
			}
		}
	}
	return ""
}
