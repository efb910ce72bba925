package introspect_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/grpcauth/grpcauth/introspect"
)

// TestVerify_ANilContextIsBackground: a nil ctx is taken for
// context.Background(), as the JWT verifier answers one on every path
// that does not wait: a token the caches do not know is introspected and
// its answer returned, then answered from the cache (before, the cache miss
// panicked on ctx.Err(), ending a server's process), with and without
// caching.
func TestVerify_ANilContextIsBackground(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		var requests atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			requests.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"active":true,"aud":"api://x","exp":4102444800,"sub":"alice"}`)
		}))
		defer srv.Close()
		v := newVerifier(t, introspect.Config{
			Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
			Audiences: []string{"api://x"}, Logger: slog.New(slog.DiscardHandler),
			Cache: introspect.CacheConfig{Disabled: disabled},
		})
		var nilCtx context.Context // as a caller that forgot one passes it
		for i := range 2 {
			c, err := v.VerifyAccessToken(nilCtx, "dG9rZW4")
			if err != nil || c.Subject() != "alice" {
				t.Fatalf("cache disabled %v, call %d with a nil ctx: %v, %v; want alice's claims", disabled, i+1, c, err)
			}
		}
		want := int64(1)
		if disabled {
			want = 2
		}
		if n := requests.Load(); n != want {
			t.Fatalf("cache disabled %v: %d requests, want %d", disabled, n, want)
		}
	}
}
