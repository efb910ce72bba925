package web

import "embed"

// Files holds index.html, app.js and style.css at its root.
//
//go:embed index.html app.js style.css
var Files embed.FS

// Config is the JSON the page reads from /config.json: where to sign in,
// and as which client.
type Config struct {
	// Issuer is the issuer identifier; the page checks the iss parameter
	// of the authorization response against it (RFC 9207 §2.4).
	Issuer string `json:"issuer"`
	// AuthorizationEndpoint is where the page sends the person to sign in.
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	// TokenEndpoint is where the page exchanges the code for a token.
	TokenEndpoint string `json:"token_endpoint"`
	// ClientID is the page's public client id at the issuer.
	ClientID string `json:"client_id"`
	// RedirectURI is the page's own URL, registered at the issuer.
	RedirectURI string `json:"redirect_uri"`
	// Scope is the scope the page asks for (space-separated).
	Scope string `json:"scope"`
	// IssParameterSupported is the issuer's metadata of the same name
	// (RFC 9207 §3): when true, the page refuses an authorization
	// response without iss.
	IssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}
