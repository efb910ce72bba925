package jwks

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/httpheader"
)

// statusError is a response that arrived with a status other than 200.
type statusError struct {
	code       int
	retryAfter time.Duration // retryAfter's reading of the response: 0 for none
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP status %d", e.code) }

// retryAfterOf is the longest Retry-After of the statusErrors in err's
// tree, 0 when none has one. A failed discovery round joins the errors of
// its documents, and the 429 or 503 that ended it comes last, after the
// 404s of the documents before it: errors.As would find a 404 first.
func retryAfterOf(err error) time.Duration {
	switch e := err.(type) {
	case *statusError:
		return e.retryAfter
	case interface{ Unwrap() error }:
		return retryAfterOf(e.Unwrap())
	case interface{ Unwrap() []error }:
		var d time.Duration
		for _, err := range e.Unwrap() {
			d = max(d, retryAfterOf(err))
		}
		return d
	}
	return 0
}

// retryAfter is how long the issuer asked, with resp, not to be asked
// again, read against now (Config.Now): a 429's or 503's Retry-After
// (RFC 9110, 10.2.3; RFC 6585, 4), or, for a 429 whose Retry-After is
// absent or blank, its X-Rate-Limit-Reset, the Unix time (seconds, or
// milliseconds from httpheader.MillisecondsFrom on) at which the
// rate-limit window resets, which Okta sends instead (its key set and
// discovery endpoints included). A Retry-After that is there decides, even
// one that does not parse or is 0; an X-Rate-Limit-Reset on any other
// status (Okta sends it with every answer) asks for nothing. It is 0 for
// none, and at most httpheader.DeltaCeiling seconds: the Set holds fetches
// back for it within retryAfterCap, however far away the reset.
func retryAfter(resp *http.Response, now time.Time) time.Duration {
	d, _ := httpheader.Wait(resp, now)
	return d
}

// newClient returns the client a Set uses: a copy of c (or, when c is nil,
// of endpoint.NewClient's client for timeout, which the Set then owns: own
// reports it, so that the Set closes its idle connections, see closeIdle)
// without a cookie jar and with this package's redirect policy.
func newClient(c *http.Client, timeout time.Duration) (client *http.Client, own bool) {
	if c == nil {
		c, own = endpoint.NewClient(timeout, 2), true
	}
	client = new(http.Client)
	*client = *c
	client.Jar = nil // never send or store cookies
	client.CheckRedirect = checkRedirect
	return client, own
}

// checkRedirect follows at most maxRedirects redirects, each to a URL that
// passes checkNamedURL and never from https down to http: no hop of a chain
// that reached https leaves it, even one that started on http. A target
// naming localhost in another case is requested as localhost
// (endpoint.LowerLocalhost), as get requests its URL.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return fmt.Errorf("jwks: stopped after %d redirects", maxRedirects)
	}
	if err := checkNamedURL(req.URL); err != nil {
		return fmt.Errorf("jwks: redirect refused: %w", err)
	}
	if err := downgrade(via[len(via)-1].URL, req.URL, ruleRedirect); err != nil {
		return fmt.Errorf("jwks: redirect refused: %w", err)
	}
	endpoint.LowerLocalhost(req.URL) // the hop is sent for req.URL as left here
	return nil
}

// get fetches rawURL with a GET under ctx and FetchTimeout, and returns the
// body of a 200 response no larger than MaxResponseSize. It sends no
// credentials: no Authorization header, no cookies. A URL naming localhost
// in another case ("http://LOCALHOST:8080/...", from the Issuer, URL or a
// discovery document) is requested as localhost (endpoint.LowerLocalhost),
// the one case in which a given client's environment proxy goes direct
// rather than receive the request in clear text and answer it with a key
// set of its own; the Issuer a discovery document must name is not
// rewritten. Errors name the URL without its query, and hold it nowhere
// else: not where net/http quotes a status or header line that echoed the
// request (endpoint.WithoutSecrets).
func (s *Set) get(ctx context.Context, rawURL string) ([]byte, http.Header, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, nil, err
	}
	if err := checkNamedURL(u); err != nil {
		return nil, nil, err
	}
	endpoint.LowerLocalhost(u)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks: GET %s: %w", endpoint.Redact(u), err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		// Without the URL, which url.Error repeats query and all, nor
		// the query where net/http quotes an echo of the request.
		return nil, nil, fmt.Errorf("jwks: GET %s: %w", endpoint.Redact(u), endpoint.WithoutSecrets(err, req))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		se := &statusError{code: resp.StatusCode, retryAfter: retryAfter(resp, s.cfg.Now())}
		return nil, nil, fmt.Errorf("jwks: GET %s: %w", endpoint.Redact(u), se)
	}
	limit := s.cfg.MaxResponseSize
	if resp.ContentLength > limit {
		return nil, nil, fmt.Errorf("jwks: GET %s: response of %d bytes exceeds the %d-byte limit", endpoint.Redact(u), resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("jwks: GET %s: reading body: %w", endpoint.Redact(u), endpoint.WithoutSecrets(err, req))
	}
	if int64(len(body)) > limit {
		return nil, nil, fmt.Errorf("jwks: GET %s: response exceeds the %d-byte limit", endpoint.Redact(u), limit)
	}
	return body, resp.Header, nil
}
