package connectauth_test

import (
	"bytes"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// TestConnect_BearerRefusalsCarryTheWWWAuthenticateHeader checks that the
// RFC 6750 challenges reach a Connect-protocol caller, a browser's fetch
// among them, as the HTTP WWW-Authenticate header of the 401 or 403
// response: without a token, bare Bearer (section 3.1) and bare DPoP with
// its algs, two header lines (RFC 9449, section 7.2: the method takes
// either); insufficient_scope with the method's scopes for a bearer token
// that lacks one.
func TestConnect_BearerRefusalsCarryTheWWWAuthenticateHeader(t *testing.T) {
	f := newFixture(t)
	srv := serveTLS(t, connectMux(f))
	for _, tc := range []struct {
		name   string
		auth   string
		status int
		want   []string
	}{
		{"no token", "", http.StatusUnauthorized, []string{"Bearer", `DPoP algs="ES256 EdDSA Ed25519"`}},
		{"scope missing", "Bearer " + f.token(t, "test:read"), http.StatusForbidden,
			[]string{`Bearer error="insufficient_scope", error_description="access token lacks a required scope", scope="test:read test:write"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/authtest.v1.TestService/AllOf", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			setAuth(req.Header, tc.auth)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Values("WWW-Authenticate"); !slices.Equal(got, tc.want) {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// loggedTLSServer starts h over HTTP/2 with TLS, its ErrorLog written to
// the returned buffer, and closes it at the end of the test.
func loggedTLSServer(t *testing.T, h http.Handler) (*httptest.Server, *syncBuffer) {
	t.Helper()
	errorLog := new(syncBuffer)
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(errorLog, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, errorLog
}

// In the gRPC protocol connect-go sends a refusal's metadata as HTTP/2
// trailers, where net/http drops WWW-Authenticate (RFC 9110 forbids
// authentication fields in trailers) and writes "ignoring invalid
// trailer" to the server's ErrorLog: one line for every refused call,
// which any caller without a token could repeat to flood the log. The
// Interceptor leaves the challenge out there; the caller gets the same
// code, reason and, with DPoP nonces, the dpop-nonce trailer.
func TestConnect_GRPCRefusalWritesNothingToTheServerLog(t *testing.T) {
	f := newFixture(t)
	srv, errorLog := loggedTLSServer(t, connectMux(f))
	grpcRefusals(t, f, srv)
	stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/ServerStream", protocols["grpc"]...).CallServerStream(t.Context(), connect.NewRequest(&authtestv1.ServerStreamRequest{Count: 1}))
	if err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
	}
	if got := connectOutcome(stream.Err()); got != (outcome{codes.Unauthenticated, grpcauth.ReasonCredentialsMissing}) {
		t.Fatalf("stream without a token: got %v %q", got.code, got.reason)
	}
	stream.Close()
	if s := errorLog.String(); s != "" {
		t.Errorf("the server logged %q for refused gRPC calls", s)
	}
}

// grpcRefusals makes refused gRPC-protocol calls of AllOf (no token, a
// garbage token, a token without the scopes) to srv and checks their codes
// and reasons.
func grpcRefusals(t *testing.T, f *fixture, srv *httptest.Server) {
	t.Helper()
	for _, c := range []call{
		{method: "AllOf", token: "none"},
		{method: "AllOf", token: "garbage"},
		{method: "AllOf", token: "valid", scopes: []string{"test:read"}},
	} {
		want := map[string]outcome{
			"none":    {codes.Unauthenticated, grpcauth.ReasonCredentialsMissing},
			"garbage": {codes.Unauthenticated, grpcauth.ReasonTokenInvalid},
			"valid":   {codes.PermissionDenied, grpcauth.ReasonScopeInsufficient},
		}[c.token]
		if got, _ := viaConnect(t, f, srv.Client(), srv.URL, protocols["grpc"], c); got != want {
			t.Fatalf("%s token: got %v %q, want %v %q", c.token, got.code, got.reason, want.code, want.reason)
		}
	}
}

// A malformed authorization value gets the answer it gets over grpc-go,
// as the HTTP WWW-Authenticate header of a Connect caller's 401, over
// HTTP/1.1 and HTTP/2 alike: a token sent without its scheme, a scheme
// without credentials (also followed by a space, a space and a tab, or a
// tab, which HTTP/1.1 trims and HTTP/2 keeps) and two values are invalid_request, in the DPoP scheme
// when both values use it; another scheme with credentials gets both
// schemes' bare challenges.
func TestConnect_MalformedAuthorizationIsChallengedAsOverGRPC(t *testing.T) {
	const (
		algs      = `algs="ES256 EdDSA Ed25519"`
		malformed = `error="invalid_request", error_description="malformed authorization metadata"`
	)
	f := newFixture(t)
	srv := serveTLS(t, connectMux(f))
	h1 := srv.Client().Transport.(*http.Transport).Clone()
	h1.Protocols = new(http.Protocols)
	h1.Protocols.SetHTTP1(true)
	h1.TLSClientConfig.NextProtos = []string{"http/1.1"}
	clients := map[string]*http.Client{"HTTP/2.0": srv.Client(), "HTTP/1.1": {Transport: h1}}
	for _, tc := range []struct {
		name string
		auth []string
		want []string
	}{
		{"bare token", []string{f.token(t, "test:read", "test:write")}, []string{"Bearer " + malformed}},
		{"scheme alone", []string{"Basic"}, []string{"Bearer " + malformed}},
		{"scheme and a space", []string{"Basic "}, []string{"Bearer " + malformed}},
		{"scheme, a space and a tab", []string{"Basic \t"}, []string{"Bearer " + malformed}},
		{"Bearer, a space and a tab", []string{"Bearer \t"}, []string{"Bearer " + malformed}},
		{"DPoP and a tab", []string{"DPoP\t"}, []string{"DPoP " + malformed + ", " + algs}},
		{"two DPoP values", []string{"DPoP x", "dpop y"}, []string{"DPoP " + malformed + ", " + algs}},
		{"a DPoP and a Bearer value", []string{"DPoP x", "Bearer y"}, []string{"Bearer " + malformed}},
		{"another scheme with credentials", []string{"Basic dXNlcjpwYXNz"}, []string{"Bearer", "DPoP " + algs}},
	} {
		for proto, client := range clients {
			t.Run(tc.name+" over "+proto, func(t *testing.T) {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/authtest.v1.TestService/AllOf", strings.NewReader("{}"))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header["Authorization"] = tc.auth
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.Proto != proto {
					t.Fatalf("response over %s, want %s", resp.Proto, proto)
				}
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("status = %d, want 401", resp.StatusCode)
				}
				if got := resp.Header.Values("WWW-Authenticate"); !slices.Equal(got, tc.want) {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tc.want)
				}
			})
		}
	}
}
