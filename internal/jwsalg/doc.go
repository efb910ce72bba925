// Package jwsalg maps JWS algorithm names to jwx's signers and verifiers,
// including RFC 9864's fully specified "Ed25519", which jwx v2 predates.
//
//	// alg: the header's, from the caller's allow-list, and fitting the key.
//	v, err := jwsalg.NewVerifier(alg) // "Ed25519" too, nothing registered in jwx
//	if err != nil {
//		return err
//	}
//	if err := v.Verify(signingInput, sig, pub); err != nil {
//		return err
//	}
//
//	token, err := jwsalg.Sign(payload, jws.NewHeaders(), "Ed25519", privateKey)
//
// jwx v2 knows "Ed25519" neither as a jwa.SignatureAlgorithm nor in its
// signer and verifier registries. jwa.RegisterSignatureAlgorithm and
// jws.RegisterVerifier/RegisterSigner would teach it, but they change
// process-wide tables every other jwx user of the program shares (whose
// jws.Verify, header parsing and jwa.SignatureAlgorithm.Accept would then
// accept the name too), so this package registers nothing: it hands out
// jwx's EdDSA signer and verifier for "Ed25519". The caller selects the
// verifier by the header's alg itself and checks that the key is an
// Ed25519 public key, as it does for every other alg.
//
// "Ed448" (RFC 9864) is not supported: neither jwx nor the standard library
// implements Ed448.
//
// SmallOrderEd25519 is the check, shared by the verifier's key set and
// DPoP proof keys, that refuses Ed25519 public keys under which anyone can
// sign.
package jwsalg
