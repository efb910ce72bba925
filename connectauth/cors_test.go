package connectauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/grpc"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

func TestCORS_PreflightFromAllowedOriginMayAuthenticate(t *testing.T) {
	served := false
	h := connectauth.CORS(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true }), "http://127.0.0.1:8080")
	req := httptest.NewRequest(http.MethodOptions, "/items.v1.ItemsService/ListItems", nil)
	req.Header.Set("Origin", "http://127.0.0.1:8080")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, dpop, content-type")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if served {
		t.Error("a preflight reached the handler")
	}
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d, want 204", rec.Code)
	}
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "http://127.0.0.1:8080" {
		t.Errorf("Allow-Origin %q", got)
	}
	allowed := strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"authorization", "dpop", "content-type", "connect-protocol-version", "x-grpc-web"} {
		if !strings.Contains(allowed, h) {
			t.Errorf("Allow-Headers %q lacks %q", allowed, h)
		}
	}
	if !strings.Contains(rec.Header().Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("Allow-Methods %q lacks POST", rec.Header().Get("Access-Control-Allow-Methods"))
	}
	if rec.Header().Get("Access-Control-Allow-Credentials") != "" {
		t.Error("the policy allows credentials")
	}
}

func TestCORS_ResponseExposesStatusAndChallengeHeaders(t *testing.T) {
	h := connectauth.CORS(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }), "http://127.0.0.1:8080")
	req := httptest.NewRequest(http.MethodPost, "/items.v1.ItemsService/ListItems", nil)
	req.Header.Set("Origin", "http://127.0.0.1:8080")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	exposed := strings.ToLower(rec.Header().Get("Access-Control-Expose-Headers"))
	for _, h := range []string{"grpc-status", "grpc-message", "grpc-status-details-bin", "www-authenticate", "dpop-nonce"} {
		if !strings.Contains(exposed, h) {
			t.Errorf("Expose-Headers %q lacks %q", exposed, h)
		}
	}
}

func TestCORS_OtherOriginGetsNoCORSHeaders(t *testing.T) {
	served := false
	h := connectauth.CORS(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true }), "http://127.0.0.1:8080")
	req := httptest.NewRequest(http.MethodOptions, "/x", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("Access-Control-Allow-Origin") != "" || rec.Header().Get("Access-Control-Allow-Headers") != "" {
		t.Fatalf("CORS headers for another origin: %v", rec.Header())
	}
	if !served {
		t.Error("the request was not passed on (the handler decides what a non-CORS request gets)")
	}
}

// A page on another origin can read a refusal's challenge and DPoP-Nonce
// from a grpc-go server behind vanguard's transcoder too. There the
// grpcauth interceptors send them as gRPC trailers, which the Connect
// protocol carries in a unary response as headers prefixed with
// "Trailer-" (Trailer-Www-Authenticate, Trailer-Dpop-Nonce): CORS must
// expose those names, or the browser hides them from the page, which then
// cannot retry with the nonce the server demands.
func TestCORS_VanguardRefusalExposesItsChallengeAndNonce(t *testing.T) {
	const origin, procedure = "https://app.example.com", "/authtest.v1.TestService/AllOf"
	auth, key, tok := dpopFixture(t, dpop.Config{Nonces: twoNonces{}})
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()))
	authtestv1.RegisterTestServiceServer(gs, service{})
	transcoder, err := vanguardgrpc.NewTranscoder(gs)
	if err != nil {
		t.Fatal(err)
	}
	srv := serveTLS(t, connectauth.CORS(transcoder, origin))
	proof, err := key.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: srv.URL + procedure, AccessToken: tok}) // no nonce
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+procedure, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	req.Header.Set("Origin", origin)
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", proof)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401 (USE_DPOP_NONCE)", resp.StatusCode)
	}
	exposed := map[string]bool{}
	for _, name := range strings.Split(resp.Header.Get("Access-Control-Expose-Headers"), ",") {
		exposed[http.CanonicalHeaderKey(strings.TrimSpace(name))] = true
	}
	for _, want := range []string{"WWW-Authenticate", "DPoP-Nonce"} {
		found := false
		for name := range resp.Header {
			if name != http.CanonicalHeaderKey(want) && name != http.CanonicalHeaderKey("Trailer-"+want) {
				continue
			}
			found = true
			if !exposed[name] {
				t.Errorf("the response carries %s in %s, which Access-Control-Expose-Headers (%q) does not list", want, name, resp.Header.Get("Access-Control-Expose-Headers"))
			}
		}
		if !found {
			t.Errorf("the response carries no %s: %v", want, resp.Header)
		}
	}
}

// Requests that are not calls reach neither the handler nor a decision
// through the whole stack (CORS, WrapHandler, a connect-go handler with the
// Interceptor): a preflight from an allowed origin is answered by CORS, and
// HEAD, or an OPTIONS that is no preflight, is refused by connect-go (405)
// before any interceptor runs.
func TestCORS_NonCallsNeverReachTheDecision(t *testing.T) {
	const origin, procedure = "https://app.example.com", "/authtest.v1.TestService/AllOf"
	var decisions atomic.Int32
	f := configFixture(t, grpcauth.Config{OnDecision: func(context.Context, grpcauth.Decision) { decisions.Add(1) }})
	srv := serveTLS(t, connectauth.CORS(connectMux(f), origin))
	for _, tc := range []struct {
		method    string
		preflight bool
		want      int
	}{
		{http.MethodOptions, true, http.StatusNoContent},
		{http.MethodOptions, false, http.StatusMethodNotAllowed},
		{http.MethodHead, false, http.StatusMethodNotAllowed},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+procedure, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Authorization", "Bearer not.a.jwt")
		if tc.preflight {
			req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s (preflight %v): status %d, want %d", tc.method, tc.preflight, resp.StatusCode, tc.want)
		}
	}
	if n := decisions.Load(); n != 0 {
		t.Errorf("%d decisions for requests that are not calls, want none", n)
	}
}
