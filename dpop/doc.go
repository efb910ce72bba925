// Package dpop verifies DPoP proofs (RFC 9449, "OAuth 2.0 Demonstrating
// Proof of Possession") at a resource server or token endpoint, and makes
// them for a client ([Signer]).
//
// A DPoP proof is a JWT, sent in the dpop header (gRPC metadata) next to
// the access token, that the client signs with a private key whose public
// half travels in the proof's jwk header. A Verifier checks every item of
// RFC 9449, section 4.3, but the first (one DPoP header per request: the
// caller passes the one value, see [Verifier.Verify]): a well-formed
// compact JWS of bounded size,
// typ dpop+jwt, an asymmetric alg from an allow-list (never none, never
// HMAC), a public jwk without private members that fits the alg (never an
// Ed25519 key of small order) and is declared for no other (its alg, use
// and key_ops), a valid signature under that jwk, htm and htu matching the
// request (htu compared after RFC 3986 normalisation, ignoring query and
// fragment), iat within a window, a
// server nonce when a NonceSource is configured, ath equal to the hash of
// the access token, the key's RFC 7638 thumbprint equal to the token's cnf
// jkt, and jti not seen before within the window (ReplayCache).
//
// Build one [Verifier] with [NewVerifier] from a [Config] (accepted
// algorithms, iat window, origins, replay cache, nonces) and call
// [Verifier.Verify] with the proof and the [Request] it came with; it
// returns the verified [Proof] (the key's thumbprint, jti, iat) or an
// error wrapping one of the package's sentinels. The default
// [ReplayCache] is a bounded in-process [MemoryReplayCache], of which one
// proof key may fill a quarter ([HolderReplayCache]); replicas behind one
// load balancer need a shared one. [NewHMACNonces] gives
// stateless server nonces ([NonceSource]).
//
//	v, err := dpop.NewVerifier(dpop.Config{})
//	if err != nil {
//		return err
//	}
//	// proof: the dpop header's value; jkt: the verified token's cnf jkt.
//	p, err := v.Verify(ctx, proof, dpop.Request{
//		Method:        "POST", // every gRPC call
//		Scheme:        "https",
//		Authority:     "api.example.com",
//		Path:          "/items.v1.ItemService/GetItem",
//		AccessToken:   token,
//		KeyThumbprint: jkt, // required with AccessToken
//	})
//	if err != nil {
//		return err // errors.Is(err, dpop.ErrReplayed): used before; ...
//	}
//	// p.Thumbprint, p.ID, p.IssuedAt: the verified proof's key, jti, iat
//
// A client makes its proofs with a [Signer] ([NewSigner] with its private
// key and alg): [Signer.Proof] for each request, [Signer.Thumbprint] for
// the cnf jkt of its tokens. Package tokencreds uses it for gRPC calls and
// token requests.
//
//	// key: an *ecdsa.PrivateKey on P-256, or any crypto.Signer, kept for
//	// the life of the tokens bound to it (their cnf jkt: signer.Thumbprint()).
//	signer, err := dpop.NewSigner(key, "ES256")
//	if err != nil {
//		return err
//	}
//	// nonce: the latest the server sent, "" for none.
//	proof, err := signer.Proof("POST", "https://api.example.com/items.v1.ItemService/GetItem", token, nonce)
//
// JWK parsing, thumbprints, signing and signature verification come from
// github.com/lestrrat-go/jwx/v2. The grpcauth interceptors use this package
// for "authorization: DPoP" calls; see docs/dpop.md in the repository for
// the gRPC mapping, the replay cache across replicas and the cost.
package dpop
