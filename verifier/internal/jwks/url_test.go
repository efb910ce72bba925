package jwks

import (
	"strings"
	"testing"
)

func TestCheckURL_HTTPSOrLoopbackHTTPOnly(t *testing.T) {
	tests := []struct {
		url    string
		wantOK bool
	}{
		{"https://example.okta.com/oauth2/default", true},
		{"https://example.okta.com:8443/keys?x=1", true},
		{"HTTPS://example.com/", true},
		{"http://localhost:8080/keys", true},
		{"http://LOCALHOST/keys", true},
		{"http://127.0.0.1:1234/oauth2/default", true},
		{"http://127.0.0.2/keys", true},
		{"http://127.255.255.254/keys", true},
		{"http://[::1]:9000/keys", true},
		{"http://[::1]/keys", true},
		{"http://example.com/keys", false},
		{"http://10.0.0.1/keys", false},
		{"http://128.0.0.1/keys", false},
		{"http://localhost.example.com/keys", false},
		{"http://[::2]/keys", false},
		{"ftp://example.com/keys", false},
		{"file:///etc/passwd", false},
		{"ws://localhost/keys", false},
		{"https://user:pass@example.com/keys", false},
		{"https://user@example.com/keys", false},
		{"http://user:pass@127.0.0.1/keys", false},
		{"https:///keys", false},
		{"https:example.com", false},
		{"/relative/keys", false},
		{"", false},
		{"://bad", false},
		{"https://exa mple.com/", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := CheckURL(tt.url)
			if (err == nil) != tt.wantOK {
				t.Fatalf("CheckURL(%q) = %v, want ok=%v", tt.url, err, tt.wantOK)
			}
		})
	}
}

func TestCheckURL_ErrorNeverEchoesCredentialsOrQuery(t *testing.T) {
	for _, raw := range []string{
		"https://user:s3cret@example.com/keys",
		"http://example.com/keys?token=s3cret",
		// Unparsable: url.Parse's own error quotes the whole string.
		"https://example.com/%zz?token=s3cret",
		"https://example.com/keys?token=s3cret\x7f",
		"https://user:s3cret@exa mple.com/keys",
		// A "?", "#" or "/" in the password ends the authority early, and
		// url.Parse's error quotes what it takes for the port: the
		// password's start.
		"https://user:s3cret?x@example.com/keys",
		"https://user:s3cret#x@example.com/keys",
		"https://user:s3cret/x@example.com/keys",
		// A character url.Parse refuses in the host is quoted too.
		"https://s3cret{@example.com/keys",
		// A password that starts with digits parses: its start is the
		// port, the rest is in the path, query or fragment.
		"https://user:2718/s3cret@example.com/keys",
		"https://user:2718?s3cret@example.com/keys",
		"https://user:2718#s3cret@example.com/keys",
		// Without "//" (a slip, or backslashes) there is no authority:
		// url.Parse keeps all after the scheme as opaque, userinfo and
		// all; without a scheme, the host is taken for one.
		"https:user:s3cret@example.com/keys",
		`https:\\user:s3cret@example.com/keys`,
		"user:s3cret@example.com/keys",
		"example.com:s3cret@x/keys",
	} {
		err := CheckURL(raw)
		if err == nil {
			t.Fatalf("CheckURL(%q) accepted", raw)
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "2718") {
			t.Fatalf("error %q leaks a secret", err)
		}
		if r := RedactString(raw); strings.Contains(r, "s3cret") || strings.Contains(r, "2718") {
			t.Fatalf("RedactString(%q) = %q leaks a secret", raw, r)
		}
	}
}
