package grpcauthtest_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

// signInThroughPage gets the login page for params, as a browser does,
// and posts its form back as user, with the fields the page holds (not
// params): it returns the page and the code the redirect carries.
func signInThroughPage(t *testing.T, iss *grpcauthtest.Issuer, params url.Values, user string, beforePost func()) (page, code string) {
	t.Helper()
	resp, body := get(t, iss.AuthorizeURL()+"?"+params.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page: status %d: %s", resp.StatusCode, body)
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(string(body), -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	if beforePost != nil {
		beforePost()
	}
	st, loc := signIn(t, iss, form, user)
	if st != http.StatusSeeOther || loc.Query().Get("code") == "" {
		t.Fatalf("sign-in: status %d, Location %v; want 303 with a code", st, loc)
	}
	return string(body), loc.Query().Get("code")
}

// userClaims exchanges code and returns the claims of the token issued.
func userClaims(t *testing.T, iss *grpcauthtest.Issuer, code string) map[string]any {
	t.Helper()
	status, m := exchange(t, iss, "grant_type", "authorization_code", "client_id", "web",
		"code", code, "redirect_uri", pageURI, "code_verifier", codeVerifier)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, m)
	}
	_, claims := segments(t, m["access_token"].(string))
	return claims
}

func stepUpIssuer(t *testing.T, now func() time.Time) *grpcauthtest.Issuer {
	return grpcauthtest.NewIssuer(t, grpcauthtest.Config{
		PublicClients: []grpcauthtest.PublicClient{webClient},
		Users:         testUsers,
		ACRValues:     []string{"urn:grpcauth:example:pwd", "urn:grpcauth:example:mfa"},
		Now:           now,
	})
}

// OIDC Core 3.1.2.1: the token's acr is the first requested class the
// issuer supports, or its default (the first of Config.ACRValues) when it
// supports none of them; a request without acr_values, or whose
// acr_values lists no value (spaces only), gets no acr.
func TestAuthorize_ACRValuesGetTheFirstSupportedClassOrTheDefault(t *testing.T) {
	iss := stepUpIssuer(t, nil)
	tests := []struct {
		acrValues string
		want      any // nil: no acr claim
	}{
		{"urn:grpcauth:example:mfa", "urn:grpcauth:example:mfa"},
		{"urn:unknown urn:grpcauth:example:mfa urn:grpcauth:example:pwd", "urn:grpcauth:example:mfa"},
		{"urn:unknown", "urn:grpcauth:example:pwd"},
		{"", nil},
		{"  ", nil}, // a list of no values: none requested
	}
	for _, tt := range tests {
		t.Run(tt.acrValues, func(t *testing.T) {
			page, code := signInThroughPage(t, iss, authzParams("acr_values", tt.acrValues), "writer", nil)
			if tt.want != nil && !strings.Contains(page, "signs in at <code>"+tt.want.(string)+"</code>") {
				t.Errorf("login page does not say the sign-in is at %s", tt.want)
			}
			claims := userClaims(t, iss, code)
			if acr, has := claims["acr"]; acr != tt.want || (tt.want == nil && has) {
				t.Errorf("acr = %v (present %v), want %v", acr, has, tt.want)
			}
		})
	}
}

// Without Config.ACRValues the issuer supports Okta's predefined values,
// and advertises what it supports.
func TestAuthorize_DefaultACRValuesAreOktas(t *testing.T) {
	iss := codeIssuer(t, nil)
	_, code := signInThroughPage(t, iss, authzParams("acr_values", "urn:example:none urn:okta:loa:2fa:any"), "writer", nil)
	if acr := userClaims(t, iss, code)["acr"]; acr != "urn:okta:loa:2fa:any" {
		t.Errorf("acr = %v, want urn:okta:loa:2fa:any", acr)
	}
	_, code = signInThroughPage(t, iss, authzParams("acr_values", "urn:example:none"), "writer", nil)
	if acr := userClaims(t, iss, code)["acr"]; acr != "urn:okta:loa:1fa:any" {
		t.Errorf("acr for an unsupported class = %v, want the default urn:okta:loa:1fa:any", acr)
	}
	md := iss.Metadata()
	if !slices.Equal(md.ACRValuesSupported, grpcauthtest.DefaultACRValues()) || !slices.Contains(md.ClaimsSupported, "acr") {
		t.Errorf("acr_values_supported %v, claims_supported %v: want DefaultACRValues() and acr", md.ACRValuesSupported, md.ClaimsSupported)
	}
}

// max_age and prompt=login ask for a fresh sign-in (OIDC Core 3.1.2.1):
// the issuer keeps no session, so the user signs in on the page again and
// auth_time is the time of that sign-in, not of the request.
func TestAuthorize_MaxAgeAndPromptLoginSignInAfresh(t *testing.T) {
	var sec atomic.Int64
	sec.Store(1_800_000_000)
	iss := stepUpIssuer(t, func() time.Time { return time.Unix(sec.Load(), 0) })
	for _, params := range []url.Values{
		authzParams("max_age", "0"),
		authzParams("max_age", "300", "acr_values", "urn:grpcauth:example:mfa"),
		authzParams("prompt", "login"),
		authzParams("prompt", "login consent"),
	} {
		page, code := signInThroughPage(t, iss, params, "writer", func() { sec.Add(90) })
		for _, name := range []string{"max_age", "prompt", "acr_values"} {
			if params.Has(name) && !strings.Contains(page, `name="`+name+`" value="`+html.EscapeString(params.Get(name))+`"`) {
				t.Errorf("%v: the login form does not carry %s", params, name)
			}
		}
		if at := userClaims(t, iss, code)["auth_time"]; at != float64(sec.Load()) {
			t.Errorf("%v: auth_time = %v, want the sign-in's time %d", params, at, sec.Load())
		}
	}
}

// A request without acr_values, max_age or prompt gets the page and the
// token it got before the issuer read them.
func TestAuthorize_RequestWithoutStepUpParametersIsUnchanged(t *testing.T) {
	iss := stepUpIssuer(t, nil)
	page, code := signInThroughPage(t, iss, authzParams(), "writer", nil)
	for _, s := range []string{`name="acr_values"`, `name="max_age"`, `name="prompt"`, "signs in at"} {
		if strings.Contains(page, s) {
			t.Errorf("login page holds %q", s)
		}
	}
	if acr, has := userClaims(t, iss, code)["acr"]; has {
		t.Errorf("acr = %v, want none", acr)
	}
}
