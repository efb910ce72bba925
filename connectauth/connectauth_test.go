package connectauth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// outcome is what a caller learns of a call: its code and ErrorInfo reason.
type outcome struct {
	code   codes.Code
	reason string
}

// fixture is one issuer, one verifier and one Authenticator, shared by
// every server of a test.
type fixture struct {
	iss  *grpcauthtest.Issuer
	auth *grpcauth.Authenticator
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	auth, err := grpcauth.New(grpcauth.Config{Verifier: issuerVerifier(t, iss), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{iss: iss, auth: auth}
}

// issuerVerifier returns a verifier of iss's tokens, closed with the test.
func issuerVerifier(t testing.TB, iss *grpcauthtest.Issuer) *verifier.Verifier {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := verifier.New(ctx, verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func (f *fixture) token(t *testing.T, scopes ...string) string {
	t.Helper()
	tok, err := f.iss.Token(grpcauthtest.DefaultClientID, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// method returns a method descriptor of the test services.
func method(service, name string) protoreflect.MethodDescriptor {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName("authtest.v1." + service + "." + name))
	if err != nil {
		panic(err)
	}
	return d.(protoreflect.MethodDescriptor)
}

// service implements the test services for grpc-go (behind vanguard).
type service struct {
	authtestv1.UnimplementedTestServiceServer
	authtestv1.UnimplementedUnannotatedServiceServer
}

func caller(ctx context.Context) *authtestv1.Caller {
	c, ok := grpcauth.ClaimsFromContext(ctx)
	if !ok {
		return &authtestv1.Caller{}
	}
	return &authtestv1.Caller{Authenticated: true, Subject: c.Subject(), ClientId: c.ClientID(), Scopes: c.Scopes()}
}

func (service) AllOf(ctx context.Context, _ *authtestv1.AllOfRequest) (*authtestv1.AllOfResponse, error) {
	return &authtestv1.AllOfResponse{Caller: caller(ctx)}, nil
}

func (service) Public(ctx context.Context, _ *authtestv1.PublicRequest) (*authtestv1.PublicResponse, error) {
	return &authtestv1.PublicResponse{Caller: caller(ctx)}, nil
}

func (service) Unannotated(ctx context.Context, _ *authtestv1.UnannotatedRequest) (*authtestv1.UnannotatedResponse, error) {
	return &authtestv1.UnannotatedResponse{Caller: caller(ctx)}, nil
}

func (service) ServerStream(req *authtestv1.ServerStreamRequest, ss grpc.ServerStreamingServer[authtestv1.ServerStreamResponse]) error {
	for range req.GetCount() {
		if err := ss.Send(&authtestv1.ServerStreamResponse{Caller: caller(ss.Context())}); err != nil {
			return err
		}
	}
	return nil
}

// connectMux serves the test methods as connect-go handlers behind the
// Interceptor, wrapped in WrapHandler.
func connectMux(f *fixture) http.Handler { return connectauth.WrapHandler(connectHandlers(f)) }

// connectHandlers serves the test methods as connect-go handlers behind the
// Interceptor, each built with extra options too.
func connectHandlers(f *fixture, extra ...connect.HandlerOption) *http.ServeMux {
	opts := func(service, name string) []connect.HandlerOption {
		return append([]connect.HandlerOption{connect.WithSchema(method(service, name)), connect.WithInterceptors(connectauth.NewInterceptor(f.auth))}, extra...)
	}
	mux := http.NewServeMux()
	mux.Handle("/authtest.v1.TestService/AllOf", connect.NewUnaryHandler("/authtest.v1.TestService/AllOf",
		func(ctx context.Context, _ *connect.Request[authtestv1.AllOfRequest]) (*connect.Response[authtestv1.AllOfResponse], error) {
			return connect.NewResponse(&authtestv1.AllOfResponse{Caller: caller(ctx)}), nil
		}, opts("TestService", "AllOf")...))
	mux.Handle("/authtest.v1.TestService/Public", connect.NewUnaryHandler("/authtest.v1.TestService/Public",
		func(ctx context.Context, _ *connect.Request[authtestv1.PublicRequest]) (*connect.Response[authtestv1.PublicResponse], error) {
			return connect.NewResponse(&authtestv1.PublicResponse{Caller: caller(ctx)}), nil
		}, opts("TestService", "Public")...))
	mux.Handle("/authtest.v1.UnannotatedService/Unannotated", connect.NewUnaryHandler("/authtest.v1.UnannotatedService/Unannotated",
		func(ctx context.Context, _ *connect.Request[authtestv1.UnannotatedRequest]) (*connect.Response[authtestv1.UnannotatedResponse], error) {
			return connect.NewResponse(&authtestv1.UnannotatedResponse{Caller: caller(ctx)}), nil
		}, opts("UnannotatedService", "Unannotated")...))
	mux.Handle("/authtest.v1.TestService/ServerStream", connect.NewServerStreamHandler("/authtest.v1.TestService/ServerStream",
		func(ctx context.Context, req *connect.Request[authtestv1.ServerStreamRequest], ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
			for range req.Msg.GetCount() {
				if err := ss.Send(&authtestv1.ServerStreamResponse{Caller: caller(ctx)}); err != nil {
					return err
				}
			}
			return nil
		}, opts("TestService", "ServerStream")...))
	return mux
}

// grpcServer returns a grpc-go server with the grpcauth interceptors.
func grpcServer(f *fixture) *grpc.Server {
	s := grpc.NewServer(
		grpc.ChainUnaryInterceptor(f.auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(f.auth.StreamServerInterceptor()),
	)
	authtestv1.RegisterTestServiceServer(s, service{})
	authtestv1.RegisterUnannotatedServiceServer(s, service{})
	return s
}

// serveTLS serves h over HTTP/2 with TLS on loopback.
func serveTLS(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// protocols are the client options of the three protocols.
var protocols = map[string][]connect.ClientOption{
	"connect": nil,
	"grpc":    {connect.WithGRPC()},
	"grpcweb": {connect.WithGRPCWeb()},
}

// call is one call of the table: which method, with which token.
type call struct {
	name   string
	method string // "AllOf" (needs test:read and test:write), "Public", "Unannotated"
	scopes []string
	token  string // "none", "valid", "garbage"
}

var calls = []call{
	{name: "no token on a scoped method", method: "AllOf", token: "none"},
	{name: "garbage token", method: "AllOf", token: "garbage"},
	{name: "token without the scopes", method: "AllOf", token: "valid", scopes: []string{"test:read"}},
	{name: "token with the scopes", method: "AllOf", token: "valid", scopes: []string{"test:read", "test:write", "test:admin"}},
	{name: "public method without a token", method: "Public", token: "none"},
	{name: "public method with a garbage token", method: "Public", token: "garbage"},
	{name: "method without a rule", method: "Unannotated", token: "valid", scopes: []string{"test:read"}},
}

func (c call) authorization(t *testing.T, f *fixture) string {
	switch c.token {
	case "valid":
		return "Bearer " + f.token(t, c.scopes...)
	case "garbage":
		return "Bearer not.a.jwt"
	}
	return ""
}

// viaConnect makes c with a connect-go client of one protocol.
func viaConnect(t *testing.T, f *fixture, hc *http.Client, baseURL string, opts []connect.ClientOption, c call) (outcome, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	auth := c.authorization(t, f)
	var (
		err           error
		authenticated bool
	)
	switch c.method {
	case "AllOf":
		req := connect.NewRequest(&authtestv1.AllOfRequest{})
		setAuth(req.Header(), auth)
		var res *connect.Response[authtestv1.AllOfResponse]
		res, err = connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](hc, baseURL+"/authtest.v1.TestService/AllOf", opts...).CallUnary(ctx, req)
		authenticated = err == nil && res.Msg.GetCaller().GetAuthenticated()
	case "Public":
		req := connect.NewRequest(&authtestv1.PublicRequest{})
		setAuth(req.Header(), auth)
		var res *connect.Response[authtestv1.PublicResponse]
		res, err = connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](hc, baseURL+"/authtest.v1.TestService/Public", opts...).CallUnary(ctx, req)
		authenticated = err == nil && res.Msg.GetCaller().GetAuthenticated()
	case "Unannotated":
		req := connect.NewRequest(&authtestv1.UnannotatedRequest{})
		setAuth(req.Header(), auth)
		_, err = connect.NewClient[authtestv1.UnannotatedRequest, authtestv1.UnannotatedResponse](hc, baseURL+"/authtest.v1.UnannotatedService/Unannotated", opts...).CallUnary(ctx, req)
	default:
		t.Fatalf("unknown method %q", c.method)
	}
	return connectOutcome(err), authenticated
}

func setAuth(h http.Header, auth string) {
	if auth != "" {
		h.Set("Authorization", auth)
	}
}

// connectOutcome reads a connect-go client's error.
func connectOutcome(err error) outcome {
	if err == nil {
		return outcome{code: codes.OK}
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return outcome{code: codes.Unknown, reason: err.Error()}
	}
	o := outcome{code: codes.Code(ce.Code())}
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if info, ok := v.(*errdetails.ErrorInfo); ok {
				o.reason = info.GetReason()
			}
		}
	}
	return o
}

// viaGRPC makes c with a grpc-go client against a grpc-go server: the
// reference every other protocol must match.
func viaGRPC(t *testing.T, f *fixture, conn *grpc.ClientConn, c call) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if auth := c.authorization(t, f); auth != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", auth)
	}
	var err error
	switch c.method {
	case "AllOf":
		_, err = authtestv1.NewTestServiceClient(conn).AllOf(ctx, &authtestv1.AllOfRequest{})
	case "Public":
		_, err = authtestv1.NewTestServiceClient(conn).Public(ctx, &authtestv1.PublicRequest{})
	case "Unannotated":
		_, err = authtestv1.NewUnannotatedServiceClient(conn).Unannotated(ctx, &authtestv1.UnannotatedRequest{})
	}
	st := status.Convert(err)
	o := outcome{code: st.Code()}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			o.reason = info.GetReason()
		}
	}
	return o
}

func grpcReference(t *testing.T, f *fixture) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpcServer(f)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestProtocols_SameOutcomeAsGRPC runs every call of the table over each
// protocol, against a connect-go server with the Interceptor and against a
// grpc-go server behind vanguard's transcoder, and requires the code and
// ErrorInfo reason a grpc-go client gets from a grpc-go server.
func TestProtocols_SameOutcomeAsGRPC(t *testing.T) {
	f := newFixture(t)
	ref := grpcReference(t, f)

	transcoder, err := vanguardgrpc.NewTranscoder(grpcServer(f))
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]*httptest.Server{
		"connect-go": serveTLS(t, connectMux(f)),
		"vanguard":   serveTLS(t, transcoder),
	}
	want := map[codes.Code]bool{}
	for _, c := range calls {
		ref := viaGRPC(t, f, ref, c)
		want[ref.code] = true
		for sname, srv := range servers {
			for pname, opts := range protocols {
				t.Run(c.name+"/"+sname+"/"+pname, func(t *testing.T) {
					got, _ := viaConnect(t, f, srv.Client(), srv.URL, opts, c)
					if got != ref {
						t.Fatalf("got %v %q, want %v %q (as over grpc-go)", got.code, got.reason, ref.code, ref.reason)
					}
				})
			}
		}
	}
	// The table covers every outcome that matters.
	for _, c := range []codes.Code{codes.OK, codes.Unauthenticated, codes.PermissionDenied} {
		if !want[c] {
			t.Errorf("no call in the table ends with %v", c)
		}
	}
}

// TestConnect_HandlerSeesTheClaims checks that a handler behind the
// Interceptor gets the caller's claims, and none on a public call without a
// token.
func TestConnect_HandlerSeesTheClaims(t *testing.T) {
	f := newFixture(t)
	srv := serveTLS(t, connectMux(f))
	for pname, opts := range protocols {
		t.Run(pname, func(t *testing.T) {
			o, authenticated := viaConnect(t, f, srv.Client(), srv.URL, opts, call{method: "AllOf", token: "valid", scopes: []string{"test:read", "test:write"}})
			if o.code != codes.OK || !authenticated {
				t.Fatalf("got %v, authenticated %v; want OK with claims", o.code, authenticated)
			}
			o, authenticated = viaConnect(t, f, srv.Client(), srv.URL, opts, call{method: "Public", token: "none"})
			if o.code != codes.OK || authenticated {
				t.Fatalf("public call: got %v, authenticated %v; want OK without claims", o.code, authenticated)
			}
		})
	}
}

// TestConnect_ServerStream checks a streaming handler: refused without the
// scope, served with it.
func TestConnect_ServerStream(t *testing.T) {
	f := newFixture(t)
	srv := serveTLS(t, connectMux(f))
	tests := []struct {
		name   string
		scopes []string
		want   codes.Code
		n      int
	}{
		{"without the stream scope", []string{"test:read"}, codes.PermissionDenied, 0},
		{"with the stream scope", []string{"test:read", "test:stream"}, codes.OK, 3},
	}
	for _, tc := range tests {
		for pname, opts := range protocols {
			t.Run(tc.name+"/"+pname, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				client := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/ServerStream", opts...)
				req := connect.NewRequest(&authtestv1.ServerStreamRequest{Count: 3})
				req.Header().Set("Authorization", "Bearer "+f.token(t, tc.scopes...))
				stream, err := client.CallServerStream(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for stream.Receive() {
					if !stream.Msg().GetCaller().GetAuthenticated() {
						t.Fatal("a stream message without claims")
					}
					n++
				}
				if got := connectOutcome(stream.Err()).code; got != tc.want || n != tc.n {
					t.Fatalf("got %v after %d messages, want %v after %d", got, n, tc.want, tc.n)
				}
				if err := stream.Close(); err != nil && !errors.Is(err, io.EOF) {
					t.Logf("close: %v", err)
				}
			})
		}
	}
}

// TestConnect_PlaintextLoopbackAccepted checks that the transport policy
// holds behind the Interceptor as over grpc-go: on a plaintext connection
// from loopback a token is accepted. The refusal from another host is
// TestConnect_ForwardedLoopbackAddressDoesNotMakeARemoteCallerLocal's and
// TestConnect_PlaintextUnixSocketIsLocal's.
func TestConnect_PlaintextLoopbackAccepted(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(connectMux(f)) // HTTP/1.1, plaintext, loopback
	t.Cleanup(srv.Close)
	o, authenticated := viaConnect(t, f, srv.Client(), srv.URL, nil, call{method: "AllOf", token: "valid", scopes: []string{"test:read", "test:write"}})
	if o.code != codes.OK || !authenticated {
		t.Fatalf("got %v %q, want OK", o.code, o.reason)
	}
}
