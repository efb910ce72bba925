// Package verifier verifies OAuth 2.0 JWT access tokens and OpenID Connect
// ID tokens locally, against the issuer's JSON Web Key Set, which it fetches
// (discovering its URL from the issuer), caches, refreshes in the background
// and on an unknown kid (rate-limited, and not within the Retry-After of
// the issuer's 429 or 503, or the X-Rate-Limit-Reset of Okta's 429 without
// one, up to 5 minutes), and keeps serving while the issuer is down (up to
// Config.MaxStaleness).
//
//	v, err := verifier.New(ctx, verifier.Config{
//		Issuer:    "https://example.okta.com/oauth2/default",
//		Audiences: []string{"api://default"},
//	})
//	if err != nil {
//		return err
//	}
//	defer v.Close()
//
//	claims, err := v.VerifyAccessToken(ctx, token)
//	switch {
//	case errors.Is(err, verifier.ErrKeysUnavailable):
//		// server-side problem: codes.Unavailable
//	case err != nil:
//		// the token is not valid: codes.Unauthenticated
//	case !claims.HasScope("items:read"):
//		// codes.PermissionDenied
//	}
//
// Security properties, all on by default:
//   - Algorithms come from an allow-list of asymmetric algorithms; "none" and
//     HMAC can never be configured. The header alg must equal the key's alg
//     when the key names one, and must fit the key's type and curve.
//   - Keys come only from the configured key set. The jku, x5u, x5c and jwk
//     headers are ignored; a token without kid is rejected; any crit header
//     is rejected, since the verifier implements no JWS extension.
//   - iss must equal Config.Issuer exactly; aud must name one of
//     Config.Audiences; exp is required; exp, nbf and iat are checked with
//     one clock skew (1 minute by default), again once a new kid's key has
//     been fetched.
//   - A typ naming another kind of JWT (logout+jwt, secevent+jwt, ...) is
//     never an access token (RFC 8725, 3.11); with
//     Config.RequireAccessTokenProfile typ must be at+jwt.
//   - Checks run cheapest first: a garbage, oversized, wrongly addressed or
//     expired token is rejected before any key lookup (which could trigger a
//     fetch) or signature work.
//   - Successful access-token verifications are cached by exact token string;
//     every hit re-checks the times and that the token's key is still in the
//     key set (see [CacheConfig]).
//   - Tokens are parsed by one conventional parser (encoding/json/v2's
//     decoder, member by member; no unsafe, no pool of its own), with nesting,
//     aud length, escaped strings and number size bounded so that rejecting
//     any input allocates at most twice its length plus 4 KiB (plus the
//     signature check's own working memory, when the signature is what is
//     refused, and about 5.5 KB per decode when a GC has just emptied the
//     decoder's pool of state). The full claims are kept only for a token
//     whose signature verified.
//   - Scopes split on U+0020 only (RFC 6749, 3.3); an element that is not a
//     scope-token matches nothing.
//
// Errors wrap the package's sentinel errors ([ErrMalformed], [ErrExpired],
// ...); branch with errors.Is. Their text is meant for server logs and never
// contains the token or claim values, but for the exp time of an expired
// token ([TokenExpiredError]). [Claims] is an immutable value: no
// holder can change what another holder, or the cache, sees.
//
// [Verifier.VerifyIDToken] checks OpenID Connect ID tokens with the same
// form, algorithm, issuer, time and signature rules; its aud must contain
// the client id, it must have a sub and an iat, and ID tokens are never
// cached. [NewMulti] accepts tokens
// from several issuers: it routes each token by its exact iss to that
// issuer's own Verifier and key set, so one issuer's keys never verify
// another's tokens. [Verifier.Stats] reports cache and key-set counters
// (package otelmetrics exports them).
//
// A *Verifier and a *MultiVerifier satisfy grpcauth.TokenVerifier, whose
// interceptors map the sentinels to gRPC codes. The repository's
// docs/verifier.md and docs/key-set.md explain every check, default, the
// parser's bounds, ECDSA signature malleability and the benchmarks.
//
// The signature primitives are jwx v2's (github.com/lestrrat-go/jwx/v2);
// no jwx type appears in this package's API.
package verifier
