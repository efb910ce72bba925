package tokencreds_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	oauthjwt "golang.org/x/oauth2/jwt"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/tokencreds"
	"github.com/grpcauth/grpcauth/verifier"
)

// dpopFixture is a grpcauthtest issuer with one client, a DPoP key, and a
// server on which Authenticated requires DPoP, that records the
// credentials of every call it gets.
type dpopFixture struct {
	iss    *grpcauthtest.Issuer
	signer *dpop.Signer
	server []grpc.ServerOption
	base   http.RoundTripper // of tokenSource's DPoPTransport; nil: the default

	mu    sync.Mutex
	calls []metadata.MD // the incoming metadata of every call, in order
}

// newSigner returns a Signer of a new ES256 key.
func newSigner(t testing.TB) *dpop.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := dpop.NewSigner(key, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

func newDPoPFixture(t *testing.T, nonces dpop.NonceSource) *dpopFixture {
	t.Helper()
	return newDPoPFixtureOf(t, grpcauthtest.Config{}, nonces)
}

// newDPoPFixtureOf is newDPoPFixture with an issuer of cfg, to which it
// adds the client.
func newDPoPFixtureOf(t *testing.T, cfg grpcauthtest.Config, nonces dpop.NonceSource) *dpopFixture {
	t.Helper()
	cfg.Clients = []grpcauthtest.Client{{ID: "svc", Secret: "s3cret", Scopes: []string{"test:read", "test:stream", "test:write"}}}
	iss := grpcauthtest.NewIssuer(t, cfg)
	v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	a, err := grpcauth.New(grpcauth.Config{
		Verifier: v,
		Rules:    map[string]*grpcauthv1.Rule{authtestv1.TestService_Authenticated_FullMethodName: {RequireDpop: true}},
		DPoP:     dpop.Config{Nonces: nonces},
	})
	if err != nil {
		t.Fatal(err)
	}
	signer := newSigner(t)
	f := &dpopFixture{iss: iss, signer: signer}
	record := func(ctx context.Context) {
		md, _ := metadata.FromIncomingContext(ctx)
		f.mu.Lock()
		f.calls = append(f.calls, md)
		f.mu.Unlock()
	}
	f.server = []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			record(ctx)
			return h(ctx, req)
		}, a.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			record(ss.Context())
			return h(srv, ss)
		}, a.StreamServerInterceptor()),
	}
	return f
}

// tokenSource returns a caching source of the client's tokens from
// tokenURL, its token requests sent through a DPoPTransport of f's key
// over f.base.
func (f *dpopFixture) tokenSource(tokenURL string) (oauth2.TokenSource, *clientcredentials.Config, context.Context) {
	cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: "s3cret", TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: tokencreds.NewDPoPTransport(f.signer, f.base)}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	return cc.TokenSource(ctx), cc, ctx
}

// serveTLS runs the service over TLS on a loopback port, and returns a
// client of it dialled as api.example:443 (a remote host) with opts.
func (f *dpopFixture) serveTLS(t *testing.T, opts ...grpc.DialOption) authtestv1.TestServiceClient {
	t.Helper()
	return f.serveTLSWith(t, nil, opts...)
}

// serveTLSWith is serveTLS with the client's TLS credentials wrapped by
// wrap, unless it is nil.
func (f *dpopFixture) serveTLSWith(t *testing.T, wrap func(credentials.TransportCredentials) credentials.TransportCredentials, opts ...grpc.DialOption) authtestv1.TestServiceClient {
	t.Helper()
	serverTLS, clientTLS := tlsPair(t)
	if wrap != nil {
		clientTLS = wrap(clientTLS)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(append([]grpc.ServerOption{grpc.Creds(serverTLS)}, f.server...)...)
	authtestv1.RegisterTestServiceServer(srv, service{})
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(lis) })
	t.Cleanup(func() { srv.Stop(); wg.Wait() })
	conn, err := grpc.NewClient("passthrough:///api.example:443",
		append([]grpc.DialOption{dialAsRemote(lis.Addr().String()), grpc.WithTransportCredentials(clientTLS)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authtestv1.NewTestServiceClient(conn)
}

// callBound calls Authenticated with client, whose credentials get ts's
// tokens, and fails t unless the server saw the client svc and the token is
// of type DPoP and bound to f's key. It returns the token.
func (f *dpopFixture) callBound(t *testing.T, client authtestv1.TestServiceClient, ts oauth2.TokenSource) *oauth2.Token {
	t.Helper()
	got, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{})
	if err != nil {
		t.Fatalf("call with DPoP credentials: %v", err)
	}
	if got.GetCaller().GetSubject() != "svc" {
		t.Errorf("server saw %v, want client svc", got.GetCaller())
	}
	// The token request carried a proof of the key: the token is bound to it.
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.Type() != "DPoP" {
		t.Errorf("token_type = %q, want DPoP", tok.Type())
	}
	parsed, err := jwt.ParseInsecure([]byte(tok.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	cnf, _ := parsed.Get("cnf")
	if jkt, _ := cnf.(map[string]any)["jkt"].(string); jkt != f.signer.Thumbprint() {
		t.Errorf("cnf = %v, want jkt %s", cnf, f.signer.Thumbprint())
	}
	return tok
}

// received returns the metadata of the server's calls so far.
func (f *dpopFixture) received() []metadata.MD {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]metadata.MD(nil), f.calls...)
}

// reason returns the grpcauth ErrorInfo reason of err.
func reason(err error) string {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == grpcauth.ErrorDomain {
			return info.GetReason()
		}
	}
	return ""
}

func TestDPoP_TokenFromTheTokenEndpointCallsARequireDPoPMethodOverTLS(t *testing.T) {
	f := newDPoPFixture(t, nil)
	ts, _, _ := f.tokenSource(f.iss.TokenURL())
	client := f.serveTLS(t, grpc.WithPerRPCCredentials(tokencreds.NewDPoP(ts, f.signer)))
	tok := f.callBound(t, client, ts)

	// The call's proof works once, and for its own method only.
	calls := f.received()
	if len(calls) != 1 {
		t.Fatalf("server got %d calls, want 1", len(calls))
	}
	if a := calls[0].Get("authorization"); len(a) != 1 || a[0] != "DPoP "+tok.AccessToken {
		t.Errorf("authorization = %q", a)
	}
	replay := metadata.NewOutgoingContext(t.Context(), metadata.Pairs("authorization", "DPoP "+tok.AccessToken, "dpop", calls[0].Get("dpop")[0]))
	bare := f.serveTLS(t)
	_, err := bare.Authenticated(replay, &authtestv1.AuthenticatedRequest{})
	if status.Code(err) != codes.Unauthenticated || reason(err) != grpcauth.ReasonDPoPReplayed {
		t.Errorf("replayed proof: %v, want %s", err, grpcauth.ReasonDPoPReplayed)
	}
	_, err = bare.Inherited(replay, &authtestv1.InheritedRequest{})
	if status.Code(err) != codes.Unauthenticated || reason(err) != grpcauth.ReasonDPoPProofInvalid {
		t.Errorf("proof on another method: %v, want %s", err, grpcauth.ReasonDPoPProofInvalid)
	}

	// Each call has a proof of its own.
	if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}); err != nil {
		t.Fatalf("second call: %v", err)
	}
}

// ownAuthInfoCreds are gRPC's TLS client credentials whose AuthInfo is a
// type of their own embedding credentials.TLSInfo, as credentials that add
// to it (a verified identity, a connection handle) return it: by value, or
// by pointer when ptr is set.
type ownAuthInfoCreds struct {
	credentials.TransportCredentials
	ptr bool
}

// ownTLSAuthInfo is ownAuthInfoCreds' AuthInfo.
type ownTLSAuthInfo struct {
	credentials.TLSInfo
	Identity string
}

func (c ownAuthInfoCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, ai, err := c.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		return nil, nil, err
	}
	ti, ok := ai.(credentials.TLSInfo)
	if !ok {
		conn.Close()
		return nil, nil, fmt.Errorf("AuthInfo %T, want credentials.TLSInfo", ai)
	}
	own := ownTLSAuthInfo{TLSInfo: ti, Identity: "server"}
	if c.ptr {
		return conn, &own, nil
	}
	return conn, own, nil
}

func (c ownAuthInfoCreds) Clone() credentials.TransportCredentials {
	return ownAuthInfoCreds{c.TransportCredentials.Clone(), c.ptr}
}

// TLS credentials that return an AuthInfo of their own embedding
// credentials.TLSInfo describe a TLS connection all the same: the proof's
// htu is https, as the server (grpcauth) decides it for the connection, and
// the call goes through.
func TestDPoP_TLSCredentialsWithTheirOwnAuthInfoProveAnHTTPSURL(t *testing.T) {
	for _, ptr := range []bool{false, true} {
		t.Run(fmt.Sprintf("pointer %v", ptr), func(t *testing.T) {
			f := newDPoPFixture(t, nil)
			ts, _, _ := f.tokenSource(f.iss.TokenURL())
			client := f.serveTLSWith(t, func(c credentials.TransportCredentials) credentials.TransportCredentials {
				return ownAuthInfoCreds{c, ptr}
			}, grpc.WithPerRPCCredentials(tokencreds.NewDPoP(ts, f.signer)))
			f.callBound(t, client, ts)
		})
	}
}

func TestDPoP_BearerTokenIsNotSentAsDPoP(t *testing.T) {
	f := newDPoPFixture(t, nil)
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: "s3cret", TokenURL: f.iss.TokenURL(), AuthStyle: oauth2.AuthStyleInHeader}
	client := f.serveTLS(t, grpc.WithPerRPCCredentials(tokencreds.NewDPoP(cc.TokenSource(context.Background()), f.signer)))
	_, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{})
	if status.Code(err) != codes.Unauthenticated || !errors.Is(err, tokencreds.ErrNotDPoPToken) {
		t.Errorf("err = %v, want Unauthenticated wrapping ErrNotDPoPToken", err)
	}
	if n := len(f.received()); n != 0 {
		t.Errorf("server got %d calls, want none", n)
	}
}

// TestNew_DPoPBoundTokenIsNotSentWithoutAProof: Bearer credentials given a
// DPoP-bound token fail the call before it is sent, naming NewDPoP.
func TestNew_DPoPBoundTokenIsNotSentWithoutAProof(t *testing.T) {
	f := newDPoPFixture(t, nil)
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "bound", TokenType: "DPoP"})
	client := f.serveTLS(t, grpc.WithPerRPCCredentials(tokencreds.New(ts)))
	_, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{})
	if status.Code(err) != codes.Unauthenticated || !errors.Is(err, tokencreds.ErrDPoPToken) {
		t.Errorf("err = %v, want Unauthenticated wrapping ErrDPoPToken", err)
	}
	if n := len(f.received()); n != 0 {
		t.Errorf("server got %d calls, want none", n)
	}
}

// nonceEndpoint is a token endpoint in front of the issuer's that requires
// a DPoP nonce (RFC 9449, section 8), counting the requests it refuses for
// a missing nonce and those it passes on.
type nonceEndpoint struct {
	v                *dpop.Verifier
	nonces           *dpop.HMACNonces
	proxy            *httputil.ReverseProxy
	refused, granted atomic.Int64
}

func (e *nonceEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, err := e.v.Verify(r.Context(), r.Header.Get("DPoP"), dpop.Request{Method: r.Method, Scheme: "http", Authority: r.Host, Path: r.URL.Path})
	if err != nil {
		code := "invalid_dpop_proof"
		if errors.Is(err, dpop.ErrUseNonce) {
			code = "use_dpop_nonce"
			e.refused.Add(1)
			w.Header().Set("DPoP-Nonce", e.nonces.Nonce(time.Now()))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
		return
	}
	e.granted.Add(1)
	e.proxy.ServeHTTP(w, r)
}

func TestDPoPTransport_RetriesTheTokenRequestOnceWithTheServersNonce(t *testing.T) {
	f := newDPoPFixture(t, nil)
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dpop.NewVerifier(dpop.Config{Nonces: nonces})
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := url.Parse(f.iss.TokenURL())
	if err != nil {
		t.Fatal(err)
	}
	e := &nonceEndpoint{v: v, nonces: nonces, proxy: httputil.NewSingleHostReverseProxy(&url.URL{Scheme: issuer.Scheme, Host: issuer.Host})}
	front := httptest.NewServer(e)
	t.Cleanup(front.Close)

	_, cc, ctx := f.tokenSource(front.URL + issuer.Path)
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	if tok.Type() != "DPoP" {
		t.Errorf("token_type = %q, want DPoP", tok.Type())
	}
	if r, g := e.refused.Load(), e.granted.Load(); r != 1 || g != 1 {
		t.Errorf("endpoint refused %d and granted %d requests, want 1 and 1", r, g)
	}
	// The next token request carries the nonce from the start.
	if _, err := cc.Token(ctx); err != nil {
		t.Fatalf("second token request: %v", err)
	}
	if r, g := e.refused.Load(), e.granted.Load(); r != 1 || g != 2 {
		t.Errorf("endpoint refused %d and granted %d requests, want 1 and 2", r, g)
	}
}

// tokenExchange is one token request a DPoPTransport sent, and its answer.
type tokenExchange struct {
	proofNonce string // the nonce claim of the request's proof
	status     int
	errorCode  string // the answer's "error"
	nonce      string // the answer's DPoP-Nonce
}

// exchangeRecorder is a RoundTripper that records the token requests it
// sends.
type exchangeRecorder struct{ recording[tokenExchange] }

func (r *exchangeRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	x := tokenExchange{proofNonce: nonceOfProof(req.Header.Get("DPoP"))}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	x.status, x.errorCode, x.nonce = resp.StatusCode, e.Error, resp.Header.Get("DPoP-Nonce")
	r.add(x)
	return resp, nil
}

// A nonce is remembered for its server's origin, compared in ASCII case
// only: a look-alike host (U+0130, which Unicode lower-cases to i) is
// another origin, whose nonce the real one never gets.
func TestDPoPTransport_NonceOfALookAlikeOriginIsNotSentToTheRealOne(t *testing.T) {
	proofNonces := map[string][]string{} // host: the nonce claim of each proof it got
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		nonce := nonceOfProof(r.Header.Get("DPoP"))
		proofNonces[r.URL.Host] = append(proofNonces[r.URL.Host], nonce)
		h := http.Header{"Content-Type": {"application/json"}}
		if r.URL.Host != "idp.example" && nonce == "" {
			h.Set("DPoP-Nonce", "look-alike-nonce")
			return &http.Response{StatusCode: http.StatusBadRequest, Header: h, Body: io.NopCloser(strings.NewReader(`{"error":"use_dpop_nonce"}`)), Request: r}, nil
		}
		return &http.Response{StatusCode: http.StatusOK, Header: h, Body: io.NopCloser(strings.NewReader(`{"access_token":"at","token_type":"DPoP","expires_in":3600}`)), Request: r}, nil
	})
	tr := tokencreds.NewDPoPTransport(newSigner(t), base)
	for _, u := range []string{"https://\u0130dp.example/token", "https://idp.example/token"} {
		req, err := http.NewRequest(http.MethodPost, u, strings.NewReader("grant_type=client_credentials"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		resp.Body.Close()
	}
	if got := proofNonces["idp.example"]; len(got) != 1 || got[0] != "" {
		t.Errorf("the real origin's proofs carried nonces %q, want one proof without a nonce", got)
	}
}

func TestDPoPTransport_GetsABoundTokenFromATestIssuerRequiringNonces(t *testing.T) {
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		nonces dpop.NonceSource
	}{
		{"without DPoPNonces", nil},
		{"with DPoPNonces", nonces},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newDPoPFixtureOf(t, grpcauthtest.Config{DPoPNonces: tc.nonces}, nil)
			rec := &exchangeRecorder{}
			f.base = rec
			ts, cc, ctx := f.tokenSource(f.iss.TokenURL())
			client := f.serveTLS(t, grpc.WithPerRPCCredentials(tokencreds.NewDPoP(ts, f.signer)))
			f.callBound(t, client, ts)

			log := rec.take()
			if tc.nonces == nil {
				// Nothing changes: one request, no nonce either way.
				if len(log) != 1 || log[0] != (tokenExchange{status: http.StatusOK}) {
					t.Fatalf("token requests %+v, want one answered 200 without a nonce", log)
				}
				return
			}
			// The first request is refused for its nonce, the retry carries it.
			if len(log) != 2 {
				t.Fatalf("token requests %+v, want 2", log)
			}
			refused, granted := log[0], log[1]
			if refused.proofNonce != "" || refused.status != http.StatusBadRequest || refused.errorCode != "use_dpop_nonce" || refused.nonce == "" {
				t.Errorf("first request %+v, want a nonce-less proof refused 400 use_dpop_nonce with a DPoP-Nonce", refused)
			}
			if granted.proofNonce != refused.nonce || granted.status != http.StatusOK {
				t.Errorf("retry %+v, want the nonce %q and 200", granted, refused.nonce)
			}

			// A later token request carries the nonce from the start.
			if _, err := cc.Token(ctx); err != nil {
				t.Fatalf("second token request: %v", err)
			}
			if log := rec.take(); len(log) != 1 || log[0].proofNonce != refused.nonce || log[0].status != http.StatusOK {
				t.Errorf("second token requests %+v, want one with the nonce %q, answered 200", log, refused.nonce)
			}
		})
	}
}

func TestDPoP_InterceptorsFollowTheResourceServersNonce(t *testing.T) {
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f := newDPoPFixture(t, nonces)
	ts, _, _ := f.tokenSource(f.iss.TokenURL())

	t.Run("without the interceptor the call is refused", func(t *testing.T) {
		client := f.serveTLS(t, grpc.WithPerRPCCredentials(tokencreds.NewDPoP(ts, f.signer)))
		_, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{})
		if reason(err) != grpcauth.ReasonUseDPoPNonce {
			t.Errorf("err = %v, want %s", err, grpcauth.ReasonUseDPoPNonce)
		}
	})
	t.Run("unary calls retry once with the nonce", func(t *testing.T) {
		creds := tokencreds.NewDPoP(ts, f.signer)
		client := f.serveTLS(t, grpc.WithPerRPCCredentials(creds), grpc.WithUnaryInterceptor(creds.UnaryClientInterceptor()))
		before := len(f.received())
		if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}); err != nil {
			t.Fatalf("first call: %v", err)
		}
		if n := len(f.received()) - before; n != 2 {
			t.Errorf("first call reached the server %d times, want 2 (refused without a nonce, then retried)", n)
		}
		before = len(f.received())
		if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}); err != nil {
			t.Fatalf("second call: %v", err)
		}
		if n := len(f.received()) - before; n != 1 {
			t.Errorf("second call reached the server %d times, want 1 (with the nonce from the start)", n)
		}
	})
	t.Run("streams learn the nonce for the next call", func(t *testing.T) {
		creds := tokencreds.NewDPoP(ts, f.signer)
		client := f.serveTLS(t, grpc.WithPerRPCCredentials(creds), grpc.WithStreamInterceptor(creds.StreamClientInterceptor()))
		recv := func() error {
			s, err := client.ServerStream(t.Context(), &authtestv1.ServerStreamRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}
		if err := recv(); reason(err) != grpcauth.ReasonUseDPoPNonce {
			t.Fatalf("first stream: %v, want %s", err, grpcauth.ReasonUseDPoPNonce)
		}
		// service does not implement ServerStream: past the interceptors.
		if err := recv(); status.Code(err) != codes.Unimplemented {
			t.Errorf("second stream: %v, want Unimplemented (authorized)", err)
		}
	})
}

func TestDPoP_ProofNamesTheCallsURL(t *testing.T) {
	signer := newSigner(t)
	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tok := &oauth2.Token{AccessToken: "at", TokenType: "DPoP"}
	creds := tokencreds.NewDPoP(oauth2.StaticTokenSource(tok), signer)
	local := credentials.NewContextWithRequestInfo(peerCtx(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}), credentials.RequestInfo{Method: "/pkg.S/M", AuthInfo: insecureInfo()})
	if md, err := tokencreds.NewDPoP(oauth2.StaticTokenSource(tok), nil).GetRequestMetadata(local, "https://localhost:1/pkg.S"); err == nil || md != nil {
		t.Errorf("without a Signer: %v, %v; want an error and no token", md, err)
	}
	for _, tt := range []struct {
		name, uri, scheme, authority string
		info                         credentials.AuthInfo
	}{
		{"TLS, port 443 dropped by grpc-go", "https://api.example/pkg.S", "https", "api.example:443", credentials.TLSInfo{}},
		{"TLS, other port", "https://api.example:8443/pkg.S", "https", "api.example:8443", &credentials.TLSInfo{}},
		{"plaintext to this host", "https://localhost:50051/pkg.S", "http", "localhost:50051", insecureInfo()},
		{"TLS, IPv6 literal, port 443 dropped by grpc-go", "https://[2001:db8::1]/pkg.S", "https", "[2001:db8::1]:443", credentials.TLSInfo{}},
		{"plaintext, IPv6 loopback", "https://[::1]:50051/pkg.S", "http", "[::1]:50051", insecureInfo()},
		{"TLS, IPv6 link-local with a zone", "https://[fe80::1%25eth0]:50051/pkg.S", "https", "[fe80::1%25eth0]:50051", credentials.TLSInfo{}},
		{"TLS, percent-encoded non-ASCII host", "https://caf%C3%A9.example/pkg.S", "https", "caf%C3%A9.example:443", credentials.TLSInfo{}},
		// As the server decides it (grpcauth's certificate binding and htu).
		{"TLS credentials' own AuthInfo embedding TLSInfo", "https://api.example/pkg.S", "https", "api.example:443", ownTLSAuthInfo{}},
		{"pointer to TLS credentials' own AuthInfo embedding TLSInfo", "https://api.example/pkg.S", "https", "api.example:443", &ownTLSAuthInfo{}},
		{"AuthInfo embedding *TLSInfo", "https://api.example/pkg.S", "https", "api.example:443", tlsInfoByPointer{&credentials.TLSInfo{}}},
		{"AuthInfo embedding a nil *TLSInfo, plaintext to this host", "https://localhost:50051/pkg.S", "http", "localhost:50051", tlsInfoByPointer{}},
		{"TLSInfo as a named field, not embedded", "https://localhost:50051/pkg.S", "http", "localhost:50051", tlsInfoNamed{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := credentials.NewContextWithRequestInfo(peerCtx(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}),
				credentials.RequestInfo{Method: "/pkg.S/M", AuthInfo: tt.info})
			defer failOnPanic(t)
			md, err := creds.GetRequestMetadata(ctx, tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			if md["authorization"] != "DPoP at" {
				t.Errorf("authorization = %q", md["authorization"])
			}
			if _, err := v.Verify(t.Context(), md["dpop"], dpop.Request{Method: "POST", Scheme: tt.scheme, Authority: tt.authority,
				Path: "/pkg.S/M", AccessToken: "at", KeyThumbprint: signer.Thumbprint()}); err != nil {
				t.Errorf("server would refuse the proof: %v", err)
			}
		})
	}
}

func TestDPoPTransport_PassesOtherRefusalsOnWhole(t *testing.T) {
	var requests atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("DPoP") == "" {
			t.Error("token request without a DPoP proof")
		}
		w.Header().Set("DPoP-Nonce", "n-1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"unknown client"}`))
	}))
	t.Cleanup(endpoint.Close)
	f := &dpopFixture{signer: newSigner(t)}
	_, cc, ctx := f.tokenSource(endpoint.URL + "/token")
	_, err := cc.Token(ctx)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.ErrorDescription != "unknown client" {
		t.Errorf("err = %v, want the endpoint's invalid_client answer", err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("endpoint got %d requests, want 1 (no retry for another error)", n)
	}
}

// rotatingEndpoint is a token endpoint that takes only its latest nonce and
// sends a new one in every answer, as RFC 9449, section 8.2, lets it.
type rotatingEndpoint struct {
	mu      sync.Mutex
	latest  int
	refused int
}

func (e *rotatingEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	proof, err := jwt.ParseInsecure([]byte(r.Header.Get("DPoP")))
	if err != nil {
		http.Error(w, "no proof", http.StatusBadRequest)
		return
	}
	got, _ := proof.Get("nonce")
	e.mu.Lock()
	defer e.mu.Unlock()
	want := fmt.Sprintf("n-%d", e.latest)
	e.latest++
	w.Header().Set("DPoP-Nonce", fmt.Sprintf("n-%d", e.latest))
	w.Header().Set("Content-Type", "application/json")
	if got != want {
		e.refused++
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"use_dpop_nonce"}`))
		return
	}
	_, _ = w.Write([]byte(`{"access_token":"at","token_type":"DPoP","expires_in":60}`))
}

func TestDPoPTransport_TheRetriedRequestsAnswerNonceIsUsedNext(t *testing.T) {
	e := &rotatingEndpoint{}
	endpoint := httptest.NewServer(e)
	t.Cleanup(endpoint.Close)
	f := &dpopFixture{signer: newSigner(t)}
	_, cc, ctx := f.tokenSource(endpoint.URL + "/token")
	for i := range 3 {
		if _, err := cc.Token(ctx); err != nil {
			t.Fatalf("token request %d: %v", i, err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refused != 1 {
		t.Errorf("endpoint refused %d token requests, want 1 (only the first, without a nonce)", e.refused)
	}
}

// ClientStream reads the requests to the end and answers once.
func (service) ClientStream(s grpc.ClientStreamingServer[authtestv1.ClientStreamRequest, authtestv1.ClientStreamResponse]) error {
	for {
		if _, err := s.Recv(); err != nil {
			return s.SendAndClose(&authtestv1.ClientStreamResponse{})
		}
	}
}

// rotatingNonces is a NonceSource whose current nonce and accepted nonces
// the test sets.
type rotatingNonces struct {
	mu       sync.Mutex
	current  string
	accepted []string
}

func (n *rotatingNonces) set(current string, accepted ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.current, n.accepted = current, accepted
}

func (n *rotatingNonces) Nonce(time.Time) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.current
}

func (n *rotatingNonces) Valid(nonce string, _ time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Contains(n.accepted, nonce)
}

func TestDPoP_ClientStreamLearnsTheNonceOfASuccessfulCallsHeader(t *testing.T) {
	nonces := &rotatingNonces{}
	nonces.set("n-1", "n-1")
	f := newDPoPFixture(t, nonces)
	ts, _, _ := f.tokenSource(f.iss.TokenURL())
	creds := tokencreds.NewDPoP(ts, f.signer)
	client := f.serveTLS(t, grpc.WithPerRPCCredentials(creds), grpc.WithStreamInterceptor(creds.StreamClientInterceptor()))
	call := func() error { return callClientStream(t.Context(), client) }
	if err := call(); reason(err) != grpcauth.ReasonUseDPoPNonce {
		t.Fatalf("first call: %v, want %s", err, grpcauth.ReasonUseDPoPNonce)
	}
	// The server moves on to n-2, still taking n-1: the call succeeds and
	// its header carries n-2.
	nonces.set("n-2", "n-1", "n-2")
	if err := call(); err != nil {
		t.Fatalf("call with n-1: %v", err)
	}
	nonces.set("n-2", "n-2")
	if err := call(); err != nil {
		t.Errorf("call after n-1 expired: %v, want it to carry n-2 from the last call's header", err)
	}
}

// callClientStream makes a ClientStream call of one message, and returns
// its error.
func callClientStream(ctx context.Context, client authtestv1.TestServiceClient, opts ...grpc.CallOption) error {
	s, err := client.ClientStream(ctx, opts...)
	if err != nil {
		return err
	}
	// Send fails with io.EOF when the server has already refused the
	// stream; CloseAndRecv gives the status.
	if err := s.Send(&authtestv1.ClientStreamRequest{}); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	_, err = s.CloseAndRecv()
	return err
}

// changingNonces is a NonceSource that never accepts a nonce and hands out
// a new one every time.
type changingNonces struct{ n atomic.Int64 }

func (c *changingNonces) Nonce(time.Time) string       { return fmt.Sprintf("n-%d", c.n.Add(1)) }
func (c *changingNonces) Valid(string, time.Time) bool { return false }

func TestDPoP_UnaryCallIsRetriedOnceOnly(t *testing.T) {
	f := newDPoPFixture(t, &changingNonces{})
	ts, _, _ := f.tokenSource(f.iss.TokenURL())
	creds := tokencreds.NewDPoP(ts, f.signer)
	client := f.serveTLS(t, grpc.WithPerRPCCredentials(creds), grpc.WithUnaryInterceptor(creds.UnaryClientInterceptor()))
	_, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{})
	if reason(err) != grpcauth.ReasonUseDPoPNonce {
		t.Errorf("err = %v, want %s", err, grpcauth.ReasonUseDPoPNonce)
	}
	if n := len(f.received()); n != 2 {
		t.Errorf("the call reached the server %d times, want 2 (one retry, however many new nonces)", n)
	}
}

func TestDPoPTransport_RetriesOnceOnly(t *testing.T) {
	var requests atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("DPoP-Nonce", fmt.Sprintf("n-%d", requests.Add(1)))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"use_dpop_nonce"}`))
	}))
	t.Cleanup(endpoint.Close)
	f := &dpopFixture{signer: newSigner(t)}
	_, cc, ctx := f.tokenSource(endpoint.URL + "/token")
	var re *oauth2.RetrieveError
	if _, err := cc.Token(ctx); !errors.As(err, &re) || re.ErrorCode != "use_dpop_nonce" {
		t.Errorf("err = %v, want the endpoint's use_dpop_nonce answer", err)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("endpoint got %d requests, want 2 (one retry, however many new nonces)", n)
	}
}

func TestDPoPTransport_WithoutASignerFailsTheRequest(t *testing.T) {
	var requests atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
	t.Cleanup(endpoint.Close)
	for name, rt := range map[string]http.RoundTripper{"NewDPoPTransport(nil, nil)": tokencreds.NewDPoPTransport(nil, nil), "zero DPoPTransport": &tokencreds.DPoPTransport{}} {
		hc := &http.Client{Transport: rt}
		resp, err := hc.Post(endpoint.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials"))
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: the request was sent (%s), want an error", name, resp.Status)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("endpoint got %d requests, want none", n)
	}
}

// BidiStream answers every request until the client closes its side.
func (service) BidiStream(s grpc.BidiStreamingServer[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse]) error {
	for {
		if _, err := s.Recv(); err != nil {
			return nil
		}
		if err := s.Send(&authtestv1.BidiStreamResponse{}); err != nil {
			return err
		}
	}
}

// windowNonces is HMACNonces on a clock the test sets, a number of whole
// periods after a fixed start, leaving the proofs' and tokens' clock alone.
type windowNonces struct {
	*dpop.HMACNonces
	periods atomic.Int64
}

const noncePeriod = time.Minute

func (n *windowNonces) now() time.Time {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n.periods.Load()) * noncePeriod)
}

func (n *windowNonces) Nonce(time.Time) string { return n.HMACNonces.Nonce(n.now()) }

func (n *windowNonces) Valid(nonce string, _ time.Time) bool {
	return n.HMACNonces.Valid(nonce, n.now())
}

func TestDPoP_OpenStreamTeachesItsHeadersNonceToTheNextCalls(t *testing.T) {
	for _, tc := range []struct {
		name  string
		learn func(authtestv1.TestService_BidiStreamClient) error
	}{
		{"after the first message", func(s authtestv1.TestService_BidiStreamClient) error { _, err := s.Recv(); return err }},
		{"after Header", func(s authtestv1.TestService_BidiStreamClient) error { _, err := s.Header(); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hmacNonces, err := dpop.NewHMACNonces(nil, noncePeriod)
			if err != nil {
				t.Fatal(err)
			}
			nonces := &windowNonces{HMACNonces: hmacNonces}
			f := newDPoPFixture(t, nonces)
			ts, _, _ := f.tokenSource(f.iss.TokenURL())
			creds := tokencreds.NewDPoP(ts, f.signer)
			client := f.serveTLS(t, grpc.WithPerRPCCredentials(creds),
				grpc.WithUnaryInterceptor(creds.UnaryClientInterceptor()),
				grpc.WithStreamInterceptor(creds.StreamClientInterceptor()))
			if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}); err != nil {
				t.Fatalf("first call: %v", err) // learns the nonce of window 0
			}

			// Window 1: the stream's proof carries the older nonce, still
			// valid, and its header the current one.
			nonces.periods.Store(1)
			s, err := client.BidiStream(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
				t.Fatal(err)
			}
			if err := tc.learn(s); err != nil {
				t.Fatalf("stream: %v", err)
			}

			// Window 2: only the stream's header's nonce is still valid.
			nonces.periods.Store(2)
			before := len(f.received())
			if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}); err != nil {
				t.Fatalf("call while the stream is open: %v", err)
			}
			if n := len(f.received()) - before; n != 1 {
				t.Errorf("call while the stream is open reached the server %d times, want 1 (with the stream's header's nonce, not refused for an expired one)", n)
			}

			if err := s.CloseSend(); err != nil {
				t.Fatal(err)
			}
			for {
				if _, err := s.Recv(); err != nil {
					if !errors.Is(err, io.EOF) {
						t.Errorf("stream end: %v, want io.EOF", err)
					}
					break
				}
			}
		})
	}
}

// An authority that makes no URL (a zone not written "%25", an escaped
// ASCII byte in the host, user info, a query or fragment) fails the call on the client, with no proof no
// server could match.
func TestDPoP_AuthorityMakingNoURLFailsOnTheClient(t *testing.T) {
	tok := &oauth2.Token{AccessToken: "at", TokenType: "DPoP"}
	creds := tokencreds.NewDPoP(oauth2.StaticTokenSource(tok), newSigner(t))
	ctx := credentials.NewContextWithRequestInfo(peerCtx(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}),
		credentials.RequestInfo{Method: "/pkg.S/M", AuthInfo: credentials.TLSInfo{}})
	for _, uri := range []string{"https://[fe80::1%eth0]:50051/pkg.S", "https://ex%41mple.com/pkg.S", "https://user@api.example/pkg.S",
		"https://api.example?x/pkg.S", "https://api.example#x/pkg.S"} {
		md, err := creds.GetRequestMetadata(ctx, uri)
		if status.Code(err) != codes.Internal || md != nil {
			t.Errorf("%s: %v, %v; want Internal and no metadata", uri, md, err)
		}
	}
}

// A connection whose authority has an IPv6 zone (RFC 6874's "%25") or a
// percent-encoded non-ASCII host carries DPoP calls: the server decodes
// its :authority as it decodes the proof's htu.
func TestDPoP_PercentEncodedAuthorityCallsARequireDPoPMethod(t *testing.T) {
	for _, authority := range []string{"[fe80::1%25eth0]:50051", "caf%C3%A9.example"} {
		t.Run(authority, func(t *testing.T) {
			f := newDPoPFixture(t, nil)
			ts, _, _ := f.tokenSource(f.iss.TokenURL())
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := grpc.NewServer(f.server...)
			authtestv1.RegisterTestServiceServer(srv, service{})
			var wg sync.WaitGroup
			wg.Go(func() { _ = srv.Serve(lis) })
			t.Cleanup(func() { srv.Stop(); wg.Wait() })
			conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), plaintext, grpc.WithAuthority(authority),
				grpc.WithPerRPCCredentials(tokencreds.NewDPoP(ts, f.signer)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			client := authtestv1.NewTestServiceClient(conn)
			if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}); err != nil {
				t.Fatalf("call: %v (%s)", err, reason(err))
			}
			if calls := f.received(); len(calls) != 1 || !slices.Equal(calls[0].Get(":authority"), []string{authority}) {
				t.Errorf("server saw %v, want :authority %s", calls, authority)
			}
		})
	}
}

// The unary interceptor adds its own call options (for the call's header
// and trailer) to the call's. grpc-go hands an interceptor a slice it may
// share between concurrent calls (the connection's default call options,
// or a caller's own slice when the connection has none): writing past its
// length would hand one call's header and trailer to another, a data race.
func TestDPoP_UnaryInterceptorLeavesTheCallersOptionsAlone(t *testing.T) {
	creds := tokencreds.NewDPoP(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at", TokenType: "DPoP"}), newSigner(t))
	sentinel := grpc.EmptyCallOption{}
	opts := make([]grpc.CallOption, 1, 4)
	for i := range opts[:cap(opts)] {
		opts[:cap(opts)][i] = sentinel
	}
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	if err := creds.UnaryClientInterceptor()(t.Context(), "/s/M", nil, nil, nil, invoker, opts...); err != nil {
		t.Fatal(err)
	}
	for i, o := range opts[:cap(opts)] {
		if o != grpc.CallOption(sentinel) {
			t.Errorf("the caller's options[%d] = %T, want it untouched", i, o)
		}
	}
}

// Credentials given per call (grpc.PerRPCCredentials) have no interceptor
// of their own: the connection's, of other Credentials, must teach the
// server's nonce to the Credentials that signed the proof, and retry with
// it.
func TestDPoP_PerCallCredentialsFollowTheNonceThroughTheConnectionsInterceptor(t *testing.T) {
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f := newDPoPFixture(t, nonces)
	ts, _, _ := f.tokenSource(f.iss.TokenURL())
	onConn := tokencreds.NewDPoP(ts, f.signer)
	client := f.serveTLS(t, grpc.WithUnaryInterceptor(onConn.UnaryClientInterceptor()))
	perCall := grpc.PerRPCCredentials(tokencreds.NewDPoP(ts, f.signer))
	for i, want := range []int{2, 1} { // refused without a nonce and retried; then with the nonce from the start
		before := len(f.received())
		if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}, perCall); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		if n := len(f.received()) - before; n != want {
			t.Errorf("call %d reached the server %d times, want %d", i+1, n, want)
		}
	}
}

// A token endpoint chooses where its redirects go, and a URL's port may
// have any number of leading zeros: each origin that sends a nonce must
// not cost the transport memory in proportion to its name.
func TestDPoPTransport_RemembersNoncesOfLongOriginsInBoundedMemory(t *testing.T) {
	var target *url.URL
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i, ok := strings.CutPrefix(r.URL.Path, "/redirect/"); ok {
			n, _ := strconv.Atoi(i)
			padded := *target
			padded.Host = target.Hostname() + ":" + strings.Repeat("0", 64<<10+n) + target.Port() // the same server
			http.Redirect(w, r, padded.String(), http.StatusTemporaryRedirect)
			return
		}
		w.Header().Set("DPoP-Nonce", "n-1")
		_, _ = w.Write([]byte(`{"access_token":"at","token_type":"DPoP"}`))
	}))
	t.Cleanup(endpoint.Close)
	var err error
	if target, err = url.Parse(endpoint.URL + "/token"); err != nil {
		t.Fatal(err)
	}
	rt := tokencreds.NewDPoPTransport(newSigner(t), nil)
	hc := &http.Client{Transport: rt}
	for i := range 16 {
		resp, err := hc.Post(fmt.Sprintf("%s/redirect/%d", endpoint.URL, i), "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %s", i, resp.Status)
		}
	}
	if n := rt.NonceBytes(); n > 64<<10 {
		t.Errorf("the transport remembers %d bytes of servers and nonces, want at most %d", n, 64<<10)
	}
}

// The htu and htm of a token request's proof are those of the request as
// it goes out (RFC 9449, section 4.2; RFC 9110, section 7.1): a request's
// Host, when set, is the host its server sees, and an empty Method is GET.
func TestDPoPTransport_ProofNamesTheRequestAsItIsSent(t *testing.T) {
	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := v.Verify(r.Context(), r.Header.Get("DPoP"), dpop.Request{Method: r.Method, Scheme: "http", Authority: r.Host, Path: r.URL.Path}); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	t.Cleanup(endpoint.Close)
	hc := &http.Client{Transport: tokencreds.NewDPoPTransport(newSigner(t), nil)}
	for name, req := range map[string]func() *http.Request{
		"Host set": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, endpoint.URL+"/token", strings.NewReader("grant_type=client_credentials"))
			r.Host = "as.example"
			return r
		},
		"empty Method": func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, endpoint.URL+"/token", nil)
			r.Method = ""
			return r
		},
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := hc.Do(req())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				body, _ := io.ReadAll(resp.Body)
				t.Errorf("endpoint answered %s: %s", resp.Status, body)
			}
		})
	}
}

// serveRecording runs the service without grpcauth on a loopback port, and
// returns a plaintext client of it with opts and the metadata of every call
// the server gets.
func serveRecording(t *testing.T, opts ...grpc.DialOption) (*grpc.ClientConn, func() []metadata.MD) {
	t.Helper()
	return serveAnswering(t, func(context.Context) error { return nil }, opts...)
}

// serveAnswering is serveRecording with a server that, after recording
// each call's metadata, fails it with answer's error, if any.
func serveAnswering(t *testing.T, answer func(ctx context.Context) error, opts ...grpc.DialOption) (*grpc.ClientConn, func() []metadata.MD) {
	t.Helper()
	var mu sync.Mutex
	var calls []metadata.MD
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		mu.Lock()
		calls = append(calls, md)
		mu.Unlock()
		if err := answer(ctx); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}))
	authtestv1.RegisterTestServiceServer(srv, service{})
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(lis) })
	t.Cleanup(func() { srv.Stop(); wg.Wait() })
	conn, err := grpc.NewClient(lis.Addr().String(), append([]grpc.DialOption{plaintext}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, func() []metadata.MD {
		mu.Lock()
		defer mu.Unlock()
		return append([]metadata.MD(nil), calls...)
	}
}

// proofNonce returns the nonce claim of the DPoP proof in md.
func proofNonce(t *testing.T, md metadata.MD) string {
	t.Helper()
	proofs := md.Get("dpop")
	if len(proofs) != 1 {
		t.Fatalf("call carried %d DPoP proofs, want 1", len(proofs))
	}
	proof, err := jwt.ParseInsecure([]byte(proofs[0]))
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := proof.Get("nonce")
	s, _ := nonce.(string)
	return s
}

// A call made with the context of a call of the interceptor (here by a
// client interceptor after the call it wraps, as an audit log might) on a
// connection without the interceptors is not that call: its proof must not
// take the interceptor's record of the call, or the first server's nonce is
// remembered for, and sent to, the second server, and the first call, never
// learning it, is refused. A nested call of the same method cannot be told
// apart from the call: the interceptor then learns nothing from it, but
// still never hands the nonce to the other server.
func TestDPoP_NestedCallWithTheCallsContextDoesNotTakeItsNonce(t *testing.T) {
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f := newDPoPFixture(t, nonces)
	ts, _, _ := f.tokenSource(f.iss.TokenURL())
	for _, tc := range []struct {
		name      string
		nested    func(context.Context, authtestv1.TestServiceClient) error
		callsPass bool
	}{
		{"another method", func(ctx context.Context, c authtestv1.TestServiceClient) error {
			_, err := c.Public(ctx, &authtestv1.PublicRequest{})
			return err
		}, true},
		{"the same method", func(ctx context.Context, c authtestv1.TestServiceClient) error {
			_, err := c.Authenticated(ctx, &authtestv1.AuthenticatedRequest{})
			return err
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds := tokencreds.NewDPoP(ts, f.signer)
			other, otherCalls := serveRecording(t, grpc.WithPerRPCCredentials(creds))
			audit := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				err := invoker(ctx, method, req, reply, cc, opts...)
				if nestedErr := tc.nested(ctx, authtestv1.NewTestServiceClient(other)); status.Code(nestedErr) != codes.OK && status.Code(nestedErr) != codes.Unimplemented {
					t.Errorf("nested call: %v", nestedErr)
				}
				return err
			}
			client := f.serveTLS(t, grpc.WithPerRPCCredentials(creds), grpc.WithChainUnaryInterceptor(creds.UnaryClientInterceptor(), audit))
			for i := range 2 {
				_, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{})
				if tc.callsPass && err != nil {
					t.Fatalf("call %d: %v", i+1, err)
				}
			}
			calls := otherCalls()
			if len(calls) == 0 {
				t.Fatal("the nested calls never reached their server")
			}
			for i, md := range calls {
				if n := proofNonce(t, md); n != "" {
					t.Errorf("nested call %d's proof carries the nonce %q of another server", i+1, n)
				}
			}
		})
	}
}

// typedSource returns a token of its type, which the test may change, with
// an expiry an hour away.
type typedSource struct{ typ atomic.Value }

func (s *typedSource) Token() (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: "at", TokenType: s.typ.Load().(string), Expiry: time.Now().Add(time.Hour)}, nil
}

// dpopCallCtx is the context of a call of /s/M over plaintext on a Unix
// socket, and its audience URI.
func dpopCallCtx() (context.Context, string) {
	return credentials.NewContextWithRequestInfo(peerCtx(&net.UnixAddr{Name: "/run/api.sock", Net: "unix"}),
		credentials.RequestInfo{Method: "/s/M", AuthInfo: insecureInfo()}), "https://api.example/s"
}

// An authorization server that answers a token request carrying a DPoP
// proof with a token of another type (Bearer) did not bind it (RFC 9449,
// section 5): such a token is refused, not kept. Neither the token source
// (oauth2.ReuseTokenSource keeps a token until it expires) nor the
// credentials hold on to it, so once the server binds its tokens the next
// request gets one, and the calls fail with Unauthenticated, which a retry
// policy does not retry, not Unavailable.
func TestDPoP_TokenOfAnotherTypeIsRefusedAndNotKept(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, format string
	}{
		{"JSON", "application/json", `{"access_token":"at","token_type":%q,"expires_in":3600}`},
		{"form", "application/x-www-form-urlencoded", "access_token=at&token_type=%s&expires_in=3600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var typ atomic.Value
			typ.Store("Bearer")
			endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				fmt.Fprintf(w, tc.format, typ.Load())
			}))
			t.Cleanup(endpoint.Close)
			signer := newSigner(t)
			cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: "s3cret", TokenURL: endpoint.URL, AuthStyle: oauth2.AuthStyleInHeader}
			hc := &http.Client{Transport: tokencreds.NewDPoPTransport(signer, nil)}
			ts := cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc))
			clk := newClock()
			creds := tokencreds.NewDPoPWithClock(ts, signer, clk.Now)
			ctx, uri := dpopCallCtx()
			_, err := creds.GetRequestMetadata(ctx, uri)
			if status.Code(err) != codes.Unauthenticated || !errors.Is(err, tokencreds.ErrNotDPoPToken) {
				t.Fatalf("Bearer answer: err = %v, want Unauthenticated wrapping ErrNotDPoPToken", err)
			}
			typ.Store("DPoP")
			clk.Advance(3 * time.Minute) // past the backoff
			md, err := creds.GetRequestMetadata(ctx, uri)
			if err != nil {
				t.Fatalf("once the server binds its tokens: %v", err)
			}
			if md["authorization"] != "DPoP at" {
				t.Errorf("authorization = %q, want DPoP at", md["authorization"])
			}
		})
	}
	// A source that does not go through a DPoPTransport: the credentials do
	// not keep its Bearer token either.
	t.Run("source", func(t *testing.T) {
		ts := &typedSource{}
		ts.typ.Store("Bearer")
		clk := newClock()
		creds := tokencreds.NewDPoPWithClock(ts, newSigner(t), clk.Now)
		ctx, uri := dpopCallCtx()
		if _, err := creds.GetRequestMetadata(ctx, uri); status.Code(err) != codes.Unauthenticated || !errors.Is(err, tokencreds.ErrNotDPoPToken) {
			t.Fatalf("Bearer token: err = %v, want Unauthenticated wrapping ErrNotDPoPToken", err)
		}
		ts.typ.Store("DPoP")
		clk.Advance(3 * time.Minute)
		if _, err := creds.GetRequestMetadata(ctx, uri); err != nil {
			t.Fatalf("once the source returns a DPoP token: %v", err)
		}
	})
}

// roundTripFunc is an http.RoundTripper of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// closeCounter is a request body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed atomic.Int64
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

// A token request carries the client's credentials (or a refresh token)
// and its answer the access token: over plain http to another host anyone
// on the path reads them, and a proof and a DPoP-bound token do not help
// against one who can also answer for the endpoint. As the credentials do
// for calls, the transport sends plain http only to a loopback host, and
// the call whose token it refused fails with Unauthenticated, which a
// retry policy does not retry.
func TestDPoPTransport_RefusesPlainHTTPToAnotherHost(t *testing.T) {
	var sent atomic.Int64
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		if r.Body != nil {
			r.Body.Close()
		}
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"access_token":"at","token_type":"DPoP","expires_in":3600}`)), Request: r}, nil
	})
	rt := tokencreds.NewDPoPTransport(newSigner(t), base)
	for _, tc := range []struct {
		url  string
		sent bool
	}{
		{"https://as.example/token", true},
		{"http://127.0.0.1:8080/token", true},
		{"http://[::1]:8080/token", true},
		{"http://localhost:8080/token", true},
		{"HTTP://LOCALHOST/token", true},
		{"http://as.example/token", false},
		{"http://as.example:443/token", false},
		{"http://10.0.0.7/token", false},
		{"http://localhost.as.example/token", false},
		{"ftp://as.example/token", false},
	} {
		t.Run(tc.url, func(t *testing.T) {
			before := sent.Load()
			body := &closeCounter{Reader: strings.NewReader("grant_type=client_credentials")}
			req, err := http.NewRequest(http.MethodPost, tc.url, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := rt.RoundTrip(req)
			if resp != nil {
				resp.Body.Close()
			}
			if got := sent.Load() > before; got != tc.sent {
				t.Fatalf("sent = %v (err %v), want %v", got, err, tc.sent)
			}
			if !tc.sent && !errors.Is(err, tokencreds.ErrInsecureTokenEndpoint) {
				t.Errorf("err = %v, want one wrapping ErrInsecureTokenEndpoint", err)
			}
			if n := body.closed.Load(); n != 1 {
				t.Errorf("request body closed %d times, want once", n)
			}
		})
	}
	t.Run("credentials", func(t *testing.T) {
		cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: "s3cret", TokenURL: "http://as.example/token", AuthStyle: oauth2.AuthStyleInHeader}
		ts := cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rt}))
		ctx, uri := dpopCallCtx()
		_, err := tokencreds.NewDPoP(ts, newSigner(t)).GetRequestMetadata(ctx, uri)
		if status.Code(err) != codes.Unauthenticated || !errors.Is(err, tokencreds.ErrInsecureTokenEndpoint) {
			t.Errorf("err = %v, want Unauthenticated wrapping ErrInsecureTokenEndpoint", err)
		}
	})
}

// A stream's Context holds the stream interceptor's record of the stream:
// a call the caller makes with it on a connection without the interceptors
// must not take the record, or the stream's server's nonce is remembered
// for the other server and the next stream is refused again.
func TestDPoP_CallWithAStreamsContextDoesNotTakeItsNonce(t *testing.T) {
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f := newDPoPFixture(t, nonces)
	ts, _, _ := f.tokenSource(f.iss.TokenURL())
	creds := tokencreds.NewDPoP(ts, f.signer)
	other, otherCalls := serveRecording(t, grpc.WithPerRPCCredentials(creds))
	client := f.serveTLS(t, grpc.WithPerRPCCredentials(creds), grpc.WithStreamInterceptor(creds.StreamClientInterceptor()))
	exchange := func() error {
		s, err := client.BidiStream(t.Context())
		if err != nil {
			return err
		}
		if _, err := authtestv1.NewTestServiceClient(other).Public(s.Context(), &authtestv1.PublicRequest{}); status.Code(err) != codes.Unimplemented {
			t.Errorf("call with the stream's context: %v, want Unimplemented", err)
		}
		if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		_, err = s.Recv()
		return err
	}
	if err := exchange(); reason(err) != grpcauth.ReasonUseDPoPNonce {
		t.Fatalf("first stream: %v, want %s", err, grpcauth.ReasonUseDPoPNonce)
	}
	if err := exchange(); err != nil {
		t.Fatalf("second stream, with the first one's nonce: %v", err)
	}
	for i, md := range otherCalls() {
		if n := proofNonce(t, md); n != "" {
			t.Errorf("call %d with a stream's context carries the nonce %q of the stream's server", i+1, n)
		}
	}
}

// A token request whose proof cannot be signed (no signer, a KMS failure)
// never reached the token endpoint: the call fails with Internal, as a
// call whose own proof cannot be signed does, not with Unavailable and a
// message blaming the endpoint, which a retry policy would retry.
func TestDPoP_TokenRequestWhoseProofCannotBeSignedIsInternal(t *testing.T) {
	var requests atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
	t.Cleanup(endpoint.Close)
	cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: "s3cret", TokenURL: endpoint.URL, AuthStyle: oauth2.AuthStyleInHeader}
	ts := cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tokencreds.NewDPoPTransport(nil, nil)}))
	ctx, uri := dpopCallCtx()
	_, err := tokencreds.NewDPoP(ts, newSigner(t)).GetRequestMetadata(ctx, uri)
	if st, _ := status.FromError(err); st.Code() != codes.Internal || st.Message() != "tokencreds: could not sign the DPoP proof" {
		t.Errorf("err = %v, want Internal: tokencreds: could not sign the DPoP proof", err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("endpoint got %d requests, want none", n)
	}
}

// golang.org/x/oauth2/jwt (RFC 7523's JWT bearer grant) reads a token
// response as JSON whatever its Content-Type: a Bearer token in JSON
// labelled text/plain or form-encoded is a token to it, and its
// ReuseTokenSource would keep it (and every call of the Credentials fail
// with ErrNotDPoPToken until it expires), so the transport refuses it too,
// as it does a JSON token with a JSON Content-Type.
func TestDPoPTransport_RefusesAnUnboundJSONTokenWhateverItsContentType(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	for _, contentType := range []string{"text/plain", "application/x-www-form-urlencoded"} {
		t.Run(contentType, func(t *testing.T) {
			endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", contentType)
				io.WriteString(w, `{"access_token":"at","token_type":"Bearer","expires_in":3600}`)
			}))
			t.Cleanup(endpoint.Close)
			cfg := &oauthjwt.Config{Email: "svc@as.example", PrivateKey: keyPEM, TokenURL: endpoint.URL}
			hc := &http.Client{Transport: tokencreds.NewDPoPTransport(newSigner(t), nil)}
			tok, err := cfg.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc)).Token()
			// The jwt package keeps only the text of a transport's error.
			if tok != nil || err == nil || !strings.Contains(err.Error(), tokencreds.ErrNotDPoPToken.Error()) {
				t.Fatalf("Token() = %v, %v; want no token and ErrNotDPoPToken's error", tok, err)
			}
		})
	}
}

// A grpc-go server served through net/http (grpc.Server.ServeHTTP, as
// behind vanguard's transcoder) cannot put grpcauth's www-authenticate
// challenge in a trailer: net/http drops it from HTTP/2 trailers (RFC 9110
// forbids authentication fields there), so grpcauth sends it as a response
// header, and connectauth in a connect-go server sends a gRPC caller none.
// A USE_DPOP_NONCE refusal without any challenge (here grpcauth's, its
// challenge header dropped as connectauth's gRPC protocol would) still
// carries the ErrorInfo reason and the new dpop-nonce, and the unary
// interceptor retries on those.
func TestDPoP_UnaryCallIsRetriedWithTheNonceOfARefusalWithoutAChallenge(t *testing.T) {
	dropChallenge := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(grpc.NewContextWithServerTransportStream(ctx, noChallengeStream{grpc.ServerTransportStreamFromContext(ctx)}), req)
	}
	refusal := refusalRetriedThroughServeHTTP(t, dropChallenge)
	if r := reason(refusal.err); r != grpcauth.ReasonUseDPoPNonce {
		t.Errorf("refusal = %v, want %s", refusal.err, grpcauth.ReasonUseDPoPNonce)
	}
	if h, tr := refusal.header.Get("www-authenticate"), refusal.trailer.Get("www-authenticate"); len(h)+len(tr) != 0 {
		t.Errorf("refusal's challenge: header %q, trailer %q; want none", h, tr)
	}
}

// refusalRetriedThroughServeHTTP calls Authenticated on grpcauth, served
// with nonces required through grpc.Server.ServeHTTP behind outer (see
// serveHTTP), checks that the call succeeded after one retry, the first
// attempt refused with a dpop-nonce trailer, and returns that refusal as
// the caller saw it.
func refusalRetriedThroughServeHTTP(t *testing.T, outer grpc.UnaryServerInterceptor) attempt {
	t.Helper()
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f := newDPoPFixture(t, nonces)
	record, attempts := recordAttempts()
	client := f.serveHTTP(t, outer, record)
	if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}); err != nil {
		t.Fatalf("call: %v, want it retried with the refusal's nonce", err)
	}
	if n := len(f.received()); n != 2 {
		t.Errorf("the call reached the server %d times, want 2 (refused without a nonce, then retried)", n)
	}
	got := attempts()
	if len(got) != 2 {
		t.Fatalf("%d attempts, want 2", len(got))
	}
	if n := got[0].trailer.Get("dpop-nonce"); len(n) != 1 {
		t.Errorf("refusal's trailer dpop-nonce = %q, want one", n)
	}
	return got[0]
}

// noChallengeStream is a grpc.ServerTransportStream that drops the
// www-authenticate values set as the call's header.
type noChallengeStream struct{ grpc.ServerTransportStream }

func (s noChallengeStream) SetHeader(md metadata.MD) error {
	md = md.Copy()
	md.Delete("www-authenticate")
	return s.ServerTransportStream.SetHeader(md)
}

// serveHTTP runs the service through grpc.Server.ServeHTTP on an HTTP/2
// TLS httptest server, outer chained before the fixture's server
// interceptors, and returns a client of it whose DPoP credentials (f's
// token source and key) follow nonces through the unary interceptor,
// inner (unless nil) chained after it, so that it sees every attempt.
func (f *dpopFixture) serveHTTP(t *testing.T, outer grpc.UnaryServerInterceptor, inner grpc.UnaryClientInterceptor) authtestv1.TestServiceClient {
	t.Helper()
	gs := grpc.NewServer(append([]grpc.ServerOption{grpc.ChainUnaryInterceptor(outer)}, f.server...)...)
	authtestv1.RegisterTestServiceServer(gs, service{})
	srv := httptest.NewUnstartedServer(gs)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tlsConfig := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()

	ts, _, _ := f.tokenSource(f.iss.TokenURL())
	creds := tokencreds.NewDPoP(ts, f.signer)
	dial := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)),
		grpc.WithPerRPCCredentials(creds), grpc.WithUnaryInterceptor(creds.UnaryClientInterceptor())}
	if inner != nil {
		dial = append(dial, grpc.WithChainUnaryInterceptor(inner))
	}
	conn, err := grpc.NewClient(srv.Listener.Addr().String(), dial...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authtestv1.NewTestServiceClient(conn)
}

// attempt is what a call's attempt, under the unary interceptor, got.
type attempt struct {
	err             error
	header, trailer metadata.MD
}

// recordAttempts returns a client interceptor, to chain after the unary
// interceptor, that records every attempt, and a function returning them.
func recordAttempts() (grpc.UnaryClientInterceptor, func() []attempt) {
	var mu sync.Mutex
	var attempts []attempt
	record := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		var a attempt
		a.err = invoker(ctx, method, req, reply, cc, append(slices.Clip(opts), grpc.Header(&a.header), grpc.Trailer(&a.trailer))...)
		mu.Lock()
		attempts = append(attempts, a)
		mu.Unlock()
		return a.err
	}
	return record, func() []attempt {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(attempts)
	}
}

// Under grpc.Server.ServeHTTP grpcauth sends its challenge as a response
// header. A server whose refusal carries that header and the dpop-nonce
// trailer but not grpcauth's ErrorInfo (another RFC 9449 implementation,
// or, as here, an interceptor or proxy that rewrites the status without
// its details) gets the call retried on the header's use_dpop_nonce
// challenge, as on a trailer's.
func TestDPoP_UnaryCallIsRetriedOnAUseDPoPNonceChallengeInTheHeader(t *testing.T) {
	stripDetails := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if err != nil {
			return nil, status.Error(codes.Unauthenticated, status.Convert(err).Message())
		}
		return resp, nil
	}
	refusal := refusalRetriedThroughServeHTTP(t, stripDetails)
	if st := status.Convert(refusal.err); st.Code() != codes.Unauthenticated || len(st.Details()) != 0 {
		t.Errorf("refusal = %v with %d details, want Unauthenticated without details", refusal.err, len(st.Details()))
	}
	if ch := refusal.header.Get("www-authenticate"); len(ch) != 1 || !strings.HasPrefix(ch[0], `DPoP error="use_dpop_nonce"`) {
		t.Errorf("refusal's header challenge = %q, want use_dpop_nonce", ch)
	}
	if ch := refusal.trailer.Get("www-authenticate"); len(ch) != 0 {
		t.Errorf("refusal's trailer challenge = %q, want none", ch)
	}
}

// A header challenge, as a trailer's, asks for a nonce only with the
// use_dpop_nonce error and only with a nonce the proof did not carry: the
// unary interceptor does not retry another error (a bad token would be
// refused again), nor a refusal of a proof that carried the server's
// latest nonce.
func TestDPoP_UnaryCallIsNotRetriedOnAHeaderChallengeOfAnotherErrorOrOfTheNonceItCarried(t *testing.T) {
	for _, tt := range []struct {
		name      string
		challenge string
		nonce     func(call int64) string // the refusal's dpop-nonce
		calls     int                     // made one after the other
		reached   int64                   // the server, in all
	}{
		// A new nonce each time, but invalid_token: never retried.
		{"invalid_token", `DPoP error="invalid_token", algs="ES256"`, func(call int64) string { return "n" + strconv.FormatInt(call, 10) }, 1, 1},
		// Always n1: the first call, without a nonce, is retried once
		// with n1; the second, whose proof carries n1, is not.
		{"the nonce the proof carried", `DPoP error="use_dpop_nonce", algs="ES256"`, func(int64) string { return "n1" }, 2, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newDPoPFixture(t, nil)
			var reached atomic.Int64
			refuse := func(ctx context.Context, _ any, _ *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
				call := reached.Add(1)
				if err := grpc.SetHeader(ctx, metadata.Pairs("www-authenticate", tt.challenge)); err != nil {
					t.Error(err)
				}
				if err := grpc.SetTrailer(ctx, metadata.Pairs("dpop-nonce", tt.nonce(call))); err != nil {
					t.Error(err)
				}
				return nil, status.Error(codes.Unauthenticated, "refused")
			}
			client := f.serveHTTP(t, refuse, nil)
			for range tt.calls {
				if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}); status.Code(err) != codes.Unauthenticated {
					t.Fatalf("call: %v, want Unauthenticated", err)
				}
			}
			if n := reached.Load(); n != tt.reached {
				t.Errorf("the server was reached %d times, want %d", n, tt.reached)
			}
		})
	}
}

// A call whose context already carries dpop metadata (the caller's own, or
// a gateway forwarding its caller's incoming metadata) would go out with
// two proofs, the credentials' first, which a server must refuse (RFC
// 9449, section 4.3, item 1) as if the token or proof were bad.
// Credentials from NewDPoP refuse the call instead,
// before the token source is asked and before anything is sent; other
// metadata still goes out beside the one proof.
func TestDPoP_CallCarryingItsOwnProofIsRefused(t *testing.T) {
	src := &countingSource{next: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at", TokenType: "DPoP", Expiry: time.Now().Add(time.Hour)})}
	conn, received := serveRecording(t, grpc.WithPerRPCCredentials(tokencreds.NewDPoP(src, newSigner(t))))
	client := authtestv1.NewTestServiceClient(conn)
	for _, tt := range []struct {
		name string
		ctx  context.Context
	}{
		{"appended", metadata.AppendToOutgoingContext(t.Context(), "DPoP", "forwarded.proof.value")},
		{"set", metadata.NewOutgoingContext(t.Context(), metadata.MD{"dpop": {"forwarded.proof.value"}})},
		{"empty", metadata.AppendToOutgoingContext(t.Context(), "dpop", "")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.Authenticated(tt.ctx, &authtestv1.AuthenticatedRequest{})
			if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != tokencreds.ErrDPoPInMetadata.Error() || !errors.Is(err, tokencreds.ErrDPoPInMetadata) {
				t.Errorf("err = %v, want Internal: %v", err, tokencreds.ErrDPoPInMetadata)
			}
		})
	}
	if got := received(); len(got) != 0 {
		t.Errorf("server got %d calls, want 0: the first with dpop %q", len(got), got[0].Get("dpop"))
	}
	if n := src.n.Load(); n != 0 {
		t.Errorf("token source asked %d times, want 0", n)
	}

	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-request-id", "1")
	if _, err := client.Authenticated(ctx, &authtestv1.AuthenticatedRequest{}); err != nil {
		t.Fatal(err)
	}
	got := received()
	if len(got) != 1 || len(got[0].Get("dpop")) != 1 || len(got[0].Get("x-request-id")) != 1 {
		t.Fatalf("server got %v, want one call with one dpop proof and x-request-id", got)
	}
}

// hungKey is a crypto.Signer standing for a KMS key whose requests hang:
// its Sign tells entered it was called, then waits until Release, or the
// test's end.
type hungKey struct {
	*ecdsa.PrivateKey
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

// Release lets every Sign, waiting and to come, sign.
func (k *hungKey) Release() { k.once.Do(func() { close(k.release) }) }

// newHungKey returns a hungKey of a new P-256 key, released (its Sign
// goroutines left to end, which goleak checks) when the test ends.
func newHungKey(t *testing.T) *hungKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := &hungKey{PrivateKey: priv, entered: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(key.Release)
	return key
}

func (k *hungKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	k.entered <- struct{}{}
	<-k.release
	return k.PrivateKey.Sign(r, digest, opts)
}

// cancelOnSign returns a context that is cancelled once k's Sign is
// called (or the test ends, so that no goroutine is left if it never is).
func (k *hungKey) cancelOnSign(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		select {
		case <-k.entered:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx
}

// A token request whose proof a KMS key that does not answer would sign
// fails, unsent, when the request's context ends (the http.Client's
// Timeout, or the token source's context), with an error wrapping the
// context's, rather than wait for the key however long it hangs.
func TestDPoPTransport_RequestWhoseKeyHangsEndsWithItsContext(t *testing.T) {
	key := newHungKey(t)
	signer, err := dpop.NewSigner(key, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) }))
	t.Cleanup(endpoint.Close)
	req, err := http.NewRequestWithContext(key.cancelOnSign(t), http.MethodPost, endpoint.URL+"/token", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tokencreds.NewDPoPTransport(signer, nil)}).Do(req)
	if err == nil {
		resp.Body.Close()
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want one wrapping context.Canceled", err)
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("the token endpoint got %d requests, want 0", n)
	}
}

// A proof signed by a key in a KMS that does not answer holds the call
// only until the call's context ends: the call fails with the context's
// code (Canceled here, DeadlineExceeded past a deadline) rather than wait
// for the key however long it hangs, and nothing reaches the server.
func TestDPoP_CallWhoseKeyHangsEndsWithItsContext(t *testing.T) {
	key := newHungKey(t)
	signer, err := dpop.NewSigner(key, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at", TokenType: "DPoP", Expiry: time.Now().Add(time.Hour)})
	conn, received := serveRecording(t, grpc.WithPerRPCCredentials(tokencreds.NewDPoP(src, signer)))
	ctx := key.cancelOnSign(t)
	_, err = authtestv1.NewTestServiceClient(conn).Authenticated(ctx, &authtestv1.AuthenticatedRequest{})
	if status.Code(err) != codes.Canceled {
		t.Fatalf("err = %v, want Canceled", err)
	}
	if got := received(); len(got) != 0 {
		t.Fatalf("server got %d calls, want 0", len(got))
	}
}
