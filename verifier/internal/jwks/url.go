package jwks

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckURL reports whether raw is acceptable as an issuer, discovery or key
// URL: an absolute https URL, or plain http only when the host is loopback
// (localhost, 127.0.0.0/8 or ::1) so that development and test issuers work.
// It rejects other schemes, a missing host, and userinfo (credentials in a
// URL would be sent to, and logged by, every hop).
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("jwks: invalid URL: %w", err)
	}
	return checkURL(u)
}

var errLoopbackOnly = errors.New("plain http is allowed only for loopback hosts (localhost, 127.0.0.0/8, ::1)")

func checkURL(u *url.URL) error {
	if u.User != nil {
		return errors.New("jwks: URL must not contain userinfo")
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return fmt.Errorf("jwks: URL %q has no host", redact(u))
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("jwks: URL %q: %w", redact(u), errLoopbackOnly)
	default:
		return fmt.Errorf("jwks: URL %q: scheme must be https", redact(u))
	}
}

// isLoopback reports whether host (without port or brackets) names the
// loopback interface. Only the literal name "localhost" is trusted; other
// names are not resolved, so DNS cannot turn a remote host into a loopback one.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redact returns u without query, fragment or userinfo, for logs and errors.
func redact(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return c.String()
}

// redactString is redact for a URL string; an unparsable string is replaced.
func redactString(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	return redact(u)
}
