package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/grpcauth/grpcauth/internal/endpoint"
)

// maxPrintedBody bounds how much of a token endpoint's answer that is no
// OAuth 2.0 error (a proxy's error page, say) the client prints, of which
// x/oauth2's own error text holds all, up to 1 MiB; and how much of any
// other failed token request's error text: net/http's may quote a line
// the endpoint sent, up to 1 MiB, and x/oauth2's for an OAuth 2.0 error
// its error_description.
const maxPrintedBody = 512

// tokenError is a failed token request as the client reports it: its text
// has the client secret masked, and is cut to maxPrintedBody bytes (of an
// answer that is no OAuth 2.0 error, its body is). Nothing it unwraps to
// holds the secret: errors.Is asks the request's error (a sentinel, a
// context's end, a network error's kind), which nothing returns, and
// errors.As finds an *oauth2.RetrieveError only as a copy with the secret
// masked (maskedRetrieveError). Before, it unwrapped to the request's
// error, and errors.As or %+v on the chain reached the secret an echo put
// there.
type tokenError struct {
	text string
	orig error                 // the request's error: for Is only
	re   *oauth2.RetrieveError // orig's, masked; nil when it has none
}

func (e *tokenError) Error() string { return e.text }

// Unwrap returns the masked *oauth2.RetrieveError, if any: never orig.
func (e *tokenError) Unwrap() error {
	if e.re == nil {
		return nil
	}
	return e.re
}

// Is reports whether the request's error is, or wraps, target.
func (e *tokenError) Is(target error) bool { return errors.Is(e.orig, target) }

// newTokenError returns err, the error of cfg's token request, as
// tokenError reports it. An endpoint that echoes the request it refuses,
// or names the secret in its error_description, would otherwise put the
// secret on the terminal (and in whatever log captures it).
func newTokenError(err error, cfg config) error {
	e := &tokenError{orig: err}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e.re = maskedRetrieveError(re, cfg)
		if re.ErrorCode == "" && re.Response != nil {
			text := fmt.Sprintf("oauth2: cannot fetch token: %s; response: %s", re.Response.Status, maskedClip(string(re.Body), cfg))
			e.text = maskSecret(text, cfg)
			return e
		}
	}
	e.text = maskedClip(err.Error(), cfg)
	return e
}

// maskedClip returns s with cfg's client secret masked (maskSecret), cut
// then to maxPrintedBody bytes (clip): masked before it is cut, so that
// no part of a secret the cut splits is left.
func maskedClip(s string, cfg config) string { return clip(maskSecret(s, cfg), maxPrintedBody) }

// maskedRetrieveError returns a copy of re with cfg's client secret
// masked (maskSecret) in each text the endpoint chose: the body, the
// error code, description and URI, the status and the response's
// headers. The response keeps no request (which carries the secret, in
// its form or its Authorization header) and no body.
func maskedRetrieveError(re *oauth2.RetrieveError, cfg config) *oauth2.RetrieveError {
	mask := func(s string) string { return maskSecret(s, cfg) }
	c := &oauth2.RetrieveError{
		Body:             []byte(mask(string(re.Body))),
		ErrorCode:        mask(re.ErrorCode),
		ErrorDescription: mask(re.ErrorDescription),
		ErrorURI:         mask(re.ErrorURI),
	}
	if r := re.Response; r != nil {
		c.Response = &http.Response{
			Status: mask(r.Status), StatusCode: r.StatusCode,
			Proto: r.Proto, ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor,
			Header: make(http.Header, len(r.Header)),
		}
		for name, values := range r.Header {
			for _, v := range values {
				c.Response.Header[mask(name)] = append(c.Response.Header[mask(name)], mask(v))
			}
		}
	}
	return c
}

// maskSecret replaces cfg's client secret in s, in each form a token
// request carries it (the Basic credentials, and as it is), also as
// net/http's %q quotes it, as a JSON error body escapes it and as a URL
// encoder writes it (the form's url.QueryEscape among them), with
// "[client secret]" (endpoint.RedactSecrets). A DPoP token request's
// proof is the DPoPTransport's to redact, as it does in its errors.
func maskSecret(s string, cfg config) string {
	if cfg.clientSecret == "" {
		return s
	}
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(cfg.clientID) + ":" + url.QueryEscape(cfg.clientSecret)))
	return endpoint.RedactSecrets(s, []string{basic, cfg.clientSecret}, "[client secret]")
}
