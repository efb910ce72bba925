package dpop_test

import (
	"context"
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
