package tokencreds_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/tokencreds"
	"github.com/grpcauth/grpcauth/verifier"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// service answers Authenticated with the caller's subject.
type service struct {
	authtestv1.UnimplementedTestServiceServer
}

func (service) Authenticated(ctx context.Context, _ *authtestv1.AuthenticatedRequest) (*authtestv1.AuthenticatedResponse, error) {
	c, ok := grpcauth.ClaimsFromContext(ctx)
	return &authtestv1.AuthenticatedResponse{Caller: &authtestv1.Caller{Authenticated: ok, Subject: c.Subject()}}, nil
}

// fixture is a grpcauthtest issuer with one client, and a TokenSource that
// gets that client's tokens from the issuer's token endpoint, counting
// them.
type fixture struct {
	iss    *grpcauthtest.Issuer
	ts     *countingSource
	server []grpc.ServerOption // grpcauth's interceptors, default Config
}

type countingSource struct {
	next oauth2.TokenSource
	n    atomic.Int64
}

func (s *countingSource) Token() (*oauth2.Token, error) { s.n.Add(1); return s.next.Token() }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: []grpcauthtest.Client{{ID: "svc", Secret: "s3cret", Scopes: []string{"test:read"}}}})
	v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	a, err := grpcauth.New(grpcauth.Config{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: "s3cret", TokenURL: iss.TokenURL()}
	return &fixture{
		iss:    iss,
		ts:     &countingSource{next: cc.TokenSource(context.Background())},
		server: []grpc.ServerOption{grpc.UnaryInterceptor(a.UnaryServerInterceptor()), grpc.StreamInterceptor(a.StreamServerInterceptor())},
	}
}

// serve runs the service on lis behind grpcauth until the test ends.
func (f *fixture) serve(t *testing.T, lis net.Listener, opts ...grpc.ServerOption) {
	t.Helper()
	srv := grpc.NewServer(append(opts, f.server...)...)
	authtestv1.RegisterTestServiceServer(srv, service{})
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(lis) })
	t.Cleanup(func() { srv.Stop(); wg.Wait() })
}

// serveBufconn runs the service on a bufconn listener until the test ends,
// and returns the dial option that reaches it.
func (f *fixture) serveBufconn(t *testing.T) grpc.DialOption {
	t.Helper()
	buf := bufconn.Listen(1 << 20)
	f.serve(t, buf)
	return grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return buf.DialContext(ctx) })
}

// call dials target with opts and tokencreds from f.ts, and calls
// Authenticated.
func (f *fixture) call(t *testing.T, target string, opts ...grpc.DialOption) (*authtestv1.AuthenticatedResponse, error) {
	t.Helper()
	conn, err := grpc.NewClient(target, append(opts, grpc.WithPerRPCCredentials(tokencreds.New(f.ts)))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return authtestv1.NewTestServiceClient(conn).Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{})
}

var plaintext = grpc.WithTransportCredentials(insecure.NewCredentials())

func TestCredentials_PlaintextToThisHostSendsTheToken(t *testing.T) {
	f := newFixture(t)
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.serve(t, tcp)
	bufDialer := f.serveBufconn(t)

	for _, tt := range []struct {
		name   string
		target string
		opts   []grpc.DialOption
	}{
		{"loopback TCP", "passthrough:///" + tcp.Addr().String(), nil},
		{"bufconn", "passthrough:///bufnet", []grpc.DialOption{bufDialer}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.call(t, tt.target, append(tt.opts, plaintext)...)
			if err != nil {
				t.Fatal(err)
			}
			if !got.GetCaller().GetAuthenticated() || got.GetCaller().GetSubject() != "svc" {
				t.Errorf("server saw %v, want client svc's token", got.GetCaller())
			}
		})
	}
}

// remoteConn is a connection to a loopback server that reports the address
// of another host, as a connection across a network would.
type remoteConn struct{ net.Conn }

func (remoteConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 443} }

// dialAsRemote dials addr but makes the connection look remote.
func dialAsRemote(addr string) grpc.DialOption {
	return grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return remoteConn{c}, nil
	})
}

func TestCredentials_PlaintextToAnotherHostIsRefusedBeforeGettingAToken(t *testing.T) {
	f := newFixture(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.serve(t, lis)
	_, err = f.call(t, "passthrough:///api.example:443", dialAsRemote(lis.Addr().String()), plaintext)
	if status.Code(err) != codes.Unauthenticated || status.Convert(err).Message() != tokencreds.ErrInsecureTransport.Error() || !errors.Is(err, tokencreds.ErrInsecureTransport) {
		t.Fatalf("err = %v, want Unauthenticated: %v", err, tokencreds.ErrInsecureTransport)
	}
	if n := f.ts.n.Load(); n != 0 {
		t.Errorf("token source asked %d times, want 0", n)
	}
}

// connectProxy runs an HTTP CONNECT proxy on a loopback port until the
// test ends; it carries every tunnel to to, whatever host the request
// names (a server on another host, in the test on this one), counting
// them.
func connectProxy(t *testing.T, to string) (addr string, tunnels *atomic.Int64) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tunnels = new(atomic.Int64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil || req.Method != http.MethodConnect {
					return
				}
				up, err := net.Dial("tcp", to)
				if err != nil {
					return
				}
				defer up.Close()
				tunnels.Add(1)
				io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
				go func() { io.Copy(up, br); up.Close() }()
				io.Copy(c, up)
			})
		}
	})
	t.Cleanup(func() {
		lis.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return lis.Addr().String(), tunnels
}

// dialThroughProxy connects through the CONNECT proxy at proxy, as grpc-go
// does for a target HTTPS_PROXY covers: the connection's peer is the
// proxy.
func dialThroughProxy(proxy string) grpc.DialOption {
	return grpc.WithContextDialer(func(ctx context.Context, target string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", proxy)
		if err != nil {
			return nil, err
		}
		br := bufio.NewReader(c)
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil || resp.StatusCode != http.StatusOK {
			c.Close()
			return nil, fmt.Errorf("CONNECT: %v %v", resp, err)
		}
		return &bufferedConn{c, br}, nil
	})
}

// bufferedConn reads what its reader has buffered before the rest of Conn.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// A plaintext HTTP CONNECT proxy on this host (HTTPS_PROXY, which grpc-go
// follows by default) makes the connection's peer local, but carries the
// call on in clear text to the target's host: the token is not sent to it
// over plaintext. A local server on another port is still local.
func TestCredentials_PlaintextThroughTheEnvironmentsLocalProxyIsRefused(t *testing.T) {
	f := newFixture(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.serve(t, lis)
	proxy, tunnels := connectProxy(t, lis.Addr().String())
	tokencreds.SetProxyFromEnvironment(t, func(r *http.Request) (*url.URL, error) {
		if r.URL.Hostname() == "api.example" { // NO_PROXY lists the others
			return &url.URL{Scheme: "http", Host: proxy}, nil
		}
		return nil, nil
	})

	_, err = f.call(t, "passthrough:///api.example:50051", dialThroughProxy(proxy), plaintext)
	if status.Code(err) != codes.Unauthenticated || !errors.Is(err, tokencreds.ErrInsecureTransport) {
		t.Fatalf("err = %v, want Unauthenticated: %v", err, tokencreds.ErrInsecureTransport)
	}
	if n := f.ts.n.Load(); n != 0 {
		t.Errorf("token source asked %d times, want 0", n)
	}
	if n := tunnels.Load(); n != 1 {
		t.Fatalf("proxy carried %d tunnels, want 1: the test did not go through it", n)
	}

	// Not to the proxy: a server on another port of this host; a target
	// the environment's proxy does not cover (a custom dialer's proxy is
	// the caller's business).
	direct := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", lis.Addr().String())
	})
	for _, tt := range []struct {
		target string
		dial   grpc.DialOption
	}{
		{"passthrough:///api.example:50051", direct},
		{"passthrough:///api.local:50051", dialThroughProxy(proxy)},
	} {
		got, err := f.call(t, tt.target, tt.dial, plaintext)
		if err != nil || got.GetCaller().GetSubject() != "svc" {
			t.Errorf("%s: got %v, %v, want client svc's token sent", tt.target, got.GetCaller(), err)
		}
	}
}

func TestCredentials_TLSToAnotherHostSendsTheToken(t *testing.T) {
	f := newFixture(t)
	serverTLS, clientTLS := tlsPair(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.serve(t, lis, grpc.Creds(serverTLS))
	got, err := f.call(t, "passthrough:///api.example:443", dialAsRemote(lis.Addr().String()), grpc.WithTransportCredentials(clientTLS))
	if err != nil {
		t.Fatal(err)
	}
	if got.GetCaller().GetSubject() != "svc" {
		t.Errorf("server saw %v, want client svc's token", got.GetCaller())
	}
}

func TestCredentials_GetRequestMetadata(t *testing.T) {
	tok := &oauth2.Token{AccessToken: "at", TokenType: "bearer"}
	local := credentials.NewContextWithRequestInfo(peerCtx(&net.UnixAddr{Name: "/run/api.sock", Net: "unix"}), credentials.RequestInfo{AuthInfo: insecureInfo()})
	// A TLS state whose handshake is not complete carries no transport
	// security, as the server (grpcauth.TransportSecureOrLocal) decides it:
	// the token goes only to a peer on this host.
	incomplete := credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
	complete := incomplete
	complete.State.HandshakeComplete = true
	remote := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 443}
	loopback := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443}
	on := func(addr net.Addr, ai credentials.AuthInfo) context.Context {
		return credentials.NewContextWithRequestInfo(peerCtx(addr), credentials.RequestInfo{AuthInfo: ai})
	}
	tests := []struct {
		name string
		ctx  context.Context
		ts   oauth2.TokenSource
		want string
		code codes.Code
	}{
		{"Unix socket", local, oauth2.StaticTokenSource(tok), "Bearer at", codes.OK},
		{"TLS to another host", on(remote, complete), oauth2.StaticTokenSource(tok), "Bearer at", codes.OK},
		{"TLS handshake not complete to another host", on(remote, incomplete), oauth2.StaticTokenSource(tok), "", codes.Unauthenticated},
		{"*TLSInfo handshake not complete to another host", on(remote, &incomplete), oauth2.StaticTokenSource(tok), "", codes.Unauthenticated},
		{"TLS handshake not complete on this host", on(loopback, incomplete), oauth2.StaticTokenSource(tok), "Bearer at", codes.OK},
		// TLS credentials' own AuthInfo embedding a TLSInfo follows its rule.
		{"AuthInfo embedding TLSInfo to another host", on(remote, embedsTLSInfo{complete}), oauth2.StaticTokenSource(tok), "Bearer at", codes.OK},
		{"AuthInfo embedding TLSInfo, handshake not complete, to another host", on(remote, embedsTLSInfo{incomplete}), oauth2.StaticTokenSource(tok), "", codes.Unauthenticated},
		{"AuthInfo embedding *TLSInfo, handshake not complete, to another host", on(remote, tlsInfoByPointer{&incomplete}), oauth2.StaticTokenSource(tok), "", codes.Unauthenticated},
		// An AuthInfo whose GetCommonAuthInfo panics (promoted through a
		// nil pointer) has no transport security, and crashes nothing.
		{"AuthInfo embedding a nil *TLSInfo to another host", on(remote, tlsInfoByPointer{}), oauth2.StaticTokenSource(tok), "", codes.Unauthenticated},
		{"AuthInfo embedding a nil *CommonAuthInfo to another host", on(remote, commonInfoByPointer{}), oauth2.StaticTokenSource(tok), "", codes.Unauthenticated},
		{"AuthInfo embedding a nil *TLSInfo on this host", on(loopback, tlsInfoByPointer{}), oauth2.StaticTokenSource(tok), "Bearer at", codes.OK},
		{"no request info", peerCtx(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}), oauth2.StaticTokenSource(tok), "", codes.Unauthenticated},
		{"token source fails", local, failingSource{}, "", codes.Unauthenticated},
		{"RetrieveError without a response", local, errorSource{&oauth2.RetrieveError{}}, "", codes.Unauthenticated},
		{"RetrieveError that is a nil pointer", local, errorSource{(*oauth2.RetrieveError)(nil)}, "", codes.Unauthenticated},
		{"empty access token", local, oauth2.StaticTokenSource(&oauth2.Token{}), "", codes.Unauthenticated},
		{"no token and no error", local, nilSource{}, "", codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer failOnPanic(t)
			md, err := tokencreds.New(tt.ts).GetRequestMetadata(tt.ctx)
			if status.Code(err) != tt.code {
				t.Fatalf("err = %v, want code %v", err, tt.code)
			}
			if got := md["authorization"]; got != tt.want {
				t.Errorf("authorization = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := tokencreds.New(nilSource{}).GetRequestMetadata(local); !errors.Is(err, tokencreds.ErrNoToken) {
		t.Errorf("no token: err = %v, want one wrapping ErrNoToken", err)
	}
	if tokencreds.New(nil).RequireTransportSecurity() {
		t.Error("RequireTransportSecurity = true: grpc-go would refuse local plaintext")
	}
}

// nilSource is a faulty TokenSource: no token, and no error either.
type nilSource struct{}

func (nilSource) Token() (*oauth2.Token, error) { return nil, nil }

type failingSource struct{}

func (failingSource) Token() (*oauth2.Token, error) { return nil, errors.New("token endpoint down") }

// errorSource fails with err, however faulty.
type errorSource struct{ err error }

func (s errorSource) Token() (*oauth2.Token, error) { return nil, s.err }

// peerCtx is a context whose connection's remote address is addr.
func peerCtx(addr net.Addr) context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{Addr: addr})
}

// insecureInfo is the AuthInfo of a plaintext connection.
func insecureInfo() credentials.AuthInfo {
	return insecureAuthInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}
}

type insecureAuthInfo struct{ credentials.CommonAuthInfo }

func (insecureAuthInfo) AuthType() string { return "insecure" }

// AuthInfo types of transport credentials of their own.
type (
	embedsTLSInfo       struct{ credentials.TLSInfo }
	tlsInfoByPointer    struct{ *credentials.TLSInfo }
	commonInfoByPointer struct{ *credentials.CommonAuthInfo }
	tlsInfoNamed        struct {
		credentials.CommonAuthInfo
		TLSInfo credentials.TLSInfo // a field, not embedded
	}
)

func (commonInfoByPointer) AuthType() string { return "custom" }
func (tlsInfoNamed) AuthType() string        { return "custom" }

// failOnPanic, deferred, fails t with the panic of the function it ends,
// instead of ending the test binary: grpc-go does not recover a panic of
// per-RPC credentials either.
func failOnPanic(t *testing.T) {
	t.Helper()
	if r := recover(); r != nil {
		t.Fatalf("panic: %v", r)
	}
}

// tlsPair returns server credentials with a self-signed certificate for
// api.example, and client credentials that trust it.
func tlsPair(t *testing.T) (server, client credentials.TransportCredentials) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"api.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	server = credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}, MinVersion: tls.VersionTLS12})
	client = credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "api.example", MinVersion: tls.VersionTLS12})
	return server, client
}

// blockingSource's Token signals entered, waits for release, then returns
// tok.
type blockingSource struct {
	entered chan struct{}
	release chan struct{}
	tok     string
	n       atomic.Int64
}

func (s *blockingSource) Token() (*oauth2.Token, error) {
	s.n.Add(1)
	s.entered <- struct{}{}
	<-s.release
	return &oauth2.Token{AccessToken: s.tok}, nil
}

// dialBlocking returns a client of the service, the blockingSource of
// client svc's tokens that its Credentials (also returned, not used yet)
// ask, on a connection closed when the test ends.
func dialBlocking(t *testing.T) (authtestv1.TestServiceClient, *blockingSource, *tokencreds.Credentials) {
	t.Helper()
	f := newFixture(t)
	bufDialer := f.serveBufconn(t)
	tok, err := f.iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	src := &blockingSource{entered: make(chan struct{}, 8), release: make(chan struct{}), tok: tok}
	creds := tokencreds.New(src)
	conn, err := grpc.NewClient("passthrough:///bufnet", plaintext, grpc.WithPerRPCCredentials(creds), bufDialer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authtestv1.NewTestServiceClient(conn), src, creds
}

// A token endpoint that does not answer (oauth2.TokenSource has no
// context, and clientcredentials' default HTTP client no timeout) must not
// hold a call past its own deadline or cancellation.
func TestCredentials_HungTokenSourceDoesNotOutliveTheCall(t *testing.T) {
	client, src, _ := dialBlocking(t)

	// Two calls wait for the same hung request; the source is asked once.
	errs := make(chan error, 2)
	ctx, cancel := context.WithCancel(t.Context())
	for range 2 {
		go func() {
			_, err := client.Authenticated(ctx, &authtestv1.AuthenticatedRequest{})
			errs <- err
		}()
	}
	<-src.entered
	cancel()
	for range 2 {
		select {
		case err := <-errs:
			if status.Code(err) != codes.Canceled {
				t.Errorf("err = %v, want Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the call is still waiting for the token source after its context ended")
		}
	}
	close(src.release)
	// Once the source answers, calls get its token again.
	got, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetCaller().GetSubject() != "svc" {
		t.Errorf("server saw %v, want client svc's token", got.GetCaller())
	}
	if n := src.n.Load(); n > 2 {
		t.Errorf("token source asked %d times, want 1 for the hung calls and at most 1 more", n)
	}
}

// A call without a deadline does not wait for ever for a token endpoint
// that does not answer: once the source has been asked for longer than the
// credentials wait (a minute; here shortened), the calls waiting for it,
// and those that come while it still hangs, fail with Unavailable, without
// asking it again. Once it answers, calls get its token.
func TestCredentials_HungTokenSourceFailsCallsWithoutADeadline(t *testing.T) {
	client, src, creds := dialBlocking(t)
	tokencreds.SetFetchWait(creds, 50*time.Millisecond)

	const msg = "tokencreds: the token endpoint did not answer in time"
	for i := range 3 { // the first waits for the hung source, the others come after
		errs := make(chan error, 1)
		go func() {
			_, err := client.Authenticated(context.Background(), &authtestv1.AuthenticatedRequest{})
			errs <- err
		}()
		select {
		case err := <-errs:
			if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != msg {
				t.Fatalf("call %d: err = %v, want Unavailable: %s", i+1, err, msg)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d without a deadline still waits for the hung token source", i+1)
		}
	}
	if n := src.n.Load(); n != 1 {
		t.Errorf("token source asked %d times, want once while it hangs", n)
	}
	close(src.release)
	// Once the source answers (any moment now), calls get its token.
	for give := time.Now().Add(10 * time.Second); ; runtime.Gosched() {
		got, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{})
		if err == nil {
			if got.GetCaller().GetSubject() != "svc" {
				t.Errorf("server saw %v, want client svc's token", got.GetCaller())
			}
			break
		}
		if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != msg || time.Now().After(give) {
			t.Fatalf("after the source answered: %v", err)
		}
	}
}

// A token with an expiry is reused until shortly before it, without asking
// the source: 10 s, or the margin oauth2.ReuseTokenSourceWithExpiry gave
// it, but for at least half its life when that margin is longer (see
// TestCredentials_MarginLongerThanTheTokensLifeDoesNotAskOnEveryCall); one
// without an expiry is asked for on every call.
func TestCredentials_ReusesATokenUntilShortlyBeforeItExpires(t *testing.T) {
	local := credentials.NewContextWithRequestInfo(peerCtx(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}), credentials.RequestInfo{AuthInfo: insecureInfo()})
	for _, tc := range []struct {
		name   string
		expiry time.Time
		margin time.Duration // of oauth2.ReuseTokenSourceWithExpiry around the source, if set
		asked  int64         // source calls for three calls
	}{
		{"an hour left", time.Now().Add(time.Hour), 0, 1},
		{"no expiry", time.Time{}, 0, 3},
		{"expires within oauth2's 10 s margin, but in its first half-life", time.Now().Add(5 * time.Second), 0, 1},
		{"expires within the source's own margin of a minute, but in its first half-life", time.Now().Add(30 * time.Second), time.Minute, 1},
		{"expires after the source's own margin of a second", time.Now().Add(5 * time.Second), time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &countingSource{next: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at", Expiry: tc.expiry})}
			var ts oauth2.TokenSource = src
			if tc.margin != 0 {
				ts = oauth2.ReuseTokenSourceWithExpiry(nil, src, tc.margin)
			}
			creds := tokencreds.New(ts)
			for range 3 {
				md, err := creds.GetRequestMetadata(local)
				if err != nil || md["authorization"] != "Bearer at" {
					t.Fatalf("GetRequestMetadata = %v, %v", md, err)
				}
				tokencreds.AwaitFetch(creds) // a refresh in the margin goes on in the background
			}
			if n := src.n.Load(); n != tc.asked {
				t.Errorf("source asked %d times, want %d", n, tc.asked)
			}
		})
	}
}

// leak is in every body the test token endpoints answer with: the IdP's
// response must not reach a status message, which a service returning the
// error from its own handler would pass on to its callers.
const leak = "IDP-RESPONSE-BODY"

// oauthError answers an RFC 6749 section 5.2 error response with code.
func oauthError(httpStatus int, code string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(httpStatus)
		fmt.Fprintf(w, `{"error":%q,"error_description":%q}`, code, leak)
	}
}

// echoError answers httpStatus with a page that echoes the request's form,
// client_secret included, as a misbehaving or wrongly configured endpoint
// can.
func echoError(httpStatus int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(httpStatus)
		fmt.Fprintf(w, "<p>%s: %s</p>", leak, r.PostForm.Encode())
	}
}

// closedURL is the URL of a port nothing listens on any more.
func closedURL(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + lis.Addr().String() + "/token"
	lis.Close()
	return u
}

// clientSecret is the secret the client-credentials sources send.
const clientSecret = "s3cret-of-the-client"

// A token source that fails fails the call with a code that follows the
// cause: Unavailable (retryable) when the token endpoint is down, slow or
// overloaded, Unauthenticated when it refuses the client, whether the
// credentials are installed on the connection or on the call (grpc-go alone
// would make a plain error Unauthenticated on the first and Internal on the
// second). The message names at most the HTTP status and the OAuth error
// code: never the response body or the client secret.
func TestCredentials_TokenSourceErrorCodeFollowsItsCauseOnEveryCall(t *testing.T) {
	f := newFixture(t)
	bufDialer := f.serveBufconn(t)

	// endpoint is a client-credentials TokenSource from a token endpoint
	// that answers with h, on a client that gives up after timeout if
	// that is set.
	endpoint := func(h http.HandlerFunc, timeout time.Duration) func(t *testing.T) oauth2.TokenSource {
		return func(t *testing.T) oauth2.TokenSource {
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			hc := srv.Client()
			hc.Timeout = timeout
			cc := clientcredentials.Config{ClientID: "svc", ClientSecret: clientSecret, TokenURL: srv.URL}
			return cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc))
		}
	}
	source := func(ts oauth2.TokenSource) func(*testing.T) oauth2.TokenSource {
		return func(*testing.T) oauth2.TokenSource { return ts }
	}
	// hung reads the request (so that the server notices the client
	// hang up) and answers nothing.
	hung := func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}
	hangUp := func(w http.ResponseWriter, _ *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.Close()
		}
	}

	for _, tt := range []struct {
		name string
		ts   func(*testing.T) oauth2.TokenSource
		code codes.Code
		msg  string
	}{
		{"400 invalid_client", endpoint(oauthError(400, "invalid_client"), 0), codes.Unauthenticated, "tokencreds: the token endpoint refused the token request: invalid_client (HTTP 400)"},
		{"400 invalid_grant", endpoint(oauthError(400, "invalid_grant"), 0), codes.Unauthenticated, "tokencreds: the token endpoint refused the token request: invalid_grant (HTTP 400)"},
		{"401 unauthorized_client", endpoint(oauthError(401, "unauthorized_client"), 0), codes.Unauthenticated, "tokencreds: the token endpoint refused the token request: unauthorized_client (HTTP 401)"},
		{"401 without an OAuth error", endpoint(echoError(401), 0), codes.Unauthenticated, "tokencreds: the token endpoint refused the token request (HTTP 401)"},
		{"404", endpoint(echoError(404), 0), codes.Unauthenticated, "tokencreds: the token endpoint refused the token request (HTTP 404)"},
		{"400 with an error code that is none", endpoint(oauthError(400, "no such thing: "+leak), 0), codes.Unauthenticated, "tokencreds: the token endpoint refused the token request (HTTP 400)"},
		{"400 temporarily_unavailable", endpoint(oauthError(400, "temporarily_unavailable"), 0), codes.Unavailable, "tokencreds: the token endpoint is unavailable: temporarily_unavailable (HTTP 400)"},
		{"500", endpoint(echoError(500), 0), codes.Unavailable, "tokencreds: the token endpoint is unavailable (HTTP 500)"},
		{"503 temporarily_unavailable", endpoint(oauthError(503, "temporarily_unavailable"), 0), codes.Unavailable, "tokencreds: the token endpoint is unavailable: temporarily_unavailable (HTTP 503)"},
		{"429", endpoint(echoError(429), 0), codes.Unavailable, "tokencreds: the token endpoint is unavailable (HTTP 429)"},
		{"connection refused", func(t *testing.T) oauth2.TokenSource {
			cc := clientcredentials.Config{ClientID: "svc", ClientSecret: clientSecret, TokenURL: closedURL(t)}
			return cc.TokenSource(context.Background())
		}, codes.Unavailable, "tokencreds: the token endpoint is unreachable"},
		{"connection closed without an answer", endpoint(hangUp, 0), codes.Unavailable, "tokencreds: the token endpoint is unreachable"},
		{"hung endpoint, HTTP client timeout", endpoint(hung, 50*time.Millisecond), codes.Unavailable, "tokencreds: the token endpoint did not answer in time"},
		{"the source's own context cancelled", func(t *testing.T) oauth2.TokenSource {
			srv := httptest.NewServer(oauthError(400, "invalid_client"))
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithCancel(context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client()))
			cancel() // a source made with a request's context, used after the request
			cc := clientcredentials.Config{ClientID: "svc", ClientSecret: clientSecret, TokenURL: srv.URL}
			return cc.TokenSource(ctx)
		}, codes.Unauthenticated, "tokencreds: the token source's context is cancelled"},
		{"another error", source(failingSource{}), codes.Unauthenticated, "tokencreds: the token source failed"},
		{"empty access token", source(oauth2.StaticTokenSource(&oauth2.Token{})), codes.Unauthenticated, tokencreds.ErrNoToken.Error()},
	} {
		for _, perCall := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/per call %v", tt.name, perCall), func(t *testing.T) {
				creds := tokencreds.New(tt.ts(t))
				opts := []grpc.DialOption{bufDialer, plaintext}
				var callOpts []grpc.CallOption
				if perCall {
					callOpts = append(callOpts, grpc.PerRPCCredentials(creds))
				} else {
					opts = append(opts, grpc.WithPerRPCCredentials(creds))
				}
				conn, err := grpc.NewClient("passthrough:///bufnet", opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				_, err = authtestv1.NewTestServiceClient(conn).Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}, callOpts...)
				if st := status.Convert(err); st.Code() != tt.code || st.Message() != tt.msg {
					t.Fatalf("err = %v, want %v: %s", err, tt.code, tt.msg)
				}
				if text := err.Error(); strings.Contains(text, leak) || strings.Contains(text, clientSecret) {
					t.Errorf("err = %q: it carries the response body", text)
				}
				var re *oauth2.RetrieveError
				if strings.Contains(tt.msg, "(HTTP ") && !errors.As(err, &re) {
					t.Errorf("errors.As(%v, *oauth2.RetrieveError) = false, want the cause", err)
				}
			})
		}
	}
}

// A retry policy retrying UNAVAILABLE gets a call through a token
// endpoint's passing outage if its retry comes after the backoff that
// follows the failure; within the backoff the retry fails at once with the
// same error, without asking the endpoint. A refused client is not retried.
func TestCredentials_RetryPolicyRetriesAnUnavailableTokenEndpointOnly(t *testing.T) {
	f := newFixture(t)
	bufDialer := f.serveBufconn(t)
	tok, err := f.iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	retry := fmt.Sprintf(`{"methodConfig":[{"name":[{"service":%q}],"retryPolicy":{"maxAttempts":2,"initialBackoff":"0.001s","maxBackoff":"0.001s","backoffMultiplier":1,"retryableStatusCodes":["UNAVAILABLE"]}}]}`,
		authtestv1.TestService_ServiceDesc.ServiceName)
	for _, tt := range []struct {
		name      string
		first     http.HandlerFunc // the token endpoint's first answer; then a token
		step      time.Duration    // how far the clock moves on each reading
		code      codes.Code
		requested int64
	}{
		{"503, retried after the backoff", oauthError(503, "temporarily_unavailable"), 5 * time.Second, codes.OK, 2},
		{"503, retried within the backoff", oauthError(503, "temporarily_unavailable"), 0, codes.Unavailable, 1},
		{"400 invalid_client", oauthError(400, "invalid_client"), 5 * time.Second, codes.Unauthenticated, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					tt.first(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":300}`, tok)
			}))
			defer srv.Close()
			clk := newClock()
			now := func() time.Time { clk.Advance(tt.step); return clk.Now() }
			cc := clientcredentials.Config{ClientID: "svc", ClientSecret: clientSecret, TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInHeader}
			creds := tokencreds.NewWithClock(cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())), now)
			conn, err := grpc.NewClient("passthrough:///bufnet", plaintext, grpc.WithDefaultServiceConfig(retry), grpc.WithPerRPCCredentials(creds), bufDialer)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, err = authtestv1.NewTestServiceClient(conn).Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{})
			if status.Code(err) != tt.code {
				t.Errorf("err = %v, want %v", err, tt.code)
			}
			if got := n.Load(); got != tt.requested {
				t.Errorf("token endpoint asked %d times, want %d", got, tt.requested)
			}
		})
	}
}

// clock is a time the test moves on by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// switchEndpoint is a token endpoint that answers with fail while failing
// is set and with token otherwise, counting the requests.
type switchEndpoint struct {
	fail    http.HandlerFunc
	token   string
	expires int // expires_in; 0 for none
	failing atomic.Bool
	n       atomic.Int64
}

func (e *switchEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.n.Add(1)
	if e.failing.Load() {
		e.fail(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if e.expires == 0 {
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer"}`, e.token)
		return
	}
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":%d}`, e.token, e.expires)
}

// noCache is a client-credentials TokenSource that requests a token on
// every call, as a caching source does once its token is about to expire.
type noCache struct {
	cc  *clientcredentials.Config
	ctx context.Context
}

func (s noCache) Token() (*oauth2.Token, error) { return s.cc.Token(s.ctx) }

// dial returns a client of the service behind dialer whose tokencreds get
// their tokens from e with a non-caching client-credentials TokenSource
// (one request per token: the credentials go in the header, not tried both
// ways), the clock they run on, and the Credentials.
func (e *switchEndpoint) dial(t *testing.T, dialer grpc.DialOption) (authtestv1.TestServiceClient, *clock, *tokencreds.Credentials) {
	t.Helper()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: clientSecret, TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInHeader}
	clk := newClock()
	creds := tokencreds.NewWithClock(noCache{cc, context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())}, clk.Now)
	conn, err := grpc.NewClient("passthrough:///bufnet", plaintext, dialer, grpc.WithPerRPCCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authtestv1.NewTestServiceClient(conn), clk, creds
}

// During a token endpoint's outage, calls get the failure's error at once
// for a backoff delay (1 s ±20 % after the first failure, 1.6 times longer
// after each further one), so that a busy client does not send a token
// request per call; the first call after the delay asks again, and a
// success ends the backoff.
func TestCredentials_FailedTokenSourceIsAskedAgainOnlyAfterABackoff(t *testing.T) {
	f := newFixture(t)
	bufDialer := f.serveBufconn(t)
	tok, err := f.iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	hangUp := func(w http.ResponseWriter, _ *http.Request) {
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
	}
	for _, tt := range []struct {
		name string
		fail http.HandlerFunc
		code codes.Code
		msg  string
	}{
		{"503", oauthError(503, "temporarily_unavailable"), codes.Unavailable, "tokencreds: the token endpoint is unavailable: temporarily_unavailable (HTTP 503)"},
		{"connection closed", hangUp, codes.Unavailable, "tokencreds: the token endpoint is unreachable"},
		{"400 invalid_client", oauthError(400, "invalid_client"), codes.Unauthenticated, "tokencreds: the token endpoint refused the token request: invalid_client (HTTP 400)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := &switchEndpoint{fail: tt.fail, token: tok}
			e.failing.Store(true)
			client, clk, _ := e.dial(t, bufDialer)
			// calls makes n calls, which all fail as the token endpoint
			// did, and checks how often it has been asked in all.
			calls := func(n int, requests int64) {
				t.Helper()
				for range n {
					_, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{})
					if st := status.Convert(err); st.Code() != tt.code || st.Message() != tt.msg {
						t.Fatalf("err = %v, want %v: %s", err, tt.code, tt.msg)
					}
				}
				if got := e.n.Load(); got != requests {
					t.Fatalf("token endpoint asked %d times, want %d", got, requests)
				}
			}
			calls(20, 1)
			clk.Advance(750 * time.Millisecond) // before the first delay's shortest
			calls(5, 1)
			clk.Advance(500 * time.Millisecond) // after its longest (1.2 s)
			calls(5, 2)
			clk.Advance(1250 * time.Millisecond) // before the second's shortest (1.28 s)
			calls(5, 2)
			clk.Advance(700 * time.Millisecond) // after its longest (1.92 s)
			calls(5, 3)

			// The endpoint is back: the first call after the delay gets
			// a token, and the next failure backs off 1 s ±20 % again
			// (not 4.1 s ±20 % as a fourth failure in a row would).
			e.failing.Store(false)
			clk.Advance(4 * time.Second) // after the third's longest (3.07 s)
			if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}); err != nil {
				t.Fatal(err)
			}
			e.failing.Store(true)
			calls(3, 5)
			clk.Advance(1250 * time.Millisecond)
			calls(3, 6)
		})
	}
}

// A 429 or 503 with Retry-After holds the token requests back at least
// that long (seconds, or an HTTP-date read by the credentials' clock), up
// to 120 s, the backoff's longest; one that does not parse or is negative,
// or comes with another status, leaves the backoff (1 s ±20 %) as it is.
// The credentials asked again after the backoff alone, however long the
// endpoint had asked them to wait.
func TestCredentials_RetryAfterOfA429Or503HoldsTokenRequestsBackUpToTwoMinutes(t *testing.T) {
	f := newFixture(t)
	bufDialer := f.serveBufconn(t)
	tok, err := f.iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name       string
		status     int
		retryAfter func(now time.Time) string
		wait       time.Duration // the clock reaches it without a second request
		after      time.Duration // and past it, one second request
		header     string        // the header retryAfter sets; "" for Retry-After
	}{
		{"429, seconds", 429, func(time.Time) string { return "30" }, 29 * time.Second, 31 * time.Second, ""},
		{"503, HTTP-date", 503, func(now time.Time) string { return now.Add(41 * time.Second).UTC().Format(http.TimeFormat) }, 39 * time.Second, 42 * time.Second, ""},
		{"429, an hour: capped", 429, func(time.Time) string { return "3600" }, 119 * time.Second, 121 * time.Second, ""},
		{"429, unparsable", 429, func(time.Time) string { return "soon" }, 750 * time.Millisecond, 1250 * time.Millisecond, ""},
		{"503, negative", 503, func(time.Time) string { return "-30" }, 750 * time.Millisecond, 1250 * time.Millisecond, ""},
		{"503, date passed", 503, func(now time.Time) string { return now.Add(-time.Hour).UTC().Format(http.TimeFormat) }, 750 * time.Millisecond, 1250 * time.Millisecond, ""},
		{"500, seconds: not a 429 or 503", 500, func(time.Time) string { return "30" }, 750 * time.Millisecond, 1250 * time.Millisecond, ""},
		{"429, Okta's X-Rate-Limit-Reset", 429, func(now time.Time) string { return strconv.FormatInt(now.Add(41*time.Second).Unix(), 10) }, 39 * time.Second, 42 * time.Second, "X-Rate-Limit-Reset"},
		{"503, X-Rate-Limit-Reset: read only on a 429", 503, func(now time.Time) string { return strconv.FormatInt(now.Add(41*time.Second).Unix(), 10) }, 750 * time.Millisecond, 1250 * time.Millisecond, "X-Rate-Limit-Reset"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var clk *clock // set before the first call
			e := &switchEndpoint{token: tok, fail: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(cmp.Or(tt.header, "Retry-After"), tt.retryAfter(clk.Now()))
				oauthError(tt.status, "temporarily_unavailable")(w, r)
			}}
			e.failing.Store(true)
			client, c, _ := e.dial(t, bufDialer)
			clk = c
			call := func(requests int64) {
				t.Helper()
				if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}); status.Code(err) != codes.Unavailable {
					t.Fatalf("err = %v, want Unavailable", err)
				}
				if got := e.n.Load(); got != requests {
					t.Fatalf("token endpoint asked %d times, want %d", got, requests)
				}
			}
			call(1)
			clk.Advance(tt.wait)
			call(1)
			clk.Advance(tt.after - tt.wait)
			call(2)
		})
	}
}

// callAsSvc returns a function that makes one call with client and fails
// t if it succeeds with another caller than client svc's token.
func callAsSvc(t *testing.T, client authtestv1.TestServiceClient) func() error {
	return func() error {
		t.Helper()
		got, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{})
		if err == nil && got.GetCaller().GetSubject() != "svc" {
			t.Fatalf("server saw %v, want client svc's token", got.GetCaller())
		}
		return err
	}
}

// A failed refresh in oauth2's margin before a token's expiry does not stop
// calls: they send the token they have until it expires, and only then get
// the failure.
func TestCredentials_TokenOutlivesAFailedRefreshUntilItExpires(t *testing.T) {
	f := newFixture(t)
	bufDialer := f.serveBufconn(t)
	tok, err := f.iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	// A token that expires in 5 s is within oauth2's margin at once, so
	// that every call past its half-life asks for a new one.
	e := &switchEndpoint{fail: oauthError(503, "temporarily_unavailable"), token: tok, expires: 5}
	client, clk, creds := e.dial(t, bufDialer)
	call := callAsSvc(t, client)
	if err := call(); err != nil {
		t.Fatal(err)
	}
	e.failing.Store(true)
	clk.Advance(3 * time.Second) // past its half-life
	for range 5 {
		if err := call(); err != nil {
			t.Fatalf("call with a token that has not expired yet: %v", err)
		}
		tokencreds.AwaitFetch(creds) // the refresh goes on in the background
	}
	if got := e.n.Load(); got != 2 {
		t.Errorf("token endpoint asked %d times, want 2 (a token, a failed refresh, then the backoff)", got)
	}
	clk.Advance(3 * time.Second) // the token has expired, the backoff passed
	for range 3 {
		if err := call(); status.Code(err) != codes.Unavailable {
			t.Fatalf("err = %v, want Unavailable once the token has expired", err)
		}
	}
	if got := e.n.Load(); got != 3 {
		t.Errorf("token endpoint asked %d times, want 3", got)
	}
}

// A Retry-After on a failed refresh in the margin before a token's expiry
// holds the next token request back, as a backoff does, without stopping
// the calls: they send the token they have until it expires, then fail at
// once, without asking the endpoint, until the Retry-After has passed.
func TestCredentials_TokenIsSentUntilItExpiresWhileARetryAfterHoldsItsRefreshBack(t *testing.T) {
	f := newFixture(t)
	bufDialer := f.serveBufconn(t)
	tok, err := f.iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	// A token that expires in 8 s is within oauth2's margin at once, so
	// that a call past its half-life (4 s) asks for a new one.
	e := &switchEndpoint{token: tok, expires: 8, fail: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "100")
		oauthError(429, "slow_down")(w, r)
	}}
	client, clk, creds := e.dial(t, bufDialer)
	call := callAsSvc(t, client)
	if err := call(); err != nil {
		t.Fatal(err)
	}
	e.failing.Store(true)
	for _, step := range []time.Duration{5 * time.Second, time.Second, time.Second} { // the refresh fails at 5 s: ask again from 105 s
		clk.Advance(step)
		if err := call(); err != nil {
			t.Fatalf("call with a token that has not expired yet: %v", err)
		}
		tokencreds.AwaitFetch(creds)
	}
	clk.Advance(2 * time.Second) // 9 s: expired
	if err := call(); status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want Unavailable once the token has expired", err)
	}
	clk.Advance(95 * time.Second) // 104 s: the Retry-After has not passed
	if err := call(); status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	if got := e.n.Load(); got != 2 {
		t.Errorf("token endpoint asked %d times, want 2 (a token, then a refresh held back by its Retry-After)", got)
	}
	clk.Advance(2 * time.Second)
	e.expires = 3600 // its expires_in is added to the real clock's time
	e.failing.Store(false)
	if err := call(); err != nil {
		t.Fatalf("call after the Retry-After: %v", err)
	}
	if got := e.n.Load(); got != 3 {
		t.Errorf("token endpoint asked %d times, want 3", got)
	}
}

// The backoff delay grows by 1.6 from 1 s, up to 120 s, each ±20 %.
func TestBackoffDelay_GrowsExponentiallyUpToTwoMinutesWithJitter(t *testing.T) {
	want := float64(time.Second)
	for failures := 1; failures <= 40; failures++ {
		for range 50 {
			if d := float64(tokencreds.BackoffDelay(failures)); d < 0.8*want || d > 1.2*want {
				t.Fatalf("failure %d: delay %v, want %v ±20 %%", failures, time.Duration(d), time.Duration(want))
			}
		}
		want = min(want*1.6, float64(120*time.Second))
	}
}

// panickingSource is a faulty TokenSource that panics.
type panickingSource struct{}

func (panickingSource) Token() (*oauth2.Token, error) { panic("token source bug") }

// The TokenSource runs on a goroutine of the credentials, where no caller
// can recover its panic: a faulty or missing source must fail the calls,
// not end the process.
func TestCredentials_PanickingOrMissingTokenSourceFailsTheCall(t *testing.T) {
	local := credentials.NewContextWithRequestInfo(peerCtx(&net.UnixAddr{Name: "/run/api.sock", Net: "unix"}), credentials.RequestInfo{AuthInfo: insecureInfo()})
	for name, tc := range map[string]struct {
		c    *tokencreds.Credentials
		code codes.Code
	}{
		"panicking source":   {quiet(tokencreds.New(panickingSource{})), codes.Unauthenticated},
		"nil source":         {tokencreds.New(nil), codes.Internal},
		"zero Credentials":   {&tokencreds.Credentials{}, codes.Internal},
		"NewDPoP nil source": {tokencreds.NewDPoP(nil, newSigner(t)), codes.Internal},
	} {
		t.Run(name, func(t *testing.T) {
			for i := range 2 { // the second within the backoff
				md, err := tc.c.GetRequestMetadata(local)
				if status.Code(err) != tc.code || md != nil {
					t.Fatalf("call %d: md %v, err %v, want code %v", i+1, md, err, tc.code)
				}
			}
		})
	}
}

// quiet makes c log nowhere, and returns it.
func quiet(c *tokencreds.Credentials) *tokencreds.Credentials {
	tokencreds.SetLogger(c, slog.New(slog.DiscardHandler))
	return c
}

// A panic of the TokenSource, which fails the calls with a fixed message,
// is logged with its value and the stack where it happened, once per
// panic, so that the bug does not go unseen.
func TestCredentials_TokenSourcePanicIsLoggedWithItsStack(t *testing.T) {
	local := credentials.NewContextWithRequestInfo(peerCtx(&net.UnixAddr{Name: "/run/api.sock", Net: "unix"}), credentials.RequestInfo{AuthInfo: insecureInfo()})
	var logged bytes.Buffer
	c := tokencreds.New(panickingSource{})
	tokencreds.SetLogger(c, slog.New(slog.NewJSONHandler(&logged, nil)))
	for i := range 2 { // the second within the backoff: no new panic
		if _, err := c.GetRequestMetadata(local); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("call %d: err %v, want Unauthenticated", i+1, err)
		}
	}
	var entries []map[string]any
	for line := range strings.Lines(logged.String()) {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		entries = append(entries, e)
	}
	if len(entries) != 1 {
		t.Fatalf("logged %d entries, want 1: %s", len(entries), logged.String())
	}
	e := entries[0]
	if e["level"] != "ERROR" || e["panic"] != "token source bug" || !strings.Contains(fmt.Sprint(e["stack"]), "panickingSource.Token") {
		t.Errorf("logged %v, want the panic's value and a stack through panickingSource.Token at ERROR", e)
	}

	// A logger that panics too does not end the process: the call fails
	// all the same.
	c = tokencreds.New(panickingSource{})
	tokencreds.SetLogger(c, slog.New(panickingHandler{slog.DiscardHandler}))
	if _, err := c.GetRequestMetadata(local); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("with a panicking logger: err %v, want Unauthenticated", err)
	}
}

// stringPanicSource is a faulty TokenSource that panics with a
// stringPanic, a value whose String method panics with another stringPanic
// (fmt recovers the first panic, not the second), or, with long set, with
// a string of 100,000 bytes.
type stringPanicSource struct{ long bool }

type stringPanic struct{}

func (stringPanic) String() string { panic(stringPanic{}) }

func (s stringPanicSource) Token() (*oauth2.Token, error) {
	if s.long {
		panic("token source bug " + strings.Repeat("p", 100_000))
	}
	panic(stringPanic{})
}

// A panic value is whatever the TokenSource made it: one that fmt cannot
// make text does not end the process (the call fails, and the record names
// its type), and a long one is logged clipped to 1 KiB and its length.
func TestCredentials_TokenSourcePanicValueIsLoggedBounded(t *testing.T) {
	local := credentials.NewContextWithRequestInfo(peerCtx(&net.UnixAddr{Name: "/run/api.sock", Net: "unix"}), credentials.RequestInfo{AuthInfo: insecureInfo()})
	for _, tc := range []struct {
		src  stringPanicSource
		want string
	}{
		{stringPanicSource{}, "tokencreds_test.stringPanic"},
		{stringPanicSource{long: true}, "token source bug pppp"},
	} {
		var logged bytes.Buffer
		c := tokencreds.New(tc.src)
		tokencreds.SetLogger(c, slog.New(slog.NewJSONHandler(&logged, nil)))
		if _, err := c.GetRequestMetadata(local); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("err %v, want Unauthenticated", err)
		}
		var e map[string]any
		if err := json.Unmarshal(logged.Bytes(), &e); err != nil {
			t.Fatalf("log %q: %v", logged.String(), err)
		}
		if p, _ := e["panic"].(string); !strings.Contains(p, tc.want) || len(p) > 1100 {
			t.Errorf("logged panic %.100q… (%d bytes), want it to hold %q, within 1 KiB and its length", p, len(p), tc.want)
		}
	}
}

// panickingHandler is a faulty slog.Handler that panics on every record.
type panickingHandler struct{ slog.Handler }

func (panickingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (panickingHandler) Handle(context.Context, slog.Record) error { panic("log handler bug") }

// exitingSource is a faulty TokenSource that ends its goroutine, as a
// test's fake calling t.FailNow does.
type exitingSource struct{}

func (exitingSource) Token() (*oauth2.Token, error) {
	runtime.Goexit()
	return nil, nil
}

// A TokenSource that ends the credentials' goroutine without returning
// fails the call, and the next (within the backoff), instead of leaving
// its fetch unanswered: every later call would wait for it until its
// deadline, or for ever without one.
func TestCredentials_TokenSourceEndingItsGoroutineFailsTheCall(t *testing.T) {
	local := credentials.NewContextWithRequestInfo(peerCtx(&net.UnixAddr{Name: "/run/api.sock", Net: "unix"}), credentials.RequestInfo{AuthInfo: insecureInfo()})
	c := tokencreds.New(exitingSource{})
	for i := range 2 {
		ctx, cancel := context.WithTimeout(local, 10*time.Second)
		md, err := c.GetRequestMetadata(ctx)
		cancel()
		if status.Code(err) != codes.Unauthenticated || md != nil {
			t.Fatalf("call %d: md %v, err %v, want Unauthenticated", i+1, md, err)
		}
	}
}

// recordingService answers Authenticated and sends each call's
// authorization metadata on got.
type recordingService struct {
	authtestv1.UnimplementedTestServiceServer
	got chan []string
}

func (s recordingService) Authenticated(ctx context.Context, _ *authtestv1.AuthenticatedRequest) (*authtestv1.AuthenticatedResponse, error) {
	s.got <- metadata.ValueFromIncomingContext(ctx, "authorization")
	return &authtestv1.AuthenticatedResponse{}, nil
}

// A call whose context already carries authorization metadata (a gateway
// forwarding its caller's metadata, say) would otherwise go out with two
// values, the credentials' first: a server that takes the first one
// (go-grpc-middleware's AuthFromMD does) would run the call as this
// client instead of the caller whose token was forwarded. The call fails
// before any token is sent, or even fetched.
func TestCredentials_CallCarryingItsOwnAuthorizationIsRefused(t *testing.T) {
	buf := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	svc := recordingService{got: make(chan []string, 8)}
	authtestv1.RegisterTestServiceServer(srv, svc)
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(buf) })
	t.Cleanup(func() { srv.Stop(); wg.Wait() })
	src := &countingSource{next: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "client-token", TokenType: "bearer"})}
	conn, err := grpc.NewClient("passthrough:///bufnet", plaintext, grpc.WithPerRPCCredentials(tokencreds.New(src)),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return buf.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := authtestv1.NewTestServiceClient(conn)

	for _, tt := range []struct {
		name string
		ctx  context.Context
	}{
		{"appended", metadata.AppendToOutgoingContext(t.Context(), "Authorization", "Bearer user-token")},
		{"set", metadata.NewOutgoingContext(t.Context(), metadata.MD{"authorization": {"Bearer user-token"}})},
		{"empty", metadata.AppendToOutgoingContext(t.Context(), "authorization", "")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.Authenticated(tt.ctx, &authtestv1.AuthenticatedRequest{})
			if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != tokencreds.ErrAuthorizationInMetadata.Error() || !errors.Is(err, tokencreds.ErrAuthorizationInMetadata) {
				t.Errorf("err = %v, want Internal: %v", err, tokencreds.ErrAuthorizationInMetadata)
			}
			select {
			case got := <-svc.got:
				t.Errorf("server got a call with authorization %q", got)
			default:
			}
		})
	}
	if n := src.n.Load(); n != 0 {
		t.Errorf("token source asked %d times, want 0", n)
	}

	// Other metadata goes out next to the credentials' one value.
	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-request-id", "1")
	if _, err := client.Authenticated(ctx, &authtestv1.AuthenticatedRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := <-svc.got; len(got) != 1 || got[0] != "Bearer client-token" {
		t.Errorf("authorization = %q, want the credentials' token only", got)
	}
}

// refreshHangsSource returns first, then, on every later call, signals
// refreshing and hangs until release is closed, and returns then.
type refreshHangsSource struct {
	first      *oauth2.Token
	refreshing chan struct{}
	release    chan struct{}
	n          atomic.Int64
}

func (s *refreshHangsSource) Token() (*oauth2.Token, error) {
	if s.n.Add(1) == 1 {
		return s.first, nil
	}
	s.refreshing <- struct{}{}
	<-s.release
	return s.first, nil
}

// The refresh in the margin before a token's expiry runs in the
// background: while the token has not expired, calls send it at once
// rather than wait for a slow or hung token endpoint (and fail with their
// own deadline, with a good token in hand), as grpc-go's own call
// credentials do under gRFC A97. One refresh serves them all.
func TestCredentials_RefreshInTheMarginDoesNotHoldCalls(t *testing.T) {
	f := newFixture(t)
	bufDialer := f.serveBufconn(t)
	tok, err := f.iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	// Within oauth2's 10 s margin at once, but good for 5 s.
	src := &refreshHangsSource{first: &oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: time.Now().Add(5 * time.Second)},
		refreshing: make(chan struct{}, 8), release: make(chan struct{})}
	clk := newClock()
	creds := tokencreds.NewWithClock(src, clk.Now)
	t.Cleanup(func() { close(src.release); tokencreds.AwaitFetch(creds) })
	conn, err := grpc.NewClient("passthrough:///bufnet", plaintext, bufDialer, grpc.WithPerRPCCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := authtestv1.NewTestServiceClient(conn)
	for i := range 4 {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second) // far longer than a call takes
		got, err := client.Authenticated(ctx, &authtestv1.AuthenticatedRequest{})
		cancel()
		if err != nil {
			t.Fatalf("call %d while the refresh hangs: %v", i+1, err)
		}
		if got.GetCaller().GetSubject() != "svc" {
			t.Fatalf("call %d: server saw %v, want client svc's token", i+1, got.GetCaller())
		}
		if i == 0 {
			clk.Advance(3 * time.Second) // past its half-life: the next call starts the refresh
		}
	}
	<-src.refreshing
	if n := src.n.Load(); n != 2 {
		t.Errorf("token source asked %d times, want 2 (the token, one refresh)", n)
	}
}

// sequenceSource returns its tokens in turn, then the last one again.
// Every call after the first waits until held is closed, if it is set.
type sequenceSource struct {
	mu   sync.Mutex
	toks []*oauth2.Token
	n    int
	held chan struct{}
}

func (s *sequenceSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	s.n++
	first := s.n == 1
	s.mu.Unlock()
	if !first && s.held != nil {
		<-s.held
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.toks[0]
	if len(s.toks) > 1 {
		s.toks = s.toks[1:]
	}
	return t, nil
}

// Once the refresh in a token's margin has brought a new token, calls send
// that one, also when it has no expiry (and is not kept). The refresh is
// held until the call that started it has its token: otherwise it may
// answer first, and that call send the new one.
func TestCredentials_RefreshedTokenReplacesTheOneInItsMargin(t *testing.T) {
	local := credentials.NewContextWithRequestInfo(peerCtx(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}), credentials.RequestInfo{AuthInfo: insecureInfo()})
	for _, next := range []*oauth2.Token{
		{AccessToken: "new", Expiry: time.Now().Add(time.Hour)},
		{AccessToken: "new"},
	} {
		t.Run(fmt.Sprintf("expiry %v", !next.Expiry.IsZero()), func(t *testing.T) {
			src := &sequenceSource{toks: []*oauth2.Token{{AccessToken: "old", Expiry: time.Now().Add(5 * time.Second)}, next},
				held: make(chan struct{})}
			clk := newClock()
			creds := tokencreds.NewWithClock(src, clk.Now)
			for i, want := range []string{"Bearer old", "Bearer old", "Bearer new", "Bearer new"} {
				md, err := creds.GetRequestMetadata(local)
				if err != nil || md["authorization"] != want {
					t.Fatalf("call %d: GetRequestMetadata = %v, %v; want %s", i+1, md, err, want)
				}
				if i == 0 {
					clk.Advance(3 * time.Second) // past the old token's half-life
				}
				if i == 1 {
					close(src.held) // the refresh call 2 started
				}
				tokencreds.AwaitFetch(creds)
			}
		})
	}
}

// The kept token's expiry is compared with the clock by the wall clock, as
// oauth2.Token.Valid compares it. An oauth2 source's expiry (time.Now plus
// expires_in) carries a monotonic reading, and Go compares two times that
// both have one by that alone; the monotonic clock stands still while the
// host is suspended (a sleeping laptop, a paused VM). After a suspend
// past the token's expiry, Valid reported it expired (the wall clock) but
// the background refresh and a failed or hung source still sent it
// (monotonic): calls carried an expired token, refused as Unauthenticated
// rather than failing with the source's error, until the monotonic clock
// caught up. No clock can stop the monotonic reading alone, so this checks
// that the expiry kept carries none.
func TestCredentials_KeptTokenExpiresByTheWallClock(t *testing.T) {
	local := credentials.NewContextWithRequestInfo(peerCtx(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}), credentials.RequestInfo{AuthInfo: insecureInfo()})
	exp := time.Now().Add(time.Hour)
	if !strings.Contains(exp.String(), " m=") {
		t.Fatal("time.Now has no monotonic reading here: nothing to check")
	}
	creds := tokencreds.New(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok", Expiry: exp}))
	if _, err := creds.GetRequestMetadata(local); err != nil {
		t.Fatal(err)
	}
	got, ok := tokencreds.LastExpiry(creds)
	if !ok || !got.Equal(exp) {
		t.Fatalf("kept expiry %v (%v), want %v", got, ok, exp)
	}
	if strings.Contains(got.String(), " m=") {
		t.Errorf("kept expiry %v has a monotonic reading", got)
	}
	// So is the end of its first half-life, before which calls send it
	// without asking the source even when oauth2.Token.Valid says no.
	half, ok := tokencreds.LastHalfLife(creds)
	if !ok || half.After(exp) {
		t.Fatalf("kept half-life %v (%v), want one before %v", half, ok, exp)
	}
	if strings.Contains(half.String(), " m=") {
		t.Errorf("kept half-life %v has a monotonic reading", half)
	}
}

// nilErrorSource is a faulty TokenSource that returns err, an error whose
// chain holds a nil pointer (a (*url.Error)(nil) returned by mistake), with
// tok.
type nilErrorSource struct {
	tok *oauth2.Token
	err error
}

func (s nilErrorSource) Token() (*oauth2.Token, error) { return s.tok, s.err }

// derefError is an error whose Error method dereferences its receiver.
type derefError struct{ msg string }

func (e *derefError) Error() string { return e.msg }

// A TokenSource whose error holds a nil pointer (a variable of type
// *url.Error that was never set, returned as the error, maybe beside a
// token) fails the calls as a panic of the source does, and is logged as
// one: examining that error (errors.Is and errors.As, for its code and a
// Retry-After) dereferences the nil pointer, which on the credentials'
// goroutine ended the program.
func TestCredentials_SourceErrorHoldingANilPointerFailsTheCall(t *testing.T) {
	var nilURLError *url.Error
	for name, src := range map[string]nilErrorSource{
		"nil *url.Error":                   {nil, nilURLError},
		"nil *url.Error beside a token":    {&oauth2.Token{AccessToken: "at", Expiry: time.Now().Add(time.Hour)}, nilURLError},
		"nil *url.Error in errors.Join":    {nil, errors.Join(errors.New("fetch failed"), nilURLError)},
		"nil *net.OpError in a *url.Error": {nil, &url.Error{Op: "Post", URL: "https://idp.example/token", Err: (*net.OpError)(nil)}},
		"nil custom error in a *url.Error": {nil, &url.Error{Op: "Post", URL: "https://idp.example/token", Err: (*derefError)(nil)}},
	} {
		t.Run(name, func(t *testing.T) {
			var logged bytes.Buffer
			c := tokencreds.New(src)
			tokencreds.SetLogger(c, slog.New(slog.NewJSONHandler(&logged, nil)))
			for i := range 2 { // the second within the backoff
				md, err := c.GetRequestMetadata(localCall())
				if md != nil || status.Code(err) != codes.Unauthenticated || status.Convert(err).Message() != "tokencreds: the token source failed" {
					t.Fatalf("call %d: md %v, err %v, want Unauthenticated: tokencreds: the token source failed", i+1, md, err)
				}
			}
			if n := strings.Count(logged.String(), "\n"); n != 1 {
				t.Errorf("logged %d entries, want 1: %s", n, logged.String())
			}
		})
	}
}

// refreshNilErrorSource returns first, then, on every later call, a
// (*url.Error)(nil) as its error, counting the calls.
type refreshNilErrorSource struct {
	first *oauth2.Token
	n     atomic.Int32
}

func (s *refreshNilErrorSource) Token() (*oauth2.Token, error) {
	if s.n.Add(1) == 1 {
		return s.first, nil
	}
	var nilURLError *url.Error
	return nil, nilURLError
}

// A refresh in the margin before a token's expiry, in the background,
// whose error holds a nil pointer does not end the program on the
// credentials' goroutine: it is logged once, calls send the token they
// have until it expires, then fail as after a panic of the source.
func TestCredentials_RefreshErrorHoldingANilPointerKeepsTheTokenUntilItExpires(t *testing.T) {
	clk := newClock()
	// Within oauth2's 10 s margin at once, but good for 5 s.
	src := &refreshNilErrorSource{first: &oauth2.Token{AccessToken: "at", TokenType: "Bearer", Expiry: clk.Now().Add(5 * time.Second)}}
	var logged bytes.Buffer
	c := tokencreds.NewWithClock(src, clk.Now)
	tokencreds.SetLogger(c, slog.New(slog.NewJSONHandler(&logged, nil)))
	call := func() (map[string]string, error) { return c.GetRequestMetadata(localCall()) }
	if md, err := call(); err != nil || md["authorization"] != "Bearer at" {
		t.Fatalf("first call: md %v, err %v, want the token", md, err)
	}
	clk.Advance(3 * time.Second) // past its half-life: the next call starts the refresh
	for i := range 2 {           // the second within the backoff
		if md, err := call(); err != nil || md["authorization"] != "Bearer at" {
			t.Fatalf("call %d during the failed refresh: md %v, err %v, want the token it has", i+1, md, err)
		}
		tokencreds.AwaitFetch(c) // the refresh goes on in the background
	}
	if n := src.n.Load(); n != 2 {
		t.Errorf("token source asked %d times, want 2 (the token, one refresh)", n)
	}
	if n := strings.Count(logged.String(), "\n"); n != 1 {
		t.Errorf("logged %d entries after the refresh, want 1: %s", n, logged.String())
	}
	clk.Advance(3 * time.Second) // the token has expired, the backoff passed
	md, err := call()
	if md != nil || status.Code(err) != codes.Unauthenticated || status.Convert(err).Message() != "tokencreds: the token source failed" {
		t.Fatalf("call after the expiry: md %v, err %v, want Unauthenticated: tokencreds: the token source failed", md, err)
	}
}
