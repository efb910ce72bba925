package grpcauth

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/test/bufconn"

	"github.com/grpcauth/grpcauth/internal/localpeer"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"

	"github.com/grpcauth/grpcauth/verifier"
)

// countingVerifier counts the tokens it is asked to verify.
type countingVerifier struct {
	next TokenVerifier
	n    atomic.Int64
}

func (c *countingVerifier) VerifyAccessToken(ctx context.Context, token string) (verifier.Claims, error) {
	c.n.Add(1)
	return c.next.VerifyAccessToken(ctx, token)
}

// countVerifications installs cv as the Authenticator's verifier; the test
// sets cv.next to the env's real verifier once newEnv has built it.
func countVerifications(cv *countingVerifier) envOption {
	return func(c *Config, _ *verifier.Config) { c.Verifier = cv }
}

func TestTransport_PlaintextLoopbackAcceptedByDefault(t *testing.T) {
	e := newEnv(t)
	got, err := callInherited(withAuth(t.Context(), bearer(e.scoped(t, "test:read"))), e)
	checkStatus(t, err, codes.OK, "")
	if !got.GetAuthenticated() {
		t.Error("handler saw no claims")
	}
}

// pipeListener is a net.Listener whose connections are net.Pipe pairs.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return localpeer.PipeAddr() }

func (l *pipeListener) dial(ctx context.Context, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// listenUnix listens on a Unix-domain socket and returns the listener with
// the client's target.
func listenUnix(t *testing.T) (net.Listener, string, []grpc.DialOption) {
	dir, err := os.MkdirTemp("", "grpcauth") // short: socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return lis, "unix://" + path, nil
}

// serveHTTPOn serves svc with opts through grpc.Server.ServeHTTP on an
// http.Server speaking unencrypted HTTP/2 on lis, until the test ends.
func serveHTTPOn(t *testing.T, lis net.Listener, svc *testService, opts ...grpc.ServerOption) {
	t.Helper()
	srv := grpc.NewServer(opts...)
	authtestv1.RegisterTestServiceServer(srv, svc)
	authtestv1.RegisterUnannotatedServiceServer(srv, svc)
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: srv, Protocols: &protocols}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(lis) }()
	t.Cleanup(func() {
		_ = hs.Close()
		<-served
	})
}

// listenBufconn starts a bufconn listener and returns it with the client's
// target and dial options.
func listenBufconn(*testing.T) (net.Listener, string, []grpc.DialOption) {
	lis := bufconn.Listen(1 << 20)
	return lis, "passthrough:///bufnet", []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })}
}

// listenPipe starts a listener of net.Pipe connections and returns it with
// the client's target and dial options.
func listenPipe(*testing.T) (net.Listener, string, []grpc.DialOption) {
	lis := newPipeListener()
	return lis, "passthrough:///pipe", []grpc.DialOption{grpc.WithContextDialer(lis.dial)}
}

// TestTransport_LocalPlaintextAcceptedByDefault serves one default
// Authenticator on each kind of local listener and calls it with a token
// over plaintext: every one counts as local.
func TestTransport_LocalPlaintextAcceptedByDefault(t *testing.T) {
	e := newEnv(t)
	opts := []grpc.ServerOption{grpc.ChainUnaryInterceptor(e.auth.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(e.auth.StreamServerInterceptor())}
	plain := grpc.WithTransportCredentials(insecure.NewCredentials())

	tests := []struct {
		name string
		// listen starts a listener and returns it with the client's
		// target and dial options.
		listen func(t *testing.T) (net.Listener, string, []grpc.DialOption)
		// serveHTTP serves through grpc.Server.ServeHTTP, whose peer
		// address is the http.Request's RemoteAddr.
		serveHTTP bool
	}{
		{name: "loopback TCP", listen: func(t *testing.T) (net.Listener, string, []grpc.DialOption) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			return lis, "passthrough:///" + lis.Addr().String(), nil
		}},
		{name: "Unix socket", listen: listenUnix},
		{name: "Unix socket through ServeHTTP", listen: listenUnix, serveHTTP: true},
		{name: "bufconn", listen: listenBufconn},
		{name: "net.Pipe", listen: listenPipe},
		{name: "bufconn through ServeHTTP", listen: listenBufconn, serveHTTP: true},
		{name: "net.Pipe through ServeHTTP", listen: listenPipe, serveHTTP: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lis, target, dopts := tt.listen(t)
			if tt.serveHTTP {
				serveHTTPOn(t, lis, e.svc, opts...)
			} else {
				serveOn(t, lis, e.svc, opts...)
			}
			conn, err := grpc.NewClient(target, append(dopts, plain)...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			client := authtestv1.NewTestServiceClient(conn)
			ctx := withAuth(t.Context(), bearer(e.scoped(t, "test:read", "test:stream")))
			got, err := client.Inherited(ctx, &authtestv1.InheritedRequest{})
			checkStatus(t, err, codes.OK, "")
			if !got.GetCaller().GetAuthenticated() || got.GetCaller().GetSubject() != "user-1" {
				t.Errorf("unary handler saw %v, want user-1's claims", got.GetCaller())
			}
			s, err := client.BidiStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
				t.Fatal(err)
			}
			resp, err := s.Recv()
			checkStatus(t, err, codes.OK, "")
			if resp.GetCaller().GetSubject() != "user-1" {
				t.Errorf("stream handler saw %v, want user-1's claims", resp.GetCaller())
			}
			_ = s.CloseSend()
		})
	}
}

func TestTransport_SecureOnlyRefusesPlaintextLoopbackWithoutVerifying(t *testing.T) {
	cv := &countingVerifier{}
	e := newEnv(t, countVerifications(cv), func(c *Config, _ *verifier.Config) { c.TransportSecurity = TransportSecureOnly })
	cv.next = e.v

	for _, auth := range []string{bearer(e.scoped(t, "test:read")), "Basic dXNlcjpwYXNz", "Bearer not.a.jwt"} {
		_, err := callInherited(withAuth(t.Context(), auth), e)
		checkStatus(t, err, codes.Unauthenticated, ReasonTransportInsecure)
		_, err = callPublic(withAuth(t.Context(), auth), e)
		checkStatus(t, err, codes.Unauthenticated, ReasonTransportInsecure)
		_, err = callBidiStream(withAuth(t.Context(), auth), e)
		checkStatus(t, err, codes.Unauthenticated, ReasonTransportInsecure)
	}
	if n := cv.n.Load(); n != 0 {
		t.Errorf("verifier called %d times for credentials on an insecure transport, want 0", n)
	}
	// Without credentials nothing is at stake: a public method answers, a
	// protected one asks for credentials.
	got, err := callPublic(t.Context(), e)
	checkStatus(t, err, codes.OK, "")
	if got.GetAuthenticated() {
		t.Error("handler saw claims without a token")
	}
	_, err = callInherited(t.Context(), e)
	checkStatus(t, err, codes.Unauthenticated, ReasonCredentialsMissing)
}

func TestTransport_SecureOnlyAcceptsTLS(t *testing.T) {
	pki := newPKI(t)
	e := newEnvWith(t, pki.serverCreds(t), pki.clientCreds(nil),
		func(c *Config, _ *verifier.Config) { c.TransportSecurity = TransportSecureOnly })
	for _, call := range []callKind{callInherited, callBidiStream, callServerStream} {
		got, err := call(withAuth(t.Context(), bearer(e.scoped(t, "test:read", "test:stream"))), e)
		checkStatus(t, err, codes.OK, "")
		if got.GetSubject() != "user-1" {
			t.Errorf("handler saw %v, want subject user-1", got)
		}
	}
}

func TestTransport_InsecureAllowPlaintextAcceptsPlaintext(t *testing.T) {
	a := mustNew(t, Config{TransportSecurity: InsecureAllowPlaintext, Verifier: staticVerifier{claims: mustClaims(t, "test:read")}})
	ctx := withPeer(bearerCtx("tok"), &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 443}, plaintext)
	if c, err := callUnary(a, ctx, mInherited); err != nil || c.IsZero() {
		t.Fatalf("plaintext from another host with InsecureAllowPlaintext = %v, %v; want claims", c, err)
	}
}

var (
	plaintext     = plaintextInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}
	integrityOnly = plaintextInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.IntegrityOnly}}
	privacy       = plaintextInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
	noLevel       = plaintextInfo{} // a custom AuthInfo that leaves the level unset
	tlsInfo       = credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}, State: tls.ConnectionState{HandshakeComplete: true}}
	// tlsIncomplete is a TLS state whose handshake is not complete, as an
	// adapter building its peer by hand may pass: no keys protect it yet.
	tlsIncomplete = credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
)

// bareInfo is an AuthInfo that does not report a security level at all.
type bareInfo struct{}

func (bareInfo) AuthType() string { return "custom" }

// strAddr is a peer address known only as a string, as grpc.Server.ServeHTTP
// reports it.
type strAddr string

func (strAddr) Network() string  { return "tcp" }
func (a strAddr) String() string { return string(a) }

// namedAddr is an address of a type grpcauth does not know, whatever its
// network's name.
type namedAddr struct{ network, s string }

func (a namedAddr) Network() string { return a.network }
func (a namedAddr) String() string  { return a.s }

// bufconnPeer returns the peer address of a bufconn connection as a server
// sees it.
func bufconnPeer(t *testing.T) net.Addr {
	lis := bufconn.Listen(1)
	defer lis.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := lis.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	c, err := lis.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := <-accepted
	if sc == nil {
		t.Fatal("bufconn accepted nothing")
	}
	defer sc.Close()
	return sc.RemoteAddr()
}

func TestTransportAllowed_ByPolicyAndPeer(t *testing.T) {
	loop4 := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	loop4b := &net.TCPAddr{IP: net.IPv4(127, 9, 8, 7), Port: 1}
	loop6 := &net.TCPAddr{IP: net.IPv6loopback, Port: 1}
	mapped := &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 1}
	remote := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}
	remote6 := &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 1}
	unix := &net.UnixAddr{Name: "/run/app.sock", Net: "unix"}

	type want struct{ local, secureOnly, allowPlaintext bool }
	tests := []struct {
		name string
		ctx  context.Context
		want want
	}{
		{"no peer", context.Background(), want{false, false, true}},
		{"nil peer", peer.NewContext(context.Background(), nil), want{false, false, true}},
		{"TLS from another host", withPeer(context.Background(), remote, tlsInfo), want{true, true, true}},
		{"privacy level from another host", withPeer(context.Background(), remote6, privacy), want{true, true, true}},
		{"integrity only from another host", withPeer(context.Background(), remote, integrityOnly), want{false, false, true}},
		{"plaintext from another host", withPeer(context.Background(), remote, plaintext), want{false, false, true}},
		{"plaintext from another IPv6 host", withPeer(context.Background(), remote6, plaintext), want{false, false, true}},
		{"no AuthInfo from another host", withPeer(context.Background(), remote, nil), want{false, false, true}},
		{"unset level from another host", withPeer(context.Background(), remote, noLevel), want{false, false, true}},
		{"levelless AuthInfo from another host", withPeer(context.Background(), remote, bareInfo{}), want{false, false, true}},
		{"typed nil *TLSInfo from another host", withPeer(context.Background(), remote, (*credentials.TLSInfo)(nil)), want{false, false, true}},
		{"typed nil *TLSInfo on loopback", withPeer(context.Background(), loop4, (*credentials.TLSInfo)(nil)), want{true, false, true}},
		{"typed nil of another AuthInfo type from another host", withPeer(context.Background(), remote, (*plaintextInfo)(nil)), want{false, false, true}},
		{"typed nil of another AuthInfo type on loopback", withPeer(context.Background(), loop4, (*plaintextInfo)(nil)), want{true, false, true}},
		{"AuthInfo embedding TLSInfo from another host", withPeer(context.Background(), remote, ownTLSAuthInfo{TLSInfo: tlsInfo}), want{true, true, true}},
		{"AuthInfo embedding *TLSInfo from another host", withPeer(context.Background(), remote, tlsInfoByPointer{&tlsInfo}), want{true, true, true}},
		{"AuthInfo embedding TLSInfo, handshake incomplete, from another host", withPeer(context.Background(), remote, ownTLSAuthInfo{TLSInfo: tlsIncomplete}), want{false, false, true}},
		{"pointer to an AuthInfo embedding TLSInfo, handshake incomplete, from another host", withPeer(context.Background(), remote, &ownTLSAuthInfo{TLSInfo: tlsIncomplete}), want{false, false, true}},
		{"AuthInfo embedding TLSInfo, handshake incomplete, on loopback", withPeer(context.Background(), loop4, ownTLSAuthInfo{TLSInfo: tlsIncomplete}), want{true, false, true}},
		{"AuthInfo embedding a nil *TLSInfo from another host", withPeer(context.Background(), remote, tlsInfoByPointer{}), want{false, false, true}},
		{"AuthInfo embedding a nil *TLSInfo on loopback", withPeer(context.Background(), loop4, tlsInfoByPointer{}), want{true, false, true}},
		{"AuthInfo embedding a nil *CommonAuthInfo from another host", withPeer(context.Background(), remote, commonInfoByPointer{}), want{false, false, true}},
		{"plaintext 127.0.0.1", withPeer(context.Background(), loop4, plaintext), want{true, false, true}},
		{"plaintext 127.9.8.7", withPeer(context.Background(), loop4b, plaintext), want{true, false, true}},
		{"plaintext ::1", withPeer(context.Background(), loop6, plaintext), want{true, false, true}},
		{"plaintext ::ffff:127.0.0.1", withPeer(context.Background(), mapped, plaintext), want{true, false, true}},
		{"no AuthInfo on loopback", withPeer(context.Background(), loop4, nil), want{true, false, true}},
		{"plaintext Unix socket", withPeer(context.Background(), unix, plaintext), want{true, false, true}},
		{"TLS on loopback", withPeer(context.Background(), loop4, tlsInfo), want{true, true, true}},
		{"*TLSInfo from another host", withPeer(context.Background(), remote, &tlsInfo), want{true, true, true}},
		{"TLS handshake incomplete from another host", withPeer(context.Background(), remote, tlsIncomplete), want{false, false, true}},
		{"*TLSInfo handshake incomplete from another host", withPeer(context.Background(), remote, &tlsIncomplete), want{false, false, true}},
		{"TLS handshake incomplete on loopback", withPeer(context.Background(), loop4, tlsIncomplete), want{true, false, true}},
		{"string address on loopback", withPeer(context.Background(), strAddr("127.0.0.1:8080"), nil), want{true, false, true}},
		{"string address on ::1", withPeer(context.Background(), strAddr("[::1]:8080"), nil), want{true, false, true}},
		{"string address of another host", withPeer(context.Background(), strAddr("192.0.2.1:8080"), nil), want{false, false, true}},
		{"string host name", withPeer(context.Background(), strAddr("localhost:8080"), nil), want{false, false, true}},
		{"empty string address", withPeer(context.Background(), strAddr(""), nil), want{false, false, true}},
		{"nil address", withPeer(context.Background(), nil, plaintext), want{false, false, true}},
		{"bufconn", withPeer(context.Background(), bufconnPeer(t), plaintext), want{true, false, true}},
		{"net.Pipe", withPeer(context.Background(), localpeer.PipeAddr(), plaintext), want{true, false, true}},
		{"typed nil address of another type", withPeer(context.Background(), (*namedAddr)(nil), plaintext), want{false, false, true}},
		{"typed nil *net.UnixAddr", withPeer(context.Background(), (*net.UnixAddr)(nil), plaintext), want{false, false, true}},
		{"another address named bufconn", withPeer(context.Background(), namedAddr{"bufconn", "bufconn"}, plaintext), want{false, false, true}},
		{"another address named pipe", withPeer(context.Background(), namedAddr{"pipe", `\\.\pipe\app`}, plaintext), want{false, false, true}},
		{"unixgram-named custom address", withPeer(context.Background(), namedAddr{"unix", "/run/app.sock"}, plaintext), want{false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for policy, want := range map[TransportSecurity]bool{
				TransportSecureOrLocal: tt.want.local,
				TransportSecureOnly:    tt.want.secureOnly,
				InsecureAllowPlaintext: tt.want.allowPlaintext,
			} {
				a := mustNew(t, Config{TransportSecurity: policy})
				if got := a.transportAllowed(tt.ctx); got != want {
					t.Errorf("%v: transportAllowed = %v, want %v", policy, got, want)
				}
			}
		})
	}
}

// commonInfoByPointer is an AuthInfo whose GetCommonAuthInfo is promoted
// through a pointer, nil in the tests.
type commonInfoByPointer struct{ *credentials.CommonAuthInfo }

func (commonInfoByPointer) AuthType() string { return "custom" }

// An adapter that builds its peer for ServeCall may use an AuthInfo type
// of its own that embeds a pointer, and leave it nil on a plaintext
// request: its promoted GetCommonAuthInfo panics. That is no transport
// security, and no crash (grpc-go does not recover a panic in an
// interceptor either): a token on it from another host is refused before
// it is verified, and on loopback it counts as local.
func TestTransport_AuthInfoWhoseLevelPanicsIsNoTransportSecurity(t *testing.T) {
	cv := &countingVerifier{next: staticVerifier{claims: mustClaims(t, "test:read")}}
	a := mustNew(t, Config{Verifier: cv})
	serve := func(addr net.Addr, ai credentials.AuthInfo) error {
		return a.ServeCall(withPeer(bearerCtx("tok"), addr, ai), mInherited, false, &authtestv1.InheritedRequest{}, func(context.Context, *Guard) error { return nil })
	}
	for _, ai := range []credentials.AuthInfo{tlsInfoByPointer{}, commonInfoByPointer{}} {
		checkStatus(t, serve(&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}, ai), codes.Unauthenticated, ReasonTransportInsecure)
		if err := serve(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, ai); err != nil {
			t.Errorf("%T on loopback: %v", ai, err)
		}
	}
	if n := cv.n.Load(); n != 2 {
		t.Errorf("verifier called %d times, want 2 (the loopback calls)", n)
	}
}

func TestTransport_PlaintextFromAnotherHostIsRefusedByDefault(t *testing.T) {
	cv := &countingVerifier{next: staticVerifier{claims: mustClaims(t, "test:read")}}
	a := mustNew(t, Config{Verifier: cv})
	remote := withPeer(bearerCtx("tok"), &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}, plaintext)
	for _, m := range []string{mInherited, mPublic, mUnannotated} {
		_, err := callUnary(a, remote, m)
		checkStatus(t, err, codes.Unauthenticated, ReasonTransportInsecure)
	}
	if n := cv.n.Load(); n != 0 {
		t.Errorf("verifier called %d times, want 0", n)
	}
	// The same call without a peer (the interceptor used outside a gRPC
	// server) fails closed.
	noPeer := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer tok"))
	_, err := callUnary(a, noPeer, mInherited)
	checkStatus(t, err, codes.Unauthenticated, ReasonTransportInsecure)
	// Over TLS it passes.
	secure := withPeer(bearerCtx("tok"), &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}, tlsInfo)
	if _, err := callUnary(a, secure, mInherited); err != nil {
		t.Fatalf("TLS from another host: %v", err)
	}
	if n := cv.n.Load(); n != 1 {
		t.Errorf("verifier called %d times, want 1", n)
	}
}

// A TLS state whose handshake is not complete (an adapter's hand-built
// peer for ServeCall) carries no transport security, whatever level it
// reports: a token from another host on it is refused before it is
// verified, as on plaintext, while on loopback it counts as local.
func TestTransport_TLSHandshakeNotCompleteIsNoTransportSecurity(t *testing.T) {
	cv := &countingVerifier{next: staticVerifier{claims: mustClaims(t, "test:read")}}
	a := mustNew(t, Config{Verifier: cv})
	serve := func(addr net.Addr, ai credentials.AuthInfo) error {
		return a.ServeCall(withPeer(bearerCtx("tok"), addr, ai), mInherited, false, &authtestv1.InheritedRequest{}, func(context.Context, *Guard) error { return nil })
	}
	remote := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}
	for _, ai := range []credentials.AuthInfo{tlsIncomplete, &tlsIncomplete} {
		checkStatus(t, serve(remote, ai), codes.Unauthenticated, ReasonTransportInsecure)
	}
	if n := cv.n.Load(); n != 0 {
		t.Errorf("verifier called %d times, want 0", n)
	}
	if err := serve(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, tlsIncomplete); err != nil {
		t.Errorf("incomplete handshake on loopback: %v", err)
	}
	if err := serve(remote, tlsInfo); err != nil {
		t.Errorf("completed handshake from another host: %v", err)
	}
}

func TestTransport_String(t *testing.T) {
	for ts, want := range map[TransportSecurity]string{
		TransportSecureOrLocal: "TransportSecureOrLocal",
		TransportSecureOnly:    "TransportSecureOnly",
		InsecureAllowPlaintext: "InsecureAllowPlaintext",
		7:                      "TransportSecurity(7)",
	} {
		if got := ts.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}
