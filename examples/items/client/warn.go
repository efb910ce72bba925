package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// tokenWarnings returns what a person should know about an access token
// before the server sees it: that it is opaque (not a JWT, which the server
// cannot verify locally; RFC 8707 servers issue one unless RESOURCE is
// set), or that its aud lacks the AUDIENCE or RESOURCE the client asked
// for (the development issuer, for one, ignores the parameter and mints the
// server's audience). It reads the payload without verifying it: the
// server verifies; this only explains.
func tokenWarnings(token string, cfg config) []string {
	claims, ok := jwtClaims(token)
	if !ok {
		w := "the access token is not a JWT: the server verifies JWTs only, so every call that needs a token will be Unauthenticated"
		if cfg.resource == "" {
			w += "; an RFC 8707 authorization server (oidc-provider, ORY Hydra) issues a JWT only when RESOURCE names the API"
		}
		return []string{w}
	}
	var auds []string
	switch a := claims["aud"].(type) {
	case string:
		auds = []string{a}
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok {
				auds = append(auds, s)
			}
		}
	}
	var out []string
	for _, asked := range []struct{ name, v string }{{"AUDIENCE", cfg.audience}, {"RESOURCE", cfg.resource}} {
		if asked.v == "" || slices.Contains(auds, asked.v) {
			continue
		}
		// The aud values are the issuer's: quoted as the report quotes
		// a server's text, invisible characters escaped.
		w := fmt.Sprintf("%s is %s but the token's aud is %s", asked.name, quote(asked.v), quote(clip(strings.Join(auds, ","), maxPrinted)))
		if cfg.devIssuer {
			w += ": the development issuer ignores it and mints the server's first AUDIENCE"
		}
		out = append(out, w)
	}
	return out
}

// jwtClaims decodes, without verifying, the payload of a compact JWS.
func jwtClaims(token string) (map[string]any, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, false
	}
	var claims map[string]any
	if json.Unmarshal(b, &claims) != nil {
		return nil, false
	}
	return claims, true
}
