package verifier_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/safelog/safelogtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// A Logger whose handler panics as the key set logs a failed refresh,
// on the key set's own goroutine, where no caller's recovery runs, loses
// that record alone: the process goes on, the Verifier answers
// (ErrKeysUnavailable while the issuer fails), and once the issuer
// answers again the key set's retry loads the keys and tokens verify.
// Before, the panic ended the process.
func TestVerifier_LoggerPanickingOnTheKeySetsGoroutineLosesItsRecordAlone(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	resp, err := http.Get(iss.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	failing.Store(true)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(keys)
	}))
	t.Cleanup(jwks.Close)
	panicked := make(chan string, 8)
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer: iss.URL(), Audiences: []string{iss.Audience()}, JWKSURL: jwks.URL,
		Logger: slog.New(safelogtest.Handler{Next: slog.NewTextHandler(io.Discard, nil), On: "refresh failed", Panicked: panicked}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case <-panicked: // the first fetch failed, and its record's handler panicked
	case <-ctx.Done():
		t.Fatal("the key set logged no failed refresh")
	}

	tok, err := iss.Token("svc", "items:read")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyAccessToken(ctx, tok); !errors.Is(err, verifier.ErrKeysUnavailable) {
		t.Fatalf("VerifyAccessToken while the issuer fails = %v, want ErrKeysUnavailable", err)
	}
	failing.Store(false)
	if err := v.Ready(ctx); err != nil {
		t.Fatalf("Ready once the issuer answers again: %v", err)
	}
	if _, err := v.VerifyAccessToken(ctx, tok); err != nil {
		t.Fatalf("VerifyAccessToken once the keys loaded: %v", err)
	}
}
