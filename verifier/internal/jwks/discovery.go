package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// discoveryURLs lists, in order, the metadata documents tried for issuer:
// OpenID Connect discovery, then RFC 8414 authorization-server metadata in
// the appended form Okta and others serve, then (for an issuer with a path)
// the RFC 8414 §3.1 form with the well-known segment inserted before the path.
func discoveryURLs(issuer string) []string {
	base := strings.TrimSuffix(issuer, "/")
	urls := []string{
		base + "/.well-known/openid-configuration",
		base + "/.well-known/oauth-authorization-server",
	}
	if u, err := url.Parse(issuer); err == nil && strings.Trim(u.Path, "/") != "" {
		v := *u
		v.Path = "/.well-known/oauth-authorization-server" + strings.TrimSuffix(u.Path, "/")
		v.RawPath = ""
		urls = append(urls, v.String())
	}
	return urls
}

// parseDiscovery reads the jwks_uri from a discovery document, requiring its
// "issuer" to equal issuer exactly (RFC 8414 §3.3, OIDC Discovery §4.3) and
// the jwks_uri to pass CheckURL.
func parseDiscovery(body []byte, issuer string) (string, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("jwks: discovery document is not valid JSON: %w", err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("jwks: discovery document issuer %q does not equal the configured issuer %q", clip(doc.Issuer), issuer)
	}
	if doc.JWKSURI == "" {
		return "", errors.New("jwks: discovery document has no jwks_uri")
	}
	if err := CheckURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("jwks: discovered jwks_uri refused: %w", err)
	}
	return doc.JWKSURI, nil
}

// discover finds the JWKS URL from the issuer's metadata. It tries the next
// document only when the previous one answered (a status other than 200, or
// a document that is invalid or for another issuer); a network failure ends
// discovery at once.
func (s *Set) discover(ctx context.Context) (string, error) {
	if s.cfg.Issuer == "" {
		return "", errors.New("jwks: neither URL nor Issuer is configured")
	}
	if err := CheckURL(s.cfg.Issuer); err != nil {
		return "", fmt.Errorf("jwks: issuer refused: %w", err)
	}
	var errs []error
	for _, u := range discoveryURLs(s.cfg.Issuer) {
		s.discoveries.Add(1)
		body, _, err := s.get(ctx, u)
		if err == nil {
			uri, err := parseDiscovery(body, s.cfg.Issuer)
			if err == nil {
				return uri, nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", redactString(u), err))
			continue
		}
		errs = append(errs, err)
		var se *statusError
		if !errors.As(err, &se) {
			break // the issuer is unreachable; the next document would fail the same way
		}
	}
	return "", fmt.Errorf("jwks: discovery failed: %w", errors.Join(errs...))
}
