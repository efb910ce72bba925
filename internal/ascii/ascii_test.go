package ascii

import "testing"

func TestLower_MapsASCIILettersOnly(t *testing.T) {
	for in, want := range map[string]string{
		"API.Example.COM":    "api.example.com",
		"\u0130tems.example": "\u0130tems.example",
		"\u212Aey":           "\u212Aey",
		"\u00C0B":            "\u00C0b",
		"a\xffB":             "a\xffb",
		"":                   "",
	} {
		if got := Lower(in); got != want {
			t.Errorf("Lower(%q) = %q, want %q", in, got, want)
		}
	}
}
