package verifier_test

import (
	"testing"

	"github.com/grpcauth/grpcauth/verifier"
)

// A stream's JWT is re-verified one RefreshInterval after it was verified,
// by the Verifier of its issuer; claims of no configured issuer at once
// (see TestMulti_RevalidateAtForAnUnconfiguredIssuerIsNow).
func TestRevalidateAt_IsOneRefreshIntervalAway(t *testing.T) {
	e := newMultiEnv(t)
	tok := mintOn(t, e.a, map[string]any{"sub": "alice"})
	c, err := e.m.VerifyAccessToken(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.m.RevalidateAt(tok, c), e.clk.Now().Add(verifier.DefaultRefreshInterval); !got.Equal(want) {
		t.Errorf("RevalidateAt = %v, want one RefreshInterval from now, %v", got, want)
	}
	other, err := verifier.NewClaims(map[string]any{"iss": "https://other.example", "sub": "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.m.RevalidateAt(tok, other), e.clk.Now(); !got.Equal(want) {
		t.Errorf("claims of another issuer: RevalidateAt = %v, want now, %v", got, want)
	}
}
