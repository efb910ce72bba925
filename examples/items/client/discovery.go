package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxDiscoveryBytes bounds the discovery document the client reads.
const maxDiscoveryBytes = 1 << 20

// errNoDiscovery reports that the issuer serves no usable discovery
// document, so the caller may fall back to Okta's token endpoint layout.
var errNoDiscovery = errors.New("client: no OpenID discovery document")

// discoverTokenURL reads {issuer}/.well-known/openid-configuration and
// returns its token_endpoint. The document's issuer must equal issuer (OIDC
// Discovery §4.3), so a misconfigured ISSUER fails here rather than later
// with tokens the server will not accept. The token_endpoint gets the
// client secret: it must pass checkURL and, for an https issuer, be https
// too (no downgrade to plain http, not even on loopback).
func discoverTokenURL(ctx context.Context, hc *http.Client, issuer string) (string, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("client: discovery request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("client: discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "", fmt.Errorf("%w at %s", errNoDiscovery, u)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("client: discovery: %s answered %s", u, resp.Status)
	}
	var doc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDiscoveryBytes)).Decode(&doc); err != nil {
		return "", fmt.Errorf("client: discovery: decoding %s: %w", u, err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("client: discovery: %s names issuer %q, not %q", u, doc.Issuer, issuer)
	}
	if doc.TokenEndpoint == "" {
		return "", fmt.Errorf("%w: %s has no token_endpoint", errNoDiscovery, u)
	}
	// The client secret goes to this URL: the same rule as for TOKEN_URL
	// (https, or http only on this host), whoever wrote the document, and
	// https for an https issuer, loopback or not.
	if err := checkURL(doc.TokenEndpoint); err != nil {
		return "", fmt.Errorf("client: discovery: token_endpoint of %s: %w", u, err)
	}
	iss, err := url.Parse(issuer)
	if err != nil {
		return "", fmt.Errorf("client: bad issuer URL: %w", err)
	}
	te, err := url.Parse(doc.TokenEndpoint)
	if err != nil {
		return "", fmt.Errorf("client: discovery: token_endpoint of %s: %w", u, err)
	}
	if err := downgrade(iss, te); err != nil {
		return "", fmt.Errorf("client: discovery: token_endpoint of %s: %w", u, err)
	}
	return doc.TokenEndpoint, nil
}

// tokenURL returns the issuer's token endpoint: the discovery document's
// token_endpoint, or, when the issuer serves no discovery document, Okta's
// {issuer}/v1/token.
func tokenURL(ctx context.Context, hc *http.Client, issuer string) (string, error) {
	u, err := discoverTokenURL(ctx, hc, issuer)
	if errors.Is(err, errNoDiscovery) {
		return strings.TrimSuffix(issuer, "/") + "/v1/token", nil
	}
	return u, err
}
