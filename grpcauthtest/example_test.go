package grpcauthtest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"strings"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// Example starts an issuer with one client and asks its token endpoint for a
// token with client_secret_basic, as an OAuth 2.0 client library would.
func Example() {
	iss, err := grpcauthtest.Start(grpcauthtest.Config{
		Clients: []grpcauthtest.Client{
			{ID: "items-cli", Secret: "dev-secret", Scopes: []string{"items:read", "items:write"}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer iss.Close()

	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"items:read"}}
	req, err := http.NewRequest(http.MethodPost, iss.TokenURL(), strings.NewReader(body.Encode()))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape("items-cli"), url.QueryEscape("dev-secret"))
	req.Close = true // no idle connection left behind
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()

	var tr grpcauthtest.TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, tr.TokenType, tr.ExpiresIn, tr.Scope)
	// Output: 200 OK Bearer 3600 items:read
}

// ExampleIssuer_Mint mints tokens that a verifier must reject.
func ExampleIssuer_Mint() {
	iss, err := grpcauthtest.Start(grpcauthtest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer iss.Close()

	// An unsecured JWT: "alg":"none" and an empty signature.
	unsigned, err := iss.Mint(nil, grpcauthtest.Unsigned())
	if err != nil {
		log.Fatal(err)
	}
	parts := strings.Split(unsigned, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	fmt.Printf("%s signature=%q\n", header, parts[2])

	// A token without "exp".
	noExp, _ := iss.Mint(map[string]any{"exp": nil, "sub": "alice"})
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(noExp, ".")[1])
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	_, hasExp := claims["exp"]
	fmt.Println("sub:", claims["sub"], "has exp:", hasExp)
	// Output:
	// {"alg":"none"} signature=""
	// sub: alice has exp: false
}
