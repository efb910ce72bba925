package grpcauthtest

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/internal/ascii"
	"github.com/grpcauth/grpcauth/internal/endpoint"
)

// Shape selects the layout of the access tokens an Issuer mints.
type Shape int

const (
	// ShapeOkta (the default) mirrors an Okta custom authorization server:
	// scopes in "scp" as a JSON array, the client id in "cid", "ver": 1 and
	// no "typ" header (Okta's header is only kid and alg).
	ShapeOkta Shape = iota
	// ShapeRFC9068 follows RFC 9068 (JWT access-token profile): scopes in
	// "scope" as a space-separated string, the client id in "client_id" and
	// the header "typ": "at+jwt".
	ShapeRFC9068
)

// String returns "okta" or "rfc9068".
func (s Shape) String() string {
	switch s {
	case ShapeOkta:
		return "okta"
	case ShapeRFC9068:
		return "rfc9068"
	default:
		return fmt.Sprintf("Shape(%d)", int(s))
	}
}

// typ is the JOSE "typ" header of the shape's tokens, "" for none.
func (s Shape) typ() string {
	if s == ShapeRFC9068 {
		return "at+jwt"
	}
	return ""
}

// clientIDClaim is the claim carrying the client id in the shape's tokens.
func (s Shape) clientIDClaim() string {
	if s == ShapeRFC9068 {
		return "client_id"
	}
	return "cid"
}

// scopeClaim returns the shape's scope claim name and value for scopes.
func (s Shape) scopeClaim(scopes []string) (string, any) {
	if s == ShapeRFC9068 {
		return "scope", strings.Join(scopes, " ")
	}
	return "scp", append([]string{}, scopes...)
}

// Client is an OAuth 2.0 confidential client that may use the token
// endpoint's client-credentials grant. See PublicClient for browser pages.
type Client struct {
	ID     string   // client_id; required, unique
	Secret string   // client_secret; required (clients without one are PublicClients)
	Scopes []string // the scopes the client may request; a request without "scope" gets all of them
}

// Config configures an Issuer. The zero value is usable: an RS256, Okta-shaped
// issuer on a random loopback port with no clients.
type Config struct {
	// Addr is the TCP listen address. Default "127.0.0.1:0" (a random free
	// loopback port). Only loopback addresses (127.0.0.0/8, ::1, localhost)
	// are accepted unless InsecureAllowNonLoopback is set. URL, and so the
	// iss of every token, names the IP address listened on, never a host
	// name: with "localhost:0" it is http://127.0.0.1:PORT/... (or
	// http://[::1]:PORT/...), so compare iss with URL(), not with a URL
	// built from Addr. An address of every interface (with
	// InsecureAllowNonLoopback) gives the loopback address of its family:
	// 127.0.0.1 for "0.0.0.0:0", [::1] for "[::]:0", and for ":0" that of
	// the socket Go opened ([::1] where the host has IPv6).
	Addr string
	// InsecureAllowNonLoopback allows Addr to name a non-loopback address.
	// The issuer has known client secrets and signs whatever it is asked to,
	// so exposing it beyond the machine is unsafe; set this only in an
	// isolated development network. Start logs a warning (to Logger) when
	// it listens beyond loopback.
	InsecureAllowNonLoopback bool
	// Logger receives the issuer's warnings: at present the one Start logs
	// when InsecureAllowNonLoopback lets it listen on a non-loopback
	// address. Default slog.Default().
	Logger *slog.Logger
	// Path is the issuer path under the server root. Default "/oauth2/default",
	// so URL() looks like an Okta custom authorization server. "/" makes the
	// issuer the server root. Letters, digits and "-._~/" only.
	Path string
	// Algorithm is the signing algorithm of the first key and of RotateKey:
	// "RS256" (default, 2048-bit RSA), "ES256" (P-256) or "EdDSA" (Ed25519).
	// RS384, RS512, PS256, PS384, PS512, ES384 and ES512 are accepted too,
	// and "Ed25519" (RFC 9864): an Ed25519 key whose JWK and tokens say
	// "alg":"Ed25519" instead of the deprecated "EdDSA".
	Algorithm string
	// Shape is the token layout; default ShapeOkta.
	Shape Shape
	// Audience is the "aud" claim (a string) of minted tokens. Default
	// "api://default", Okta's default audience.
	Audience string
	// Clients are the clients the token endpoint accepts.
	Clients []Client
	// DPoPNonces, when set, makes the token endpoint require a server
	// nonce in DPoP proofs, as Okta does (RFC 9449, section 8): a token
	// request whose proof has no nonce, or one DPoPNonces does not accept,
	// gets 400 {"error":"use_dpop_nonce"}, and every answer to a request
	// with a DPoP header carries DPoPNonces.Nonce in a DPoP-Nonce header,
	// for the client's next proof. dpop.NewHMACNonces(nil, time.Minute)
	// makes one; a test keeps it to put its Nonce in hand-made proofs.
	// Requests without a DPoP header (bearer tokens) need no nonce. A
	// nonce no client could send back (not 1 to dpop.MaxNonceLen
	// printable ASCII characters other than space, '"' and '\', such as
	// "" from a custom source) is never sent: such a request gets 500
	// {"error":"server_error"}. Default nil: no nonce is required (one
	// sent anyway is ignored).
	DPoPNonces dpop.NonceSource
	// PublicClients are the public clients (pages in a browser, native
	// apps) that sign users in at AuthorizeURL with the authorization-code
	// grant and PKCE (S256). Their IDs must differ from Clients' IDs.
	PublicClients []PublicClient
	// Users are the accounts the login page at AuthorizeURL offers; a
	// token for a user has sub, the public client's id, the user's granted
	// scopes and auth_time, and, in ShapeOkta, uid (Okta's user-id claim,
	// here the user's Subject, as sub is).
	Users []User
	// ACRValues are the authentication context class references (acr) the
	// login page at AuthorizeURL signs users in at, for authorization
	// requests that ask for some with acr_values (OIDC Core, 3.1.2.1;
	// the step-up of RFC 9470). A user token gets as its acr claim the
	// first requested value among these, or, when the request names none
	// of them, the first of these, the issuer's default (OIDC lets the
	// provider answer with another class than requested; the resource
	// server then refuses the token if it needs one). Choosing a user on
	// the page counts as signing in at that class: there is still no
	// password. A request without acr_values, or whose acr_values lists
	// no value (spaces only), gets a token without acr.
	// Each value is 1 or more printable ASCII characters other than
	// space, '"' and '\'; no duplicates. Default DefaultACRValues():
	// Okta's predefined values, urn:okta:loa:1fa:any first. A server whose
	// rules ask for values of its own (the items example's
	// urn:grpcauth:example:mfa) lists them here.
	ACRValues []string
	// AuthCodeLifetime is how long an authorization code may be exchanged;
	// default DefaultAuthCodeLifetime (1m). Each code works once.
	AuthCodeLifetime time.Duration
	// TokenLifetime is exp - iat of minted tokens, and the token endpoint's
	// expires_in. Default 1h (Okta's default access-token lifetime).
	TokenLifetime time.Duration
	// Now is the issuer's clock: the iat and exp of the tokens it mints,
	// and also the lifetime of authorization codes, the expiry checks of
	// the introspection endpoint, the DPoP nonces, and the iat window of
	// the token endpoint's DPoP proofs (give DPoPKey.Now the same clock, or
	// proofs made by time.Now are refused as too old or too new). Default
	// time.Now.
	Now func() time.Time

	// pooledKeys takes RSA keys from rsaPool; set by NewIssuer.
	pooledKeys bool
}

// Defaults applied by Start for zero Config fields.
const (
	DefaultAddr          = "127.0.0.1:0"
	DefaultPath          = "/oauth2/default"
	DefaultAlgorithm     = "RS256"
	DefaultAudience      = "api://default"
	DefaultTokenLifetime = time.Hour
	// DefaultClientID is the "sub" and client-id claim of tokens made by Mint
	// when the claims do not set them.
	DefaultClientID = "test-client"
)

// ErrNonLoopback is returned by Start when Config.Addr is not a loopback
// address and Config.InsecureAllowNonLoopback is false.
var ErrNonLoopback = errors.New("grpcauthtest: refusing to listen on a non-loopback address (set InsecureAllowNonLoopback to override)")

// withDefaults validates cfg and returns a copy with defaults filled in and
// the clients deep-copied.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	switch cfg.Path {
	case "":
		cfg.Path = DefaultPath
	case "/":
		cfg.Path = ""
	default:
		if err := checkPath(cfg.Path); err != nil {
			return cfg, err
		}
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = DefaultAlgorithm
	}
	if _, ok := keyGenerators[cfg.Algorithm]; !ok {
		return cfg, fmt.Errorf("grpcauthtest: unsupported algorithm %q", cfg.Algorithm)
	}
	if cfg.Shape != ShapeOkta && cfg.Shape != ShapeRFC9068 {
		return cfg, fmt.Errorf("grpcauthtest: unknown shape %v", cfg.Shape)
	}
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience
	}
	if cfg.TokenLifetime < 0 {
		return cfg, fmt.Errorf("grpcauthtest: negative TokenLifetime %v", cfg.TokenLifetime)
	}
	if cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	clients := make([]Client, len(cfg.Clients))
	seen := make(map[string]bool, len(cfg.Clients))
	for n, c := range cfg.Clients {
		switch {
		case c.ID == "":
			return cfg, fmt.Errorf("grpcauthtest: client %d has no ID", n)
		case c.Secret == "":
			return cfg, fmt.Errorf("grpcauthtest: client %q has no Secret", c.ID)
		case seen[c.ID]:
			return cfg, fmt.Errorf("grpcauthtest: duplicate client ID %q", c.ID)
		}
		for _, s := range c.Scopes {
			if !ascii.IsNQChars(s) {
				return cfg, fmt.Errorf("grpcauthtest: client %q has invalid scope %q", c.ID, s)
			}
		}
		seen[c.ID] = true
		c.Scopes = append([]string(nil), c.Scopes...)
		clients[n] = c
	}
	cfg.Clients = clients
	if err := cfg.checkAuthorize(seen); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// checkPath accepts "/seg/seg" made of RFC 3986 unreserved characters.
func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//") {
		return fmt.Errorf("grpcauthtest: Path %q must start with / and not end with / or contain //", p)
	}
	for _, r := range p {
		ok := r == '/' || r == '-' || r == '.' || r == '_' || r == '~' ||
			'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
		if !ok {
			return fmt.Errorf("grpcauthtest: Path %q has a character other than letters, digits and -._~/", p)
		}
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("grpcauthtest: Path %q has a dot segment", p)
		}
	}
	return nil
}

// checkLoopback reports whether addr's host is a loopback IP or "localhost".
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("grpcauthtest: bad Addr %q: %w", addr, err)
	}
	if endpoint.IsLoopback(host) {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrNonLoopback, addr)
}

// splitScope splits a scope parameter at its spaces (RFC 6749 §3.3
// separates scope-tokens with SP only, so a tab or a newline stays inside a
// token, which ascii.IsNQChars then refuses). Extra spaces are tolerated.
func splitScope(scope string) []string {
	return strings.FieldsFunc(scope, func(r rune) bool { return r == ' ' })
}
