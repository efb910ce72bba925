package verifier

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is an injectable time source shared by an issuer and a verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is an issuer and a verifier of its tokens sharing one clock.
type fixture struct {
	clk *clock
	iss *grpcauthtest.Issuer
	v   *Verifier
	cfg Config
}

// newFixture starts an issuer with icfg (its Now is replaced by the shared
// clock) and a verifier for it, configured with the JWKS URL and audience,
// then changed by mutate.
func newFixture(t testing.TB, icfg grpcauthtest.Config, mutate func(*Config)) *fixture {
	t.Helper()
	f := &fixture{clk: newClock()}
	icfg.Now = f.clk.Now
	f.iss = grpcauthtest.NewIssuer(t, icfg)
	f.cfg = Config{
		Issuer:    f.iss.URL(),
		Audiences: []string{f.iss.Audience()},
		JWKSURL:   f.iss.JWKSURL(),
		Now:       f.clk.Now,
	}
	if mutate != nil {
		mutate(&f.cfg)
	}
	f.v = newVerifier(t, f.cfg)
	return f
}

// verifierWith returns f's verifier, or when mutate is not nil a new one
// whose config is f's changed by mutate.
func (f *fixture) verifierWith(t testing.TB, mutate func(*Config)) *Verifier {
	t.Helper()
	if mutate == nil {
		return f.v
	}
	cfg := f.cfg
	mutate(&cfg)
	return newVerifier(t, cfg)
}

func newVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	v, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// mint mints a token or fails the test.
func (f *fixture) mint(t testing.TB, claims map[string]any, opts ...grpcauthtest.MintOption) string {
	t.Helper()
	tok, err := f.iss.Mint(claims, opts...)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

func (f *fixture) verify(t testing.TB, token string) (Claims, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return f.v.VerifyAccessToken(ctx, token)
}

// b64json encodes v as unpadded base64url JSON.
func b64json(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// withHeader returns token with its header replaced by hdr, keeping payload
// and signature: the result's signature no longer matches, so only checks
// made before the signature can accept or reject it meaningfully.
func withHeader(t testing.TB, token string, hdr map[string]any) string {
	t.Helper()
	parts := strings.Split(token, ".")
	parts[0] = b64json(t, hdr)
	return strings.Join(parts, ".")
}

// withPayload returns token with its payload replaced by claims.
func withPayload(t testing.TB, token string, claims map[string]any) string {
	t.Helper()
	parts := strings.Split(token, ".")
	parts[1] = b64json(t, claims)
	return strings.Join(parts, ".")
}

// headerOf decodes a token's header.
func headerOf(t testing.TB, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// cacheStats returns the verifier's cache entries and bytes.
func cacheStats(v *Verifier) (int, int64) {
	if v.cache == nil {
		return 0, 0
	}
	return v.cache.stats()
}
