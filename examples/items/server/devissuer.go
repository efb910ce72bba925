package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/examples/items/internal/dev"
	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// devIssuer is the embedded development issuer the server starts when no
// ISSUER is set. It knows the three dev clients, whose secrets are
// published; grpcauthtest refuses to listen on anything but loopback.
type devIssuer struct {
	*grpcauthtest.Issuer
}

// startDevIssuer starts the development issuer on addr, a loopback address,
// minting tokens for audience: RFC 9068 tokens (typ at+jwt, client_id,
// scope) when rfc9068, Okta-shaped ones (no typ, cid, scp) otherwise. With
// a pageURL it also signs in the web page's users (web.go). With
// dpopNonces its token endpoint requires a DPoP nonce in proofs.
func startDevIssuer(addr, audience string, rfc9068, dpopNonces bool, pageURL string) (*devIssuer, error) {
	shape := grpcauthtest.ShapeOkta
	if rfc9068 {
		shape = grpcauthtest.ShapeRFC9068
	}
	var nonces dpop.NonceSource
	if dpopNonces {
		n, err := dpop.NewHMACNonces(nil, time.Minute)
		if err != nil {
			return nil, fmt.Errorf("server: development issuer DPoP nonces: %w", err)
		}
		nonces = n
	}
	var clients []grpcauthtest.Client
	for _, c := range dev.Clients() {
		clients = append(clients, grpcauthtest.Client{ID: c.ID, Secret: c.Secret, Scopes: c.Scopes})
	}
	iss, err := grpcauthtest.Start(grpcauthtest.Config{
		Addr:     addr,
		Path:     dev.IssuerPath,
		Audience: audience,
		Shape:    shape,
		Clients:  clients,
		// The web page (web.go) signs its users in with PKCE.
		PublicClients: webClients(pageURL),
		Users:         webUsers(),
		ACRValues:     devACRValues(),
		DPoPNonces:    nonces,
	})
	if err != nil {
		return nil, fmt.Errorf("server: starting the development issuer on %s (set DEV_ISSUER_ADDR to move it, or ISSUER to use a real one): %w", addr, err)
	}
	return &devIssuer{iss}, nil
}

// mfaACR is the acr PurgeItems' step-up asks for (items.proto's
// acr_values), a value of the example's own.
const mfaACR = "urn:grpcauth:example:mfa"

// devACRValues are the acr values the development issuer signs users in
// at when a sign-in asks for some: Okta's predefined ones (the default,
// urn:okta:loa:1fa:any, first) and mfaACR, so that the web page's
// step-up sign-in for PurgeItems gets a token with the acr the rule
// needs (grpcauthtest.Config.ACRValues).
func devACRValues() []string { return append(grpcauthtest.DefaultACRValues(), mfaACR) }

// printUsage prints, ready to paste, the issuer, its clients and the
// commands that get a token and call the server at serverAddr.
func (d *devIssuer) printUsage(out io.Writer, serverAddr string) {
	var b strings.Builder
	b.WriteString("Development issuer: FOR LOCAL DEVELOPMENT ONLY. Its client secrets are published;\n")
	b.WriteString("set ISSUER to use a real authorization server.\n\n")
	fmt.Fprintf(&b, "  issuer:   %s\n", d.URL())
	fmt.Fprintf(&b, "  audience: %s\n", d.Audience())
	b.WriteString("  clients:\n")
	for _, c := range d.Clients() {
		fmt.Fprintf(&b, "    CLIENT_ID=%-13s CLIENT_SECRET=%-24s scopes: %s\n", c.ID, c.Secret, strings.Join(c.Scopes, " "))
	}
	r := dev.Reader
	b.WriteString("\nGet a token for the read-only client:\n\n")
	fmt.Fprintf(&b, "  TOKEN=$(curl -s -u %s:%s -d grant_type=client_credentials -d scope=%s %s | sed -E 's/.*\"access_token\" *: *\"([^\"]+)\".*/\\1/')\n",
		r.ID, r.Secret, strings.Join(r.Scopes, "+"), d.TokenURL())
	b.WriteString("\nCall the service with it (-rpc-header, not -H: -H would send the token to\n")
	b.WriteString("reflection too, and an expired token would then break the method lookup):\n\n")
	fmt.Fprintf(&b, "  grpcurl -plaintext -rpc-header \"authorization: Bearer $TOKEN\" %s items.v1.ItemService/ListItems\n", serverAddr)
	fmt.Fprintf(&b, "  grpcurl -plaintext %s items.v1.ItemService/GetServerInfo   # public: no token needed\n", serverAddr)
	b.WriteString("\nOr run the example client (CLIENT_ID=items-writer or items-admin for more rights):\n\n")
	b.WriteString("  " + clientCommand(d.URL(), serverAddr) + "\n\n")
	fmt.Fprint(out, b.String())
}

// clientCommand is the command that runs the example client against this
// server and issuer; the client's defaults cover the usual addresses.
func clientCommand(issuer, serverAddr string) string {
	cmd := "go run ./examples/items/client"
	if issuer != dev.IssuerURL(dev.IssuerAddr) {
		r := dev.Reader
		cmd = fmt.Sprintf("ISSUER=%s CLIENT_ID=%s CLIENT_SECRET=%s %s", issuer, r.ID, r.Secret, cmd)
	}
	if serverAddr != dev.ServerAddr {
		cmd += " -addr " + serverAddr
	}
	return cmd
}

// devIssuerWarnings returns what a person must know when the development
// issuer runs with cfg: it mints a single aud, the first AUDIENCE, so when
// AUDIENCE lists more, tokens for the others cannot be had from it.
func devIssuerWarnings(cfg config) []string {
	if len(cfg.audiences) < 2 || cfg.skipAudienceCheck {
		return nil
	}
	return []string{fmt.Sprintf("the development issuer mints aud %q only; AUDIENCE also accepts %q, which no development token carries",
		cfg.audiences[0], strings.Join(cfg.audiences[1:], ","))}
}
