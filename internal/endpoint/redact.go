package endpoint

import (
	"errors"
	"net/url"
	"strings"
)

// MaxLoggedURL is how many bytes of a URL, without its user info, query
// and fragment, Redact lets into a log line or an error.
const MaxLoggedURL = 256

// Placeholders that RedactConfigured and ForConfig write instead of a URL.
const (
	userInfoURL = "<URL with userinfo>"
	invalidURL  = "<invalid URL>"
)

// Redact returns u without user info, query or fragment, for logs and
// errors, clipped to MaxLoggedURL bytes: a discovery document names the
// jwks_uri, and whoever controls the issuer's answers can make it as long
// as a response may be. It is for a URL that an authorization server
// named or that passed Check; one the operator configured, which may not
// have, goes through RedactConfigured.
func Redact(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return Clip(c.String(), MaxLoggedURL)
}

// RedactConfigured is Redact for a URL the operator configured: one that
// Check refuses for its user info (ErrUserInfo) reads "<URL with
// userinfo>", since an "@" after the host may end a password holding "/",
// "?" or "#", whose start is then the host's port and whose rest the
// path.
func RedactConfigured(u *url.URL) string {
	if errors.Is(Check(u), ErrUserInfo) {
		return userInfoURL
	}
	return Redact(u)
}

// RedactString is RedactConfigured for raw, a URL as the operator
// configured it; one that does not parse reads "<invalid URL>".
func RedactString(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return invalidURL
	}
	return RedactConfigured(u)
}

// ForConfig returns raw, a URL field of a Config, as a printed or logged
// Config shows it (verifier.Config's Issuer and JWKSURL,
// introspect.Config's Endpoint and Issuer): raw itself when it parses and
// holds no "@", "?" or "#", and otherwise as RedactString names it in
// errors, with "?…" and "#…" marking a query and a fragment that were
// dropped (a key set's or an endpoint's query may carry an API key).
func ForConfig(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return invalidURL
	case !strings.ContainsAny(raw, "@?#"):
		return raw
	}
	r := RedactConfigured(u)
	if r == userInfoURL {
		return r
	}
	if u.RawQuery != "" || u.ForceQuery {
		r += "?…"
	}
	if u.Fragment != "" || u.RawFragment != "" {
		r += "#…"
	}
	return r
}
