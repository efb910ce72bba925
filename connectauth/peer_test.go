package connectauth_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/test/bufconn"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
)

// fromAnotherHost is an http.RoundTripper that serves each request with h
// in process, as a server would a request on a plaintext connection from
// remote, an address on another host.
type fromAnotherHost struct {
	h            http.Handler
	remote       string
	forwardedFor string // the X-Forwarded-For header the caller sends, if not ""
	// tls is the connection's TLS state as the server hands it over
	// (http.Request.TLS), or nil for plaintext
	tls *tls.ConnectionState
}

func (p fromAnotherHost) RoundTrip(r *http.Request) (*http.Response, error) {
	sr := r.Clone(r.Context())
	sr.RemoteAddr, sr.Host, sr.RequestURI, sr.TLS = p.remote, r.URL.Host, r.URL.RequestURI(), p.tls
	if p.forwardedFor != "" {
		sr.Header.Set("X-Forwarded-For", p.forwardedFor)
	}
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, sr)
	return rec.Result(), nil
}

// forwardedFor stands for a middleware that sets RemoteAddr from a
// forwarded header, as some proxy-header middlewares do with
// X-Forwarded-For, whoever sent it.
func forwardedFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := r.Header.Get("X-Forwarded-For"); f != "" {
			r.RemoteAddr, _, _ = strings.Cut(f, ",")
		}
		h.ServeHTTP(w, r)
	})
}

// TestConnect_ForwardedLoopbackAddressDoesNotMakeARemoteCallerLocal checks
// that the transport policy judges the connection WrapHandler saw: a
// plaintext caller from another host that claims a loopback address in
// X-Forwarded-For, which a middleware inside WrapHandler copies into
// RemoteAddr, still gets TRANSPORT_INSECURE, as over grpc-go, which never
// reads such headers.
func TestConnect_ForwardedLoopbackAddressDoesNotMakeARemoteCallerLocal(t *testing.T) {
	f := newFixture(t)
	forwardedLoopbackIsRemote(t, f, connectauth.WrapHandler(forwardedFor(connectHandlers(f))))
}

// forwardedLoopbackIsRemote calls h, f's handlers behind forwardedFor, as
// a plaintext caller from another host that claims no or a loopback
// address in X-Forwarded-For, and requires TRANSPORT_INSECURE.
func forwardedLoopbackIsRemote(t *testing.T, f *fixture, h http.Handler) {
	t.Helper()
	c := call{method: "AllOf", token: "valid", scopes: []string{"test:read", "test:write"}}
	for _, forwarded := range []string{"", "127.0.0.1:1", "[::1]:1"} {
		hc := &http.Client{Transport: fromAnotherHost{h: h, remote: "192.0.2.7:40000", forwardedFor: forwarded}}
		if o, _ := viaConnect(t, f, hc, "http://api.example", nil, c); o != (outcome{codes.Unauthenticated, grpcauth.ReasonTransportInsecure}) {
			t.Errorf("X-Forwarded-For %q: got %v %q, want Unauthenticated %q", forwarded, o.code, o.reason, grpcauth.ReasonTransportInsecure)
		}
	}
}

// TestConnect_EarlyDataFromAnotherHostIsNoTransportSecurity: a request
// that an HTTP/3 server hands over from TLS 1.3 early data (0-RTT, as
// quic-go's http3 does with Allow0RTT), before the handshake completes,
// carries a TLS state whose HandshakeComplete is false. Its token, which
// anyone who recorded the request can replay, is refused from another host
// as on plaintext (TRANSPORT_INSECURE); the same connection once its
// handshake completed carries it.
func TestConnect_EarlyDataFromAnotherHostIsNoTransportSecurity(t *testing.T) {
	f := newFixture(t)
	h := connectauth.WrapHandler(connectHandlers(f))
	c := call{method: "AllOf", token: "valid", scopes: []string{"test:read", "test:write"}}
	for _, tt := range []struct {
		complete bool
		want     outcome
	}{
		{false, outcome{codes.Unauthenticated, grpcauth.ReasonTransportInsecure}},
		{true, outcome{codes.OK, ""}},
	} {
		st := &tls.ConnectionState{Version: tls.VersionTLS13, DidResume: true, HandshakeComplete: tt.complete, ServerName: "api.example"}
		hc := &http.Client{Transport: fromAnotherHost{h: h, remote: "192.0.2.7:40000", tls: st}}
		if o, _ := viaConnect(t, f, hc, "https://api.example", nil, c); o != tt.want {
			t.Errorf("HandshakeComplete %t: got %v %q, want %v %q", tt.complete, o.code, o.reason, tt.want.code, tt.want.reason)
		}
	}
}

// TestConnect_PlaintextUnixSocketIsLocal checks that a plaintext call over
// a Unix-domain socket counts as local under the default
// TransportSecureOrLocal, as over grpc-go: net/http reports no usable
// remote address for such a connection ("@"), but the listener's address,
// which WrapHandler sees, is the socket's. A connection whose listener
// reports a remote TCP address for it (a PROXY-protocol listener behind a
// proxy that forwards remote callers over the socket) is judged by that
// address, as grpc-go judges it.
func TestConnect_PlaintextUnixSocketIsLocal(t *testing.T) {
	f := newFixture(t)
	c := call{method: "AllOf", token: "valid", scopes: []string{"test:read", "test:write"}}
	for _, tc := range []struct {
		name   string
		remote net.Addr // what the listener reports as the connection's remote address; nil: the socket's own
		want   outcome
	}{
		{"Unix socket", nil, outcome{codes.OK, ""}},
		{"forwarded for a remote TCP caller", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}, outcome{codes.Unauthenticated, grpcauth.ReasonTransportInsecure}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "api.sock")
			lis, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: connectMux(f)}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(remoteListener{lis, tc.remote}) }()
			t.Cleanup(func() {
				_ = srv.Close()
				<-served
			})
			hc := &http.Client{Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, "unix", sock)
				},
			}}
			t.Cleanup(hc.CloseIdleConnections)
			o, authenticated := viaConnect(t, f, hc, "http://api.sock", nil, c)
			if o != tc.want || authenticated != (tc.want.code == codes.OK) {
				t.Fatalf("got %v %q (authenticated %v), want %v %q", o.code, o.reason, authenticated, tc.want.code, tc.want.reason)
			}
		})
	}
}

// remoteListener is a listener whose connections report remote as their
// remote address, when it is not nil.
type remoteListener struct {
	net.Listener
	remote net.Addr
}

func (l remoteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || l.remote == nil {
		return c, err
	}
	return remoteConn{c, l.remote}, nil
}

type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.remote }

// TestConnect_PlaintextInProcessConnectionIsLocal checks that a plaintext
// call over an in-process bufconn connection counts as local under the
// default TransportSecureOrLocal, as over grpc-go: net/http reports the
// peer as "bufconn", no IP address and port, but the connection's own
// address, which WrapHandler sees, is bufconn's.
func TestConnect_PlaintextInProcessConnectionIsLocal(t *testing.T) {
	f := newFixture(t)
	lis := bufconn.Listen(1 << 20)
	srv := &http.Server{Handler: connectMux(f)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
	})
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return lis.DialContext(ctx) },
	}}
	t.Cleanup(hc.CloseIdleConnections)
	c := call{method: "AllOf", token: "valid", scopes: []string{"test:read", "test:write"}}
	if o, authenticated := viaConnect(t, f, hc, "http://bufnet", nil, c); o != (outcome{codes.OK, ""}) || !authenticated {
		t.Fatalf("got %v %q (authenticated %v), want OK", o.code, o.reason, authenticated)
	}
}
