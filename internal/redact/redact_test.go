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
		{"https://app.example.com/@notuserinfo", "https://app.example.com/@notuserinfo"},
		{"https://app.example.com?x=@y", "https://app.example.com?x=@y"},
		{"", ""},
	} {
		if got := UserInfo(tc.in); got != tc.want {
			t.Errorf("UserInfo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
