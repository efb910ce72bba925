package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// errBadSig is what a baseline returns when the signature does not verify.
var errBadSig = errors.New("signature does not verify")

// splitSigned returns a compact JWS's signing input and decoded signature.
func splitSigned(token string) (input, sig []byte, err error) {
	i := strings.LastIndexByte(token, '.')
	if i < 0 || strings.Count(token, ".") != 2 {
		return nil, nil, fmt.Errorf("not a compact JWS")
	}
	sig, err = base64.RawURLEncoding.DecodeString(token[i+1:])
	return []byte(token[:i]), sig, err
}

// jwxBaseline is the bare signature check the brief names: jwx's
// jws.Verifier over the signing input, the decoded signature and the raw
// public key. Splitting and base64 decoding happen once, outside the loop.
func jwxBaseline(v validToken) (func() error, error) {
	input, sig, err := splitSigned(v.token)
	if err != nil {
		return nil, err
	}
	ver, err := jws.NewVerifier(jwa.SignatureAlgorithm(v.alg))
	if err != nil {
		return nil, err
	}
	return func() error { return ver.Verify(input, sig, v.public) }, nil
}

// stdlibBaseline is the same check written directly on crypto/*: hash the
// signing input and verify (for ES256, r and s are rebuilt from the raw JWS
// signature each time, as any verifier must).
func stdlibBaseline(v validToken) (func() error, error) {
	input, sig, err := splitSigned(v.token)
	if err != nil {
		return nil, err
	}
	switch pub := v.public.(type) {
	case *rsa.PublicKey:
		return func() error {
			h := sha256.Sum256(input)
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig)
		}, nil
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			return nil, fmt.Errorf("ES256 signature is %d bytes", len(sig))
		}
		return func() error {
			h := sha256.Sum256(input)
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			if !ecdsa.Verify(pub, h[:], r, s) {
				return errBadSig
			}
			return nil
		}, nil
	case ed25519.PublicKey:
		return func() error {
			if !ed25519.Verify(pub, input, sig) {
				return errBadSig
			}
			return nil
		}, nil
	}
	return nil, fmt.Errorf("unsupported public key %T", v.public)
}
