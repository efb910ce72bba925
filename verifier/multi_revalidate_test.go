package verifier_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// TestMulti_RevalidateAtIsTheAcceptingIssuersNotTheFirsts: a stream's
// token is re-verified on the schedule of the issuer whose Verifier
// accepted it, by its own RefreshInterval, whichever issuer comes first
// in the Config list. Each issuer here has its own interval, so a
// MultiVerifier that asked any issuer other than the token's (the first
// one, say) answers with the wrong time.
func TestMulti_RevalidateAtIsTheAcceptingIssuersNotTheFirsts(t *testing.T) {
	clk := newClock()
	refresh := func(d time.Duration) func(*verifier.Config) {
		return func(c *verifier.Config) { c.RefreshInterval, c.MinRefreshInterval = d, time.Second }
	}
	a, b, m := newTwoIssuerMulti(t, clk, refresh(2*time.Hour), refresh(7*time.Minute))
	intervals := map[*grpcauthtest.Issuer]time.Duration{a: 2 * time.Hour, b: 7 * time.Minute}
	ctx := t.Context()
	for name, iss := range map[string]*grpcauthtest.Issuer{"first issuer": a, "second issuer": b} {
		tok := mintOn(t, iss, map[string]any{"sub": "alice"})
		c, err := m.VerifyAccessToken(ctx, tok)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, want := m.RevalidateAt(tok, c), clk.Now().Add(intervals[iss]); !got.Equal(want) {
			t.Errorf("%s: RevalidateAt = %v, want its own RefreshInterval from now, %v", name, got, want)
		}
		if got, want := m.RevalidateAt(tok, c), m.Verifier(iss.URL()).RevalidateAt(tok, c); !got.Equal(want) {
			t.Errorf("%s: RevalidateAt = %v, want its Verifier's %v", name, got, want)
		}
	}
}

// TestMulti_RevalidateAtForAnUnconfiguredIssuerIsNow: claims no issuer of
// the MultiVerifier issued (accepted by another issuer's Verifier, as a
// wrapper of the user's might hand them on, or with no iss at all) are
// not the MultiVerifier's to vouch for: it asks for re-verification at
// once, by its clock, rather than never (the zero time), and that
// re-verification refuses the token, so a stream opened with it is ended
// instead of running unchecked.
func TestMulti_RevalidateAtForAnUnconfiguredIssuerIsNow(t *testing.T) {
	clk := newClock()
	none := func(*verifier.Config) {}
	_, _, m := newTwoIssuerMulti(t, clk, none, none)
	c := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/tenant-c", Audience: "api", Now: clk.Now})
	other, err := verifier.New(context.Background(), verifier.Config{Issuer: c.URL(), Audiences: []string{"api"}, Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	tok := mintOn(t, c, map[string]any{"sub": "alice"})
	claims, err := other.VerifyAccessToken(t.Context(), tok)
	if err != nil {
		t.Fatalf("issuer C's own Verifier: %v", err)
	}
	if got, want := m.RevalidateAt(tok, claims), clk.Now(); !got.Equal(want) {
		t.Errorf("RevalidateAt for issuer C's claims = %v, want now (%v): verify again at once", got, want)
	}
	if _, err := m.VerifyAccessToken(t.Context(), tok); !errors.Is(err, verifier.ErrIssuer) {
		t.Errorf("re-verifying issuer C's token = %v, want ErrIssuer", err)
	}
	noIss, err := verifier.NewClaims(map[string]any{"sub": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.RevalidateAt("opaque", noIss), clk.Now(); !got.Equal(want) {
		t.Errorf("RevalidateAt for claims without iss = %v, want now (%v)", got, want)
	}
}

// newTwoIssuerMulti returns two issuers, A and B (Okta-shaped, audience
// "api"), and a ready MultiVerifier for them in that order, each Config
// changed by its function.
func newTwoIssuerMulti(t *testing.T, clk *clock, cfgA, cfgB func(*verifier.Config)) (a, b *grpcauthtest.Issuer, m *verifier.MultiVerifier) {
	t.Helper()
	a = grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/tenant-a", Audience: "api", Now: clk.Now})
	b = grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/tenant-b", Audience: "api", Now: clk.Now})
	quiet := slog.New(slog.DiscardHandler)
	cfg := func(iss *grpcauthtest.Issuer, change func(*verifier.Config)) verifier.Config {
		c := verifier.Config{Issuer: iss.URL(), Audiences: []string{"api"}, Now: clk.Now, Logger: quiet}
		change(&c)
		return c
	}
	m, err := verifier.NewMulti(context.Background(), cfg(a, cfgA), cfg(b, cfgB))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return a, b, m
}
