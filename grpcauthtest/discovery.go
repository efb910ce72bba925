package grpcauthtest

import (
	"encoding/json"
	"net/http"
	"slices"
)

// routes returns the issuer's HTTP handler. Paths other than these are 404.
func (i *Issuer) routes() http.Handler {
	p := i.cfg.Path
	mux := http.NewServeMux()
	mux.HandleFunc(p+"/.well-known/openid-configuration", i.serveMetadata)
	mux.HandleFunc(p+"/.well-known/oauth-authorization-server", i.serveMetadata)
	if p != "" {
		// RFC 8414 §3.1 inserts the well-known segment before the path.
		mux.HandleFunc("/.well-known/oauth-authorization-server"+p, i.serveMetadata)
	}
	mux.HandleFunc(p+"/v1/keys", i.serveJWKS)
	mux.HandleFunc(p+"/v1/token", i.tokenCORS(i.serveToken))
	if len(i.cfg.PublicClients) > 0 {
		mux.HandleFunc(p+"/v1/authorize", i.serveAuthorize)
	}
	mux.HandleFunc(p+"/v1/introspect", i.serveIntrospect)
	return mux
}

// Metadata is the authorization-server metadata (RFC 8414) served at every
// well-known URL (openid-configuration and oauth-authorization-server under
// the issuer URL, and, for an issuer with a path, oauth-authorization-server
// inserted before the path, RFC 8414 section 3.1); it is also a valid OpenID
// Provider configuration for the fields a verifier uses.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	JWKSURI                           string   `json:"jwks_uri"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	// ResponseTypesSupported is ["code"] with Config.PublicClients, and
	// empty without: there is then no authorization endpoint.
	ResponseTypesSupported           []string `json:"response_types_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                  []string `json:"claims_supported"`
	// IntrospectionEndpoint is IntrospectionURL() (RFC 8414 §2).
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	// AuthorizationEndpoint is AuthorizeURL() when Config.PublicClients
	// is not empty, and absent otherwise.
	AuthorizationEndpoint string `json:"authorization_endpoint,omitempty"`
	// CodeChallengeMethodsSupported is ["S256"] (RFC 7636) when there is
	// an authorization endpoint.
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported,omitempty"`
	// DPoPSigningAlgValuesSupported are the algorithms of the DPoP proofs
	// the token endpoint accepts (RFC 9449 §5.1): every asymmetric one.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
	// AuthorizationResponseIssParameterSupported is true when there is an
	// authorization endpoint: its every answer carries iss, and clients
	// must then refuse one without it (RFC 9207 §2.4, §3).
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported,omitempty"`
	// ACRValuesSupported is Config.ACRValues (or DefaultACRValues()) when
	// there is an authorization endpoint: the acr values its sign-ins
	// can get (OpenID Connect Discovery 1.0, section 3).
	ACRValuesSupported []string `json:"acr_values_supported,omitempty"`
	// ResponseModesSupported is ["query"] when there is an authorization
	// endpoint: left out, it would mean ["query", "fragment"] (RFC 8414
	// §2), and the endpoint refuses every mode but query.
	ResponseModesSupported []string `json:"response_modes_supported,omitempty"`
	// RequestURIParameterSupported is false, sent when there is an
	// authorization endpoint: left out, it would mean true (OpenID
	// Connect Discovery 1.0, section 3), and the endpoint refuses
	// request_uri (and request) parameters.
	RequestURIParameterSupported *bool `json:"request_uri_parameter_supported,omitempty"`
}

// Metadata returns the document served at the well-known URLs.
func (i *Issuer) Metadata() Metadata {
	var scopes []string
	for _, c := range i.cfg.Clients {
		scopes = append(scopes, c.Scopes...)
	}
	for _, u := range i.cfg.Users {
		scopes = append(scopes, u.Scopes...)
	}
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	if scopes == nil {
		scopes = []string{}
	}
	algs := []string{}
	i.mu.RLock()
	for _, k := range i.published {
		algs = append(algs, k.alg.String())
	}
	i.mu.RUnlock()
	slices.Sort(algs)
	algs = slices.Compact(algs)
	clientClaim := i.cfg.Shape.clientIDClaim()
	scopeClaim, _ := i.cfg.Shape.scopeClaim(nil)
	claims := []string{"iss", "aud", "sub", "iat", "exp", "jti", clientClaim, scopeClaim}
	if i.cfg.Shape == ShapeOkta {
		claims = append(claims, "ver")
	}
	md := Metadata{
		Issuer:                                    i.url,
		JWKSURI:                                   i.JWKSURL(),
		TokenEndpoint:                             i.TokenURL(),
		GrantTypesSupported:                       []string{"client_credentials"},
		TokenEndpointAuthMethodsSupported:         []string{"client_secret_basic", "client_secret_post"},
		ScopesSupported:                           scopes,
		ResponseTypesSupported:                    []string{},
		SubjectTypesSupported:                     []string{"public"},
		IDTokenSigningAlgValuesSupported:          algs,
		ClaimsSupported:                           claims,
		IntrospectionEndpoint:                     i.IntrospectionURL(),
		IntrospectionEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post"},
		DPoPSigningAlgValuesSupported:             slices.Clone(tokenDPoPAlgorithms),
	}
	if len(i.cfg.PublicClients) > 0 {
		md.AuthorizationEndpoint = i.AuthorizeURL()
		md.CodeChallengeMethodsSupported = []string{"S256"}
		md.AuthorizationResponseIssParameterSupported = true
		md.GrantTypesSupported = append(md.GrantTypesSupported, "authorization_code")
		md.ResponseTypesSupported = []string{"code"}
		md.TokenEndpointAuthMethodsSupported = append(md.TokenEndpointAuthMethodsSupported, "none")
		md.ClaimsSupported = append(md.ClaimsSupported, "auth_time", "acr")
		md.ACRValuesSupported = slices.Clone(i.cfg.ACRValues)
		md.ResponseModesSupported = []string{"query"}
		md.RequestURIParameterSupported = new(bool)
		if i.cfg.Shape == ShapeOkta {
			md.ClaimsSupported = append(md.ClaimsSupported, "uid")
		}
	}
	return md
}

func (i *Issuer) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if !allowGet(w, r) {
		return
	}
	b, err := json.Marshal(i.Metadata())
	if err != nil {
		http.Error(w, "metadata encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(b)
}

// serveJWKS serves the published public keys. Each GET (not HEAD) counts
// towards JWKSRequests.
func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if !allowGet(w, r) {
		return
	}
	i.mu.RLock()
	b := i.jwks
	i.mu.RUnlock()
	if r.Method == http.MethodGet {
		i.jwksRequests.Add(1)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(b)
}

// allowGet answers 405 to anything but GET and HEAD.
func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}
