package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// A resource server checks the proof that came with a DPoP-bound token:
// the proof must be for this request and token, signed by the key the
// token's cnf jkt names, and used only once.
func Example() {
	ctx := context.Background()
	key, err := grpcauthtest.NewDPoPKey() // the client's key
	if err != nil {
		panic(err)
	}
	const token = "eyJ...the access token"
	proof, err := key.Proof("POST", "https://api.example.com/items.v1.ItemsService/GetItem", token)
	if err != nil {
		panic(err)
	}

	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		panic(err)
	}
	req := dpop.Request{
		Method:        "POST",
		Scheme:        "https",
		Authority:     "API.example.com:443", // normalised: same origin
		Path:          "/items.v1.ItemsService/GetItem",
		AccessToken:   token,
		KeyThumbprint: key.Thumbprint(), // the token's cnf jkt
	}
	p, err := v.Verify(ctx, proof, req)
	fmt.Println(p.Algorithm, p.Thumbprint == key.Thumbprint(), err)

	_, err = v.Verify(ctx, proof, req)
	fmt.Println(errors.Is(err, dpop.ErrReplayed))
	// Output:
	// ES256 true <nil>
	// true
}

// A client makes a proof for each request with its own key; here the
// resource server's Verifier accepts it.
func ExampleSigner() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // keep it for the token's life
	if err != nil {
		panic(err)
	}
	signer, err := dpop.NewSigner(key, "ES256")
	if err != nil {
		panic(err)
	}
	// signer.Thumbprint() is the cnf jkt of the tokens bound to the key.
	const token = "eyJ...a DPoP-bound access token"
	proof, err := signer.Proof("POST", "https://api.example.com/items.v1.ItemsService/GetItem", token, "")
	if err != nil {
		panic(err)
	}

	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		panic(err)
	}
	p, err := v.Verify(context.Background(), proof, dpop.Request{
		Method: "POST", Scheme: "https", Authority: "api.example.com", Path: "/items.v1.ItemsService/GetItem",
		AccessToken: token, KeyThumbprint: signer.Thumbprint(),
	})
	fmt.Println(p.Algorithm, err)
	// Output:
	// ES256 <nil>
}
