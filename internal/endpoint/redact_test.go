package endpoint

import (
	"strings"
	"testing"
)

// TestForConfig_ShowsAURLWithoutWhatItMayHide: a configured URL prints as
// it is when it parses and holds no "@", "?" or "#" (IPv6 literals, zones,
// ports and percent-escapes kept verbatim), without its query and fragment
// (marked "?…" and "#…") when it has them, and as a placeholder when it
// holds user info or does not parse, also when nothing else would have
// sent it down the redacting path.
func TestForConfig_ShowsAURLWithoutWhatItMayHide(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"https://as.example/keys", "https://as.example/keys"},
		{"https://[::1]:8443/keys", "https://[::1]:8443/keys"},
		{"https://[fe80::1%25en0]:8443/keys", "https://[fe80::1%25en0]:8443/keys"},
		{"https://as.example:443/k%2Fe%3Fys%23x", "https://as.example:443/k%2Fe%3Fys%23x"},
		{"https://[::1]:8443/keys?key=SECRET", "https://[::1]:8443/keys?…"},
		{"https://[fe80::1%25en0]:8443/k%2Fe?key=SECRET#SECRET", "https://[fe80::1%25en0]:8443/k%2Fe?…#…"},
		{"https://as.example/keys?", "https://as.example/keys?…"},
		{"https://as.example/keys#", "https://as.example/keys"}, // nothing dropped
		{"https://as.example/keys#SECRET", "https://as.example/keys#…"},
		{"https://as.example/keys?a=%zzSECRET", "https://as.example/keys?…"},
		{"https:as.example/keys?key=SECRET", "https:as.example/keys?…"},
		{"https://alice:SECRET@as.example/keys", userInfoURL},
		{"https://alice@as.example/keys", userInfoURL},
		{"https://alice:12/SECRET@as.example/keys", userInfoURL},
		{"https://as.example/@SECRET", userInfoURL},
		{"https:alice:SECRET@as.example", userInfoURL},
		{"https://as.example/keys?key=SECRET\x7f", invalidURL},
		// Unparsable without "@", "?" or "#": the placeholder too, not the
		// raw text (a control character would reach a log line as it is).
		{"https://as.example/keys\nSECRET", invalidURL},
		{"https://as.example/keys%zzSECRET", invalidURL},
		{"https://[::1%SECRET]/keys", invalidURL},
		{"https://as.example:SECRET/keys", invalidURL},
	} {
		if got := ForConfig(tc.in); got != tc.want {
			t.Errorf("ForConfig(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := "https://as.example/" + strings.Repeat("k", 2*MaxLoggedURL) + "?key=SECRET"
	if got := ForConfig(long); len(got) > MaxLoggedURL+len("…?…") || !strings.HasSuffix(got, "…?…") {
		t.Errorf("ForConfig of a %d-byte URL = %q, want it clipped to %d bytes and marked", len(long), got, MaxLoggedURL)
	}
}
