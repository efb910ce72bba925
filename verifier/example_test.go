package verifier_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// A verifier for an issuer, here an in-process test issuer standing in for
// e.g. https://example.okta.com/oauth2/default.
func Example() {
	iss, err := grpcauthtest.Start(grpcauthtest.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer iss.Close()

	ctx := context.Background()
	v, err := verifier.New(ctx, verifier.Config{
		Issuer:    iss.URL(),
		Audiences: []string{"api://default"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	token, err := iss.Token("orders-service", "items:read", "items:write")
	if err != nil {
		fmt.Println(err)
		return
	}
	claims, err := v.VerifyAccessToken(ctx, token)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("subject:", claims.Subject())
	fmt.Println("scopes:", claims.Scopes())
	fmt.Println("may read:", claims.HasScope("items:read"), "may delete:", claims.HasScope("items:delete"))

	_, err = v.VerifyAccessToken(ctx, token+"x")
	fmt.Println("tampered token rejected:", errors.Is(err, verifier.ErrBadSignature) || errors.Is(err, verifier.ErrMalformed))
	// Output:
	// subject: orders-service
	// scopes: [items:read items:write]
	// may read: true may delete: false
	// tampered token rejected: true
}
