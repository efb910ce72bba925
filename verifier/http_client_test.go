package verifier_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// A key endpoint that answers with a valid key set under a megabyte of
// response headers is a failed fetch for the verifier's own client, which
// reads at most 64 KiB of headers (net/http's default is 10 MiB): the token
// is refused with ErrKeysUnavailable rather than verified.
func TestVerifier_DefaultClientRefusesOversizedResponseHeaders(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Algorithm: "ES256"})
	cs := newChaosServer(t, iss)
	cs.Fail(func(_ *chaosServer, w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("X-Pad", strings.Repeat("a", 1<<20))
		return false // then the healthy answer
	})
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer:    iss.URL(),
		Audiences: []string{iss.Audience()},
		JWKSURL:   cs.URL() + keysPath,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	tok, err := iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := v.VerifyAccessToken(ctx, tok); !errors.Is(err, verifier.ErrKeysUnavailable) {
		t.Fatalf("VerifyAccessToken = %v, want ErrKeysUnavailable", err)
	}
}
