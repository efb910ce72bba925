package verifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// The tests below check each configuration docs/providers.md gives against
// tokens shaped like that provider's, from an issuer at a path shaped like
// its issuer URL, the key set found by discovery as in production.

// providerVerifier starts a Verifier with cfg, closed by t.Cleanup.
func providerVerifier(t *testing.T, cfg verifier.Config) *verifier.Verifier {
	t.Helper()
	v, err := verifier.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// discoveryServer serves at path a discovery document whose issuer is
// issuer(host), host being the server's, and whose key set is keys'.
func discoveryServer(t *testing.T, path string, issuer func(host string) string, keys *grpcauthtest.Issuer) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer(r.Host), "jwks_uri": keys.JWKSURL()})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// shaped returns a minter of tokens whose claims are claims over base,
// over iss's defaults (a nil value removes a claim).
func shaped(t *testing.T, iss *grpcauthtest.Issuer, base map[string]any) func(claims map[string]any) string {
	return func(claims map[string]any) string {
		t.Helper()
		all := maps.Clone(base)
		maps.Copy(all, claims)
		return mintOn(t, iss, all)
	}
}

func verifyWith(t *testing.T, v *verifier.Verifier, token string) (verifier.Claims, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return v.VerifyAccessToken(ctx, token)
}

func TestProviders_OktaCustomAuthorizationServer(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/oauth2/default"}) // Okta's shape: scp array, cid
	v := providerVerifier(t, verifier.Config{Issuer: iss.URL(), Audiences: []string{"api://default"}})

	tok := mintOn(t, iss, map[string]any{"sub": "0oa1client", "cid": "0oa1client"}, grpcauthtest.WithScopes("items:read", "items:write"))
	c, err := verifyWith(t, v, tok)
	if err != nil {
		t.Fatalf("Okta access token: %v", err)
	}
	if !c.HasScope("items:write") || c.ClientID() != "0oa1client" {
		t.Fatalf("scopes %v, client %q; want items:write from scp and the client from cid", c.Scopes(), c.ClientID())
	}

	// A person's token: the immutable user id is in uid, sub is the login.
	user := mintOn(t, iss, map[string]any{"sub": "ada@example.com", "uid": "00u1ada", "cid": "0oa1spa"}, grpcauthtest.WithScopes("items:read"))
	c, err = verifyWith(t, v, user)
	if err != nil {
		t.Fatalf("Okta user token: %v", err)
	}
	var uid string
	if err := c.Claim("uid", &uid); err != nil || uid != "00u1ada" || c.Subject() != "ada@example.com" {
		t.Fatalf("uid %q (%v), sub %q", uid, err, c.Subject())
	}
}

// Okta's org authorization server (issuer without /oauth2/...) types its
// access tokens application/okta-internal-at+jwt: another kind of JWT,
// refused even by a verifier configured for that issuer and audience.
func TestProviders_OktaOrgAuthorizationServerTokenIsRefused(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/"})
	v := providerVerifier(t, verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.URL()}})
	tok := mintOn(t, iss, map[string]any{"aud": iss.URL()}, grpcauthtest.WithScopes("okta.users.read"),
		grpcauthtest.WithHeader("typ", "application/okta-internal-at+jwt"))
	if _, err := verifyWith(t, v, tok); !errors.Is(err, verifier.ErrClaims) {
		t.Fatalf("org authorization server token: %v, want ErrClaims (typ)", err)
	}
}

// Auth0's issuer ends with a slash, and a token requested with openid has
// the userinfo URL in aud next to the API's identifier.
func TestProviders_Auth0(t *testing.T) {
	keys := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/keys-only"})
	tenant := discoveryServer(t, "/.well-known/openid-configuration", func(host string) string { return "http://" + host + "/" }, keys)
	issuer := tenant.URL + "/"
	const api = "https://items.example.com"
	mint := shaped(t, keys, map[string]any{"iss": issuer, "aud": []string{api, issuer + "userinfo"}, "azp": "spa-client", "sub": "auth0|ada", "cid": nil, "ver": nil})
	rbac := providerVerifier(t, verifier.Config{Issuer: issuer, Audiences: []string{api}, ScopeClaims: []string{"scope", "permissions"}})
	plain := providerVerifier(t, verifier.Config{Issuer: issuer, Audiences: []string{api}})

	// With RBAC, scope is what the client asked for and the user holds;
	// permissions is everything the user holds.
	tok := mint(map[string]any{"scope": "openid items:read", "permissions": []string{"items:read", "items:write"}})
	c, err := verifyWith(t, rbac, tok)
	if err != nil {
		t.Fatalf("Auth0 token (scope,permissions): %v", err)
	}
	if c.ClientID() != "spa-client" || !c.HasScope("items:write") {
		t.Fatalf("client %q, scopes %v: want azp, and permissions read as scopes", c.ClientID(), c.Scopes())
	}
	c, err = verifyWith(t, plain, tok)
	if err != nil {
		t.Fatalf("Auth0 token (default scope claims): %v", err)
	}
	if !slices.Equal(c.Scopes(), []string{"items:read", "openid"}) {
		t.Fatalf("scopes %v: want scope's alone", c.Scopes())
	}

	// The ID token: aud is the client id.
	id := mint(map[string]any{"aud": "spa-client", "azp": nil, "nonce": "n"})
	if _, err := verifyWith(t, rbac, id); !errors.Is(err, verifier.ErrAudience) {
		t.Fatalf("Auth0 ID token: %v, want ErrAudience", err)
	}
}

// An Entra ID tenant, its API's app registration and a daemon client's.
const (
	entraTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	entraAPI    = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
	entraDaemon = "1950a258-227b-4e31-a9cf-717495945fc2"
)

// entraIssuer is an issuer shaped like the v2.0 endpoint of entraTenant,
// and the configuration docs/providers.md gives for it.
func entraIssuer(t *testing.T) (*grpcauthtest.Issuer, verifier.Config) {
	t.Helper()
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/" + entraTenant + "/v2.0", Audience: entraAPI})
	return iss, verifier.Config{Issuer: iss.URL(), Audiences: []string{entraAPI, "api://" + entraAPI}, ScopeClaims: []string{"scp", "roles"}}
}

func TestProviders_EntraID(t *testing.T) {
	const tenant, apiID, daemon = entraTenant, entraAPI, entraDaemon
	iss, cfg := entraIssuer(t)
	v := providerVerifier(t, cfg)
	entra := shaped(t, iss, map[string]any{"cid": nil, "ver": "2.0", "tid": tenant, "oid": "oid-1"})

	// App-only (client credentials): roles, no scp.
	app := entra(map[string]any{"sub": "oid-1", "azp": daemon, "roles": []string{"items:read", "items:write"}})
	c, err := verifyWith(t, v, app)
	if err != nil {
		t.Fatalf("app-only token: %v", err)
	}
	if !c.HasScope("items:write") || c.ClientID() != daemon {
		t.Fatalf("scopes %v, client %q; want roles as scopes, the client from azp", c.Scopes(), c.ClientID())
	}
	// Delegated: scp, a space-separated string.
	user := entra(map[string]any{"sub": "pairwise-sub", "azp": "spa-app", "scp": "items.read User.Read"})
	if c, err := verifyWith(t, v, user); err != nil || !c.HasScope("items.read") {
		t.Fatalf("delegated token: %v, scopes %v", err, c.Scopes())
	}
	// A v1.0 token of the same tenant has another issuer.
	v1 := entra(map[string]any{"iss": "https://sts.windows.net/" + tenant + "/", "aud": "api://" + apiID, "appid": daemon, "ver": "1.0", "roles": []string{"items:read"}})
	if _, err := verifyWith(t, v, v1); !errors.Is(err, verifier.ErrIssuer) {
		t.Fatalf("v1.0 token: %v, want ErrIssuer", err)
	}
}

// With one app registration as both the client and the API, Entra's ID
// tokens for it have aud = its client id and carry roles for a user
// assigned app roles: they pass as access tokens, scope rules included,
// unless ClientIDs is set (an ID token has no azp).
func TestProviders_EntraIDTokenOfASharedRegistration(t *testing.T) {
	iss, cfg := entraIssuer(t) // the registration is the API's and the client's
	idToken := mintOn(t, iss, map[string]any{"cid": nil, "ver": "2.0", "sub": "pairwise-sub", "nonce": "n",
		"preferred_username": "ada@example.com", "roles": []string{"items:admin"}})

	c, err := verifyWith(t, providerVerifier(t, cfg), idToken)
	if err != nil || !c.HasScope("items:admin") {
		t.Fatalf("ID token with user roles: %v, scopes %v; want it accepted with items:admin (the documented hazard)", err, c.Scopes())
	}
	cfg.ClientIDs = []string{entraDaemon}
	if _, err := verifyWith(t, providerVerifier(t, cfg), idToken); !errors.Is(err, verifier.ErrClaims) {
		t.Fatalf("ID token under ClientIDs: %v, want ErrClaims (no azp)", err)
	}
}

// A multi-tenant app's common or organizations endpoint publishes the
// issuer template https://login.microsoftonline.com/{tenantid}/v2.0, which
// no issuer equals: discovery refuses it and no key is ever loaded.
func TestProviders_EntraMultiTenantEndpointLoadsNoKeys(t *testing.T) {
	keys := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/keys-only"})
	login := discoveryServer(t, "/organizations/v2.0/.well-known/openid-configuration",
		func(host string) string { return "http://" + host + "/{tenantid}/v2.0" }, keys)
	v := providerVerifier(t, verifier.Config{Issuer: login.URL + "/organizations/v2.0", Audiences: []string{"api"}})
	tok := mintOn(t, keys, map[string]any{"iss": login.URL + "/organizations/v2.0", "aud": "api"})
	if _, err := verifyWith(t, v, tok); !errors.Is(err, verifier.ErrKeysUnavailable) {
		t.Fatalf("token under the organizations issuer: %v, want ErrKeysUnavailable", err)
	}
}

func TestProviders_Keycloak(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/realms/demo"})
	keycloak := shaped(t, iss, map[string]any{"cid": nil, "ver": nil, "sub": "f3c1-user"})
	v := providerVerifier(t, verifier.Config{Issuer: iss.URL(), Audiences: []string{"items-api"}})

	// With the Audience mapper: items-api next to account.
	tok := keycloak(map[string]any{"aud": []string{"items-api", "account"}, "azp": "items-cli", "typ": "Bearer", "scope": "profile email items:read"})
	c, err := verifyWith(t, v, tok)
	if err != nil {
		t.Fatalf("Keycloak access token: %v", err)
	}
	if !c.HasScope("items:read") || c.ClientID() != "items-cli" {
		t.Fatalf("scopes %v, client %q", c.Scopes(), c.ClientID())
	}
	// Without the mapper.
	if _, err := verifyWith(t, v, keycloak(map[string]any{"aud": "account", "azp": "items-cli", "typ": "Bearer", "scope": "items:read"})); !errors.Is(err, verifier.ErrAudience) {
		t.Fatalf("token without the audience mapper: %v, want ErrAudience", err)
	}

	// An ID token of a client whose id is the audience (typ claim "ID").
	id := keycloak(map[string]any{"aud": "items-api", "azp": "items-api", "typ": "ID", "nonce": "n"})
	if _, err := verifyWith(t, v, id); err != nil {
		t.Fatalf("ID token whose aud is the audience: %v, want it accepted without REQUIRE_CLAIMS (the documented hazard)", err)
	}
	strict := providerVerifier(t, verifier.Config{Issuer: iss.URL(), Audiences: []string{"items-api"}, AssertClaims: map[string]any{"typ": "Bearer"}})
	if _, err := verifyWith(t, strict, id); !errors.Is(err, verifier.ErrClaims) {
		t.Fatalf("ID token under typ=Bearer: %v, want ErrClaims", err)
	}
	if _, err := verifyWith(t, strict, tok); err != nil {
		t.Fatalf("access token under typ=Bearer: %v", err)
	}
}

func TestProviders_Cognito(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/eu-west-1_AbCdEf123"})
	const app = "3n4b5urk1ft4fl3mg5e62d9ado"
	cognito := shaped(t, iss, map[string]any{"aud": nil, "cid": nil, "ver": nil, "version": 2})
	v := providerVerifier(t, verifier.Config{Issuer: iss.URL(), SkipAudienceCheck: true, ClientIDs: []string{app},
		AssertClaims: map[string]any{"token_use": "access"}})

	tok := cognito(map[string]any{"sub": app, "client_id": app, "token_use": "access", "scope": "items/read items/write"})
	c, err := verifyWith(t, v, tok)
	if err != nil {
		t.Fatalf("Cognito access token: %v", err)
	}
	if !c.HasScope("items/read") || c.ClientID() != app {
		t.Fatalf("scopes %v, client %q", c.Scopes(), c.ClientID())
	}
	for name, bad := range map[string]string{
		"ID token":             cognito(map[string]any{"sub": "user-1", "aud": app, "token_use": "id", "cognito:username": "ada"}),
		"ID token with azp":    cognito(map[string]any{"sub": "user-1", "aud": app, "azp": app, "token_use": "id"}),
		"another app's access": cognito(map[string]any{"sub": "other", "client_id": "other", "token_use": "access", "scope": "items/read"}),
	} {
		if _, err := verifyWith(t, v, bad); !errors.Is(err, verifier.ErrClaims) {
			t.Errorf("%s: %v, want ErrClaims", name, err)
		}
	}
}
