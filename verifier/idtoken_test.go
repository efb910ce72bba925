package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

func TestVerifyIDToken_Rules(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	now := f.clk.Now()
	const client = "web-app"
	idToken := func(extra map[string]any, opts ...grpcauthtest.MintOption) string {
		claims := map[string]any{"aud": client, "sub": "user-1", "nonce": "n-0S6_WzA2Mj", "cid": nil, "auth_time": now.Unix()}
		for k, v := range extra {
			claims[k] = v
		}
		return f.mint(t, claims, opts...)
	}
	cases := []struct {
		name     string
		token    string
		clientID string
		nonce    string
		want     error
	}{
		{"valid with nonce", idToken(nil), client, "n-0S6_WzA2Mj", nil},
		{"valid without nonce check", idToken(nil), client, "", nil},
		{"valid without nonce claim or check", idToken(map[string]any{"nonce": nil}), client, "", nil},
		{"aud array naming the client", idToken(map[string]any{"aud": []string{"other", client}}), client, "", nil},
		{"azp equal to the client", idToken(map[string]any{"azp": client}), client, "", nil},
		{"wrong nonce", idToken(nil), client, "n-other", ErrClaims},
		{"nonce differing in case", idToken(nil), client, "N-0S6_WZA2MJ", ErrClaims},
		{"nonce expected but missing", idToken(map[string]any{"nonce": nil}), client, "n-0S6_WzA2Mj", ErrClaims},
		{"wrong client id", idToken(nil), "other-app", "", ErrAudience},
		{"empty client id", idToken(nil), "", "", ErrAudience},
		{"access-token audience is not a client", f.mint(t, nil), client, "", ErrAudience},
		{"azp naming another client", idToken(map[string]any{"azp": "other"}), client, "", ErrClaims},
		{"typ at+jwt is an access token, not an ID token", idToken(nil, grpcauthtest.WithHeader("typ", "at+jwt")), client, "", ErrClaims},
		{"typ logout+jwt is a logout token, not an ID token", idToken(nil, grpcauthtest.WithHeader("typ", "logout+jwt")), client, "", ErrClaims},
		{"typ application/dpop+jwt is a DPoP proof, not an ID token", idToken(nil, grpcauthtest.WithHeader("typ", "application/dpop+jwt")), client, "", ErrClaims},
		{"typ at+jwt with a parameter is an access token, not an ID token", idToken(nil, grpcauthtest.WithHeader("typ", "at+jwt; v=1")), client, "", ErrClaims},
		{"typ JWT is an ID token's", idToken(nil, grpcauthtest.WithHeader("typ", "JWT")), client, "", nil},
		{"wrong issuer", idToken(map[string]any{"iss": "https://evil.example"}), client, "", ErrIssuer},
		{"expired", idToken(map[string]any{"exp": now.Add(-time.Hour)}), client, "", ErrExpired},
		{"issued in the future", idToken(map[string]any{"iat": now.Add(time.Hour)}), client, "", ErrNotYetValid},
		{"alg none", idToken(nil, grpcauthtest.Unsigned(), grpcauthtest.WithKidHeader(f.iss.KeyID())), client, "", ErrAlgorithm},
		{"unknown kid", idToken(nil, grpcauthtest.WithKidHeader("nope")), client, "", ErrUnknownKey},
		{"no kid", idToken(nil, grpcauthtest.WithKidHeader("")), client, "", ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.v.VerifyIDToken(context.Background(), tc.token, tc.clientID, tc.nonce)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("VerifyIDToken: %v", err)
				}
				if c.Subject() != "user-1" {
					t.Fatalf("Subject() = %q", c.Subject())
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyIDToken = %v, want %v", err, tc.want)
			}
		})
	}
	if n, _ := cacheStats(f.v); n != 0 {
		t.Fatalf("ID tokens were cached: %d entries", n)
	}
}

func TestVerifyIDToken_IgnoresAccessTokenOptions(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) {
		c.ClientIDs = []string{"only-this-client"}
		c.AssertClaims = map[string]any{"groups": "admin"}
		c.RequireAccessTokenProfile = true
	})
	tok := f.mint(t, map[string]any{"aud": "web-app", "cid": nil})
	if _, err := f.v.VerifyIDToken(context.Background(), tok, "web-app", ""); err != nil {
		t.Fatalf("VerifyIDToken: %v", err)
	}
	if _, err := f.v.VerifyAccessToken(context.Background(), tok); err == nil {
		t.Fatal("the ID token was accepted as an access token")
	}
}

// TestVerifyIDToken_TokenWithoutSubOrIatIsRefused: OpenID Connect Core,
// section 2 requires sub and iat in every ID token. Without the check, a
// Back-Channel Logout token of the same issuer naming the session alone
// (sid, no sub, typ JWT as older issuers send it) was accepted as an ID
// token for a caller that checks no nonce, with an empty Subject.
func TestVerifyIDToken_TokenWithoutSubOrIatIsRefused(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	const client = "web-app"
	logoutEvent := map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}
	cases := []struct {
		name   string
		claims map[string]any
		opts   []grpcauthtest.MintOption
		claim  string
	}{
		{"no sub", map[string]any{"sub": nil}, nil, "sub"},
		{"empty sub", map[string]any{"sub": ""}, nil, "sub"},
		{"null sub", map[string]any{"sub": json.RawMessage("null")}, nil, "sub"},
		{"no iat", map[string]any{"iat": nil}, nil, "iat"},
		{"null iat", map[string]any{"iat": json.RawMessage("null")}, nil, "iat"},
		{"logout token naming a session only", map[string]any{"sub": nil, "sid": "08a5019c", "events": logoutEvent},
			[]grpcauthtest.MintOption{grpcauthtest.WithHeader("typ", "JWT")}, "sub"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			claims := map[string]any{"aud": client, "cid": nil}
			for k, v := range tc.claims {
				claims[k] = v
			}
			c, err := f.v.VerifyIDToken(context.Background(), f.mint(t, claims, tc.opts...), client, "")
			var ce *ClaimError
			if !errors.As(err, &ce) || !errors.Is(err, ErrClaims) || ce.Claim != tc.claim {
				t.Fatalf("VerifyIDToken = %v, want a ClaimError for %q", err, tc.claim)
			}
			if !c.IsZero() {
				t.Fatal("claims returned with the error")
			}
		})
	}
}
