package introspect_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/alloctest"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// The interceptor takes either kind as its Config.Verifier.
var (
	_ grpcauth.TokenVerifier = (*introspect.Verifier)(nil)
	_ grpcauth.TokenVerifier = (*introspect.Combined)(nil)
)

// combinedEnv is a JWT issuer ("custom" authorization server) verified
// locally, an "org" issuer whose tokens are introspected, and a Combined.
type combinedEnv struct {
	custom, org *grpcauthtest.Issuer
	jwt         *verifier.Verifier
	opaque      *introspect.Verifier
	c           *introspect.Combined
}

func newCombinedEnv(t *testing.T, opts func(org *grpcauthtest.Issuer) []introspect.CombineOption) *combinedEnv {
	t.Helper()
	return newCombinedEnvWith(t, nil, nil, opts)
}

// newCombinedEnvWith is newCombinedEnv with the verifiers' Configs changed
// by jwtCfg and opaqueCfg (either may be nil).
func newCombinedEnvWith(t *testing.T, jwtCfg func(*verifier.Config), opaqueCfg func(*introspect.Config),
	opts func(org *grpcauthtest.Issuer) []introspect.CombineOption) *combinedEnv {
	t.Helper()
	clk := newClock()
	e := &combinedEnv{}
	e.custom = grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/oauth2/default", Now: clk.Now})
	e.org = grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/", Audience: "https://org.example", Now: clk.Now,
		Clients: []grpcauthtest.Client{rsClient}})
	quiet := slog.New(slog.DiscardHandler)
	jc := verifier.Config{Issuer: e.custom.URL(), Audiences: []string{e.custom.Audience()}, Now: clk.Now, Logger: quiet}
	if jwtCfg != nil {
		jwtCfg(&jc)
	}
	var err error
	if e.jwt, err = verifier.New(context.Background(), jc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.jwt.Close() })
	oc := introspect.Config{Endpoint: e.org.IntrospectionURL(), Issuer: e.org.URL(),
		ClientID: rsClient.ID, ClientSecret: rsClient.Secret, Audiences: []string{e.org.Audience()}, Now: clk.Now, Logger: quiet}
	if opaqueCfg != nil {
		opaqueCfg(&oc)
	}
	e.opaque = newVerifier(t, oc)
	var o []introspect.CombineOption
	if opts != nil {
		o = opts(e.org)
	}
	if e.c, err = introspect.Combine(e.jwt, e.opaque, o...); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCombined_RoutesJWTsLocallyAndOtherTokensToIntrospection(t *testing.T) {
	e := newCombinedEnv(t, nil)
	atk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	mint := func(iss *grpcauthtest.Issuer, claims map[string]any, opts ...grpcauthtest.MintOption) string {
		tok, err := iss.Mint(claims, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	enc := base64.RawURLEncoding.EncodeToString
	opaque, err := e.org.MintOpaque("svc", "items:read")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		token      string
		want       error // nil: verifies
		introspect int64 // introspection requests it costs
	}{
		{name: "JWT of the local issuer", token: mint(e.custom, nil)},
		{name: "opaque token", token: opaque, introspect: 1},
		{name: "forged JWT: another key under the issuer's kid", token: mint(e.custom, nil, grpcauthtest.WithSigningKey(atk, "RS256")),
			want: verifier.ErrBadSignature},
		{name: "forged JWT: unknown kid", token: mint(e.custom, nil, grpcauthtest.WithKidHeader("nope")), want: verifier.ErrUnknownKey},
		{name: "expired JWT", token: mint(e.custom, map[string]any{"exp": time.Unix(0, 0)}), want: verifier.ErrExpired},
		{name: "unsigned JWT", token: mint(e.custom, nil, grpcauthtest.Unsigned()), want: verifier.ErrAlgorithm},
		{name: "JWT of the org issuer, not opted in", token: mint(e.org, nil), want: verifier.ErrIssuer},
		{name: "JWT-shaped garbage payload", token: enc([]byte(`{"alg":"RS256"}`)) + ".bm9wZQ.c2ln", want: verifier.ErrMalformed},
		{name: "three parts, header not JSON", token: "YWJj.ZGVm.Z2hp", want: introspect.ErrInactive, introspect: 1},
		{name: "header object without alg: refused locally", token: enc([]byte(`{"typ":"JWT"}`)) + ".e30.c2ln", want: verifier.ErrMalformed},
		{name: "header object, alg not a string: refused locally", token: enc([]byte(`{"alg":1}`)) + ".e30.c2ln", want: verifier.ErrMalformed},
		{name: "header member named like kid in another case: refused locally", token: enc([]byte(`{"alg":"RS256","Kid":"k1"}`)) + ".e30.c2ln", want: verifier.ErrMalformed},
		{name: "header nested too deep: refused locally", token: enc([]byte(`{"alg":"RS256","x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`)) + ".e30.c2ln", want: verifier.ErrMalformed},
		{name: "header object, not valid UTF-8", token: enc([]byte("{\"alg\":\"RS256\",\"x\":\"\xff\"}")) + ".e30.c2ln", want: introspect.ErrInactive, introspect: 1},
		{name: "three parts, header a JSON array", token: enc([]byte(`["alg"]`)) + ".e30.c2ln", want: introspect.ErrInactive, introspect: 1},
		{name: "two parts", token: "YWJj.ZGVm", want: introspect.ErrInactive, introspect: 1},
		{name: "not a JWT, larger than introspection takes", token: strings.Repeat("a", verifier.DefaultMaxTokenSize+1), want: verifier.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.org.IntrospectionRequests()
			c, err := e.c.VerifyAccessToken(context.Background(), tc.token)
			if tc.want == nil && err != nil || tc.want != nil && (!errors.Is(err, tc.want) || !c.IsZero()) {
				t.Fatalf("got %v, %v; want %v", c, err, tc.want)
			}
			if got := e.org.IntrospectionRequests() - before; got != tc.introspect {
				t.Fatalf("%d introspection requests, want %d", got, tc.introspect)
			}
		})
	}
}

func TestCombined_IntrospectJWTsFromSendsThatIssuersJWTsToIntrospection(t *testing.T) {
	e := newCombinedEnv(t, func(org *grpcauthtest.Issuer) []introspect.CombineOption {
		return []introspect.CombineOption{introspect.IntrospectJWTsFrom(org.URL())}
	})
	orgJWT, err := e.org.Token("svc", "items:read")
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.c.VerifyAccessToken(context.Background(), orgJWT)
	if err != nil || c.Issuer() != e.org.URL() || !c.HasScope("items:read") {
		t.Fatalf("org JWT: %v, %v", c, err)
	}
	if got := e.org.IntrospectionRequests(); got != 1 {
		t.Fatalf("%d introspection requests, want 1", got)
	}
	// A forgery naming the org issuer is introspected, and refused there.
	forged, err := e.custom.Mint(map[string]any{"iss": e.org.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.VerifyAccessToken(context.Background(), forged); !errors.Is(err, introspect.ErrInactive) {
		t.Fatalf("forged org JWT: %v, want ErrInactive", err)
	}
	// The local issuer's JWTs stay local.
	local, err := e.custom.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.VerifyAccessToken(context.Background(), local); err != nil {
		t.Fatal(err)
	}
	if got := e.org.IntrospectionRequests(); got != 2 {
		t.Fatalf("%d introspection requests, want 2", got)
	}
}

func TestCombine_NeedsBothVerifiers(t *testing.T) {
	e := newCombinedEnv(t, nil)
	if _, err := introspect.Combine(nil, e.opaque); err == nil {
		t.Fatal("Combine without a JWT verifier")
	}
	if _, err := introspect.Combine(e.jwt, nil); err == nil {
		t.Fatal("Combine without an introspection verifier")
	}
	// A variable never assigned: not == nil as a JWTVerifier, and it
	// panicked on the first JWT.
	var unset *verifier.Verifier
	if _, err := introspect.Combine(unset, e.opaque); err == nil {
		t.Fatal("Combine with a nil *verifier.Verifier")
	}
	// A Verifier New did not build refuses every token: a Combined of one
	// would refuse every opaque token, when Combine can say so at once.
	if c, err := introspect.Combine(e.jwt, &introspect.Verifier{}); err == nil || !strings.Contains(err.Error(), "not built with New") {
		t.Fatalf("Combine with a zero introspect.Verifier: %v, %v; want an error saying it was not built with New", c, err)
	}
	// So does a JWT verifier its constructor did not build: a Combined of
	// one would refuse every JWT (as unavailable, for good).
	for _, jwt := range []introspect.JWTVerifier{&verifier.Verifier{}, &verifier.MultiVerifier{}} {
		if c, err := introspect.Combine(jwt, e.opaque); err == nil || !strings.HasPrefix(err.Error(), "introspect: Combine: the JWT verifier was not built with verifier.New") {
			t.Fatalf("Combine with a zero %T: %v, %v; want an error saying it was not built with its constructor", jwt, c, err)
		}
	}
	// And a zero Combined in the JWT verifier's place (internal/built's
	// check, which introspect sets for its own types).
	if c, err := introspect.Combine(&introspect.Combined{}, e.opaque); err == nil || !strings.HasPrefix(err.Error(), "introspect: Combine: the JWT verifier was not built with introspect.Combine") {
		t.Fatalf("Combine with a zero Combined as its JWT verifier: %v, %v; want an error saying it was not built with Combine", c, err)
	}
}

// TestCombine_NilOptionIsAnError: a nil CombineOption (an option variable
// left unset) makes Combine fail with an error naming it, instead of
// panicking, and of being ignored where it may stand for an
// IntrospectJWTsFrom that was meant to apply.
func TestCombine_NilOptionIsAnError(t *testing.T) {
	e := newCombinedEnv(t, nil)
	var unset introspect.CombineOption
	for _, opts := range [][]introspect.CombineOption{{nil}, {introspect.IntrospectJWTsFrom(e.org.URL()), unset}} {
		c, err := introspect.Combine(e.jwt, e.opaque, opts...)
		if err == nil {
			t.Fatalf("Combine with a nil option returned %v and no error", c)
		}
		if want := fmt.Sprintf("option %d is nil", len(opts)-1); !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// IntrospectJWTsFrom("") (an unset environment variable, say) would send
// every JWT without a string iss, and every JWT whose payload does not
// parse, to introspection instead of refusing it locally.
func TestCombine_RefusesAnEmptyIssuerToIntrospect(t *testing.T) {
	e := newCombinedEnv(t, nil)
	c, err := introspect.Combine(e.jwt, e.opaque, introspect.IntrospectJWTsFrom(e.org.URL(), ""))
	if err == nil {
		noIss, err := e.custom.Mint(map[string]any{"iss": nil})
		if err != nil {
			t.Fatal(err)
		}
		_, verr := c.VerifyAccessToken(context.Background(), noIss)
		t.Fatalf("Combine accepted an empty issuer; a JWT without iss then got %v after %d introspection requests", verr, e.org.IntrospectionRequests())
	}
	if !strings.Contains(err.Error(), "IntrospectJWTsFrom") {
		t.Errorf("error %q does not name IntrospectJWTsFrom", err)
	}
}

// Routing a token costs at most a fixed amount on top of the JWT
// verifier's own bound (2 bytes per token byte plus 4 KiB): the header is
// checked without allocating, and with IntrospectJWTsFrom only a payload
// of at most 16 KiB is decoded for its iss. Before, a 60 KB header cost
// 2.5 bytes per byte and a wrong-issuer payload with IntrospectJWTsFrom 3.2.
func TestCombined_RejectionCostIsBounded(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation measurement; run without -race (see the README's test command)")
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, opted := range []bool{false, true} {
		e := newCombinedEnv(t, func(org *grpcauthtest.Issuer) []introspect.CombineOption {
			if opted {
				return []introspect.CombineOption{introspect.IntrospectJWTsFrom(org.URL())}
			}
			return nil
		})
		h := enc(`{"alg":"RS256","kid":"k"}`)
		iss := `{"iss":"` + e.custom.URL() + `",`
		for _, tc := range []struct {
			name  string
			token string
		}{
			{"long kid", enc(`{"alg":"RS256","kid":"`+strings.Repeat("k", 45000)+`"}`) + "." + enc(`{"iss":"x"}`) + ".c2ln"},
			{"white space before the header", enc(strings.Repeat(" ", 45000)+`{"alg":"RS256"}`) + "." + enc(`{"iss":"x"}`) + ".c2ln"},
			{"many commas in an aud string", h + "." + enc(iss+`"aud":"`+strings.Repeat(",", 47000)+`"}`) + ".c2ln"},
			{"many commas, 12 KiB", h + "." + enc(iss+`"aud":"`+strings.Repeat(",", 12000)+`"}`) + ".c2ln"},
			{"long iss", h + "." + enc(`{"iss":"`+strings.Repeat("x", 47000)+`"}`) + ".c2ln"},
			{"many members", h + "." + enc(`{"iss":"x"`+strings.Repeat(`,"":0`, 9000)+`}`) + ".c2ln"},
			// The decoder's error for a missing ':' names the member: found
			// in review, 14.7 bytes per byte of it.
			{"long member name without a colon", h + "." + enc(`{"iss":"x","`+strings.Repeat("/", 12000)+`" x}`) + ".c2ln"},
		} {
			t.Run(fmt.Sprintf("%s, IntrospectJWTsFrom %v", tc.name, opted), func(t *testing.T) {
				before := e.org.IntrospectionRequests()
				var err error
				n := alloctest.Bytes(5, func() { _, err = e.c.VerifyAccessToken(context.Background(), tc.token) })
				if err == nil || e.org.IntrospectionRequests() != before {
					t.Fatalf("got %v after %d introspection requests, want a local refusal", err, e.org.IntrospectionRequests()-before)
				}
				limit := 2*uint64(len(tc.token)) + 4<<10
				if opted {
					limit += 2 * 16 << 10 // iss read from at most 16 KiB
				}
				t.Logf("%d B token: %d B allocated (%.2f per byte)", len(tc.token), n, float64(n)/float64(len(tc.token)))
				if n > limit {
					t.Fatalf("rejecting a %d-byte token allocated %d bytes, over %d", len(tc.token), n, limit)
				}
			})
		}
	}
}

// A token refused for its form behind a Combined is counted: one that is
// not a JWT and longer than the introspection Verifier accepts, and one
// that is not a JWT and not a b64token, which that Verifier refuses, in the
// introspection Verifier's Stats.Malformed (no request is sent for either);
// a JWT-shaped one in the JWT verifier's.
func TestCombined_MalformedTokensAreCounted(t *testing.T) {
	e := newCombinedEnv(t, nil)
	ctx := context.Background()
	for _, tok := range []string{strings.Repeat("x", verifier.DefaultMaxTokenSize+1), "not a token", "e30.e30.e30"} {
		if _, err := e.c.VerifyAccessToken(ctx, tok); !errors.Is(err, verifier.ErrMalformed) {
			t.Fatalf("VerifyAccessToken(%.20q) = %v, want ErrMalformed", tok, err)
		}
	}
	if st := e.opaque.Stats(); st.Malformed != 2 || st.Requests != 0 {
		t.Fatalf("introspection Stats = %+v, want 2 malformed, no request", st)
	}
	if st := e.jwt.Stats(); st.Malformed != 1 {
		t.Fatalf("JWT verifier Stats.Malformed = %d, want 1", st.Malformed)
	}
}

// TestCombined_TokenSizeLimitIsTheVerifiers: Combined has no size limit
// of its own. A JWT the JWT verifier's MaxTokenSize admits is verified,
// and an opaque token the introspection Verifier's admits is introspected,
// however long; a token longer than the verifier it goes to admits is
// refused by that verifier, without a request, at a fixed cost. Before,
// Combined refused anything over 64 KiB whatever the Configs said.
func TestCombined_TokenSizeLimitIsTheVerifiers(t *testing.T) {
	const limit = 256 << 10
	e := newCombinedEnvWith(t, func(c *verifier.Config) { c.MaxTokenSize = limit },
		func(c *introspect.Config) { c.MaxTokenSize = limit }, nil)
	ctx := context.Background()
	big, err := e.custom.Mint(map[string]any{"groups": strings.Repeat("g", 100<<10)})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := e.c.VerifyAccessToken(ctx, big); err != nil || c.Subject() == "" {
		t.Fatalf("a %d-byte JWT within the JWT verifier's MaxTokenSize: %v, %v", len(big), c, err)
	}
	// The test server refuses a request body over 64 KiB (413, so
	// ErrUnavailable): what counts is that the token was sent.
	opaque := strings.Repeat("o", 100<<10)
	if _, err := e.c.VerifyAccessToken(ctx, opaque); errors.Is(err, verifier.ErrMalformed) || e.org.IntrospectionRequests() != 1 {
		t.Fatalf("a %d-byte opaque token within the introspection Verifier's MaxTokenSize: %v after %d requests, want it introspected",
			len(opaque), err, e.org.IntrospectionRequests())
	}
	for _, tok := range []string{big + strings.Repeat("A", limit), opaque + strings.Repeat("o", limit)} {
		if _, err := e.c.VerifyAccessToken(ctx, tok); !errors.Is(err, verifier.ErrMalformed) {
			t.Errorf("a %d-byte token: %v, want ErrMalformed", len(tok), err)
		}
	}
	if e.org.IntrospectionRequests() != 1 {
		t.Errorf("%d introspection requests, want 1", e.org.IntrospectionRequests())
	}
}

// TestCombined_OversizedTokenRejectionCostIsFixed: a JWT longer than the
// JWT verifier's MaxTokenSize is refused at a fixed cost, however long:
// routing it allocates nothing. (This ran nowhere while it sat in
// TestCombined_TokenSizeLimitIsTheVerifiers, which the README's run
// without -race does not select.)
func TestCombined_OversizedTokenRejectionCostIsFixed(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation measurement; run without -race (see the README's test command)")
	}
	e := newCombinedEnvWith(t, func(c *verifier.Config) { c.MaxTokenSize = 256 << 10 }, nil, nil)
	tok, err := e.custom.Mint(nil)
	if err != nil {
		t.Fatal(err)
	}
	huge := tok + strings.Repeat("A", 4<<20)
	if n := alloctest.Bytes(5, func() { _, err = e.c.VerifyAccessToken(context.Background(), huge) }); n > 2<<10 || !errors.Is(err, verifier.ErrMalformed) {
		t.Errorf("refusing a %d-byte JWT allocated %d bytes (%v), want at most 2 KiB", len(huge), n, err)
	}
	if e.org.IntrospectionRequests() != 0 {
		t.Errorf("%d introspection requests, want 0", e.org.IntrospectionRequests())
	}
}

// TestCombined_IntrospectedJWTsStreamTimesAreIntrospections: a JWT that
// IntrospectJWTsFrom sent to introspection is, on a stream, the
// introspection Verifier's: re-verified when its cached answer ends and
// cut at its exp plus that Verifier's clock skew, not on the JWT
// verifier's key-set schedule and skew, although it is JWT-shaped. A
// Combined that told the two apart by the token's shape, rather than by
// which verifier accepted it, would re-verify such a token only once a
// RefreshInterval (an hour by default), long after its revocation
// refuses its unary calls.
func TestCombined_IntrospectedJWTsStreamTimesAreIntrospections(t *testing.T) {
	e := newCombinedEnvWith(t, func(c *verifier.Config) { c.ClockSkew = 3 * time.Minute },
		func(c *introspect.Config) { c.ClockSkew = -1 },
		func(org *grpcauthtest.Issuer) []introspect.CombineOption {
			return []introspect.CombineOption{introspect.IntrospectJWTsFrom(org.URL())}
		})
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		iss   *grpcauthtest.Issuer
		local bool
	}{{"JWT of an IntrospectJWTsFrom issuer", e.org, false}, {"JWT of the local issuer", e.custom, true}} {
		tok, err := tc.iss.Token("svc", "items:read")
		if err != nil {
			t.Fatal(err)
		}
		before := e.org.IntrospectionRequests()
		c, err := e.c.VerifyAccessToken(ctx, tok)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := e.org.IntrospectionRequests() - before; got != map[bool]int64{true: 0, false: 1}[tc.local] {
			t.Fatalf("%s: %d introspection requests", tc.name, got)
		}
		wantAt, wantSkew := e.opaque.RevalidateAt(tok, c), e.opaque.ClockSkew()
		if other := e.jwt.RevalidateAt(tok, c); other.Equal(wantAt) {
			t.Fatalf("%s: both verifiers re-verify at %v: the test tells nothing apart", tc.name, other)
		}
		if tc.local {
			wantAt, wantSkew = e.jwt.RevalidateAt(tok, c), e.jwt.ClockSkew()
		}
		if got := e.c.RevalidateAt(tok, c); got.IsZero() || !got.Equal(wantAt) {
			t.Errorf("%s: RevalidateAt = %v, want the accepting verifier's %v", tc.name, got, wantAt)
		}
		if got := e.c.ClockSkewFor(c); got != wantSkew {
			t.Errorf("%s: ClockSkewFor = %v, want the accepting verifier's %v", tc.name, got, wantSkew)
		}
	}
	if o, j := e.opaque.ClockSkew(), e.jwt.ClockSkew(); o == j {
		t.Fatalf("both verifiers' skew is %v: the test tells nothing apart", o)
	}
}

// TestCombined_IntrospectJWTsFromWinsOverTheJWTVerifier: an issuer named
// by IntrospectJWTsFrom that the JWT verifier also verifies has its JWTs
// introspected, a valid one included, and never checked locally (as the
// godoc of IntrospectJWTsFrom says): here the authorization server behind
// introspection does not know the local issuer's token and calls it
// inactive.
func TestCombined_IntrospectJWTsFromWinsOverTheJWTVerifier(t *testing.T) {
	e := newCombinedEnv(t, nil)
	c, err := introspect.Combine(e.jwt, e.opaque, introspect.IntrospectJWTsFrom(e.custom.URL()))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.custom.Token("svc", "items:read")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.jwt.VerifyAccessToken(context.Background(), tok); err != nil {
		t.Fatalf("the JWT verifier alone: %v, want accepted", err)
	}
	if _, err := c.VerifyAccessToken(context.Background(), tok); !errors.Is(err, introspect.ErrInactive) {
		t.Fatalf("through the Combined: %v, want introspected and found inactive", err)
	}
	if got := e.org.IntrospectionRequests(); got != 1 {
		t.Fatalf("%d introspection requests, want 1", got)
	}
}
