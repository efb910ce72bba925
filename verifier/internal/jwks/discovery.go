package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/grpcauth/grpcauth/internal/endpoint"
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
// the jwks_uri to pass checkNamedURL (an "@" in its path is the issuer's
// to name) and, for an https issuer, to be https too (downgrade): plain
// http, loopback included, only for a plain-http (loopback) issuer.
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
	u, err := parseURL(doc.JWKSURI)
	if err == nil {
		err = checkNamedURL(u)
	}
	if err == nil {
		var iss *url.URL
		if iss, err = parseURL(issuer); err == nil {
			err = downgrade(iss, u, ruleIssuer)
		}
	}
	if err != nil {
		return "", fmt.Errorf("jwks: discovered jwks_uri refused: %w", err)
	}
	return doc.JWKSURI, nil
}

// discoveredURL returns the JWKS URL to fetch when it is discovered from
// the Issuer. The URL a discovery found is kept until a fetch from it fails
// (then discovery runs again before the next fetch, and a failed discovery
// fails that fetch: the kept URL has just failed too), or until its
// lifetime has passed (see discoveryLifetime): then discovery runs before
// the next fetch, and when it fails the kept URL is used, without
// rediscovering, for a back-off (see rediscoveryBackoff), so a discovery
// outage never stops key fetching, and a hung discovery endpoint costs one
// fetch its FetchTimeout, not every fetch. Every fetch rediscovers an aged
// URL, scheduled or triggered by an unknown kid: the first token of a key
// the issuer published at a moved jwks_uri is the first sign that the URL
// moved. A flood of forged kids stays within its budget: the fetches it
// triggers are at most one per MinRefreshInterval, each with at most one
// discovery round. It runs inside the one fetch in flight.
func (s *Set) discoveredURL() (string, error) {
	s.mu.Lock()
	kept, failed, expires := s.jwksURL, s.jwksURLFailed, s.jwksURLExpires
	s.mu.Unlock()
	// A lifetime or back-off is at most RefreshInterval: longer left means
	// the clock was set back since, which ends it rather than stretching it
	// (as for a Retry-After, see retryLeft).
	if left := expires.Sub(s.cfg.Now()); kept != "" && !failed && left > 0 && left <= s.cfg.RefreshInterval {
		return kept, nil
	}
	url, lifetime, err := s.discover(s.ctx)
	if err != nil {
		if kept == "" || failed || s.ctx.Err() != nil {
			return "", err
		}
		// The kept URL serves meanwhile; discovery is postponed by the
		// back-off (see rediscoveryBackoff).
		s.mu.Lock()
		s.rediscoveryFailures++
		d := s.rediscoveryBackoff(s.rediscoveryFailures, err)
		s.jwksURLExpires = s.cfg.Now().Add(d)
		s.mu.Unlock()
		s.log.Warn("jwks: rediscovery failed; keeping the discovered JWKS URL",
			"url", redactString(kept), "error", endpoint.ClipError(err), "retry_in", d)
		return kept, nil
	}
	if kept != "" && url != kept {
		s.urlChanges.Add(1)
		s.log.Info("jwks: discovered JWKS URL changed", "old", redactString(kept), "new", redactString(url))
	}
	s.mu.Lock()
	s.jwksURL, s.jwksURLFailed, s.rediscoveryFailures = url, false, 0
	s.jwksURLExpires = s.cfg.Now().Add(lifetime)
	s.mu.Unlock()
	return url, nil
}

// rediscoveryBackoff is how long the kept URL is used without rediscovering
// after the n-th failed rediscovery in a row: twice MinRefreshInterval,
// doubled per further failure, or the Retry-After of a 429 or 503 when
// longer, within the back-off's caps (backoffMax, RefreshInterval). The
// fetches an unknown kid triggers are at least MinRefreshInterval apart, so
// (below the caps) the one after a failed rediscovery never waits for
// another (while discovery hangs, a whole FetchTimeout), and later ones
// ever more rarely.
func (s *Set) rediscoveryBackoff(n int, err error) time.Duration {
	d := max(backoff(s.cfg.MinRefreshInterval, n+1, s.cfg.RefreshInterval), retryAfterOf(err))
	return min(d, backoffMax, s.cfg.RefreshInterval)
}

// discoveryLifetime is how long a discovered JWKS URL is used before a
// fetch rediscovers it: the discovery response's Cache-Control
// max-age clamped to [MinRefreshInterval, RefreshInterval], RefreshInterval
// without one (the same rule as the key set's own refresh), less the
// scheduled waits' jitter, so that a refresh that comes after one full
// RefreshInterval rediscovers even when its wait was jittered short.
func (s *Set) discoveryLifetime(h http.Header) time.Duration {
	d := nextInterval(h, s.cfg.MinRefreshInterval, s.cfg.RefreshInterval)
	return d - time.Duration(float64(d)*jitterFraction)
}

// discover finds the JWKS URL from the issuer's metadata, and how long to
// use it (discoveryLifetime). It tries the next document only when the
// previous one answered (a status other than 200, or a document that is
// invalid or for another issuer); a network failure ends discovery at once,
// and so does a 429 or 503 (the issuer is busy, and the next document is on
// the same host). One FetchTimeout bounds the whole round, not each
// document: three documents that each answered just before their own
// timeout would make the round last three, and the fetch four with its
// JWKS request.
func (s *Set) discover(ctx context.Context) (string, time.Duration, error) {
	if s.cfg.Issuer == "" {
		return "", 0, errors.New("jwks: neither URL nor Issuer is configured")
	}
	if err := CheckURL(s.cfg.Issuer); err != nil {
		return "", 0, fmt.Errorf("jwks: issuer refused: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.FetchTimeout)
	defer cancel()
	var errs []error
	for _, u := range discoveryURLs(s.cfg.Issuer) {
		s.discoveries.Add(1)
		body, header, err := s.get(ctx, u)
		if err == nil {
			uri, err := parseDiscovery(body, s.cfg.Issuer)
			if err == nil {
				return uri, s.discoveryLifetime(header), nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", redactString(u), err))
			continue
		}
		errs = append(errs, err)
		var se *statusError
		if !errors.As(err, &se) {
			break // the issuer is unreachable; the next document would fail the same way
		}
		if se.code == http.StatusTooManyRequests || se.code == http.StatusServiceUnavailable {
			break // the issuer is busy: the next document waits for the back-off and its Retry-After
		}
	}
	return "", 0, fmt.Errorf("jwks: discovery failed: %w", errors.Join(errs...))
}
