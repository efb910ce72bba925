package jwks

import (
	"fmt"
	"net/url"

	"github.com/grpcauth/grpcauth/internal/endpoint"
)

// CheckURL reports whether raw, a URL the operator configured (an issuer
// or key-set URL), is acceptable (endpoint.Check): an absolute https URL,
// or plain http only when the host is loopback (localhost, 127.0.0.0/8 or
// ::1) so that development and test issuers work. It rejects other
// schemes, a missing host, and userinfo (credentials in a URL would be
// sent to, and logged by, every hop), also an "@" after the host, where a
// password holding "/", "?" or "#" puts the rest of itself. A URL the
// issuer's answers named goes through checkNamedURL instead.
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

// checkURL is CheckURL for a parsed URL the operator configured; its error
// quotes u as endpoint.RedactConfigured does.
func checkURL(u *url.URL) error {
	if err := endpoint.Check(u); err != nil {
		return fmt.Errorf("jwks: %q: %w", endpoint.RedactConfigured(u), err)
	}
	return nil
}

// checkNamedURL is checkURL for a URL that the issuer's answers named (a
// discovery document's jwks_uri, a redirect's target) or that passed
// CheckURL, before each request (endpoint.CheckNamed): an "@" after the
// host is accepted, since it holds no password of the operator's.
func checkNamedURL(u *url.URL) error {
	if err := endpoint.CheckNamed(u); err != nil {
		return fmt.Errorf("jwks: %q: %w", endpoint.Redact(u), err)
	}
	return nil
}

// downgrade returns an error when to, a URL that an answer from the URL
// from named (a discovery document's jwks_uri, a redirect's target; for a
// discovery document, from is the issuer), leaves https for another scheme
// (plain http, even to a loopback host): what an https issuer names must
// come over https too (RFC 8414, section 2; OpenID Connect Discovery 1.0,
// section 3), or anyone on the path could serve its keys, and so must
// what any https URL redirects to: the issuer's discovery document, a
// discovered jwks_uri, a configured JWKSURL (whatever scheme the issuer
// has). rule, ruleIssuer or ruleRedirect, says which in the error.
// url.Parse lowercases schemes.
func downgrade(from, to *url.URL, rule string) error {
	if from.Scheme == "https" && to.Scheme != "https" {
		return fmt.Errorf("jwks: %q: a downgrade from https to %s is refused: %s", endpoint.Redact(to), to.Scheme, rule)
	}
	return nil
}

// The rules of downgrade, for its error.
const (
	ruleIssuer   = "an https issuer's jwks_uri must be https too"
	ruleRedirect = "a redirect from an https URL must stay on https"
)

// RedactString returns raw, a URL the operator configured, as
// endpoint.RedactConfigured does, for logs and errors; an unparsable
// string is replaced by "<invalid URL>" (endpoint.RedactString).
func RedactString(raw string) string { return endpoint.RedactString(raw) }

// redactString is endpoint.Redact for a URL string; an unparsable string is
// replaced by "<invalid URL>".
func redactString(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	return endpoint.Redact(u)
}
