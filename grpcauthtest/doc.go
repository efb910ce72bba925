// Package grpcauthtest runs an in-process OAuth 2.0 authorization server for
// tests and local development, in the spirit of net/http/httptest.
//
// An Issuer listens on a loopback port and serves, under its issuer URL
// (by default http://127.0.0.1:PORT/oauth2/default, shaped like an Okta
// custom authorization server):
//
//	{URL}/.well-known/openid-configuration     OIDC discovery
//	{URL}/.well-known/oauth-authorization-server  RFC 8414 metadata
//	/.well-known/oauth-authorization-server{path}  the same, at RFC 8414's section 3.1 location
//	{URL}/v1/keys                               JWKS (public keys only)
//	{URL}/v1/token                              client-credentials and authorization-code grants
//	                                            (DPoP-bound tokens with a DPoP header)
//	{URL}/v1/introspect                         token introspection (RFC 7662)
//	{URL}/v1/authorize                          login page, with Config.PublicClients
//
// With Config.PublicClients and Config.Users it also signs people in, for a
// page in a browser under development: the authorization-code grant with
// PKCE (S256 only) and, with a dpop_jkt parameter, the code bound to that
// DPoP key (RFC 9449, section 10), a login page to pick one of the fixed
// users (no passwords), and user tokens with sub, scp, cid, uid (Okta's
// user-id claim, here the user's Subject) and auth_time (in RFC 9068's
// shape scope and client_id, and no uid), and acr when the request asked
// for one with acr_values (Config.ACRValues; max_age and prompt=login are
// met by every sign-in, which is always fresh).
// The token endpoint then answers CORS for the public clients'
// redirect-URI origins. docs/browsers.md shows it behind the items
// example's web page.
//
// Tokens are signed with jwx (RS256 by default; ES256, EdDSA, RFC 9864's
// Ed25519 and the other RS, PS and ES algorithms selectable; an Ed25519 token is assembled around jwx's EdDSA
// signature, since jwx v2 cannot write that alg) in Okta's shape ("scp" array, "cid") or RFC 9068's ("scope" string,
// "client_id", typ "at+jwt"). Tests can also mint arbitrary tokens, including
// deliberately broken ones, with Mint and its options, and rotate keys with
// RotateKey and RemoveKey. MintOpaque issues opaque tokens, which only the
// introspection endpoint can vouch for, and Revoke makes any token inactive
// there. DPoPKey makes DPoP proofs (RFC 9449) and WithDPoPKey binds a minted
// token to its key; with Config.DPoPNonces the token endpoint requires a
// server nonce in DPoP proofs (400 use_dpop_nonce and a DPoP-Nonce header,
// as Okta does); see docs/dpop.md. WithACR and WithAuthTime set the
// step-up claims (docs/conditions.md); WithIssuerKey signs with another
// (even a removed) issuer key and WithKidHeader names any kid. No jwx type
// appears in the API: keys are the standard library's.
//
// NewIssuer keeps its RSA keys between test runs, in the user's cache
// directory, so that a suite does not spend its CPU generating them; each
// kept key is handed out at most once per process, and Start always
// generates fresh ones.
//
// The issuer knows its clients' secrets and signs whatever it is asked to: it
// refuses non-loopback listen addresses unless
// Config.InsecureAllowNonLoopback is set (and then logs a warning to
// Config.Logger at start when it listens beyond loopback), and on a loopback address answers
// loopback host names only (421 otherwise), against DNS rebinding. Never
// run it as a real issuer.
//
// Usage in a test:
//
//	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{
//		Clients: []grpcauthtest.Client{{ID: "svc", Secret: "s3cret", Scopes: []string{"items:read"}}},
//	})
//	v, err := verifier.New(ctx, verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
//	...
//	tok, err := iss.Token("svc", "items:read")                 // a good token
//	expired, err := iss.Mint(map[string]any{"exp": time.Unix(0, 0)}) // a bad one
//	forged, err := iss.Mint(nil, grpcauthtest.Unsigned())        // alg "none"
//
// Outside tests (a development server, for example), [Start] returns the
// Issuer, [Issuer.Clients] lists the credentials it accepts and
// [Issuer.Close] stops it; nothing but [NewIssuer] needs a testing.TB.
//
// The repository's docs/testing.md shows how to test handlers behind the
// grpcauth interceptors with it, and lists its endpoints and forgery
// recipes.
package grpcauthtest
