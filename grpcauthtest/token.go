package grpcauthtest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/grpcauth/grpcauth/internal/ascii"
)

// maxTokenRequestBytes bounds the token endpoint's request body. A
// client-credentials request is a few hundred bytes.
const maxTokenRequestBytes = 16 << 10

// TokenResponse is the token endpoint's success body (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken string `json:"access_token"` // a JWT of the configured Shape
	TokenType   string `json:"token_type"`   // "Bearer", or "DPoP" for a request with a DPoP proof
	ExpiresIn   int64  `json:"expires_in"`   // seconds
	// Scope is the granted scope, always sent: "" when it is none, so
	// that a client that asked for scopes is told it got none of them
	// (RFC 6749 §3.3, §5.1).
	Scope string `json:"scope"`
}

// TokenError is the token endpoint's error body (RFC 6749 §5.2).
type TokenError struct {
	// Code is an RFC 6749 §5.2 code (invalid_request, invalid_client,
	// invalid_grant, unauthorized_client, unsupported_grant_type,
	// invalid_scope), server_error, or RFC 9449's invalid_dpop_proof or
	// use_dpop_nonce.
	Code string `json:"error"`
	// Description is a short reason for a person, in the characters RFC
	// 6749 §5.2 allows. It never holds a secret.
	Description string `json:"error_description,omitempty"`
}

// Error returns the code and description.
func (e *TokenError) Error() string {
	return "grpcauthtest: token endpoint: " + e.Code + ": " + e.Description
}

// tokenFailure is a TokenError with its HTTP status.
type tokenFailure struct {
	status int
	TokenError
}

func fail(status int, code, desc string) *tokenFailure {
	return &tokenFailure{status: status, TokenError: TokenError{Code: code, Description: errorDescription(desc)}}
}

// errorDescription returns desc within the characters RFC 6749 §5.2 allows
// in an error_description (%x20-21 / %x23-5B / %x5D-7E): a double quote
// becomes an apostrophe, any other character outside the set a question
// mark. A description that names what the client sent (a DPoP proof's typ
// or htu) could hold any of them.
func errorDescription(desc string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r < 0x20 || r > 0x7e || r == '\\':
			return '?'
		}
		return r
	}, desc)
}

// serveToken implements the client-credentials grant (RFC 6749 §4.4) with
// client_secret_basic and client_secret_post authentication.
func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	if f := i.tokenNonce(w, r); f != nil {
		writeOAuth(w, nil, f)
		return
	}
	resp, f := i.handleToken(w, r)
	writeOAuth(w, resp, f)
}

// writeOAuth writes resp, or the failure f when not nil, as a JSON answer
// that must not be cached, as the token and introspection endpoints do.
func writeOAuth(w http.ResponseWriter, resp any, f *tokenFailure) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if f != nil {
		if f.status == http.StatusMethodNotAllowed {
			h.Set("Allow", http.MethodPost)
		}
		if f.status == http.StatusUnauthorized { // RFC 9110 §15.5.2: a 401 carries a challenge
			h.Set("WWW-Authenticate", `Basic realm="grpcauthtest", charset="UTF-8"`)
		}
		w.WriteHeader(f.status)
		_ = json.NewEncoder(w).Encode(&f.TokenError)
		return
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func (i *Issuer) handleToken(w http.ResponseWriter, r *http.Request) (*TokenResponse, *tokenFailure) {
	form, f := readForm(w, r, "the token endpoint", tokenParams)
	if f != nil {
		return nil, f
	}

	if form.Get("grant_type") == "authorization_code" && len(i.cfg.PublicClients) > 0 {
		// Public clients have no secret to authenticate with (authorize.go).
		return i.handleAuthCode(r, form)
	}
	gt := form.Get("grant_type")
	if i.publicClientRequest(r, form) {
		// A public client has no credentials to fail with: its request
		// for another grant (refresh_token, say) is refused for the
		// grant, as an identity provider does, not as invalid_client
		// with a 401 challenge, which would send its code down a wrong
		// path (RFC 6749 §5.2).
		if f := grantTypeFailure(gt); f != nil {
			return nil, f
		}
		return nil, fail(http.StatusBadRequest, "unauthorized_client", "client_credentials is for confidential clients (RFC 6749 section 4.4)")
	}
	client, f := i.authenticate(r, form)
	if f != nil {
		return nil, f
	}
	if f := grantTypeFailure(gt); f != nil {
		return nil, f
	}

	requested := splitScope(form.Get("scope"))
	for _, s := range requested {
		if !ascii.IsNQChars(s) {
			return nil, fail(http.StatusBadRequest, "invalid_scope", "malformed scope")
		}
	}
	scopes, err := grantScopes(client, requested)
	if err != nil {
		return nil, fail(http.StatusBadRequest, "invalid_scope", "scope not allowed for this client")
	}
	jkt, f := i.tokenDPoP(r)
	if f != nil {
		return nil, f
	}
	tok, err := i.clientToken(client.ID, scopes, withJKT(jkt))
	if err != nil {
		return nil, fail(http.StatusInternalServerError, "server_error", "could not sign the token")
	}
	return i.tokenResponse(tok, jkt, scopes), nil
}

// publicClientRequest reports whether r, a token request with form, comes
// from one of Config.PublicClients: its client_id and no client
// credentials.
func (i *Issuer) publicClientRequest(r *http.Request, form url.Values) bool {
	return r.Header.Get("Authorization") == "" && !form.Has("client_secret") && i.authz.clients[form.Get("client_id")] != nil
}

// grantTypeFailure refuses a grant_type other than client_credentials
// (authorization_code has been handled before it), or nil.
func grantTypeFailure(gt string) *tokenFailure {
	switch gt {
	case "client_credentials":
		return nil
	case "":
		return fail(http.StatusBadRequest, "invalid_request", "missing grant_type")
	}
	return fail(http.StatusBadRequest, "unsupported_grant_type", "only client_credentials and authorization_code are supported")
}

// tokenResponse is the success answer carrying tok with scopes: of type
// DPoP when the token is bound to the key whose thumbprint is jkt, Bearer
// when jkt is empty.
func (i *Issuer) tokenResponse(tok, jkt string, scopes []string) *TokenResponse {
	tokenType := "Bearer"
	if jkt != "" {
		tokenType = "DPoP"
	}
	return &TokenResponse{
		AccessToken: tok,
		TokenType:   tokenType,
		ExpiresIn:   int64(i.cfg.TokenLifetime.Seconds()),
		Scope:       strings.Join(scopes, " "),
	}
}

// The parameters each endpoint reads. Only these may not be repeated
// (RFC 6749 §3.1, §3.2); the endpoints ignore any other, as the RFC
// requires, repeated or not (RFC 8707 lets a client repeat resource).
var (
	tokenParams      = []string{"grant_type", "scope", "client_id", "client_secret", "code", "redirect_uri", "code_verifier"}
	introspectParams = []string{"token", "token_type_hint", "client_id", "client_secret"}
	authorizeParams  = []string{"response_type", "client_id", "redirect_uri", "state", "scope", "code_challenge", "code_challenge_method", "dpop_jkt", "acr_values", "max_age", "prompt", "user", "cancel", "response_mode", "request", "request_uri"}
)

// repeated returns a failure naming the first of params that v repeats,
// or nil.
func repeated(v url.Values, params []string) *tokenFailure {
	for _, name := range params {
		if len(v[name]) > 1 {
			return fail(http.StatusBadRequest, "invalid_request", "parameter "+name+" repeated")
		}
	}
	return nil
}

// readForm checks that r is a POST with a form body of at most
// maxTokenRequestBytes that repeats none of params, the parameters the
// endpoint reads, and returns the body's parameters, without those sent
// with an empty value (RFC 6749 §3.2: treated as omitted). endpoint names
// the endpoint in the 405 description.
func readForm(w http.ResponseWriter, r *http.Request, endpoint string, params []string) (url.Values, *tokenFailure) {
	if r.Method != http.MethodPost {
		return nil, fail(http.StatusMethodNotAllowed, "invalid_request", endpoint+" accepts POST only")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, fail(http.StatusBadRequest, "invalid_request", "body must be application/x-www-form-urlencoded")
	}
	// The body only: not r.ParseForm, which also parses the URL query and
	// fails on a malformed one, which this endpoint ignores.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTokenRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fail(http.StatusRequestEntityTooLarge, "invalid_request", "request body too large")
		}
		return nil, fail(http.StatusBadRequest, "invalid_request", "request body unreadable")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fail(http.StatusBadRequest, "invalid_request", "malformed form body")
	}
	if f := repeated(form, params); f != nil {
		return nil, f
	}
	for name, vs := range form {
		if len(vs) == 1 && vs[0] == "" { // RFC 6749 §3.2: as if omitted
			delete(form, name)
		}
	}
	return form, nil
}

// authenticate identifies the client by HTTP Basic (client_secret_basic) or
// by client_id and client_secret in the body (client_secret_post), never
// both (RFC 6749 §2.3). Unknown clients and wrong secrets get the same
// invalid_client answer, after the same constant-time comparison.
func (i *Issuer) authenticate(r *http.Request, form url.Values) (*Client, *tokenFailure) {
	var id, secret string
	basic := r.Header.Get("Authorization") != ""
	if basic {
		if form.Has("client_secret") {
			return nil, fail(http.StatusBadRequest, "invalid_request", "use one client authentication method, not two")
		}
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, unauthorized("unsupported or malformed Authorization header")
		}
		// RFC 6749 §2.3.1: id and secret are form-url-encoded before Basic.
		var err1, err2 error
		id, err1 = url.QueryUnescape(user)
		secret, err2 = url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return nil, unauthorized("malformed client credentials")
		}
		if form.Has("client_id") && form.Get("client_id") != id {
			return nil, fail(http.StatusBadRequest, "invalid_request", "client_id differs from the authenticated client")
		}
	} else {
		if !form.Has("client_id") || !form.Has("client_secret") {
			return nil, unauthorized("client authentication required")
		}
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	c, known := i.clients[id]
	want := "\x00unknown client" // compared anyway, so timing does not reveal known IDs
	if known {
		want = c.Secret
	}
	// Hash first: ConstantTimeCompare returns early on a length mismatch.
	got, exp := sha256.Sum256([]byte(secret)), sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(got[:], exp[:]) != 1 || !known {
		return nil, unauthorized("client authentication failed")
	}
	return c, nil
}

// unauthorized is a 401 invalid_client, which writeOAuth sends with a Basic
// challenge.
func unauthorized(desc string) *tokenFailure {
	return fail(http.StatusUnauthorized, "invalid_client", desc)
}
