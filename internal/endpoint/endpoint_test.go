package endpoint

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		url  string
		ok   bool
		want error // when not ok and a specific error is expected
	}{
		{"https://example.okta.com/oauth2/default", true, nil},
		{"HTTPS://example.com", true, nil},
		{"http://localhost:8080/x", true, nil},
		{"http://LOCALHOST/x", true, nil},
		{"http://127.0.0.1:9/keys", true, nil},
		{"http://127.0.0.2/keys", true, nil},
		{"http://[::1]:8080/keys", true, nil},
		{"http://example.com/keys", false, ErrLoopbackOnly},
		{"http://10.0.0.1/keys", false, ErrLoopbackOnly},
		{"http://localhost.evil.example/keys", false, ErrLoopbackOnly},
		{"http://[::ffff:8.8.8.8]/keys", false, ErrLoopbackOnly},
		{"ftp://example.com/keys", false, nil},
		{"https://user:pass@example.com/keys", false, ErrUserInfo},
		// A "/" in a password ends the authority early: url.Parse reads
		// host "alice:1234" and the rest of the password in the path.
		{"https://alice:1234/hunter2@example.com/keys", false, ErrUserInfo},
		{"https://example.com/users/a%40b/keys", true, nil},
		// So does a "?" or "#": the rest of the password lands in the
		// query or the fragment.
		{"https://alice:1234?hunter2@example.com/keys", false, ErrUserInfo},
		{"https://alice:1234#hunter2@example.com/keys", false, ErrUserInfo},
		{"https://alice:12/34?hun#ter2@example.com/keys", false, ErrUserInfo},
		{"https://example.com/keys?user=a%40b", true, nil},
		{"https://example.com/keys#a%40b", true, nil},
		// A "{" makes Go re-escape the path or fragment from its decoded
		// form, "%40" turned to "@": the "@" as written counts.
		{"https://example.com/users/a%40b/{x}", true, nil},
		{"https://example.com/keys#a%40b{", true, nil},
		{"https://alice:12/34{@example.com/keys", false, ErrUserInfo},
		{"https://alice:12#34{@example.com/keys", false, ErrUserInfo},
		// Without "//" url.Parse keeps the userinfo in Opaque.
		{"https:alice:hunter2@example.com/keys", false, ErrUserInfo},
		{"alice:hunter2@example.com/keys", false, ErrUserInfo},
		{"https:///keys", false, nil},
		{"https:opaque", false, nil},
		{"/relative/keys", false, nil},
	}
	for _, c := range cases {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", c.url, err)
		}
		err = Check(u)
		if (err == nil) != c.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", c.url, err, c.ok)
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("Check(%q) = %v, want %v", c.url, err, c.want)
		}
	}
}

// A URL an authorization server named may hold an "@" after its host
// (Firebase's jwks_uri ends in securetoken@system.gserviceaccount.com):
// CheckNamed accepts it, as no password of the operator's can be there,
// and refuses the rest as Check does, userinfo included.
func TestCheckNamed_AcceptsAnAtAfterTheHostAndRefusesUserinfo(t *testing.T) {
	for _, raw := range []string{
		"https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com",
		"https://example.com/keys?for=a@b",
		"http://127.0.0.1:8080/jwk/a@b#c@d",
	} {
		u, _ := url.Parse(raw)
		if err := CheckNamed(u); err != nil {
			t.Errorf("CheckNamed(%q) = %v, want nil", raw, err)
		}
		if err := Check(u); !errors.Is(err, ErrUserInfo) {
			t.Errorf("Check(%q) = %v, want ErrUserInfo", raw, err)
		}
	}
	for raw, want := range map[string]error{
		"https://user:pass@example.com/keys": ErrUserInfo,
		"https://user@example.com/keys":      ErrUserInfo,
		"http://example.com/jwk/a@b":         ErrLoopbackOnly,
	} {
		u, _ := url.Parse(raw)
		if err := CheckNamed(u); !errors.Is(err, want) {
			t.Errorf("CheckNamed(%q) = %v, want %v", raw, err, want)
		}
	}
	for _, raw := range []string{"ftp://example.com/a@b", "https:///a@b", "https:a@b"} {
		u, _ := url.Parse(raw)
		if err := CheckNamed(u); err == nil {
			t.Errorf("CheckNamed(%q) accepted", raw)
		}
	}
}

// A URL whose password holds "/", "?" or "#" parses with the rest of the
// password after the host: Check refuses it, with an error that says how
// to write an "@" of the URL and repeats nothing of the password.
func TestCheck_PasswordEndingTheHostEarlyIsRefusedWithoutQuotingIt(t *testing.T) {
	for _, raw := range []string{
		"https://alice:1234/hunter2@example.com/keys",
		"https://alice:1234?hunter2@example.com/keys",
		"https://alice:1234#hunter2@example.com/keys",
		"http://alice:1234?hunter2@localhost/keys",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", raw, err)
		}
		err = Check(u)
		if !errors.Is(err, ErrUserInfo) || !strings.Contains(err.Error(), "%40") ||
			strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "1234") {
			t.Errorf("Check(%q) = %v, want ErrUserInfo saying to write %%40, quoting no password", raw, err)
		}
	}
}

// TestCheckIssuer_RefusesAQueryOrFragmentEvenEmpty: an issuer with a
// query or a fragment, an empty one too, is refused with ErrIssuerQuery,
// whose text quotes nothing of it; an escaped "?" or "#" (%3F, %23) is a
// character of the path and is accepted, as is an issuer with neither.
func TestCheckIssuer_RefusesAQueryOrFragmentEvenEmpty(t *testing.T) {
	for _, tt := range []struct {
		raw    string
		refuse bool
	}{
		{"https://idp.example/oauth2/default?", true},
		{"https://a/?", true},
		{"https://idp.example/oauth2/default?s3cr3t", true},
		{"https://idp.example/oauth2/default?api_key=s3cr3t", true},
		{"https://idp.example/oauth2/default#", true},
		{"https://idp.example/oauth2/default#s3cr3t", true},
		{"https://idp.example/?#", true},
		{"https://idp.example?s3cr3t", true},
		{"https://idp.example/realm%3Fs3cr3t", false},
		{"https://idp.example/realm%23s3cr3t", false},
		{"https://idp.example/oauth2/default", false},
		{"https://tenant.auth0.example/", false},
		{"http://127.0.0.1:50052/oauth2/default", false},
	} {
		err := CheckIssuer(tt.raw)
		switch {
		case !tt.refuse && err != nil:
			t.Errorf("CheckIssuer(%q) = %v, want it accepted", tt.raw, err)
		case tt.refuse && !errors.Is(err, ErrIssuerQuery):
			t.Errorf("CheckIssuer(%q) = %v, want ErrIssuerQuery", tt.raw, err)
		case err != nil && (strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "idp.example")):
			t.Errorf("CheckIssuer(%q) = %q, which quotes the URL", tt.raw, err)
		}
	}
}

func TestNewClient_HasTimeoutsAndNoJar(t *testing.T) {
	c := NewClient(7e9, 3)
	if c.Timeout != 7e9 || c.Jar != nil || c.CheckRedirect != nil {
		t.Fatalf("client = %+v", c)
	}
}

// An issuer written without its scheme, as a domain is often copied from
// an admin console, is refused with an error saying how to write it; so is
// one with a port, which url.Parse reads as scheme "localhost" and opaque
// "8080/realms/dev".
func TestCheck_URLWithoutSchemeSaysToWriteHTTPS(t *testing.T) {
	for _, raw := range []string{
		"dev-123.okta.com/oauth2/default", "//dev-123.okta.com/oauth2/default",
		"localhost:8080/realms/dev", "keycloak.example.com:8443/realms/dev", "https:opaque",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(u); err == nil || !strings.Contains(err.Error(), "https://") {
			t.Errorf("Check(%q) = %v, want an error naming https://", raw, err)
		}
	}
}

// Clip cuts at a UTF-8 boundary, so a clipped log value is still valid
// text, and leaves a short string alone.
func TestClip_CutsAtARuneBoundary(t *testing.T) {
	cases := []struct{ in, want string }{
		{"abc", "abc"},
		{"abcd", "abcd"},
		{"abcde", "abcd…"},
		{"abcé", "abc…"}, // é is 2 bytes: cutting at 4 would split it
		{"ééé", "éé…"},
	}
	for _, c := range cases {
		if got := Clip(c.in, 4); got != c.want {
			t.Errorf("Clip(%q, 4) = %q, want %q", c.in, got, c.want)
		}
	}
	// Text that is not UTF-8 keeps its first bytes: the cut moves back
	// at most as far as a character may reach, never to the start.
	if got := Clip(strings.Repeat("\x80", 10), 4); got != "\x80\x80\x80\x80…" {
		t.Errorf(`Clip(10 bytes 0x80, 4) = %q, want its first 4 bytes and "…"`, got)
	}
	if got := Clip("a\xe2\x82\xac\x80\x80", 5); got != "a\xe2\x82\xac\x80…" {
		t.Errorf(`Clip("a€" and 2 bytes 0x80, 5) = %q, want "a€", a byte 0x80 and "…"`, got)
	}
	if got := Clip("a\xe2\x82\xac", 3); got != "a…" {
		t.Errorf(`Clip("a€", 3) = %q, want "a…"`, got)
	}
	if got := ClipSized("abcé", 4); got != "abc…(5 bytes)" {
		t.Errorf(`ClipSized("abcé", 4) = %q, want "abc…(5 bytes)"`, got)
	}
	if got := ClipSized("abcd", 4); got != "abcd" {
		t.Errorf(`ClipSized("abcd", 4) = %q, want it whole`, got)
	}
	long := errors.New(strings.Repeat("x", 10*MaxErrorText))
	if got := ClipError(long); len(got) > MaxErrorText+len("…") {
		t.Errorf("ClipError kept %d bytes, want at most %d", len(got), MaxErrorText+len("…"))
	}
}
