package verifier_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
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
// over iss's defaults (a nil value removes a claim), minted with baseOpts
// and then opts.
func shaped(t *testing.T, iss *grpcauthtest.Issuer, base map[string]any, baseOpts ...grpcauthtest.MintOption) func(claims map[string]any, opts ...grpcauthtest.MintOption) string {
	return func(claims map[string]any, opts ...grpcauthtest.MintOption) string {
		t.Helper()
		all := maps.Clone(base)
		maps.Copy(all, claims)
		return mintOn(t, iss, all, append(slices.Clone(baseOpts), opts...)...)
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

// A Keycloak service-account (client-credentials) token names its client
// twice: in azp and, in recent versions, in client_id (the service
// account's Client ID mapper, which reads a user-session note; older
// versions wrote clientId, which is not read). Alike, they name that
// client, under CLIENT_IDS too. A token another client obtains by token
// exchange has the requester's azp; should it also carry a client_id
// naming the first client, it names no client, and CLIENT_IDS refuses it
// saying so (docs/providers.md; not checked against a live Keycloak).
func TestProviders_KeycloakServiceAccountTokens(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/realms/demo"})
	keycloak := shaped(t, iss, map[string]any{"cid": nil, "ver": nil, "sub": "5d1e-service-account", "aud": "items-api",
		"typ": "Bearer", "scope": "items:read", "preferred_username": "service-account-items-svc"})
	open := providerVerifier(t, verifier.Config{Issuer: iss.URL(), Audiences: []string{"items-api"}})
	pinned := providerVerifier(t, verifier.Config{Issuer: iss.URL(), Audiences: []string{"items-api"}, ClientIDs: []string{"items-svc"}})

	own := keycloak(map[string]any{"azp": "items-svc", "client_id": "items-svc"})
	for name, v := range map[string]*verifier.Verifier{"open": open, "CLIENT_IDS": pinned} {
		if c, err := verifyWith(t, v, own); err != nil || c.ClientID() != "items-svc" {
			t.Errorf("%s: service-account token: client %q, %v; want items-svc", name, c.ClientID(), err)
		}
	}

	exchanged := keycloak(map[string]any{"azp": "gateway", "client_id": "items-svc"})
	if c, err := verifyWith(t, open, exchanged); err != nil || c.ClientID() != "" {
		t.Errorf("exchanged token: client %q, %v; want no client", c.ClientID(), err)
	}
	var ce *verifier.ClaimError
	if _, err := verifyWith(t, pinned, exchanged); !errors.As(err, &ce) || ce.Reason != "cid, client_id and azp name different clients" {
		t.Errorf("exchanged token under CLIENT_IDS: %v, want refused as naming different clients", err)
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
		// A pre-token-generation Lambda may add claims to access tokens;
		// one it names cid (a customer id, say) must not stand in for
		// client_id, the only claim naming the client.
		"another app's access with a cid naming this app": cognito(map[string]any{"sub": "other", "client_id": "other", "cid": app,
			"token_use": "access", "scope": "items/read"}),
	} {
		if _, err := verifyWith(t, v, bad); !errors.Is(err, verifier.ErrClaims) {
			t.Errorf("%s: %v, want ErrClaims", name, err)
		}
	}
}

// Firebase Authentication: ID tokens of a project's users, from the
// issuer https://securetoken.google.com/{projectId}, whose discovery
// document names a key set at www.googleapis.com with an "@" in its path.
const (
	firebaseProject  = "items-7f3a2"
	firebaseUID      = "kZ3vQ9uYbHdR2mWc8xLpT1sNf4E2"
	firebaseKeysPath = "/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
)

// firebaseNow is the clock of the Firebase tests, their tokens' and
// verifiers'.
var firebaseNow = time.Unix(1_800_000_000, 0)

// firebaseEnv stands in for Firebase: securetoken serves every project's
// discovery document at /{projectId}/.well-known/openid-configuration,
// naming as jwks_uri googleapis' firebaseKeysPath, where googleapis serves
// keys' key set.
type firebaseEnv struct {
	keys                    *grpcauthtest.Issuer
	securetoken, googleapis *httptest.Server
}

func newFirebaseEnv(t *testing.T) *firebaseEnv {
	t.Helper()
	f := &firebaseEnv{keys: grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/keys-only", Now: func() time.Time { return firebaseNow }})}
	f.googleapis = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != firebaseKeysPath { // "@" or "%40" in the request alike
			http.NotFound(w, r)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, f.keys.JWKSURL(), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(f.googleapis.Close)
	f.securetoken = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		project, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/.well-known/openid-configuration")
		if !ok || project == "" || strings.Contains(project, "/") {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                "http://" + r.Host + "/" + project,
			"jwks_uri":                              f.googleapis.URL + firebaseKeysPath,
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	}))
	t.Cleanup(f.securetoken.Close)
	return f
}

// issuer is project's issuer, shaped like https://securetoken.google.com/{projectId}.
func (f *firebaseEnv) issuer(project string) string { return f.securetoken.URL + "/" + project }

// config is the configuration docs/providers.md gives for project.
func (f *firebaseEnv) config(project string) verifier.Config {
	return verifier.Config{Issuer: f.issuer(project), Audiences: []string{project}, Algorithms: []string{"RS256"},
		Now: func() time.Time { return firebaseNow }}
}

// idTokens returns a minter of project's ID tokens for firebaseUID, as
// Firebase issues them to a user signed in with a password: typ JWT, no
// client id, no scope, no jti.
func (f *firebaseEnv) idTokens(t *testing.T, project string) func(claims map[string]any, opts ...grpcauthtest.MintOption) string {
	return shaped(t, f.keys, map[string]any{
		"iss": f.issuer(project), "aud": project, "sub": firebaseUID, "user_id": firebaseUID,
		"auth_time": firebaseNow.Add(-10 * time.Minute), "iat": firebaseNow.Add(-time.Minute), "exp": firebaseNow.Add(59 * time.Minute),
		"email": "ada@example.com", "email_verified": true,
		"firebase": map[string]any{"identities": map[string]any{"email": []string{"ada@example.com"}}, "sign_in_provider": "password"},
		"cid":      nil, "jti": nil, "ver": nil,
	}, grpcauthtest.WithHeader("typ", "JWT"))
}

// The key set discovery names holds an "@" in its path, and is accepted;
// the ID token verifies as an access token with no scope and no client,
// and as an ID token of the project.
func TestProviders_Firebase(t *testing.T) {
	f := newFirebaseEnv(t)
	v := providerVerifier(t, f.config(firebaseProject))
	tok := f.idTokens(t, firebaseProject)(nil)

	c, err := verifyWith(t, v, tok)
	if err != nil {
		t.Fatalf("Firebase ID token, key set discovered at a URL with an \"@\": %v", err)
	}
	var userID string
	if err := c.Claim("user_id", &userID); err != nil || userID != firebaseUID || c.Subject() != firebaseUID {
		t.Fatalf("sub %q, user_id %q (%v): want the uid in both", c.Subject(), userID, err)
	}
	if len(c.Scopes()) != 0 || c.ClientID() != "" {
		t.Fatalf("scopes %v, client %q: want none of either", c.Scopes(), c.ClientID())
	}
	if _, err := v.VerifyIDToken(context.Background(), tok, firebaseProject, ""); err != nil {
		t.Fatalf("VerifyIDToken with the project id: %v", err)
	}

	// Pinning clients refuses every Firebase token: none names one.
	pinned := f.config(firebaseProject)
	pinned.ClientIDs = []string{firebaseProject}
	if _, err := verifyWith(t, providerVerifier(t, pinned), tok); !errors.Is(err, verifier.ErrClaims) {
		t.Fatalf("under ClientIDs: %v, want ErrClaims (no azp, cid or client_id)", err)
	}
	// RFC 9068's profile too: typ is JWT, and there is no client_id or jti.
	profile := f.config(firebaseProject)
	profile.RequireAccessTokenProfile = true
	if _, err := verifyWith(t, providerVerifier(t, profile), tok); !errors.Is(err, verifier.ErrClaims) {
		t.Fatalf("under RequireAccessTokenProfile: %v, want ErrClaims", err)
	}
}

// A configured JWKSURL may not hold an "@" after its host, Firebase's
// included; written %40, it is accepted and names the same key set.
func TestProviders_FirebaseConfiguredKeySetURLNeedsItsAtEscaped(t *testing.T) {
	f := newFirebaseEnv(t)
	cfg := f.config(firebaseProject)
	cfg.JWKSURL = f.googleapis.URL + firebaseKeysPath
	if v, err := verifier.New(context.Background(), cfg); err == nil {
		_ = v.Close()
		t.Fatalf("New with JWKSURL %q: no error, want the \"@\" refused", cfg.JWKSURL)
	}
	cfg.JWKSURL = f.googleapis.URL + strings.Replace(firebaseKeysPath, "@", "%40", 1)
	if _, err := verifyWith(t, providerVerifier(t, cfg), f.idTokens(t, firebaseProject)(nil)); err != nil {
		t.Fatalf("JWKSURL with %%40: %v", err)
	}
}

// The checks docs/providers.md says the verifier makes on a Firebase ID
// token: signature, kid, iss, aud, exp and iat, with the clock skew.
func TestProviders_FirebaseChecks(t *testing.T) {
	f := newFirebaseEnv(t)
	cfg := f.config(firebaseProject)
	cfg.MaxKeyWaiters = -1 // an unknown kid is refused at once, not after MinRefreshInterval
	v := providerVerifier(t, cfg)
	mint := f.idTokens(t, firebaseProject)
	skew := verifier.DefaultClockSkew

	good := mint(nil)
	if _, err := verifyWith(t, v, good); err != nil {
		t.Fatalf("Firebase ID token: %v", err)
	}
	// Another user's payload under this token's signature.
	parts, other := strings.Split(good, "."), strings.Split(mint(map[string]any{"sub": "another-uid", "user_id": "another-uid"}), ".")
	forged := parts[0] + "." + other[1] + "." + parts[2]

	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"signature over another payload", forged, verifier.ErrBadSignature},
		{"no kid", mint(nil, grpcauthtest.WithKidHeader("")), verifier.ErrMalformed},
		{"unknown kid", mint(nil, grpcauthtest.WithKidHeader("0e7ac9e2b6a1d5c4f3b2a1908f7e6d5c4b3a2918")), verifier.ErrUnknownKey},
		{"another project's issuer", mint(map[string]any{"iss": f.issuer("other-project")}), verifier.ErrIssuer},
		{"a session cookie's issuer", mint(map[string]any{"iss": "https://session.firebase.google.com/" + firebaseProject}), verifier.ErrIssuer},
		{"another project's audience", mint(map[string]any{"aud": "other-project"}), verifier.ErrAudience},
		{"expired beyond the skew", mint(map[string]any{"iat": firebaseNow.Add(-2 * time.Hour), "exp": firebaseNow.Add(-skew - time.Second)}), verifier.ErrExpired},
		{"no exp", mint(map[string]any{"exp": nil}), verifier.ErrClaims},
		{"issued beyond the skew ahead", mint(map[string]any{"iat": firebaseNow.Add(skew + time.Second)}), verifier.ErrNotYetValid},
		{"the Auth emulator's (alg none, no kid)", mint(nil, grpcauthtest.Unsigned()), verifier.ErrAlgorithm},
	} {
		if _, err := verifyWith(t, v, tc.token); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	for name, tok := range map[string]string{
		"expired within the skew":      mint(map[string]any{"exp": firebaseNow.Add(-skew + time.Second)}),
		"issued within the skew ahead": mint(map[string]any{"iat": firebaseNow.Add(skew - time.Second)}),
	} {
		if _, err := verifyWith(t, v, tok); err != nil {
			t.Errorf("%s: %v, want it accepted", name, err)
		}
	}
}

// Firebase signs with RS256; the default allow-list accepts the other
// asymmetric algorithms too, Algorithms: RS256 does not.
func TestProviders_FirebaseAlgorithms(t *testing.T) {
	f := newFirebaseEnv(t)
	rs := f.keys.KeyID()
	es, err := f.keys.AddKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	mint := f.idTokens(t, firebaseProject)
	byDefault := f.config(firebaseProject)
	byDefault.Algorithms = nil
	for name, v := range map[string]*verifier.Verifier{"default": providerVerifier(t, byDefault), "RS256": providerVerifier(t, f.config(firebaseProject))} {
		if _, err := verifyWith(t, v, mint(nil, grpcauthtest.WithIssuerKey(rs))); err != nil {
			t.Errorf("%s allow-list, RS256 token: %v", name, err)
		}
		_, err := verifyWith(t, v, mint(nil, grpcauthtest.WithIssuerKey(es)))
		if name == "default" && err != nil {
			t.Errorf("default allow-list, ES256 token: %v, want it accepted", err)
		}
		if name == "RS256" && !errors.Is(err, verifier.ErrAlgorithm) {
			t.Errorf("RS256 allow-list, ES256 token: %v, want ErrAlgorithm", err)
		}
	}
}

// What the verifier does not check: an empty sub (but VerifyIDToken
// does), an auth_time in the future, the kind of sign-in, the tenant.
func TestProviders_FirebaseUncheckedClaims(t *testing.T) {
	f := newFirebaseEnv(t)
	v := providerVerifier(t, f.config(firebaseProject))
	mint := f.idTokens(t, firebaseProject)

	noSub := mint(map[string]any{"sub": ""})
	if _, err := verifyWith(t, v, noSub); err != nil {
		t.Errorf("empty sub: %v, want it accepted by VerifyAccessToken", err)
	}
	if _, err := v.VerifyIDToken(context.Background(), noSub, firebaseProject, ""); !errors.Is(err, verifier.ErrClaims) {
		t.Errorf("empty sub: %v, want ErrClaims from VerifyIDToken", err)
	}
	if _, err := v.VerifyIDToken(context.Background(), mint(map[string]any{"iat": nil}), firebaseProject, ""); !errors.Is(err, verifier.ErrClaims) {
		t.Errorf("no iat: %v, want ErrClaims from VerifyIDToken", err)
	}
	for name, tok := range map[string]string{
		"auth_time an hour ahead": mint(map[string]any{"auth_time": firebaseNow.Add(time.Hour)}),
		"anonymous sign-in":       mint(map[string]any{"email": nil, "email_verified": nil, "firebase": map[string]any{"identities": map[string]any{}, "sign_in_provider": "anonymous"}}),
		"another tenant's user":   mint(map[string]any{"firebase": map[string]any{"identities": map[string]any{}, "sign_in_provider": "password", "tenant": "other-tenant-x7k2"}}),
	} {
		if _, err := verifyWith(t, v, tok); err != nil {
			t.Errorf("%s: %v, want it accepted", name, err)
		}
	}
}

// Custom claims become scopes through ScopeClaims; AssertClaims checks
// top-level claims, email_verified as a bool; the nested firebase claim
// is read with Claims.Claim.
func TestProviders_FirebaseCustomClaims(t *testing.T) {
	f := newFirebaseEnv(t)
	mint := f.idTokens(t, firebaseProject)
	tenant := map[string]any{"identities": map[string]any{}, "sign_in_provider": "password", "tenant": "staff-k3j9"}

	roles := f.config(firebaseProject)
	roles.ScopeClaims = []string{"roles"}
	v := providerVerifier(t, roles)
	c, err := verifyWith(t, v, mint(map[string]any{"roles": []string{"items:read", "items:write"}, "firebase": tenant}))
	if err != nil || !c.HasScope("items:write") {
		t.Fatalf("roles custom claim: %v, scopes %v; want items:write", err, c.Scopes())
	}
	var fb struct {
		SignInProvider string `json:"sign_in_provider"`
		Tenant         string `json:"tenant"`
	}
	if err := c.Claim("firebase", &fb); err != nil || fb.SignInProvider != "password" || fb.Tenant != "staff-k3j9" {
		t.Fatalf("firebase claim %+v (%v)", fb, err)
	}
	if c, err := verifyWith(t, v, mint(nil)); err != nil || len(c.Scopes()) != 0 {
		t.Errorf("no roles claim: %v, scopes %v; want it accepted with no scope", err, c.Scopes())
	}
	if _, err := verifyWith(t, v, mint(map[string]any{"roles": map[string]any{"items": "read"}})); !errors.Is(err, verifier.ErrMalformed) {
		t.Errorf("roles neither a string nor an array of strings: %v, want ErrMalformed", err)
	}

	verified := f.config(firebaseProject)
	verified.AssertClaims = map[string]any{"email_verified": true}
	v = providerVerifier(t, verified)
	if _, err := verifyWith(t, v, mint(nil)); err != nil {
		t.Errorf("verified e-mail under email_verified=true: %v", err)
	}
	for name, tok := range map[string]string{"unverified": mint(map[string]any{"email_verified": false}), "anonymous": mint(map[string]any{"email_verified": nil})} {
		if _, err := verifyWith(t, v, tok); !errors.Is(err, verifier.ErrClaims) {
			t.Errorf("%s under email_verified=true: %v, want ErrClaims", name, err)
		}
	}
	for name, assert := range map[string]map[string]any{
		"email_verified=\"true\" (REQUIRE_CLAIMS' string)": {"email_verified": "true"},
		"sign_in_provider=password (nested in firebase)":   {"sign_in_provider": "password"},
		"tenant=staff-k3j9 (nested in firebase)":           {"tenant": "staff-k3j9"},
	} {
		cfg := f.config(firebaseProject)
		cfg.AssertClaims = assert
		if _, err := verifyWith(t, providerVerifier(t, cfg), mint(map[string]any{"firebase": tenant})); !errors.Is(err, verifier.ErrClaims) {
			t.Errorf("AssertClaims %s: %v, want ErrClaims", name, err)
		}
	}
}

// Firebase's X.509 certificates document, which its documentation
// points to, is no key set: a verifier given its URL loads no key.
func TestProviders_FirebaseX509CertificatesAreNotRead(t *testing.T) {
	f := newFirebaseEnv(t)
	kid := f.keys.KeyID()
	ca, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "securetoken.system.gserviceaccount.com"},
		NotBefore: firebaseNow.Add(-time.Hour), NotAfter: firebaseNow.Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, f.keys.PublicKey(kid), ca)
	if err != nil {
		t.Fatal(err)
	}
	certs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{kid: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))})
	}))
	t.Cleanup(certs.Close)
	cfg := f.config(firebaseProject)
	cfg.JWKSURL = certs.URL + "/robot/v1/metadata/x509/securetoken%40system.gserviceaccount.com"
	if _, err := verifyWith(t, providerVerifier(t, cfg), f.idTokens(t, firebaseProject)(nil)); !errors.Is(err, verifier.ErrKeysUnavailable) {
		t.Fatalf("key set URL naming the X.509 certificates: %v, want ErrKeysUnavailable", err)
	}
}

// Several projects: one Config each, with NewMulti; they share the key set.
func TestProviders_FirebaseProjectsWithNewMulti(t *testing.T) {
	f := newFirebaseEnv(t)
	const second = "items-staging-41c0"
	m, err := verifier.NewMulti(context.Background(), f.config(firebaseProject), f.config(second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range []string{firebaseProject, second} {
		if c, err := m.VerifyAccessToken(ctx, f.idTokens(t, p)(nil)); err != nil || c.Issuer() != f.issuer(p) {
			t.Errorf("project %s: %v, issuer %q", p, err, c.Issuer())
		}
	}
	// The second project's token, its aud changed to the first's.
	if _, err := m.VerifyAccessToken(ctx, f.idTokens(t, second)(map[string]any{"aud": firebaseProject})); !errors.Is(err, verifier.ErrAudience) {
		t.Errorf("second project's issuer with the first's audience: %v, want ErrAudience", err)
	}
}
