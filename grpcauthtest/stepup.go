package grpcauthtest

import "time"

// WithACR sets the token's acr claim, the authentication context class
// reference of the user's sign-in (OIDC Core, 2; RFC 9470), e.g.
// "urn:example:mfa". Tokens have no acr unless asked for. Claims passed to
// Mint take precedence.
func WithACR(acr string) MintOption { return withClaim("acr", acr) }

// WithAuthTime sets the token's auth_time claim, when the user signed in
// (NumericDate, Unix seconds), for step-up tests with max_age (RFC 9470).
// Tokens have no auth_time unless asked for; Config.Now gives a fresh one.
// Claims passed to Mint take precedence.
func WithAuthTime(t time.Time) MintOption { return withClaim("auth_time", t.Unix()) }

func withClaim(name string, v any) MintOption {
	return func(o *mintOptions) {
		if o.claims == nil {
			o.claims = map[string]any{}
		}
		o.claims[name] = v
	}
}
