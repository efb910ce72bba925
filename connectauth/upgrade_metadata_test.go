package connectauth_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc/metadata"

	"github.com/grpcauth/grpcauth/connectauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// The call an HTTP/1.1 Upgrade to h2c carries (RFC 7540 section 3.2),
// which h2c.NewHandler serves as the connection's first HTTP/2 stream
// with the request's headers as they came, reaches the handler without
// its HTTP2-Settings header, which that section makes a connection-specific
// field (the client must name it in Connection), nor Connection and
// Upgrade: forwarded through a grpc-go client, it would be a
// connection-specific field in an HTTP/2 request, which RFC 9113 section
// 8.2.2 forbids. Before, connection and upgrade were left out and
// http2-settings reached the handler.
func TestConnect_H2CUpgradeCallHasNoConnectionSpecificMetadata(t *testing.T) {
	f := newFixture(t)
	const procedure = "/authtest.v1.TestService/Public"
	h := connectauth.WrapHandler(connect.NewUnaryHandler(procedure,
		func(ctx context.Context, _ *connect.Request[authtestv1.PublicRequest]) (*connect.Response[authtestv1.PublicResponse], error) {
			in, _ := metadata.FromIncomingContext(ctx)
			for _, k := range []string{"http2-settings", "connection", "upgrade"} {
				if v, ok := in[k]; ok {
					return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s = %q in the handler", k, v))
				}
			}
			return connect.NewResponse(&authtestv1.PublicResponse{}), nil
		},
		connect.WithSchema(method("TestService", "Public")),
		connect.WithInterceptors(connectauth.NewInterceptor(f.auth))))
	srv := httptest.NewServer(h2c.NewHandler(h, &http2.Server{}))
	t.Cleanup(srv.Close)
	host := srv.Listener.Addr().String()
	// HTTP2-Settings: MAX_CONCURRENT_STREAMS 100, INITIAL_WINDOW_SIZE 1 GiB, ENABLE_PUSH 0.
	fr := h2cUpgrade(t, host, "POST "+procedure+" HTTP/1.1\r\nHost: "+host+
		"\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"+
		"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	if status := h2cResponse(t, fr, 1).PseudoValue("status"); status != "200" {
		for { // the Connect error's body, which says what the handler saw
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("the upgraded call's status %s, want 200 (its body: %v)", status, err)
			}
			if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
				t.Fatalf("the upgraded call's status %s, body %s; want 200", status, d.Data())
			}
		}
	}
}

// A header that the caller's Connection header names (RFC 9110 section
// 7.6.1) stays in the incoming metadata, for the authorization and the
// handler alike: this server is its recipient, and only an intermediary
// forwarding the request removes it. Were it left out, a caller could
// withhold any header from both, Authorization or one that a proxy in
// front adds (X-Forwarded-For), by naming it there.
func TestConnect_HeaderNamedInConnectionStaysIncomingMetadata(t *testing.T) {
	f := newFixture(t)
	const procedure = "/authtest.v1.TestService/Public"
	h := connectauth.WrapHandler(connect.NewUnaryHandler(procedure,
		func(ctx context.Context, _ *connect.Request[authtestv1.PublicRequest]) (*connect.Response[authtestv1.PublicResponse], error) {
			in, _ := metadata.FromIncomingContext(ctx)
			if got := in["x-forwarded-for"]; len(got) != 1 || got[0] != "203.0.113.7" {
				return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("x-forwarded-for = %q in the handler", got))
			}
			return connect.NewResponse(&authtestv1.PublicResponse{Caller: caller(ctx)}), nil
		},
		connect.WithSchema(method("TestService", "Public")),
		connect.WithInterceptors(connectauth.NewInterceptor(f.auth))))
	srv := httptest.NewServer(h) // HTTP/1.1: HTTP/2 has no Connection header
	t.Cleanup(srv.Close)
	for pname, opts := range protocols {
		req := connect.NewRequest(&authtestv1.PublicRequest{})
		req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read"))
		req.Header().Set("X-Forwarded-For", "203.0.113.7")
		req.Header().Set("Connection", "keep-alive, X-Forwarded-For, Authorization")
		res, err := connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](srv.Client(), srv.URL+procedure, opts...).CallUnary(t.Context(), req)
		if err != nil {
			t.Errorf("%s: %v", pname, err)
		} else if !res.Msg.GetCaller().GetAuthenticated() {
			t.Errorf("%s: the caller was not authenticated", pname)
		}
	}
}
