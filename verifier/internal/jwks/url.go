package jwks

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/grpcauth/grpcauth/internal/endpoint"
)

// CheckURL reports whether raw is acceptable as an issuer, discovery or key
// URL: an absolute https URL, or plain http only when the host is loopback
// (localhost, 127.0.0.0/8 or ::1) so that development and test issuers work.
// It rejects other schemes, a missing host, and userinfo (credentials in a
// URL would be sent to, and logged by, every hop).
func CheckURL(raw string) error {
	u, err := parseURL(raw)
	if err != nil {
		return err
	}
	return checkURL(u)
}

// parseURL is url.Parse with an error that does not quote raw
// (endpoint.Parse): its query or userinfo may hold a secret, and the error
// reaches logs.
func parseURL(raw string) (*url.URL, error) {
	u, err := endpoint.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("jwks: invalid URL: %w", err)
	}
	return u, nil
}

var errLoopbackOnly = endpoint.ErrLoopbackOnly

func checkURL(u *url.URL) error {
	if err := endpoint.Check(u); err != nil {
		return fmt.Errorf("jwks: %q: %w", redact(u), err)
	}
	return nil
}

// redact returns u without query, fragment or userinfo, for logs and
// errors, clipped to maxLoggedURL bytes: a discovery document names the
// jwks_uri, and whoever controls the issuer's answers can make it as long
// as a response may be. A URL that endpoint.Check refuses for its userinfo
// is replaced by "<URL with userinfo>": an "@" after the host may end a
// password holding "/", "?" or "#", whose start is then the host's port
// and whose rest the path.
func redact(u *url.URL) string {
	if errors.Is(endpoint.Check(u), endpoint.ErrUserInfo) {
		return "<URL with userinfo>"
	}
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return endpoint.Clip(c.String(), maxLoggedURL)
}

// RedactString returns raw, a URL as configured, without query, fragment
// or userinfo, clipped, for logs and errors; an unparsable string is
// replaced by "<invalid URL>".
func RedactString(raw string) string { return redactString(raw) }

// redactString is redact for a URL string; an unparsable string is replaced.
func redactString(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	return redact(u)
}
