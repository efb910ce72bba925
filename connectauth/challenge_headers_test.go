package connectauth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/grpc"

	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// vanguardHandler returns ChallengeHeaders around vanguard's transcoder in
// front of gs, as docs/browsers.md section 2 sets it up.
func vanguardHandler(t *testing.T, gs *grpc.Server) http.Handler {
	t.Helper()
	transcoder, err := vanguardgrpc.NewTranscoder(gs)
	if err != nil {
		t.Fatal(err)
	}
	return connectauth.ChallengeHeaders(transcoder)
}

// postJSON makes a Connect unary call of AllOf with fetch's means: a JSON
// POST with the headers in hdr.
func postJSON(t *testing.T, hc *http.Client, url string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// A Connect unary refusal from a grpc-go server behind vanguard carries its
// RFC 6750 challenge in the WWW-Authenticate header of the 401 or 403
// (RFC 9110 §11.6.1, RFC 6750 §3), where browsers' and HTTP libraries look,
// exactly as a connect-go server with the Interceptor sends it, and not
// only as Trailer-WWW-Authenticate. A connect-go client sees each challenge
// once in Error.Meta.
func TestChallengeHeaders_VanguardConnectRefusalCarriesWWWAuthenticate(t *testing.T) {
	f := newFixture(t)
	servers := map[string]*httptest.Server{
		"connect-go": serveTLS(t, connectMux(f)),
		"vanguard":   serveTLS(t, vanguardHandler(t, grpcServer(f))),
	}
	for _, tc := range []struct {
		name   string
		call   call
		status int
		want   []string
	}{
		{"no token", call{method: "AllOf", token: "none"}, http.StatusUnauthorized, []string{"Bearer", `DPoP algs="ES256 EdDSA Ed25519"`}},
		{"garbage token", call{method: "AllOf", token: "garbage"}, http.StatusUnauthorized,
			[]string{`Bearer error="invalid_token", error_description="invalid access token"`}},
		{"scope missing", call{method: "AllOf", token: "valid", scopes: []string{"test:read"}}, http.StatusForbidden,
			[]string{`Bearer error="insufficient_scope", error_description="access token lacks a required scope", scope="test:read test:write"`}},
	} {
		for name, srv := range servers {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				hdr := map[string]string{}
				if auth := tc.call.authorization(t, f); auth != "" {
					hdr["Authorization"] = auth
				}
				resp := postJSON(t, srv.Client(), srv.URL+"/authtest.v1.TestService/AllOf", hdr)
				if resp.StatusCode != tc.status {
					t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
				}
				if got := resp.Header.Values("WWW-Authenticate"); !slices.Equal(got, tc.want) {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tc.want)
				}
				if got := resp.Header.Values("Trailer-WWW-Authenticate"); len(got) != 0 {
					t.Errorf("Trailer-WWW-Authenticate = %q besides", got)
				}
				req := connect.NewRequest(&authtestv1.AllOfRequest{})
				setAuth(req.Header(), hdr["Authorization"])
				_, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/AllOf").CallUnary(t.Context(), req)
				var ce *connect.Error
				if !errors.As(err, &ce) {
					t.Fatalf("connect-go client: %v", err)
				}
				if got := ce.Meta().Values("WWW-Authenticate"); !slices.Equal(got, tc.want) {
					t.Errorf("connect-go client's Error.Meta WWW-Authenticate = %q, want %q", got, tc.want)
				}
			})
		}
	}
}

// A USE_DPOP_NONCE refusal through vanguard carries the nonce in the
// DPoP-Nonce header of the 401 (RFC 9449 §9), with its challenge.
func TestChallengeHeaders_VanguardNonceRefusalCarriesDPoPNonce(t *testing.T) {
	const procedure = "/authtest.v1.TestService/AllOf"
	auth, key, tok := dpopFixture(t, dpop.Config{Nonces: twoNonces{}})
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()))
	authtestv1.RegisterTestServiceServer(gs, service{})
	srv := serveTLS(t, vanguardHandler(t, gs))
	proof, err := key.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: srv.URL + procedure, AccessToken: tok}) // no nonce
	if err != nil {
		t.Fatal(err)
	}
	resp := postJSON(t, srv.Client(), srv.URL+procedure, map[string]string{"Authorization": "DPoP " + tok, "DPoP": proof})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	if got := resp.Header.Values("DPoP-Nonce"); !slices.Equal(got, []string{"fresh"}) {
		t.Errorf("DPoP-Nonce = %q, want [fresh]", got)
	}
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `DPoP error="use_dpop_nonce"`) {
		t.Errorf("WWW-Authenticate = %q, want a use_dpop_nonce challenge", got)
	}
}

// gRPC callers pass through the transcoder and ChallengeHeaders to
// grpc.Server.ServeHTTP, which needs an http.Flusher: refused calls get
// their code and reason, streams are served, and no refused call makes
// net/http log "ignoring invalid trailer" for the WWW-Authenticate
// trailer, a line any caller without a token could repeat.
func TestChallengeHeaders_GRPCThroughVanguardWritesNothingToTheServerLog(t *testing.T) {
	f := newFixture(t)
	srv, errorLog := loggedTLSServer(t, vanguardHandler(t, grpcServer(f)))
	grpcRefusals(t, f, srv)
	for pname, opts := range protocols {
		req := connect.NewRequest(&authtestv1.ServerStreamRequest{Count: 3})
		req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read", "test:stream"))
		stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/ServerStream", opts...).CallServerStream(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for stream.Receive() {
			n++
		}
		if err := stream.Err(); err != nil || n != 3 {
			t.Errorf("%s stream: %d messages, error %v; want 3, none", pname, n, err)
		}
		stream.Close()
	}
	if s := errorLog.String(); s != "" {
		t.Errorf("the server logged %q for refused gRPC calls", s)
	}
}
