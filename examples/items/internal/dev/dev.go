package dev

// ServerAddr is the address the example server listens on by default and
// the example client dials by default.
const ServerAddr = "127.0.0.1:50051"

// IssuerAddr is the loopback address the server's embedded development
// issuer listens on by default. It is fixed, not chosen by the kernel, so
// that the issuer URL, and the commands the server prints, are the same on
// every run.
const IssuerAddr = "127.0.0.1:50052"

// IssuerPath is the path of the development issuer's identifier, shaped like
// an Okta custom authorization server's.
const IssuerPath = "/oauth2/default"

// Audience is the aud value of the development issuer's tokens and the
// server's default expected audience, the same as Okta's default custom
// authorization server.
const Audience = "api://default"

// The scopes of the items example.
const (
	ScopeRead  = "items:read"
	ScopeWrite = "items:write"
	ScopeAdmin = "items:admin"
)

// Client is one OAuth 2.0 client of the development issuer.
type Client struct {
	// ID is the client id.
	ID string
	// Secret is the client secret. It is a published development value.
	Secret string
	// Scopes are the scopes the client may request; a token request that
	// asks for none gets all of them.
	Scopes []string
}

// The development issuer's clients, from least to most privileged.
var (
	// Reader may only read items.
	Reader = Client{ID: "items-reader", Secret: "dev-only-reader-secret", Scopes: []string{ScopeRead}}
	// Writer may read and create items, and delete those it owns.
	Writer = Client{ID: "items-writer", Secret: "dev-only-writer-secret", Scopes: []string{ScopeRead, ScopeWrite}}
	// Admin may do everything but PurgeItems, whose step-up asks for a
	// person's recent multi-factor sign-in, which no client-credentials
	// token carries.
	Admin = Client{ID: "items-admin", Secret: "dev-only-admin-secret", Scopes: []string{ScopeRead, ScopeWrite, ScopeAdmin}}
)

// Clients returns Reader, Writer and Admin, in that order.
func Clients() []Client { return []Client{Reader, Writer, Admin} }

// IssuerURL returns the development issuer's identifier when it listens on
// addr (a host:port), e.g. "http://127.0.0.1:50052/oauth2/default".
func IssuerURL(addr string) string { return "http://" + addr + IssuerPath }
