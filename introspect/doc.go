// Package introspect verifies OAuth 2.0 access tokens by token
// introspection (RFC 7662): the resource server POSTs the token to the
// authorization server, which says whether it is active and with what
// claims. It is for opaque tokens, which cannot be verified locally, such as
// those of Okta's org authorization server.
//
//	opaque, err := introspect.New(introspect.Config{
//		Endpoint:     "https://example.okta.com/oauth2/v1/introspect",
//		Issuer:       "https://example.okta.com",
//		ClientID:     clientID, // this service's credentials at the server
//		ClientSecret: clientSecret,
//		Audiences:    []string{"https://example.okta.com"},
//		// Every org authorization server token has that aud: name the
//		// clients whose tokens this service accepts.
//		ClientIDs: []string{callerClientID},
//	})
//	if err != nil {
//		return err
//	}
//	defer opaque.Close()
//
//	// JWTs locally, anything else by introspection; the org server's
//	// tokens are JWT-shaped, so name its issuer (docs/introspection.md):
//	v, err := introspect.Combine(jwtVerifier, opaque,
//		introspect.IntrospectJWTsFrom("https://example.okta.com"))
//	if err != nil {
//		return err
//	}
//	auth, err := grpcauth.New(grpcauth.Config{Verifier: v})
//
// Errors follow the verifier package, so the grpcauth interceptors map them
// without further code: an inactive token (ErrInactive) and a wrong issuer,
// audience, client or token type are codes.Unauthenticated, an expired one
// ACCESS_TOKEN_EXPIRED, and an endpoint that cannot answer (ErrUnavailable,
// which errors.Is reports as verifier.ErrKeysUnavailable) codes.Unavailable. An expired token
// is reported as expired only when the Verifier cached an answer giving its
// exp; otherwise the server's bare "active": false is ACCESS_TOKEN_INVALID,
// so clients should get a new token on either reason (see ErrInactive).
//
// A revoked token keeps working until its cached answer ends: at most
// CacheConfig.TTL, one minute by default (up to a tenth less, at random, so
// that tokens introspected together are not asked about again together).
// Verifier and Combined implement grpcauth.Revalidator, so streams are
// re-verified by the time the answer ends and cut with
// ACCESS_TOKEN_REVOKED once the token is refused, or with the refusal a
// new call gets once an active answer's claims fail the method's rule
// (a scope withdrawn) or bind the token otherwise. Verifier.Stats
// gives the cache hit rate and the load on the authorization server; the
// otelmetrics package exports them.
//
// Security and cost properties, all on by default:
//   - The endpoint must be https (http only on loopback) and is never
//     redirected to; the client authenticates with client_secret_basic (or
//     client_secret_post); the secret and the token are never logged, and
//     a Config formatted with fmt or logged with slog shows the secret as
//     "[REDACTED]".
//   - Only tokens of RFC 6750 b64token characters, at most 8 KiB, are sent.
//   - Results are cached by the SHA-256 of the token, never the token:
//     active ones for at most a minute and never past exp plus skew, inactive
//     ones for 10 seconds, in separately bounded caches: the positive one
//     holds at most 10,000 entries and 32 MiB, counting the memory each
//     entry's claims keep alive.
//   - Concurrent calls with one token share one request; at most 16
//     requests are in flight; each is bounded in time and response size,
//     and the body of an answer refused by its status or Content-Type is
//     read for at most a second and 64 KiB.
//     Config.MaxRequestRate (off by default) also bounds the requests a
//     second, which a flood of distinct made-up tokens would otherwise
//     drive as fast as the endpoint answers; tokens the server has called
//     active are asked about again outside that bound. A 429 or 503 with
//     a Retry-After, or a 429 with Okta's X-Rate-Limit-Reset instead,
//     pauses all requests until it ends, at most a minute; one with
//     neither, a gateway's 502 or 504, and an endpoint unreachable (or
//     timing out) twice in a row back off: they pause them for a second,
//     doubled for each consecutive burst of such failures up to a minute,
//     and shortened by up to a tenth at random, until the server's own
//     word (a 200 read and interpreted, a 401 or 403 saying
//     invalid_client, a 429 or 503 whose wait decides; not a malformed
//     200, a 500, or another status a token may provoke) to a request
//     sent since the last step starts the backoff again; a 401 or 403 saying invalid_client in its
//     body (this service's credentials refused) pauses them for 10
//     seconds (Cache.NegativeTTL), from when that body has been read.
//   - A JWT that fails local verification in Combined is not introspected.
//     [IntrospectJWTsFrom] is the one opt-in exception, for servers whose
//     JWT-shaped tokens only they can verify (Okta's org authorization
//     server).
//
// The repository's docs/introspection.md explains the options, the status
// codes and the cache at length.
package introspect
