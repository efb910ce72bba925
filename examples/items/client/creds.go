package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpcauth/grpcauth/internal/endpoint"
)

// isLoopback reports whether addr (host:port) names this machine only:
// "localhost" in any case, 127.0.0.0/8 or ::1 (endpoint.IsLoopback).
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && endpoint.IsLoopback(host)
}

// checkURL accepts an https URL, or an http URL on a loopback host, with
// no user info: the client secret and the tokens travel to these URLs, and
// must not cross a network in clear text; credentials go in CLIENT_ID and
// CLIENT_SECRET, never in a URL, which the client prints. Its errors name
// the URL without user info, query or fragment (endpoint.RedactString).
func checkURL(raw string) error {
	shown := endpoint.RedactString(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad URL %s", shown)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("URL %s has no host", shown)
	case u.User != nil || errors.Is(endpoint.Check(u), endpoint.ErrUserInfo):
		return fmt.Errorf("URL %s holds user info: give credentials in CLIENT_ID and CLIENT_SECRET", shown)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && endpoint.IsLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("URL %s must be https (http only for localhost)", shown)
}

// downgrade returns an error when to, a URL that an answer from the URL
// from named (a discovery document's token_endpoint, whose from is the
// issuer; a redirect's Location), leaves https for plain http, even on a
// loopback host: what an https issuer names must come over https too
// (RFC 8414, section 2), or the client secret could go out in clear text.
// url.Parse lowercases schemes.
func downgrade(from, to *url.URL) error {
	if from.Scheme == "https" && to.Scheme != "https" {
		return fmt.Errorf("client: %s://%s: a downgrade from https to %s is refused: an https issuer's endpoints are https only", to.Scheme, to.Host, to.Scheme)
	}
	return nil
}

// transport returns how to dial addr: PLAINTEXT for a loopback addr, TLS
// (the system's roots) for any other. The access token rides on
// tokencreds.Credentials, which send it over TLS, or over plaintext only
// when the connection's actual peer is on this machine, and refuse
// otherwise: a bearer token sent in clear text to another host can be read
// and replayed by anyone on the path.
func transport(addr string) grpc.DialOption {
	if isLoopback(addr) {
		return grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12}))
}
