package ascii

import "testing"

func TestLower_FoldsASCIILettersOnly(t *testing.T) {
	for in, want := range map[string]string{
		"API.Example.COM:443": "api.example.com:443",
		"ap\u0130.example":    "ap\u0130.example",
		"\u212Aiosk":          "\u212Aiosk",
		"a\xff\xfeB":          "a\xff\xfeb",
		"":                    "",
	} {
		if got := Lower(in); got != want {
			t.Errorf("Lower(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsNQChars_AcceptsPrintableASCIIButSpaceQuoteAndBackslash(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"items:read", true},
		{"!#[]~", true},
		{"", false},
		{"a b", false},
		{"a\tb", false},
		{"a\x7f", false},
		{`a"b`, false},
		{`a\b`, false},
		{"read\u00a0admin", false},
		{"read\u0085", false},
		{"\xff", false},
	} {
		if got := IsNQChars(tc.in); got != tc.want {
			t.Errorf("IsNQChars(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	for c := 0; c < 256; c++ {
		want := c >= 0x21 && c <= 0x7e && c != '"' && c != '\\'
		if got := IsNQChars(string([]byte{byte(c)})); got != want {
			t.Errorf("IsNQChars(%#x) = %v, want %v", c, got, want)
		}
	}
}

// IsVChars and IsVSChars differ in space alone.
func TestIsVCharsAndIsVSChars_AcceptPrintableASCIIVSCharsSpaceToo(t *testing.T) {
	for _, tc := range []struct {
		in    string
		v, vs bool
	}{
		{"eyJhbGciOi.x-y_z~+/=", true, true},
		{`!"\~<>&'`, true, true},
		{"", false, false},
		{"a b", false, true},
		{" ", false, true},
		{"token\n", false, false},
		{"a\tb", false, false},
		{"a\x7f", false, false},
		{"caf\u00e9", false, false},
		{"\xff", false, false},
	} {
		if got := IsVChars(tc.in); got != tc.v {
			t.Errorf("IsVChars(%q) = %v, want %v", tc.in, got, tc.v)
		}
		if got := IsVSChars(tc.in); got != tc.vs {
			t.Errorf("IsVSChars(%q) = %v, want %v", tc.in, got, tc.vs)
		}
	}
	for c := 0; c < 256; c++ {
		s := string([]byte{byte(c)})
		if got, want := IsVChars(s), 0x21 <= c && c <= 0x7e; got != want {
			t.Errorf("IsVChars(%#x) = %v, want %v", c, got, want)
		}
		if got, want := IsVSChars(s), 0x20 <= c && c <= 0x7e; got != want {
			t.Errorf("IsVSChars(%#x) = %v, want %v", c, got, want)
		}
	}
}
