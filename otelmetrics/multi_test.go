package otelmetrics_test

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// Tokens naming no configured issuer reach no issuer's Verifier, so none of
// the per-issuer instruments sees them: grpcauth.unknown_issuer_tokens counts
// them, without an attribute (their iss is the caller's choice), summed
// over the MultiVerifiers observed.
func TestMetrics_CountTokensOfUnknownIssuers(t *testing.T) {
	now := func() time.Time { return t0 }
	quiet := slog.New(slog.DiscardHandler)
	var multis []*verifier.MultiVerifier
	for _, path := range []string{"/a", "/b"} {
		iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: path, Now: now})
		m, err := verifier.NewMulti(context.Background(),
			verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}, Now: now, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		multis = append(multis, m)
	}
	reader := observing(t, now, multis[0], multis[1])

	enc := base64.RawURLEncoding.EncodeToString
	foreign := enc([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + enc([]byte(`{"iss":"https://evil.example"}`)) + ".c2ln"
	for i, n := range []int{3, 2} {
		for range n {
			if _, err := multis[i].VerifyAccessToken(context.Background(), foreign); !errors.Is(err, verifier.ErrIssuer) {
				t.Fatalf("foreign token = %v, want ErrIssuer", err)
			}
		}
	}
	md, ok := collectMetrics(t, reader)["grpcauth.unknown_issuer_tokens"]
	if !ok {
		t.Fatal("grpcauth.unknown_issuer_tokens not reported")
	}
	if md.Unit != "{token}" || md.Description == "" {
		t.Errorf("unit %q, description %q; want {token} and a description", md.Unit, md.Description)
	}
	p := points(t, collect(t, reader), "grpcauth.unknown_issuer_tokens")
	if got, ok := p[*attribute.EmptySet()]; len(p) != 1 || !ok || got != 5 {
		t.Errorf("grpcauth.unknown_issuer_tokens = %v, want 5 without attributes", p)
	}
}
