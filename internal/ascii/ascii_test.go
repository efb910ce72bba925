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
