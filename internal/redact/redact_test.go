package redact

import "testing"

func TestUserInfo(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://app.example.com", "https://app.example.com"},
		{"https://alice:hunter2@app.example.com", "https://…@app.example.com"},
		{"https://alice:hunter2@app.example.com/path?q=1", "https://…@app.example.com/path?q=1"},
		{"https://a@b:c@app.example.com", "https://…@app.example.com"},
		{"alice:hunter2@app.example.com", "…@app.example.com"},
		{"alice:hunter2@app.example.com//x", "…@app.example.com//x"},
		// A "/", "?" or "#" in the password ends the authority early.
		{"https://alice:hunter2?x@app.example.com", "https://…@app.example.com"},
		{"https://alice:hunter2#x@app.example.com", "https://…@app.example.com"},
		{"https://alice:1234/hunter2@app.example.com", "https://…@app.example.com"},
		// So an "@" past the authority is taken for the user info's end.
		{"https://app.example.com/@notuserinfo", "https://…@notuserinfo"},
		{"https://app.example.com?x=@y", "https://…@y"},
		{"https://app.example.com/path", "https://app.example.com/path"},
		// Without a scheme, a "//" is the password's, not the authority's
		// start.
		{"alice:hunter//2@app.example.com", "…@app.example.com"},
		{"https:alice:hunter//2@app.example.com", "…@app.example.com"},
		{"//alice:hunter2@app.example.com", "//…@app.example.com"},
		{"HTTPS+x-1.y://alice:hunter2@app.example.com", "HTTPS+x-1.y://…@app.example.com"},
		{"", ""},
	} {
		if got := UserInfo(tc.in); got != tc.want {
			t.Errorf("UserInfo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestUserInfoOf(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://app.example.com", ""},
		{"https://alice:hunter2@app.example.com/x", "alice:hunter2"},
		{"https://a@b:c@app.example.com", "a@b:c"},
		{"alice:hunter//2@app.example.com", "alice:hunter//2"},
		{"https://svc:p%40ss@app.example.com", "svc:p%40ss"},
		{"https://@app.example.com", ""},
		{"", ""},
	} {
		if got := UserInfoOf(tc.in); got != tc.want {
			t.Errorf("UserInfoOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
