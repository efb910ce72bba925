package verifier

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// TestVerifyAccessToken_ScopesSplitOnSpaceOnly is the regression test of
// issue #10, defect 4: scopes are separated by U+0020 only (RFC 6749, 3.3),
// and an element that is not a scope-token (NQCHARs) matches nothing.
func TestVerifyAccessToken_ScopesSplitOnSpaceOnly(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.Cache.Disabled = true })
	cases := []struct {
		name      string
		scp       any
		want      []string // Scopes()
		notScopes []string // HasScope must be false for each
	}{
		{"space separates", "read admin", []string{"admin", "read"}, nil},
		{"tab does not separate", "read\tadmin", nil, []string{"read", "admin", "read\tadmin"}},
		{"vertical tab does not separate", "read\vadmin", nil, []string{"read", "admin"}},
		{"NBSP does not separate", "read\u00a0admin", nil, []string{"read", "admin", "read\u00a0admin"}},
		{"NEL does not separate", "read\u0085admin", nil, []string{"read", "admin"}},
		{"newline does not separate", "read\nadmin", nil, []string{"read", "admin"}},
		{"empty elements are ignored", " read  admin ", []string{"admin", "read"}, []string{""}},
		{"an invalid element leaves the valid ones", "read bad\"quote ok", []string{"ok", "read"}, []string{"bad\"quote", "bad"}},
		{"non-ASCII element matches nothing", "read é", []string{"read"}, []string{"é"}},
		{"array element with a space is one invalid scope-token", []string{"read admin", "write"}, []string{"write"}, []string{"read", "admin", "read admin"}},
		{"array element with NBSP matches nothing", []string{"read\u00a0admin"}, nil, []string{"read", "admin"}},
		{"empty array element matches nothing", []string{"", "read"}, []string{"read"}, []string{""}},
		{"empty string is no scope", "", nil, []string{""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.verify(t, f.mint(t, map[string]any{"scp": tc.scp}))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Scopes(); !slices.Equal(got, tc.want) {
				t.Errorf("Scopes() = %q, want %q", got, tc.want)
			}
			for _, s := range tc.want {
				if !c.HasScope(s) {
					t.Errorf("HasScope(%q) = false", s)
				}
			}
			for _, s := range tc.notScopes {
				if c.HasScope(s) {
					t.Errorf("HasScope(%q) = true", s)
				}
			}
		})
	}
}

// TestVerifyAccessToken_InvalidScopeIsLoggedWithoutValue checks the debug
// log line an ignored scope element produces: it names the claim, never the
// element or the token.
func TestVerifyAccessToken_InvalidScopeIsLoggedWithoutValue(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.Logger = log })
	tok := f.mint(t, map[string]any{"scp": "read secret\u00a0admin"})
	c, err := f.v.VerifyAccessToken(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Scopes(), []string{"read"}) {
		t.Fatalf("Scopes() = %q", c.Scopes())
	}
	out := buf.String()
	if !strings.Contains(out, "not an RFC 6749 scope-token") || !strings.Contains(out, "claim=scp") {
		t.Fatalf("log lacks the ignored element's claim:\n%s", out)
	}
	for _, secret := range []string{"secret", "admin", tok[:20], tok[len(tok)-20:]} {
		if strings.Contains(out, secret) {
			t.Fatalf("log contains %q:\n%s", secret, out)
		}
	}
}

func TestIsScopeToken(t *testing.T) {
	for s, want := range map[string]bool{
		"items:read": true, "a": true, "!#[]~": true, "https://api.example/x": true,
		"": false, "a b": false, "a\tb": false, "a\"b": false, `a\b`: false, "é": false, "a\x7f": false, "\u00a0": false,
	} {
		if got := IsScopeToken(s); got != want {
			t.Errorf("IsScopeToken(%q) = %v, want %v", s, got, want)
		}
	}
}
