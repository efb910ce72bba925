package introspect_test

import (
	"context"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// fixedJWT is a JWT verifier that reports no clock skew method.
type fixedJWT struct{}

func (fixedJWT) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return verifier.Claims{}, verifier.ErrMalformed
}

func TestClockSkew_IsTheConfiguredTolerance(t *testing.T) {
	opaque := func(skew time.Duration) *introspect.Verifier {
		v, err := introspect.New(introspect.Config{Endpoint: "https://idp.example/introspect", Issuer: "https://idp.example",
			ClientID: "api", ClientSecret: "secret", Audiences: []string{"api"}, ClockSkew: skew})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		return v
	}
	for skew, want := range map[time.Duration]time.Duration{0: verifier.DefaultClockSkew, -1: 0, 5 * time.Second: 5 * time.Second} {
		if got := opaque(skew).ClockSkew(); got != want {
			t.Errorf("Config.ClockSkew %v: ClockSkew() = %v, want %v", skew, got, want)
		}
	}

	jwt, err := verifier.New(context.Background(), verifier.Config{Issuer: "https://idp.example", Audiences: []string{"api"}, ClockSkew: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer jwt.Close()
	for _, tt := range []struct {
		name string
		jwt  introspect.JWTVerifier
		want time.Duration
	}{
		{"JWT verifier's skew is larger", jwt, 3 * time.Minute},
		{"JWT verifier reports none: its default", fixedJWT{}, verifier.DefaultClockSkew},
	} {
		c, err := introspect.Combine(tt.jwt, opaque(-1))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ClockSkew(); got != tt.want {
			t.Errorf("%s: Combined.ClockSkew() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCombinedClockSkewFor_IsTheAcceptingVerifiersSkew: a Combined reports,
// for a token's claims, the skew of the verifier that accepted them: the
// introspection Verifier's for claims it built (see
// TestCombined_JWTWithAnActiveClaimIsTheJWTVerifiers), the JWT verifier's
// otherwise (its own ClockSkewFor when it has one), even for claims with
// "active".
func TestCombinedClockSkewFor_IsTheAcceptingVerifiersSkew(t *testing.T) {
	opaque, err := introspect.New(introspect.Config{Endpoint: "https://idp.example/introspect", Issuer: "https://idp.example",
		ClientID: "api", ClientSecret: "secret", Audiences: []string{"api"}, ClockSkew: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer opaque.Close()
	multi, err := verifier.NewMulti(context.Background(),
		verifier.Config{Issuer: "https://a.example", Audiences: []string{"api"}, ClockSkew: 3 * time.Minute},
		verifier.Config{Issuer: "https://b.example", Audiences: []string{"api"}, ClockSkew: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer multi.Close()
	claims := func(m map[string]any) verifier.Claims {
		c, err := verifier.NewClaims(m)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tt := range []struct {
		name   string
		jwt    introspect.JWTVerifier
		claims verifier.Claims
		want   time.Duration
	}{
		{"not built by introspection, with \"active\"", multi, claims(map[string]any{"active": true, "iss": "https://b.example"}), time.Second},
		{"JWT of the issuer with the smaller skew", multi, claims(map[string]any{"iss": "https://b.example"}), time.Second},
		{"JWT of the issuer with the larger skew", multi, claims(map[string]any{"iss": "https://a.example"}), 3 * time.Minute},
		{"JWT verifier reports none: its default", fixedJWT{}, claims(map[string]any{"iss": "https://a.example"}), verifier.DefaultClockSkew},
	} {
		c, err := introspect.Combine(tt.jwt, opaque)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ClockSkewFor(tt.claims); got != tt.want {
			t.Errorf("%s: ClockSkewFor = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCombined_JWTWithAnActiveClaimIsTheJWTVerifiers: a JWT whose issuer
// adds an "active" claim (any issuer may) is still a JWT for a Combined:
// the JWT verifier's clock skew and re-verification schedule, not the
// introspection Verifier's. Claims record which verifier built them; no
// claim decides. Before, "active" alone made them introspection's.
func TestCombined_JWTWithAnActiveClaimIsTheJWTVerifiers(t *testing.T) {
	ctx := context.Background()
	e := newCombinedEnvWith(t, func(c *verifier.Config) { c.ClockSkew = 3 * time.Minute },
		func(c *introspect.Config) { c.ClockSkew = -1 }, nil)
	c, jwt, opaque := e.c, e.jwt, e.opaque
	jwtTok, err := e.custom.Mint(map[string]any{"active": true})
	if err != nil {
		t.Fatal(err)
	}
	opaqueTok, err := e.org.MintOpaque("svc")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		token string
		skew  time.Duration
		isJWT bool
	}{
		{"JWT with \"active\": true", jwtTok, 3 * time.Minute, true},
		{"opaque token", opaqueTok, 0, false},
	} {
		claims, err := c.VerifyAccessToken(ctx, tc.token)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := c.ClockSkewFor(claims); got != tc.skew {
			t.Errorf("%s: ClockSkewFor = %v, want %v", tc.name, got, tc.skew)
		}
		want := opaque.RevalidateAt(tc.token, claims)
		if tc.isJWT {
			want = jwt.RevalidateAt(tc.token, claims)
		}
		if got := c.RevalidateAt(tc.token, claims); !got.Equal(want) {
			t.Errorf("%s: RevalidateAt = %v, want %v", tc.name, got, want)
		}
	}
}

// Telling who built a JWT's claims reads no claim: ClockSkewFor and
// RevalidateAt allocate nothing for claims never asked about before.
// Before, looking for "active" built each claims' member index.
func TestCombined_ProvenanceCostsNoAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation measurement; run without -race")
	}
	e := newCombinedEnv(t, nil)
	const runs = 20
	fresh := make([]verifier.Claims, runs+1)
	for i := range fresh {
		c, err := verifier.NewClaims(map[string]any{"iss": e.custom.URL(), "uid": "u", "groups": []string{"a", "b"}})
		if err != nil {
			t.Fatal(err)
		}
		fresh[i] = c
	}
	i := 0
	if n := testing.AllocsPerRun(runs, func() {
		e.c.ClockSkewFor(fresh[i])
		e.c.RevalidateAt("t", fresh[i])
		i++
	}); n != 0 {
		t.Fatalf("%v allocations per call, want 0", n)
	}
}
