package verifier

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// These tests hold security checks that a hand-run mutation test of the
// verifier found no other test holding: each fails when its check is
// removed or weakened.

// The issuer is compared byte for byte (OpenID Connect Discovery, 4.3; RFC
// 9207): an iss differing from the configured issuer only in case names
// another issuer, and is refused.
func TestVerifyAccessToken_IssuerDifferingOnlyInCaseIsRefused(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	if _, err := f.verify(t, f.mint(t, nil)); err != nil {
		t.Fatalf("token of the configured issuer: %v, want success", err)
	}
	iss := f.iss.URL()
	for _, variant := range []string{strings.ToUpper(iss), strings.Replace(iss, "http://", "HTTP://", 1)} {
		if variant == iss {
			t.Fatalf("issuer %q has no case to vary", iss)
		}
		c, err := f.verify(t, f.mint(t, map[string]any{"iss": variant}))
		if !errors.Is(err, ErrIssuer) {
			t.Errorf("iss %q for issuer %q: err = %v, want ErrIssuer", variant, iss, err)
		}
		if !c.IsZero() {
			t.Errorf("iss %q: claims returned with the error", variant)
		}
	}
}

// A signed header whose typ is not a string (a number, an array or an
// object naming "logout+jwt", a bool) is malformed, for an access token and
// an ID token alike: read as absent, it would let a token explicitly typed
// as another kind of JWT pass as one with no typ.
func TestVerify_SignedTypThatIsNotAStringIsMalformed(t *testing.T) {
	s := newRawSigner(t, nil)
	now := s.f.clk.Now()
	const client = "web-app"
	payload := fmt.Sprintf(`{"iss":%q,"aud":[%q,%q],"sub":"user-1","exp":%d,"iat":%d}`,
		s.f.cfg.Issuer, s.f.cfg.Audiences[0], client, now.Add(time.Hour).Unix(), now.Unix())
	verifyBoth := func(header string) (access, id error) {
		tok := s.sign(header, payload)
		_, access = s.f.v.VerifyAccessToken(context.Background(), tok)
		_, id = s.f.v.VerifyIDToken(context.Background(), tok, client, "")
		return access, id
	}
	// The same token with a string typ verifies as both: only typ's type
	// refuses the others.
	if access, id := verifyBoth(`{"alg":"EdDSA","kid":"raw","typ":"JWT"}`); access != nil || id != nil {
		t.Fatalf("typ \"JWT\": access token err = %v, ID token err = %v, want both accepted", access, id)
	}
	for _, typ := range []string{`7`, `["logout+jwt"]`, `{"media":"logout+jwt"}`, `true`} {
		access, id := verifyBoth(`{"alg":"EdDSA","kid":"raw","typ":` + typ + `}`)
		if !errors.Is(access, ErrMalformed) {
			t.Errorf("typ %s: access token err = %v, want ErrMalformed", typ, access)
		}
		if !errors.Is(id, ErrMalformed) {
			t.Errorf("typ %s: ID token err = %v, want ErrMalformed", typ, id)
		}
	}
}

// A typ naming another kind of JWT with white space around its media type
// or before its parameters (RFC 9110, 5.6.6 allows it before the ';') still
// names that kind: such a token is neither an access token nor an ID token.
func TestVerify_TypWithWhiteSpaceStillNamesItsKind(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	const client = "web-app"
	claims := map[string]any{"aud": []string{f.iss.Audience(), client}, "sub": "user-1"}
	for _, typ := range []string{"logout+jwt ; charset=utf-8", "logout+jwt ", " application/secevent+jwt", "dpop+jwt\t;v=1"} {
		tok := f.mint(t, claims, grpcauthtest.WithHeader("typ", typ))
		if _, err := f.verify(t, tok); !errors.Is(err, ErrClaims) {
			t.Errorf("typ %q: access token err = %v, want ErrClaims", typ, err)
		}
		if _, err := f.v.VerifyIDToken(context.Background(), tok, client, ""); !errors.Is(err, ErrClaims) {
			t.Errorf("typ %q: ID token err = %v, want ErrClaims", typ, err)
		}
	}
	// The same token typed JWT is both: only typ refuses the others.
	tok := f.mint(t, claims, grpcauthtest.WithHeader("typ", "JWT"))
	if _, err := f.verify(t, tok); err != nil {
		t.Fatalf("typ JWT: access token err = %v, want success", err)
	}
	if _, err := f.v.VerifyIDToken(context.Background(), tok, client, ""); err != nil {
		t.Fatalf("typ JWT: ID token err = %v, want success", err)
	}
}

// The "application/" prefix of a typ is matched in any case (RFC 7515,
// 4.1.9), as its media type is: "Application/AT+JWT" is an RFC 9068 access
// token, under the profile and without it.
func TestVerifyAccessToken_ApplicationPrefixOfTypInAnyCase(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{Shape: grpcauthtest.ShapeRFC9068}, nil)
	strict := f.verifierWith(t, func(c *Config) { c.RequireAccessTokenProfile = true })
	for _, typ := range []string{"Application/AT+JWT", "APPLICATION/at+jwt"} {
		tok := f.mint(t, nil, grpcauthtest.WithHeader("typ", typ))
		if _, err := f.verify(t, tok); err != nil {
			t.Errorf("typ %q without the profile: %v, want success", typ, err)
		}
		if _, err := strict.VerifyAccessToken(context.Background(), tok); err != nil {
			t.Errorf("typ %q under RequireAccessTokenProfile: %v, want success", typ, err)
		}
	}
}
