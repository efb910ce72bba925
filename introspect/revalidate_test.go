package introspect_test

import (
	"context"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/introspect"
)

// Streams opened with either kind's tokens are re-verified.
var (
	_ grpcauth.Revalidator = (*introspect.Verifier)(nil)
	_ grpcauth.Revalidator = (*introspect.Combined)(nil)
)

func TestRevalidateAt_IsWhenTheCachedAnswerEnds(t *testing.T) {
	e := newEnv(t, func(c *introspect.Config) { c.ClockSkew = 10 * time.Second })
	start := e.clk.Now()
	long := e.opaque(t, map[string]any{"exp": e.issClk.Now().Add(time.Hour)})
	short := e.opaque(t, map[string]any{"exp": e.issClk.Now().Add(10 * time.Second)})
	tests := []struct {
		name  string
		token string
		want  time.Time
	}{
		{"TTL first", long, start.Add(introspect.DefaultCacheTTL)},
		{"exp plus skew first", short, start.Add(20 * time.Second)},
		{"no answer cached: soon", "dW5rbm93bg", start.Add(introspect.DefaultNegativeCacheTTL)},
	}
	for _, tc := range tests {
		c, _ := e.verify(t, tc.token)
		if got := e.v.RevalidateAt(tc.token, c); !got.Equal(tc.want) {
			t.Errorf("%s: RevalidateAt = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRevalidateAt_CacheOffIsOneTTLAway(t *testing.T) {
	e := newEnv(t, func(c *introspect.Config) { c.Cache.Disabled = true })
	tok := e.opaque(t, nil)
	c, err := e.verify(t, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.v.RevalidateAt(tok, c), e.clk.Now().Add(introspect.DefaultCacheTTL); !got.Equal(want) {
		t.Fatalf("RevalidateAt = %v, want %v", got, want)
	}
}

// A Combined asks the verifier that accepted the token: the JWT
// verifier's time for a JWT (its key may leave the key set), the
// introspection Verifier's for an opaque token.
func TestCombinedRevalidateAt_AsksTheVerifierThatAcceptedTheToken(t *testing.T) {
	e := newCombinedEnv(t, nil)
	ctx := context.Background()
	jwtTok, err := e.custom.Token("svc", "items:read")
	if err != nil {
		t.Fatal(err)
	}
	opaqueTok, err := e.org.MintOpaque("svc")
	if err != nil {
		t.Fatal(err)
	}
	jc, err := e.c.VerifyAccessToken(ctx, jwtTok)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := e.c.VerifyAccessToken(ctx, opaqueTok)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.c.RevalidateAt(jwtTok, jc), e.jwt.RevalidateAt(jwtTok, jc); got.IsZero() || !got.Equal(want) {
		t.Errorf("a JWT: RevalidateAt = %v, want the JWT verifier's %v", got, want)
	}
	if got, want := e.c.RevalidateAt(opaqueTok, oc), e.opaque.RevalidateAt(opaqueTok, oc); got.IsZero() || !got.Equal(want) {
		t.Errorf("an opaque token: RevalidateAt = %v, want the introspection Verifier's %v", got, want)
	}
	if jwt, opaque := e.c.Parts(); jwt != e.jwt || opaque != e.opaque {
		t.Error("Parts does not return the verifiers given to Combine")
	}
}
