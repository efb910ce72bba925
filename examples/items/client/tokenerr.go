package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/grpcauth/grpcauth/internal/endpoint"
)

// maxPrintedBody bounds how much of a token endpoint's answer that is no
// OAuth 2.0 error (a proxy's error page, say) the client prints.
// x/oauth2's own error text holds all of it, up to 1 MiB.
const maxPrintedBody = 512

// tokenError is a failed token request as the client reports it: its text
// has the client secret masked, and an answer that is no OAuth 2.0 error
// cut to maxPrintedBody bytes. It wraps the request's error.
type tokenError struct {
	err  error
	text string
}

func (e *tokenError) Error() string { return e.text }
func (e *tokenError) Unwrap() error { return e.err }

// newTokenError returns err, the error of cfg's token request, as
// tokenError reports it. An endpoint that echoes the request it refuses,
// or names the secret in its error_description, would otherwise put the
// secret on the terminal (and in whatever log captures it).
func newTokenError(err error, cfg config) error {
	text := err.Error()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "" && re.Response != nil {
		// Masked before it is cut, so that no part of a secret the cut
		// splits is left.
		body := clip(maskSecret(string(re.Body), cfg), maxPrintedBody)
		text = fmt.Sprintf("oauth2: cannot fetch token: %s; response: %s", re.Response.Status, body)
	}
	return &tokenError{err: err, text: maskSecret(text, cfg)}
}

// maskSecret replaces cfg's client secret in s, in each form a token
// request carries it (the Basic credentials, URL-escaped in the form, and
// as it is), also as net/http's %q quotes it, with "[client secret]"
// (endpoint.RedactSecrets). A DPoP token request's proof is the
// DPoPTransport's to redact, as it does in its errors.
func maskSecret(s string, cfg config) string {
	if cfg.clientSecret == "" {
		return s
	}
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(cfg.clientID) + ":" + url.QueryEscape(cfg.clientSecret)))
	return endpoint.RedactSecrets(s, []string{basic, url.QueryEscape(cfg.clientSecret), cfg.clientSecret}, "[client secret]")
}
