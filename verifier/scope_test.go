package verifier

import (
	"bytes"
	"context"
	"encoding/json"
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

// TestScopeValues_PlainArrayAllocatesOnlyItsSlice: an Okta scp array
// written without escapes is read by hand (jwt.PlainStrings), its elements
// substrings of the text, into one exactly sized slice: jsonv2.Unmarshal
// took four allocations more, and a microsecond of a cold verification.
// An array it does not read by hand decodes as before, a non-string
// element refused with the same error.
func TestScopeValues_PlainArrayAllocatesOnlyItsSlice(t *testing.T) {
	vals, own := scopeValuesAllocatingOnce(t, "scp", `["openid", "profile","email" ,"items:read"]`)
	if want := []string{"openid", "profile", "email", "items:read"}; !slices.Equal(vals, want) || own != 0 || cap(vals) != len(vals) {
		t.Errorf("got %q (cap %d), own %d; want %q, 0", vals, cap(vals), own, want)
	}
	for _, tc := range []struct {
		text string
		want []string
		err  bool
	}{
		{`["a", 1]`, nil, true},
		{`["a", {"b": "c"}]`, nil, true},
		{`["a", null]`, []string{"a"}, false}, // null decodes to "", which keep drops
		{`["a\/b", "c"]`, []string{"a/b", "c"}, false},
		{`[]`, nil, false},
	} {
		vals, _, err := scopeValues("scp", []byte(tc.text), tc.text, IsScopeToken)
		if (err != nil) != tc.err || !slices.Equal(vals, tc.want) {
			t.Errorf("%s: got %q, %v; want %q, error %v", tc.text, vals, err, tc.want, tc.err)
		}
		if err != nil && err.Error() != `verifier: malformed token: claim "scp" is not a string or an array of strings` {
			t.Errorf("%s: error %q", tc.text, err)
		}
	}
}

// TestVerifyAccessToken_NullScopeElementIsNoScope: a null element of a
// scope array decodes to "", no scope-token, and the others stay. The
// array's elements were looked up between the text's quotes by their
// decoded values, and a null after a string element, which has no quotes,
// sliced past the text's end: verifying such a token (or ParseClaims on
// such a payload) panicked.
func TestVerifyAccessToken_NullScopeElementIsNoScope(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.Cache.Disabled = true })
	for _, scp := range [][]any{{"read", nil}, {nil, "read"}, {"read", nil, "write"}} {
		c, err := f.verify(t, f.mint(t, map[string]any{"scp": scp}))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"read"}
		if len(scp) == 3 {
			want = append(want, "write")
		}
		if !slices.Equal(c.Scopes(), want) {
			t.Errorf("scp %v: Scopes() = %q, want %q", scp, c.Scopes(), want)
		}
		payload, err := json.Marshal(map[string]any{"scp": scp})
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseClaims(payload)
		if err != nil || !slices.Equal(p.Scopes(), want) {
			t.Errorf("scp %v: ParseClaims gives %q, %v", scp, p.Scopes(), err)
		}
	}
}

// TestScopeValues_PlainStringAllocatesOnlyItsSlice: a scope string written
// without escapes ("scope", RFC 9068, Keycloak, Auth0) is split where it
// lies in the text, into one slice: the string the decoder would fill,
// for a string with escapes, was on the heap on every call.
func TestScopeValues_PlainStringAllocatesOnlyItsSlice(t *testing.T) {
	vals, own := scopeValuesAllocatingOnce(t, "scope", ` "openid profile items:read" `)
	if want := []string{"openid", "profile", "items:read"}; !slices.Equal(vals, want) || own != 0 {
		t.Errorf("got %q, own %d; want %q, 0", vals, own, want)
	}
	escaped := `"a\/b c"`
	if vals, own, err := scopeValues("scope", []byte(escaped), escaped, IsScopeToken); err != nil || !slices.Equal(vals, []string{"a/b", "c"}) || own != 5 {
		t.Errorf("%s: got %q, own %d, %v", escaped, vals, own, err)
	}
}

// scopeValuesAllocatingOnce returns scopeValues of the claim name whose
// JSON text is text, every element kept, and fails t unless it allocates
// once: the slice it returns.
func scopeValuesAllocatingOnce(t *testing.T, name, text string) ([]string, int64) {
	t.Helper()
	raw := []byte(text)
	var vals []string
	var own int64
	if n := testing.AllocsPerRun(100, func() {
		var err error
		if vals, own, err = scopeValues(name, raw, text, func(string) bool { return true }); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Errorf("scopeValues(%s) allocates %v times, want 1", text, n)
	}
	return vals, own
}
