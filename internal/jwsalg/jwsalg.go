package jwsalg

import (
	"encoding/base64"
	"encoding/json"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Ed25519 is the JWS alg of EdDSA over the Ed25519 curve (RFC 9864, section
// 2.2), the fully specified replacement of the polymorphic "EdDSA".
const Ed25519 = "Ed25519"

// JWX returns the jwx algorithm that computes alg's signatures: jwa.EdDSA
// for Ed25519, alg itself for every other name.
func JWX(alg string) jwa.SignatureAlgorithm {
	if alg == Ed25519 {
		return jwa.EdDSA
	}
	return jwa.SignatureAlgorithm(alg)
}

// NewVerifier returns jwx's verifier for alg (jws.NewVerifier(JWX(alg))).
func NewVerifier(alg string) (jws.Verifier, error) { return jws.NewVerifier(JWX(alg)) }

// NewSigner returns jwx's signer for alg (jws.NewSigner(JWX(alg))). Its
// Algorithm method reports jwx's name, "EdDSA" for Ed25519.
func NewSigner(alg string) (jws.Signer, error) { return jws.NewSigner(JWX(alg)) }

// Sign returns the compact JWS of payload whose protected header is hdr
// plus alg, signed with key (a private key or crypto.Signer) under alg by
// jwx. jwx v2 predates RFC 9864: it refuses "Ed25519" in a header and
// jws.Sign writes its signer's alg, so an Ed25519 JWS is assembled here
// around a signature made by jwx's EdDSA signer (nothing is registered in
// jwx).
func Sign(payload []byte, hdr jws.Headers, alg string, key any) ([]byte, error) {
	if alg != Ed25519 {
		return jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(alg), key, jws.WithProtectedHeaders(hdr)))
	}
	b, err := json.Marshal(hdr)
	if err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return nil, err
	}
	members[jws.AlgorithmKey] = json.RawMessage(`"` + Ed25519 + `"`)
	if b, err = json.Marshal(members); err != nil {
		return nil, err
	}
	input := base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(payload)
	signer, err := NewSigner(Ed25519)
	if err != nil {
		return nil, err
	}
	sig, err := signer.Sign([]byte(input), key)
	if err != nil {
		return nil, err
	}
	return []byte(input + "." + base64.RawURLEncoding.EncodeToString(sig)), nil
}
