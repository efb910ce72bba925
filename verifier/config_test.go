package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNew_RejectsInvalidConfig(t *testing.T) {
	base := func() Config {
		return Config{Issuer: "https://issuer.example/oauth2/default", Audiences: []string{"api://default"}}
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error
	}{
		{"missing issuer", func(c *Config) { c.Issuer = "" }, "Issuer is required"},
		{"http issuer off loopback", func(c *Config) { c.Issuer = "http://issuer.example/oauth2/default" }, "Issuer"},
		{"issuer without scheme", func(c *Config) { c.Issuer = "issuer.example" }, "Issuer"},
		{"http JWKS URL off loopback", func(c *Config) { c.JWKSURL = "http://issuer.example/keys" }, "JWKSURL"},
		{"missing audience", func(c *Config) { c.Audiences = nil }, "Audiences is required"},
		{"empty audience", func(c *Config) { c.Audiences = []string{""} }, "Audiences"},
		{"empty client id", func(c *Config) { c.ClientIDs = []string{""} }, "ClientIDs"},
		{"alg none", func(c *Config) { c.Algorithms = []string{"none"} }, "never allowed"},
		{"alg None", func(c *Config) { c.Algorithms = []string{"RS256", "None"} }, "never allowed"},
		{"alg HS256", func(c *Config) { c.Algorithms = []string{"HS256"} }, "HMAC"},
		{"alg hs512", func(c *Config) { c.Algorithms = []string{"hs512"} }, "HMAC"},
		{"unknown alg", func(c *Config) { c.Algorithms = []string{"RS1"} }, "unsupported"},
		{"alg in the wrong case", func(c *Config) { c.Algorithms = []string{"rs256"} }, "unsupported"},
		{"ES256K", func(c *Config) { c.Algorithms = []string{"ES256K"} }, "unsupported"},
		{"negative MaxTokenSize", func(c *Config) { c.MaxTokenSize = -1 }, "MaxTokenSize"},
		{"negative RefreshInterval", func(c *Config) { c.RefreshInterval = -time.Second }, "RefreshInterval"},
		{"MinRefreshInterval above RefreshInterval", func(c *Config) {
			c.RefreshInterval, c.MinRefreshInterval = time.Minute, time.Hour
		}, "MinRefreshInterval"},
		{"MaxStaleness below RefreshInterval", func(c *Config) { c.MaxStaleness = time.Minute }, "MaxStaleness"},
		{"negative FetchTimeout", func(c *Config) { c.FetchTimeout = -1 }, "FetchTimeout"},
		{"negative MaxResponseSize", func(c *Config) { c.MaxResponseSize = -1 }, "MaxResponseSize"},
		{"MaxResponseSize over 1 GiB", func(c *Config) { c.MaxResponseSize = math.MaxInt64 }, "MaxResponseSize"},
		{"ClockSkew over an hour", func(c *Config) { c.ClockSkew = time.Hour + time.Second }, "ClockSkew"},
		{"issuer with a query", func(c *Config) { c.Issuer = "https://issuer.example/tenant?x=1" }, "query or fragment"},
		{"issuer with a fragment", func(c *Config) { c.Issuer = "https://issuer.example/tenant#f" }, "query or fragment"},
		{"issuer with an empty query", func(c *Config) { c.Issuer = "https://issuer.example/tenant?" }, "query or fragment"},
		{"negative cache entries", func(c *Config) { c.Cache.MaxEntries = -1 }, "Cache.MaxEntries"},
		{"negative cache bytes", func(c *Config) { c.Cache.MaxBytes = -1 }, "Cache.MaxBytes"},
		{"empty scope claim", func(c *Config) { c.ScopeClaims = []string{""} }, "ScopeClaims"},
		{"assertion of an object", func(c *Config) { c.AssertClaims = map[string]any{"x": map[string]any{}} }, "AssertClaims"},
		{"assertion of nil", func(c *Config) { c.AssertClaims = map[string]any{"x": nil} }, "AssertClaims"},
		{"assertion of NaN", func(c *Config) { c.AssertClaims = map[string]any{"x": math.NaN()} }, "AssertClaims"},
		{"assertion of an empty list", func(c *Config) { c.AssertClaims = map[string]any{"x": []string{}} }, "AssertClaims"},
		{"assertion of a nested list", func(c *Config) { c.AssertClaims = map[string]any{"x": [][]string{{"a"}}} }, "AssertClaims"},
		{"assertion without a name", func(c *Config) { c.AssertClaims = map[string]any{"": "x"} }, "AssertClaims"},
		{"zero Logger", func(c *Config) { c.Logger = &slog.Logger{} }, "Logger has no handler"},
		{"Logger on a nil handler", func(c *Config) { c.Logger = slog.New((*slog.TextHandler)(nil)) }, "Logger has no handler"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.mutate(&cfg)
			v, err := New(context.Background(), cfg)
			if err == nil {
				_ = v.Close()
				t.Fatal("New accepted an invalid config")
			}
			if !errors.Is(err, errConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %q, want a config error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestNew_AppliesDefaults(t *testing.T) {
	v := newVerifier(t, Config{Issuer: "http://127.0.0.1:1/oauth2/default", Audiences: []string{"a"}})
	s := v.s
	checks := []struct {
		name      string
		got, want any
	}{
		{"ClockSkew", s.skew, DefaultClockSkew},
		{"MaxTokenSize", s.MaxTokenSize, DefaultMaxTokenSize},
		{"RefreshInterval", s.RefreshInterval, DefaultRefreshInterval},
		{"MinRefreshInterval", s.MinRefreshInterval, DefaultMinRefreshInterval},
		{"MaxStaleness", s.MaxStaleness, DefaultMaxStaleness},
		{"FetchTimeout", s.FetchTimeout, DefaultFetchTimeout},
		{"MaxResponseSize", s.MaxResponseSize, DefaultMaxResponseSize},
		{"Cache.MaxEntries", s.Cache.MaxEntries, DefaultCacheMaxEntries},
		{"Cache.MaxBytes", s.Cache.MaxBytes, DefaultCacheMaxBytes},
		{"cache on", v.cache != nil, true},
		{"HTTP client has a timeout", s.HTTPClient.Timeout, DefaultFetchTimeout},
		{"HTTP client has no cookie jar", s.HTTPClient.Jar == nil, true},
		{"logger", s.Logger != nil, true},
		{"Now", s.Now != nil, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !slices.Equal(s.Algorithms, DefaultAlgorithms()) || slices.ContainsFunc(s.Algorithms, func(a string) bool {
		return strings.HasPrefix(a, "HS") || strings.EqualFold(a, "none")
	}) {
		t.Errorf("Algorithms = %v", s.Algorithms)
	}
	if !slices.Equal(s.ScopeClaims, DefaultScopeClaims()) {
		t.Errorf("ScopeClaims = %v", s.ScopeClaims)
	}
	if len(v.verifiers) != len(DefaultAlgorithms()) {
		t.Errorf("%d signature verifiers, want %d", len(v.verifiers), len(DefaultAlgorithms()))
	}
}

func TestNew_NegativeClockSkewMeansNone(t *testing.T) {
	v := newVerifier(t, Config{Issuer: "http://127.0.0.1:1/oauth2/default", Audiences: []string{"a"}, ClockSkew: -1})
	if v.s.skew != 0 {
		t.Fatalf("skew = %v, want 0", v.s.skew)
	}
}

func TestNew_AcceptsLoopbackHTTPAndCopiesSlices(t *testing.T) {
	auds := []string{"a"}
	algs := []string{"ES256", "EdDSA"}
	v := newVerifier(t, Config{Issuer: "http://127.0.0.1:1/x", Audiences: auds, Algorithms: algs, SkipAudienceCheck: false})
	auds[0], algs[0] = "changed", "RS256"
	if v.s.Audiences[0] != "a" || v.s.Algorithms[0] != "ES256" {
		t.Fatal("Config slices are aliased by the Verifier")
	}
	if _, ok := v.verifiers["RS256"]; ok {
		t.Fatal("RS256 allowed though not configured")
	}
}

func TestNew_SkipAudienceCheckNeedsNoAudience(t *testing.T) {
	newVerifier(t, Config{Issuer: "http://127.0.0.1:1/oauth2/default", SkipAudienceCheck: true})
}

func TestNew_FailsOnDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New(ctx, Config{Issuer: "http://127.0.0.1:1/oauth2/default", Audiences: []string{"a"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("New = %v, want context.Canceled", err)
	}
}

// A number AssertClaims would have to compute exactly with a huge exponent
// (big.Rat computes 10^e) matches nothing instead: a token cannot make its
// own rejection cost seconds of CPU. The bounds are ±400 for the exponent
// and 400 characters of text.
func TestAssertClaims_NumbersBeyondTheBoundsAreNotCompared(t *testing.T) {
	got := claimValues(json.RawMessage(`[1e999999, 1e-401, 1e+401, 1e400, 1e-400, 42, ` + strings.Repeat("1", 401) + `, ` + strings.Repeat("1", 400) + `]`))
	want := []string{"1e400", "1e-400", "42", strings.Repeat("1", 400)}
	if len(got) != len(want) {
		t.Fatalf("%d values compared, want %d (%v)", len(got), len(want), want)
	}
	for i, w := range want {
		r, _ := new(big.Rat).SetString(w)
		if got[i].n.Cmp(r) != 0 {
			t.Errorf("value %d = %v, want %s", i, got[i].n, w)
		}
	}
}
