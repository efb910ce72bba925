package introspect_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// Opaque tokens by introspection; the in-process test issuer stands in for
// e.g. Okta's org authorization server.
func Example() {
	iss, err := grpcauthtest.Start(grpcauthtest.Config{
		Clients: []grpcauthtest.Client{{ID: "items-api", Secret: "items-api-secret"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer iss.Close()

	v, err := introspect.New(introspect.Config{
		Endpoint:     iss.IntrospectionURL(),
		Issuer:       iss.URL(),
		ClientID:     "items-api",
		ClientSecret: "items-api-secret",
		Audiences:    []string{iss.Audience()},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	ctx := context.Background()
	tok, _ := iss.MintOpaque("svc", "items:read")
	for range 3 {
		claims, err := v.VerifyAccessToken(ctx, tok)
		fmt.Println(claims.ClientID(), claims.Scopes(), err)
	}
	fmt.Println("requests:", iss.IntrospectionRequests()) // the cache answered twice

	other, _ := iss.MintOpaque("svc")
	iss.Revoke(other)
	_, err = v.VerifyAccessToken(ctx, other)
	fmt.Println(errors.Is(err, introspect.ErrInactive))

	// What the cache saved the authorization server, for metrics.
	st := v.Stats()
	fmt.Printf("hits %d, misses %d, requests %d, inactive %d\n", st.CacheHits, st.CacheMisses, st.Requests, st.Inactive)
	// Output:
	// svc [items:read] <nil>
	// svc [items:read] <nil>
	// svc [items:read] <nil>
	// requests: 1
	// true
	// hits 2, misses 2, requests 2, inactive 1
}

// JWTs locally, opaque tokens by introspection.
func ExampleCombine() {
	iss, err := grpcauthtest.Start(grpcauthtest.Config{
		Clients: []grpcauthtest.Client{{ID: "items-api", Secret: "items-api-secret"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer iss.Close()
	ctx := context.Background()

	jwt, err := verifier.New(ctx, verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer jwt.Close()
	opaque, err := introspect.New(introspect.Config{
		Endpoint: iss.IntrospectionURL(), Issuer: iss.URL(), Audiences: []string{iss.Audience()},
		ClientID: "items-api", ClientSecret: "items-api-secret",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer opaque.Close()
	v, err := introspect.Combine(jwt, opaque)
	if err != nil {
		fmt.Println(err)
		return
	}

	jwtToken, _ := iss.Token("svc", "items:read")
	opaqueToken, _ := iss.MintOpaque("svc", "items:write")
	forged, _ := iss.Mint(nil, grpcauthtest.WithKidHeader("attacker-kid"))
	for _, tok := range []string{jwtToken, opaqueToken, forged} {
		claims, err := v.VerifyAccessToken(ctx, tok)
		if err != nil {
			fmt.Println("rejected:", errors.Is(err, verifier.ErrUnknownKey))
			continue
		}
		fmt.Println(claims.Scopes())
	}
	fmt.Println("introspection requests:", iss.IntrospectionRequests())
	// Output:
	// [items:read]
	// [items:write]
	// rejected: true
	// introspection requests: 1
}
