package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// isLoopback reports whether addr (host:port) names this machine only:
// "localhost", 127.0.0.0/8 or ::1.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && isLoopbackHost(host)
}

// isLoopbackHost reports whether host (no port) is "localhost", in
// 127.0.0.0/8 or ::1.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkURL accepts an https URL, or an http URL on a loopback host: the
// client secret and the tokens travel to these URLs, and must not cross a
// network in clear text.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("client: bad URL %q: %w", raw, err)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("client: URL %q has no host", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("client: URL %q must be https (http only for localhost)", raw)
}

// transport returns how to dial addr and the per-RPC credentials that carry
// the access token from ts.
//
// A non-loopback addr gets TLS (the system's roots), and credentials that,
// like grpc-go's oauth.TokenSource, refuse to send a token over a
// connection without transport security.
//
// A loopback addr gets PLAINTEXT, and credentials that send the bearer
// token WITHOUT TRANSPORT SECURITY. That is acceptable only because the
// bytes never leave the machine: a bearer token sent in clear text to
// another host can be read and replayed by anyone on the path. It is for
// the local example only, and there is deliberately no switch to use it for
// any other address.
func transport(addr string, ts oauth2.TokenSource) (grpc.DialOption, credentials.PerRPCCredentials) {
	if isLoopback(addr) {
		return grpc.WithTransportCredentials(insecure.NewCredentials()), tokenCreds{ts: ts, insecureLoopback: true}
	}
	tc := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	return grpc.WithTransportCredentials(tc), tokenCreds{ts: ts}
}

// tokenCreds puts "authorization: Bearer <token>" on every call. It does
// what grpc-go's oauth.TokenSource does (which this example does not use
// only because that package links Google Cloud's metadata client into the
// module), plus the loopback exception described at transport.
type tokenCreds struct {
	ts oauth2.TokenSource
	// insecureLoopback lets the token travel without transport security.
	// INSECURE: set only for loopback addresses; see transport.
	insecureLoopback bool
}

// GetRequestMetadata returns the authorization header with a current token.
func (c tokenCreds) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	if !c.insecureLoopback {
		ri, _ := credentials.RequestInfoFromContext(ctx)
		if err := credentials.CheckSecurityLevel(ri.AuthInfo, credentials.PrivacyAndIntegrity); err != nil {
			return nil, fmt.Errorf("client: refusing to send a token without transport security: %w", err)
		}
	}
	tok, err := c.ts.Token()
	if err != nil {
		return nil, fmt.Errorf("client: getting an access token: %w", err)
	}
	return map[string]string{"authorization": tok.Type() + " " + tok.AccessToken}, nil
}

// RequireTransportSecurity reports whether grpc-go must refuse to use the
// credentials on a connection without transport security: always, except
// for the loopback exception.
func (c tokenCreds) RequireTransportSecurity() bool { return !c.insecureLoopback }
