package connectauth_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// hopHeaderKeys are the request headers meant for the hop the request came
// over, which no handler sees in its incoming metadata.
var hopHeaderKeys = []string{"proxy-authorization", "expect", "trailer"}

// hopHeaderHandler serves Public with a handler that fails the call with
// InvalidArgument, naming the key, when one of hopHeaderKeys is in its incoming
// metadata or the caller's own x-caller is not.
func hopHeaderHandler(f *fixture) http.Handler {
	const procedure = "/authtest.v1.TestService/Public"
	return connectauth.WrapHandler(connect.NewUnaryHandler(procedure,
		func(ctx context.Context, _ *connect.Request[authtestv1.PublicRequest]) (*connect.Response[authtestv1.PublicResponse], error) {
			in, _ := metadata.FromIncomingContext(ctx)
			for _, k := range hopHeaderKeys {
				if _, ok := in[k]; ok {
					return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s in the handler's incoming metadata", k))
				}
			}
			if len(in["x-caller"]) != 1 {
				return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("x-caller = %q in the handler", in["x-caller"]))
			}
			return connect.NewResponse(&authtestv1.PublicResponse{Caller: caller(ctx)}), nil
		},
		connect.WithSchema(method("TestService", "Public")),
		connect.WithInterceptors(connectauth.NewInterceptor(f.auth))))
}

// A caller's Proxy-Authorization header, the credentials for a proxy
// (RFC 9110 section 11.7.2), and its Expect: 100-continue, which says
// how this request's body is sent, are not incoming metadata, in every
// protocol over HTTP/1.1 and HTTP/2: a handler that forwards its incoming
// metadata to another call does not hand the caller's proxy credentials
// to that call's server, and Proxy-Authorization carrying a valid token
// authenticates no one. Behind grpc-go (HTTP/2 only) no handler sees
// Expect, which net/http removes from an HTTP/2 request; before, an
// HTTP/1.1 caller's reached the handler, and Proxy-Authorization did in
// both versions.
func TestConnect_ProxyAuthorizationAndExpectAreNoIncomingMetadata(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, "test:read", "test:write")
	eachHTTPAndProtocol(t, hopHeaderHandler(f), nil, func(name string, srv *httptest.Server, opts []connect.ClientOption) {
		req := connect.NewRequest(&authtestv1.PublicRequest{})
		req.Header().Set("Proxy-Authorization", "Bearer "+tok)
		req.Header().Set("Expect", "100-continue")
		req.Header().Set("X-Caller", "mine")
		res, err := connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/Public", opts...).CallUnary(t.Context(), req)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if res.Msg.GetCaller().GetAuthenticated() {
			t.Errorf("%s: a token in Proxy-Authorization authenticated the caller", name)
		}
	})
}

// An HTTP/1.1 request's Trailer header, which names the trailer fields
// that follow its body, is not incoming metadata when the body has a
// Content-Length: net/http leaves it in such a request's headers (it
// removes it from a chunked one and from an HTTP/2 request), and the
// handler's own calls have trailers of their own. Nor are the request's
// Proxy-Authorization and Expect, sent as a client without net/http's
// transport sends them.
func TestConnect_HTTP1TrailerHeaderIsNoIncomingMetadata(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(hopHeaderHandler(f))
	t.Cleanup(srv.Close)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /authtest.v1.TestService/Public HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"Trailer: X-Later\r\nProxy-Authorization: Basic dXNlcjpwYXNz\r\nExpect: 100-continue\r\nX-Caller: mine\r\n"+
		"Content-Length: 2\r\n\r\n{}", srv.Listener.Addr())
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode == http.StatusContinue { // Expect: 100-continue answered first
		if res, err = http.ReadResponse(br, nil); err != nil {
			t.Fatal(err)
		}
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, body %s; want 200", res.StatusCode, body)
	}
}

// A call is authenticated by one Authorization header only: two, even
// carrying the same valid token, are refused as malformed
// (ACCESS_TOKEN_INVALID), and a token in Proxy-Authorization is no
// credential (CREDENTIALS_MISSING on a method that needs one), in every
// protocol over HTTP/1.1 and HTTP/2, as over grpc-go.
func TestConnect_OnlyOneAuthorizationHeaderAuthenticates(t *testing.T) {
	f := newFixture(t)
	tok := "Bearer " + f.token(t, "test:read", "test:write")
	eachHTTPAndProtocol(t, connectMux(f), nil, func(name string, srv *httptest.Server, opts []connect.ClientOption) {
		for _, tc := range []struct {
			name   string
			header http.Header
			want   outcome
		}{
			{"one authorization", http.Header{"Authorization": {tok}}, outcome{code: codes.OK}},
			{"two authorizations", http.Header{"Authorization": {tok, tok}}, outcome{codes.Unauthenticated, grpcauth.ReasonTokenInvalid}},
			{"proxy-authorization", http.Header{"Proxy-Authorization": {tok}}, outcome{codes.Unauthenticated, grpcauth.ReasonCredentialsMissing}},
		} {
			req := connect.NewRequest(&authtestv1.AllOfRequest{})
			for k, vs := range tc.header {
				req.Header()[k] = vs
			}
			_, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/AllOf", opts...).CallUnary(t.Context(), req)
			if got := connectOutcome(err); got != tc.want {
				t.Errorf("%s, %s: got %v %q, want %v %q", name, tc.name, got.code, got.reason, tc.want.code, tc.want.reason)
			}
		}
	})
}
