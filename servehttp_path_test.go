package grpcauth

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// Under grpc.Server.ServeHTTP, grpc-go names a call by its request's
// URL.Path, which net/http has percent-decoded: a :path a gRPC client
// would not send ("%2F" for the slash, an escaped letter, an escaped NUL,
// newline or byte that is not UTF-8) reaches the method that decoded name
// routes to, under the rule of that same name, and a decoded name that is
// no method name is denied (METHOD_NOT_CONFIGURED with a valid token)
// before the grpc.UnknownServiceHandler runs, its error quoting the name.
// The requests are raw HTTP/2, as no gRPC client sends such a :path.
func TestServeHTTP_PercentEncodedPathGetsTheRuleOfTheMethodItReaches(t *testing.T) {
	reached := make(chan string, 1)
	decisions := make(chan Decision, 1)
	a := mustNew(t, Config{Verifier: staticVerifier{claims: mustClaims(t, "test:read")}, Logger: discardLogger(),
		OnDecision: func(_ context.Context, d Decision) { decisions <- d }})
	srv := grpc.NewServer(grpc.UnknownServiceHandler(recordingHandler(reached)),
		grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(a.StreamServerInterceptor()))
	authtestv1.RegisterTestServiceServer(srv, &testService{})
	t.Cleanup(srv.Stop)
	ts := httptest.NewServer(h2c.NewHandler(srv, &http2.Server{}))
	t.Cleanup(ts.Close)
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	for _, tt := range []struct {
		path, method string // as sent, and as grpc-go names the call
		code         codes.Code
		reason       string
	}{
		{"/authtest.v1.TestService%2FInherited", "/authtest.v1.TestService/Inherited", codes.OK, ""},
		{"/authtest.v1.TestService/Inh%65rited", "/authtest.v1.TestService/Inherited", codes.OK, ""},
		// A stream: named by the decoded path, ruled by its option
		// (test:stream, which the token lacks).
		{"/authtest.v1.TestService%2FBidiStream", "/authtest.v1.TestService/BidiStream", codes.PermissionDenied, ReasonScopeInsufficient},
		{"/authtest.v1.TestService/BidiStream%2F", "/authtest.v1.TestService/BidiStream/", codes.PermissionDenied, ReasonMethodNotConfigured},
		{"/authtest.v1.TestService/Inherited%00", "/authtest.v1.TestService/Inherited\x00", codes.PermissionDenied, ReasonMethodNotConfigured},
		{"/authtest.v1.TestService/Inherited%0Ax", "/authtest.v1.TestService/Inherited\nx", codes.PermissionDenied, ReasonMethodNotConfigured},
		{"/authtest.v1.TestService/Inh%FFerited", "/authtest.v1.TestService/Inh\xfferited", codes.PermissionDenied, ReasonMethodNotConfigured},
		{"/%2Fauthtest.v1.TestService/Inherited", "//authtest.v1.TestService/Inherited", codes.PermissionDenied, ReasonMethodNotConfigured},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL, bytes.NewReader([]byte{0, 0, 0, 0, 0})) // one empty message
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = tt.path
		req.Header.Set("content-type", "application/grpc")
		req.Header.Set("te", "trailers")
		req.Header.Set("authorization", bearer("tok"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		d, ok := awaitOK(t, decisions, tt.path+": the call's decision")
		if !ok {
			continue
		}
		if d.Method != tt.method || d.Code != tt.code || d.Reason != tt.reason {
			t.Errorf("%s: decision about %q: %v %q; want %q: %v %q", tt.path, d.Method, d.Code, d.Reason, tt.method, tt.code, tt.reason)
		}
		if got := resp.Trailer.Get("grpc-status") + resp.Header.Get("grpc-status"); got != codeText(tt.code) {
			t.Errorf("%s: grpc-status %q, want %q", tt.path, got, codeText(tt.code))
		}
		select {
		case m := <-reached:
			t.Errorf("%s: the unknown-service handler was reached as %q", tt.path, m)
		default:
		}
	}
}

// codeText is the grpc-status value of c.
func codeText(c codes.Code) string { return strconv.Itoa(int(c)) }
