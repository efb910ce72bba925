package grpcauthtest_test

import (
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

func TestMint_WithACRAndAuthTimeSetStepUpClaims(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Now: func() time.Time { return fixedNow }})
	tok, err := iss.Mint(nil, grpcauthtest.WithACR("urn:example:mfa"), grpcauthtest.WithAuthTime(fixedNow.Add(-time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	_, c := segments(t, tok)
	if c["acr"] != "urn:example:mfa" || c["auth_time"] != float64(fixedNow.Add(-time.Minute).Unix()) {
		t.Errorf("acr = %#v, auth_time = %#v", c["acr"], c["auth_time"])
	}

	// Claims given to Mint win, and nil removes.
	tok, err = iss.Mint(map[string]any{"acr": "phr", "auth_time": nil}, grpcauthtest.WithACR("urn:example:mfa"), grpcauthtest.WithAuthTime(fixedNow))
	if err != nil {
		t.Fatal(err)
	}
	if _, c := segments(t, tok); c["acr"] != "phr" || c["auth_time"] != nil {
		t.Errorf("acr = %#v, auth_time = %#v; want Mint's claims to take precedence", c["acr"], c["auth_time"])
	}

	// Without the options, neither claim is present.
	tok, _ = iss.Mint(nil)
	if _, c := segments(t, tok); c["acr"] != nil || c["auth_time"] != nil {
		t.Errorf("default token has acr %#v, auth_time %#v", c["acr"], c["auth_time"])
	}
}
