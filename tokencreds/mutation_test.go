package tokencreds_test

// Tests for checks a hand-run mutation test found no test held: each fails
// with the mutant named in its comment.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/dpop"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/tokencreds"
)

// TestCredentials_EnvironmentsProxyWithoutAPortIsTheOneOn443: a proxy URL
// without a port names port 443 (as grpc-go dials it), so a plaintext
// call to a loopback peer on port 443 goes through that proxy and is
// refused; a loopback peer on port 80 is not the proxy. (Mutant: the
// default port 80.)
func TestCredentials_EnvironmentsProxyWithoutAPortIsTheOneOn443(t *testing.T) {
	tokencreds.SetProxyFromEnvironment(t, func(*http.Request) (*url.URL, error) {
		return &url.URL{Scheme: "http", Host: "127.0.0.1"}, nil
	})
	tok := &oauth2.Token{AccessToken: "at", TokenType: "Bearer"}
	on := func(port int) context.Context {
		return credentials.NewContextWithRequestInfo(peerCtx(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}),
			credentials.RequestInfo{AuthInfo: insecureInfo()})
	}
	const uri = "https://api.example:50051/authtest.v1.TestService"
	md, err := tokencreds.New(oauth2.StaticTokenSource(tok)).GetRequestMetadata(on(443), uri)
	if status.Code(err) != codes.Unauthenticated || !errors.Is(err, tokencreds.ErrInsecureTransport) || md != nil {
		t.Fatalf("peer 127.0.0.1:443: got %v, %v; want ErrInsecureTransport", md, err)
	}
	md, err = tokencreds.New(oauth2.StaticTokenSource(tok)).GetRequestMetadata(on(80), uri)
	if err != nil || md["authorization"] != "Bearer at" {
		t.Fatalf("peer 127.0.0.1:80: got %v, %v; want the token sent", md, err)
	}
}

// switchSource returns tok until fail is set, and then an error.
type switchSource struct {
	tok  *oauth2.Token
	fail atomic.Bool
}

func (s *switchSource) Token() (*oauth2.Token, error) {
	if s.fail.Load() {
		return nil, errors.New("token endpoint down")
	}
	return s.tok, nil
}

// localCtx is the context of a call on a Unix socket without transport
// security.
func localCtx() context.Context {
	return credentials.NewContextWithRequestInfo(peerCtx(&net.UnixAddr{Name: "/run/api.sock", Net: "unix"}),
		credentials.RequestInfo{AuthInfo: insecureInfo()})
}

// TestCredentials_TokenIsNotSentAtTheInstantOfItsExpiry: a token is sent
// while its expiry has not come; at the instant of its expiry, with the
// source failing, the call fails. (Mutant: !now.After(expiry) in place of
// now.Before(expiry) for a token kept through a refresh.)
func TestCredentials_TokenIsNotSentAtTheInstantOfItsExpiry(t *testing.T) {
	clk := newClock()
	src := &switchSource{tok: &oauth2.Token{AccessToken: "at", TokenType: "Bearer", Expiry: clk.Now().Add(time.Hour)}}
	c := tokencreds.NewWithClock(src, clk.Now)
	if md, err := c.GetRequestMetadata(localCtx()); err != nil || md["authorization"] != "Bearer at" {
		t.Fatalf("fresh token: got %v, %v", md, err)
	}
	src.fail.Store(true)
	clk.Advance(time.Hour - time.Nanosecond)
	if md, err := c.GetRequestMetadata(localCtx()); err != nil || md["authorization"] != "Bearer at" {
		t.Fatalf("1 ns before the expiry, source failing: got %v, %v; want the token sent", md, err)
	}
	tokencreds.AwaitFetch(c)
	clk.Advance(time.Nanosecond)
	if md, err := c.GetRequestMetadata(localCtx()); status.Code(err) != codes.Unauthenticated || md != nil {
		t.Fatalf("at the expiry, source failing: got %v, %v; want Unauthenticated", md, err)
	}
}

// TestCredentials_TokenExpiringAsItArrivesIsRefused: a token whose expiry
// is the instant the source returns it has expired (ErrExpiredToken), and
// is not sent. (Mutant: received.After(expiry) in place of
// !received.Before(expiry).)
func TestCredentials_TokenExpiringAsItArrivesIsRefused(t *testing.T) {
	clk := newClock()
	src := &switchSource{tok: &oauth2.Token{AccessToken: "at", TokenType: "Bearer", Expiry: clk.Now()}}
	md, err := tokencreds.NewWithClock(src, clk.Now).GetRequestMetadata(localCtx())
	if status.Code(err) != codes.Unauthenticated || !errors.Is(err, tokencreds.ErrExpiredToken) || md != nil {
		t.Fatalf("got %v, %v; want Unauthenticated: %v", md, err, tokencreds.ErrExpiredToken)
	}
}

// TestCredentials_OverlongOAuthErrorCodeStaysOutOfTheMessage: an error
// code of at most 64 characters goes into the status message, a longer one
// (whatever an endpoint put there) does not. (Mutant: a bound of 6,400.)
func TestCredentials_OverlongOAuthErrorCodeStaysOutOfTheMessage(t *testing.T) {
	for _, tt := range []struct {
		code, want string
	}{
		{strings.Repeat("a", 64), "tokencreds: the token endpoint refused the token request: " + strings.Repeat("a", 64) + " (HTTP 400)"},
		{strings.Repeat("a", 65), "tokencreds: the token endpoint refused the token request (HTTP 400)"},
	} {
		re := &oauth2.RetrieveError{Response: &http.Response{StatusCode: http.StatusBadRequest}, ErrorCode: tt.code}
		_, err := tokencreds.New(errorSource{re}).GetRequestMetadata(localCtx())
		if st := status.Convert(err); st.Code() != codes.Unauthenticated || st.Message() != tt.want {
			t.Errorf("%d-character code: status %v %q, want Unauthenticated %q", len(tt.code), st.Code(), st.Message(), tt.want)
		}
	}
}

// TestCredentials_UntrustedTokenEndpointCertificateIsNamedAsSuch: a token
// endpoint whose TLS certificate does not verify fails the call with
// codes.Unauthenticated and a message that says so. (Mutant: the
// certificate check of requestFailure skipped, leaving the generic
// "the HTTP client refused the token request".)
func TestCredentials_UntrustedTokenEndpointCertificateIsNamedAsSuch(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}} // trusts the system roots only
	defer hc.CloseIdleConnections()
	cfg := clientcredentials.Config{ClientID: "svc", ClientSecret: "secret", TokenURL: srv.URL + "/token"}
	ts := cfg.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc))
	_, err := tokencreds.New(ts).GetRequestMetadata(localCtx())
	const want = "tokencreds: the token endpoint's TLS certificate did not verify"
	if st := status.Convert(err); st.Code() != codes.Unauthenticated || st.Message() != want {
		t.Fatalf("status %v %q, want Unauthenticated %q", st.Code(), st.Message(), want)
	}
}

// fakeEndpoint is a token endpoint as a RoundTripper: it answers every
// request with status, a DPoP-Nonce header of nonce (if any) and body,
// counting the requests and remembering their proofs' nonces.
type fakeEndpoint struct {
	status int
	nonce  func(*http.Request) string
	body   string
	n      atomic.Int64
}

func (e *fakeEndpoint) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	e.n.Add(1)
	h := http.Header{"Content-Type": {"application/json"}}
	if e.nonce != nil {
		h.Set("DPoP-Nonce", e.nonce(r))
	}
	return &http.Response{StatusCode: e.status, Header: h, Body: io.NopCloser(strings.NewReader(e.body)), Request: r}, nil
}

func tokenRequest(t *testing.T, tokenURL string) *http.Request {
	t.Helper()
	body := "grant_type=client_credentials"
	req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// TestDPoPTransport_RedirectChainLongerThanAnyClientFollowsIsRefused: a
// redirect whose chain of earlier requests is longer than 64 hops (no
// net/http Client follows that many by default) is refused as one whose
// first request is unknown, before anything is sent. (Mutant: the walk
// back without its bound.)
func TestDPoPTransport_RedirectChainLongerThanAnyClientFollowsIsRefused(t *testing.T) {
	ep := &fakeEndpoint{status: http.StatusOK, body: `{"access_token":"at","token_type":"DPoP"}`}
	rt := tokencreds.NewDPoPTransport(newSigner(t), ep)
	req := tokenRequest(t, "https://as.example/token")
	for range 100 { // every hop within the origin
		prev := req
		req = tokenRequest(t, "https://as.example/token")
		req.Response = &http.Response{StatusCode: http.StatusTemporaryRedirect, Request: prev}
	}
	resp, err := rt.RoundTrip(req)
	if resp != nil {
		resp.Body.Close()
	}
	if !errors.Is(err, tokencreds.ErrCrossOriginRedirect) {
		t.Fatalf("err = %v, want one wrapping ErrCrossOriginRedirect", err)
	}
	if n := ep.n.Load(); n != 0 {
		t.Fatalf("%d requests sent, want none", n)
	}
}

// TestDPoPTransport_NonceRetryOnlyAfterA400: the token request is sent
// again with the server's nonce only when it answered 400 with the error
// use_dpop_nonce (RFC 9449, section 8), not after another status whose
// body names that error. (Mutant: the status check dropped.)
func TestDPoPTransport_NonceRetryOnlyAfterA400(t *testing.T) {
	ep := &fakeEndpoint{status: http.StatusUnauthorized, nonce: func(*http.Request) string { return "n-1" },
		body: `{"error":"use_dpop_nonce"}`}
	resp, err := tokencreds.NewDPoPTransport(newSigner(t), ep).RoundTrip(tokenRequest(t, "https://as.example/token"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want the 401 passed on", resp.StatusCode)
	}
	if n := ep.n.Load(); n != 1 {
		t.Fatalf("%d requests sent, want 1", n)
	}
}

// TestDPoPTransport_NoRetryWithTheNonceTheProofCarried: a request whose
// proof already carried the nonce the server asks for again is not sent
// again with the same nonce. (Mutant: the fresh == nonce check dropped.)
func TestDPoPTransport_NoRetryWithTheNonceTheProofCarried(t *testing.T) {
	ep := &fakeEndpoint{status: http.StatusBadRequest, nonce: func(*http.Request) string { return "n-1" },
		body: `{"error":"use_dpop_nonce"}`}
	rt := tokencreds.NewDPoPTransport(newSigner(t), ep)
	for i, want := range []int64{2, 3} { // the first learns the nonce and retries once; the second already has it
		resp, err := rt.RoundTrip(tokenRequest(t, "https://as.example/token"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if n := ep.n.Load(); n != want {
			t.Fatalf("request %d: %d requests sent in all, want %d", i, n, want)
		}
	}
}

// TestDPoPTransport_NoncesOfOverlongOriginsAreNotRemembered: the nonce of
// an origin longer than 1,024 bytes is not remembered. (Mutant: the
// length bound of nonceMap.set dropped.)
func TestDPoPTransport_NoncesOfOverlongOriginsAreNotRemembered(t *testing.T) {
	ep := &fakeEndpoint{status: http.StatusOK, nonce: func(*http.Request) string { return "n-1" },
		body: `{"access_token":"at","token_type":"DPoP"}`}
	rt := tokencreds.NewDPoPTransport(newSigner(t), ep)
	host := strings.Repeat("a", 60) + "."
	host = strings.Repeat(host, 20) + "example" // 1,227 bytes
	resp, err := rt.RoundTrip(tokenRequest(t, "https://"+host+"/token"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := rt.NonceBytes(); n != 0 {
		t.Fatalf("the transport remembers %d bytes, want 0", n)
	}
	resp, err = rt.RoundTrip(tokenRequest(t, "https://as.example/token"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n, want := rt.NonceBytes(), len("https://as.example")+len("n-1"); n != want {
		t.Fatalf("the transport remembers %d bytes, want %d (a short origin's nonce)", n, want)
	}
}

// TestDPoPTransport_RemembersTheNoncesOfAt1024Origins: the transport
// remembers the nonces of at most 1,024 origins. (Mutant: > in place of
// >= in the bound, which lets it keep 1,025.)
func TestDPoPTransport_RemembersTheNoncesOfAt1024Origins(t *testing.T) {
	ep := &fakeEndpoint{status: http.StatusOK, nonce: func(*http.Request) string { return "n-1" },
		body: `{"access_token":"at","token_type":"DPoP"}`}
	rt := tokencreds.NewDPoPTransport(newSigner(t), ep)
	const entry = len("https://h0000.example") + len("n-1")
	for i := range 1025 {
		resp, err := rt.RoundTrip(tokenRequest(t, fmt.Sprintf("https://h%04d.example/token", i)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if n := rt.NonceBytes(); n > 1024*entry {
			t.Fatalf("after %d origins the transport remembers %d bytes, more than 1,024 origins' %d", i+1, n, 1024*entry)
		}
	}
}

// TestDPoPTransport_ProofsHTUHasNoUserInfoOrQuery: the htu of a token
// request's proof is its URL without user info and query (RFC 9449,
// section 4.2), which the server's check of the proof compares with its
// own URL. (Mutant: only the fragment removed.)
func TestDPoPTransport_ProofsHTUHasNoUserInfoOrQuery(t *testing.T) {
	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var verr error
	ep := &fakeEndpoint{status: http.StatusOK, body: `{"access_token":"at","token_type":"DPoP"}`}
	check := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		_, verr = v.Verify(r.Context(), r.Header.Get("DPoP"), dpop.Request{Method: r.Method, Scheme: "https", Authority: "as.example", Path: "/token"})
		return ep.RoundTrip(r)
	})
	resp, err := tokencreds.NewDPoPTransport(newSigner(t), check).RoundTrip(tokenRequest(t, "https://svc:secret@as.example/token?tenant=acme"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if verr != nil {
		t.Fatalf("the proof does not name https://as.example/token: %v", verr)
	}
}

// TestDPoPTransport_NonceLongerThanMaxNonceLenIsIgnored: a DPoP-Nonce of
// up to dpop.MaxNonceLen bytes is taken and retried with; a longer one is
// neither remembered nor sent. (Mutant: the length check of validNonce
// dropped.)
func TestDPoPTransport_NonceLongerThanMaxNonceLenIsIgnored(t *testing.T) {
	for _, tt := range []struct {
		size     int
		requests int64
		bytes    int
	}{
		{dpop.MaxNonceLen, 2, len("https://as.example") + dpop.MaxNonceLen},
		{dpop.MaxNonceLen + 1, 1, 0},
	} {
		nonce := strings.Repeat("n", tt.size)
		ep := &fakeEndpoint{status: http.StatusBadRequest, nonce: func(*http.Request) string { return nonce },
			body: `{"error":"use_dpop_nonce"}`}
		rt := tokencreds.NewDPoPTransport(newSigner(t), ep)
		resp, err := rt.RoundTrip(tokenRequest(t, "https://as.example/token"))
		if err != nil {
			t.Fatalf("%d-byte nonce: %v", tt.size, err)
		}
		resp.Body.Close()
		if n, b := ep.n.Load(), rt.NonceBytes(); n != tt.requests || b != tt.bytes {
			t.Errorf("%d-byte nonce: %d requests sent and %d bytes remembered, want %d and %d", tt.size, n, b, tt.requests, tt.bytes)
		}
	}
}

// serveNonces is serveAnswering with a client that sends DPoP tokens
// through its unary interceptor.
func serveNonces(t *testing.T, answer func(ctx context.Context) error) (authtestv1.TestServiceClient, func() []metadata.MD) {
	t.Helper()
	creds := tokencreds.NewDPoP(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at", TokenType: "DPoP"}), newSigner(t))
	conn, calls := serveAnswering(t, answer, grpc.WithPerRPCCredentials(creds), grpc.WithUnaryInterceptor(creds.UnaryClientInterceptor()))
	return authtestv1.NewTestServiceClient(conn), calls
}

// TestDPoP_RefusalWithTheNonceTheProofCarriedIsNotRetried: a call whose
// proof carried the nonce the server asks for again is not retried with
// the same nonce. (Mutant: learnNonce reporting every nonce as new.)
func TestDPoP_RefusalWithTheNonceTheProofCarriedIsNotRetried(t *testing.T) {
	client, calls := serveNonces(t, func(ctx context.Context) error {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("dpop-nonce", "n-1", "www-authenticate", `DPoP error="use_dpop_nonce"`))
		return status.Error(codes.Unauthenticated, "use a nonce")
	})
	for i, want := range []int{2, 3} { // the first learns the nonce and is retried once; the second carried it
		if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("call %d: err = %v, want Unauthenticated", i, err)
		}
		if n := len(calls()); n != want {
			t.Fatalf("call %d: the server got %d calls in all, want %d", i, n, want)
		}
	}
	if got := proofNonce(t, calls()[2]); got != "n-1" {
		t.Fatalf("second call's proof nonce %q, want n-1", got)
	}
}

// TestDPoP_TrailersNonceWinsOverTheHeaders: a call whose header and
// trailer carry different nonces teaches the trailer's, the later one.
// (Mutant: the header's read first.)
func TestDPoP_TrailersNonceWinsOverTheHeaders(t *testing.T) {
	client, calls := serveNonces(t, func(ctx context.Context) error {
		_ = grpc.SetHeader(ctx, metadata.Pairs("dpop-nonce", "h-1"))
		_ = grpc.SetTrailer(ctx, metadata.Pairs("dpop-nonce", "t-1"))
		return nil
	})
	for i := range 2 {
		if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if got := proofNonce(t, calls()[1]); got != "t-1" {
		t.Fatalf("second call's proof nonce %q, want the trailer's t-1", got)
	}
}

// TestDPoP_MethodWithoutALeadingSlashMakesNoProof: GetRequestMetadata
// called with a method that is no gRPC path ("pkg.S/M") fails with
// codes.Internal rather than sign a proof for the URL it would make
// (https://api.examplepkg.S/M). (Mutant: the method's check dropped.)
func TestDPoP_MethodWithoutALeadingSlashMakesNoProof(t *testing.T) {
	tok := &oauth2.Token{AccessToken: "at", TokenType: "DPoP"}
	ctx := credentials.NewContextWithRequestInfo(peerCtx(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}),
		credentials.RequestInfo{Method: "pkg.S/M", AuthInfo: insecureInfo()})
	md, err := tokencreds.NewDPoP(oauth2.StaticTokenSource(tok), newSigner(t)).GetRequestMetadata(ctx, "https://api.example/pkg.S")
	if status.Code(err) != codes.Internal || md != nil {
		t.Fatalf("got %v, %v; want Internal and no token", md, err)
	}
}

// TestDPoPTransport_RefusalNamingAnAccessTokenIsPassedOnWhole: an error
// response (4xx) is passed on as it is, also when its body has an
// access_token member: only a successful token response's token_type is
// checked. (Mutant: the 2xx check of refuseUnboundToken dropped, which
// turned the refusal into ErrNotDPoPToken.)
func TestDPoPTransport_RefusalNamingAnAccessTokenIsPassedOnWhole(t *testing.T) {
	const body = `{"error":"invalid_grant","access_token":"revoked"}`
	ep := &fakeEndpoint{status: http.StatusBadRequest, body: body}
	resp, err := tokencreds.NewDPoPTransport(newSigner(t), ep).RoundTrip(tokenRequest(t, "https://as.example/token"))
	if err != nil {
		t.Fatalf("err = %v, want the 400 passed on", err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusBadRequest || string(got) != body {
		t.Fatalf("got %d %q, %v; want 400 %q", resp.StatusCode, got, err, body)
	}
}

// TestDPoP_NonceChallengeOfAnotherCodeIsNotRetried: only a refusal with
// codes.Unauthenticated asks for a nonce (RFC 9449, section 9); a call
// failing with another code, whatever its trailer, is not retried.
// (Mutant: every code but OK taken as asking.)
func TestDPoP_NonceChallengeOfAnotherCodeIsNotRetried(t *testing.T) {
	client, calls := serveNonces(t, func(ctx context.Context) error {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("dpop-nonce", "n-1", "www-authenticate", `DPoP error="use_dpop_nonce"`))
		return status.Error(codes.PermissionDenied, "not this caller")
	})
	if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("err = %v, want PermissionDenied", err)
	}
	if n := len(calls()); n != 1 {
		t.Fatalf("the server got %d calls, want 1", n)
	}
}
