// Package jwks keeps an issuer's JSON Web Key Set in memory for the verifier.
//
// A Set fetches the key set once (discovering its URL from the issuer when
// none is given), then serves every lookup of a known kid from an atomic
// snapshot without any network call. It refreshes in the background (every
// RefreshInterval, sooner when the response's Cache-Control max-age says so,
// with jitter; a discovered URL is discovered again once its lifetime has
// passed), and keeps serving the last good set for up to MaxStaleness
// (by its monotonic or its wall-clock age, whichever is larger, so that a
// host suspend counts) while the issuer fails, retrying with capped exponential back-off (no
// sooner than a 429's or 503's Retry-After asks, or, for a 429 without one,
// its X-Rate-Limit-Reset, as Okta sends: see retryAfter).
//
// An unknown kid is answered by a fetch that started after the lookup: all
// concurrent misses share one fetch, at most one such fetch runs per
// MinRefreshInterval, and a lookup the rate limit stops waits (within its
// ctx, at most MaxWaiters at once, counting the lookups that joined a
// fetch in flight) for the next permitted fetch, which all
// waiting lookups share, so a key published just after another miss used
// the allowance is still accepted. A kid a recent fetch found absent is
// refused at once; KnownAbsent tells the verifier so, unless the issuer
// withdrew the kid (see KnownAbsent), before it reads a token's claims. The answer is ErrUnknownKey when a successful fetch
// lacks the kid, and ErrUnavailable when the fetch failed: the set cannot
// then tell a forged kid from a newly published key. docs/key-set.md has
// the whole behaviour and the reasons for each limit.
//
// Only asymmetric signature keys are kept: RSA of 2048 to 8192 bits, EC on
// P-256, P-384 or P-521, and Ed25519 but not of small order (under which
// anyone can sign). Any other entry (an "oct" HMAC secret,
// an encryption key, a key with private material, bad parameters, a missing
// or ambiguous kid) is skipped and logged; it never spoils the other keys,
// except that an entry with private material also drops the key it exposes,
// from that document, from the last good set, and from every later document
// (the Set remembers the last 256 exposed keys by RFC 7638 thumbprint), so
// an issuer that publishes only the public half afterwards, without
// rotating the key, does not make the Set trust it again.
//
// Usage:
//
//	set := jwks.New(jwks.Config{Issuer: "https://example.okta.com/oauth2/default"})
//	defer set.Close()
//	if err := set.Ready(ctx); err != nil { // optional: wait for the first set
//		return err
//	}
//	key, err := set.Key(ctx, kid) // ErrUnknownKey, ErrUnavailable, or ctx's error
//	if err != nil {
//		return err
//	}
//	_ = key.Public // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
package jwks
