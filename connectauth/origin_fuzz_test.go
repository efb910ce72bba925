package connectauth

import (
	"strings"
	"testing"
)

// FuzzParseOrigin checks that parseOrigin never panics, and that what it
// accepts is an origin as a browser serialises it: normalising it again
// changes nothing, and it has no user info, path, query, fragment,
// wildcard, upper-case letter or non-ASCII byte.
func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "HTTP://127.0.0.1:80", "http://[0:0:0:0:0:0:0:1]:08081",
		"http://[::FFFF:1.2.3.4]", "https://app.example.com.", "https://b.example:0443/", "null", "*", "https://*.x",
		"https://u:p@h", "http://127.1", "http://0x7f.0.0.1", "chrome-extension://abcdefgh", "http://[fe80::1%25eth0]",
		"A://::", "http://a<b.example", "app://a:b:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseOrigin(s)
		if err != nil {
			return
		}
		again, err := parseOrigin(n)
		if err != nil || again != n {
			t.Fatalf("parseOrigin(%q) = %q, which normalises to %q, %v", s, n, again, err)
		}
		scheme, host, ok := strings.Cut(n, "://")
		if !ok || scheme == "" || host == "" || strings.ContainsAny(host, "/?#@*%") || strings.ToLower(n) != n {
			t.Fatalf("parseOrigin(%q) = %q, not an origin a browser sends", s, n)
		}
		for _, c := range []byte(n) {
			if c <= ' ' || c >= 0x7f {
				t.Fatalf("parseOrigin(%q) = %q, with byte %#x", s, n, c)
			}
		}
	})
}
