package verifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// The tests below check what docs/providers.md says of several issuers
// behind one MultiVerifier, with providers whose issuers share one key set.

// entraLogin stands in for login.microsoftonline.com: every tenant's v2.0
// discovery document, at /{tenant}/v2.0/.well-known/openid-configuration,
// names its own issuer and the one key set that Entra signs every tenant's
// tokens with (keys'); the organizations and common endpoints name the
// issuer template. It counts the requests it serves.
type entraLogin struct {
	srv      *httptest.Server
	keys     *grpcauthtest.Issuer
	requests atomic.Int64
}

func newEntraLogin(t *testing.T) *entraLogin {
	t.Helper()
	e := &entraLogin{keys: grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/common/discovery/v2.0", Audience: entraAPI})}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		tenant, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/v2.0/.well-known/openid-configuration")
		if !ok || tenant == "" || strings.Contains(tenant, "/") {
			http.NotFound(w, r)
			return
		}
		if tenant == "common" || tenant == "organizations" {
			tenant = "{tenantid}"
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": "http://" + r.Host + "/" + tenant + "/v2.0", "jwks_uri": e.keys.JWKSURL()})
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// issuer is tenant's v2.0 issuer.
func (e *entraLogin) issuer(tenant string) string { return e.srv.URL + "/" + tenant + "/v2.0" }

// config is the configuration docs/providers.md gives for tenant.
func (e *entraLogin) config(tenant string) verifier.Config {
	return verifier.Config{Issuer: e.issuer(tenant), Audiences: []string{entraAPI, "api://" + entraAPI}, ScopeClaims: []string{"scp", "roles"}}
}

// token mints an app-only v2.0 token of tenant for the API, signed with
// the key set every tenant shares.
func (e *entraLogin) token(t *testing.T, tenant string, claims map[string]any) string {
	t.Helper()
	return shaped(t, e.keys, map[string]any{"iss": e.issuer(tenant), "aud": entraAPI, "tid": tenant, "ver": "2.0", "cid": nil,
		"sub": "oid-daemon", "azp": entraDaemon, "roles": []string{"items:read"}})(claims)
}

// A multi-tenant Entra ID API: one Config per accepted tenant, as
// docs/providers.md says. Each tenant's tokens verify at that tenant's
// Config. A token of a tenant not configured (one that consented to the
// API: same audience, same keys) is refused as of an unknown issuer, with
// no request, and so is a v1.0 token of a configured tenant. Entra signs
// every tenant's tokens with one key set, so the tenants are told apart
// by iss alone: a token the common signer wrote for tenant B is B's,
// whichever tenant's key set looked its kid up, which is why
// docs/providers.md says to key callers on issuer (or tid) and subject.
func TestMulti_EntraTenantsAreToldApartByIssuerAlone(t *testing.T) {
	const tenantA, tenantB, stranger = entraTenant, "0f2e57a4-7a7c-4a38-9a9e-4e7f2a4f6d1b", "5c3b6d2e-1f0a-4b8c-9d7e-2a1b3c4d5e6f"
	login := newEntraLogin(t)
	m, err := verifier.NewMulti(context.Background(), login.config(tenantA), login.config(tenantB))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Ready(ctx); err != nil {
		t.Fatal(err)
	}

	for _, tenant := range []string{tenantA, tenantB} {
		c, err := m.VerifyAccessToken(ctx, login.token(t, tenant, nil))
		if err != nil || c.Issuer() != login.issuer(tenant) || !c.HasScope("items:read") {
			t.Fatalf("tenant %s's token: issuer %q, scopes %v, %v; want it accepted as that tenant's", tenant, c.Issuer(), c.Scopes(), err)
		}
	}

	requests := login.requests.Load()
	for name, tok := range map[string]string{
		"a tenant not configured": login.token(t, stranger, nil),
		"a v1.0 token of a configured tenant": login.token(t, tenantA, map[string]any{
			"iss": "https://sts.windows.net/" + tenantA + "/", "aud": "api://" + entraAPI, "ver": "1.0", "azp": nil, "appid": entraDaemon}),
		"the organizations issuer template": login.token(t, "{tenantid}", nil),
	} {
		if c, err := m.VerifyAccessToken(ctx, tok); !errors.Is(err, verifier.ErrIssuer) || !c.IsZero() {
			t.Errorf("%s: %v, %v; want ErrIssuer", name, c, err)
		}
	}
	if n := login.requests.Load(); n != requests {
		t.Errorf("refusing tokens of unknown issuers made %d discovery requests, want none", n-requests)
	}
	if st := m.Stats(); st.UnknownIssuerTokens != 3 {
		t.Errorf("MultiStats.UnknownIssuerTokens %d, want 3", st.UnknownIssuerTokens)
	}
}

// Configured with the organizations (or common) endpoint, a Verifier
// never loads a key (the discovery document's issuer is a template): a
// token claiming that endpoint's issuer, which Entra never issues, waits
// for the first fetch and gets ErrKeysUnavailable. A real token, whose iss
// names its tenant, is refused as of another issuer (UNAUTHENTICATED
// behind grpcauth), not for want of keys: the issuer is checked before
// any key lookup. docs/providers.md said every call got UNAVAILABLE.
func TestMulti_EntraOrganizationsEndpointRefusesEveryTenantsToken(t *testing.T) {
	login := newEntraLogin(t)
	cfg := login.config("organizations")
	cfg.Logger = slog.New(slog.DiscardHandler) // the failed discovery's warning
	v, err := verifier.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := v.VerifyAccessToken(ctx, login.token(t, "organizations", nil)); !errors.Is(err, verifier.ErrKeysUnavailable) {
		t.Fatalf("a token claiming the organizations issuer: %v, want ErrKeysUnavailable", err)
	}
	if _, err := v.VerifyAccessToken(ctx, login.token(t, entraTenant, nil)); !errors.Is(err, verifier.ErrIssuer) {
		t.Fatalf("a tenant's token under the organizations endpoint: %v, want ErrIssuer", err)
	}
}

// An Auth0 API with the RFC 9068 token profile, next to an Okta server
// (a migration, as in docs/introspection.md), behind one MultiVerifier:
// RequireAccessTokenProfile applies to Auth0's tokens only. Its tokens
// (typ at+jwt, client_id, jti) verify; a token of the same tenant without
// that typ (an ID token, or the Auth0 profile's access token) is refused
// for its typ, and Okta's tokens, which carry no typ, still verify at Okta.
func TestMulti_Auth0RFC9068ProfileNextToOkta(t *testing.T) {
	okta := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/oauth2/default", Audience: "api://default"})
	auth0 := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/auth0-tenant", Audience: "https://items.example.com", Shape: grpcauthtest.ShapeRFC9068})
	m, err := verifier.NewMulti(context.Background(),
		verifier.Config{Issuer: okta.URL(), Audiences: []string{"api://default"}},
		verifier.Config{Issuer: auth0.URL(), Audiences: []string{"https://items.example.com"}, RequireAccessTokenProfile: true},
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := m.VerifyAccessToken(ctx, mintOn(t, okta, nil)); err != nil {
		t.Fatalf("Okta token: %v", err)
	}
	rfc9068 := map[string]any{"sub": "auth0|ada", "client_id": "spa-client", "scope": "items:read"}
	if c, err := m.VerifyAccessToken(ctx, mintOn(t, auth0, rfc9068)); err != nil || c.ClientID() != "spa-client" {
		t.Fatalf("Auth0 RFC 9068 token: client %q, %v", c.ClientID(), err)
	}
	untyped := mintOn(t, auth0, map[string]any{"sub": "auth0|ada", "aud": "https://items.example.com", "azp": "spa-client", "client_id": nil},
		grpcauthtest.WithHeader("typ", "JWT"))
	var ce *verifier.ClaimError
	if _, err := m.VerifyAccessToken(ctx, untyped); !errors.As(err, &ce) || ce.Claim != "typ" {
		t.Fatalf("Auth0 token typed JWT under RequireAccessTokenProfile: %v, want a typ ClaimError", err)
	}
}

// The Cognito and Keycloak configurations of docs/providers.md behind one
// MultiVerifier: Cognito's SkipAudienceCheck applies to Cognito's tokens
// only, so a Keycloak token without the API's audience is still refused,
// and each configuration keeps its own provider's ID tokens out (Keycloak's
// by its typ claim, Cognito's by token_use and ClientIDs).
func TestMulti_CognitoSkippedAudienceCheckStaysWithCognito(t *testing.T) {
	const app = "3n4b5urk1ft4fl3mg5e62d9ado"
	cognito := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/eu-west-1_AbCdEf123"})
	keycloak := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/realms/demo"})
	m, err := verifier.NewMulti(context.Background(),
		verifier.Config{Issuer: cognito.URL(), SkipAudienceCheck: true, ClientIDs: []string{app},
			AssertClaims: map[string]any{"token_use": "access"}},
		verifier.Config{Issuer: keycloak.URL(), Audiences: []string{"items-api"},
			AssertClaims: map[string]any{"typ": "Bearer"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cognitoToken := shaped(t, cognito, map[string]any{"aud": nil, "cid": nil, "ver": nil, "sub": app, "client_id": app, "token_use": "access", "scope": "items/read"})
	keycloakToken := shaped(t, keycloak, map[string]any{"aud": "items-api", "cid": nil, "ver": nil, "sub": "f3c1-user", "azp": "items-cli", "typ": "Bearer", "scope": "items:read"})
	for name, tok := range map[string]string{"Cognito access token": cognitoToken(nil), "Keycloak access token": keycloakToken(nil)} {
		if _, err := m.VerifyAccessToken(ctx, tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, tc := range map[string]struct {
		token string
		want  error
	}{
		"Keycloak token without the audience": {keycloakToken(map[string]any{"aud": "account"}), verifier.ErrAudience},
		"Keycloak token without aud":          {keycloakToken(map[string]any{"aud": nil}), verifier.ErrAudience},
		"Keycloak ID token":                   {keycloakToken(map[string]any{"azp": "items-api", "typ": "ID", "nonce": "n"}), verifier.ErrClaims},
		"Cognito ID token":                    {cognitoToken(map[string]any{"sub": "user-1", "aud": app, "client_id": nil, "token_use": "id"}), verifier.ErrClaims},
	} {
		if _, err := m.VerifyAccessToken(ctx, tc.token); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}
