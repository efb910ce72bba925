package connectauth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/connectauth"
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
