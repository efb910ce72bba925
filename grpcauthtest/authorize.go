package grpcauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpcauth/grpcauth/internal/ascii"
)

// This file is the authorization-code grant with PKCE (RFC 6749 §4.1,
// RFC 7636) for public clients, and the development login page that stands
// in for a real identity provider's sign-in. docs/browsers.md shows it in
// use by the items example's web page.

// PublicClient is an OAuth 2.0 public client, such as a page in a browser:
// it has no secret and signs users in with the authorization-code grant and
// PKCE (S256 only).
type PublicClient struct {
	// ID is the client_id; required, unique among Clients and
	// PublicClients. It becomes the token's client-id claim (cid or
	// client_id).
	ID string
	// RedirectURIs are the absolute http or https URLs, without fragment,
	// to which codes may be sent. A request's redirect_uri must equal one
	// of them exactly. A query one holds is kept as it is, in its order
	// and spelling, with the answer's parameters appended (RFC 6749
	// §3.1.2); it may not name one of them (code, state, iss, error,
	// error_description). Their origins may call the token endpoint from a
	// browser (CORS), matched as browsers send an Origin: host in lower
	// case, no default port.
	RedirectURIs []string
}

// User is a fixed account offered on the development login page. Anyone who
// can reach the page may sign in as any user: there is no password.
type User struct {
	// Subject is the token's "sub"; required, unique.
	Subject string
	// Name is shown on the login page; default Subject.
	Name string
	// Scopes are the most a token for this user carries: a request gets
	// the scopes it asks for that are among these (all of them when it
	// asks for none); other requested scopes are dropped, as identity
	// providers do.
	Scopes []string
}

// DefaultACRValues returns the acr values an Issuer supports when
// Config.ACRValues is empty: the ones Okta predefines for acr_values,
// urn:okta:loa:1fa:any (the default acr), urn:okta:loa:1fa:pwd,
// urn:okta:loa:2fa:any, urn:okta:loa:2fa:any:ifpossible, phr and phrh.
func DefaultACRValues() []string {
	return []string{"urn:okta:loa:1fa:any", "urn:okta:loa:1fa:pwd", "urn:okta:loa:2fa:any", "urn:okta:loa:2fa:any:ifpossible", "phr", "phrh"}
}

// DefaultAuthCodeLifetime is how long an authorization code can be
// exchanged when Config.AuthCodeLifetime is zero.
const DefaultAuthCodeLifetime = time.Minute

// maxPendingCodes bounds the authorization codes kept at once, used or
// not (a used code is kept until it expires, to detect its reuse); past
// it, the authorization endpoint answers temporarily_unavailable until
// some expire.
const maxPendingCodes = 1024

// AuthorizeURL returns URL()+"/v1/authorize", the authorization endpoint
// (Okta's layout). It shows the login page to choose one of Config.Users;
// only that page may post the choice back (a POST a browser marks as from
// another origin gets 403, no code). It answers in the redirect URI's
// query only: a response_mode other than query gets a 400 page, not a
// redirect, and a request or request_uri parameter gets
// request_not_supported or request_uri_not_supported. A state that is not
// printable ASCII (RFC 6749 appendix A.5), which the login page's form
// could not carry back as sent, gets invalid_request, with the state
// echoed exactly.
func (i *Issuer) AuthorizeURL() string { return i.url + "/v1/authorize" }

// authCode is what an issued code is bound to.
type authCode struct {
	clientID    string
	redirectURI string
	challenge   string // base64url SHA-256 of the code_verifier
	jkt         string // the request's dpop_jkt (RFC 9449 §10), or ""
	subject     string
	scopes      []string
	acr         string // the class signed in at, for a request with acr_values; or ""
	authTime    time.Time
	expires     time.Time

	// Set under authorizer.mu once the code is taken: kept until it
	// expires, so that a second use can revoke what the first issued.
	used   bool
	reused bool   // a second use came: revoke token at once when set later
	token  string // the access token issued for the code, or ""
}

// authorizer holds the public clients, users and pending codes.
type authorizer struct {
	clients map[string]*PublicClient
	users   map[string]*User
	origins []string // the redirect URIs' origins, for CORS
	acrs    []string // Config.ACRValues, the default first
	// sameOrigin refuses a login form posted from another origin (RFC
	// 6749 §10.12): a page elsewhere could otherwise sign the person in
	// without a click, and fill the pending codes.
	sameOrigin *http.CrossOriginProtection

	mu    sync.Mutex
	codes map[string]*authCode
}

// checkAuthorize validates and deep-copies cfg's PublicClients and Users;
// confidential holds the Clients' IDs.
func (cfg *Config) checkAuthorize(confidential map[string]bool) error {
	if cfg.AuthCodeLifetime < 0 {
		return fmt.Errorf("grpcauthtest: negative AuthCodeLifetime %v", cfg.AuthCodeLifetime)
	}
	if cfg.AuthCodeLifetime == 0 {
		cfg.AuthCodeLifetime = DefaultAuthCodeLifetime
	}
	pcs := make([]PublicClient, len(cfg.PublicClients))
	for n, c := range cfg.PublicClients {
		if c.ID == "" {
			return fmt.Errorf("grpcauthtest: public client %d has no ID", n)
		}
		if confidential[c.ID] {
			return fmt.Errorf("grpcauthtest: duplicate client ID %q", c.ID)
		}
		confidential[c.ID] = true
		if len(c.RedirectURIs) == 0 {
			return fmt.Errorf("grpcauthtest: public client %q has no RedirectURIs", c.ID)
		}
		for _, u := range c.RedirectURIs {
			if _, err := redirectOrigin(u); err != nil {
				return fmt.Errorf("grpcauthtest: public client %q: %w", c.ID, err)
			}
		}
		c.RedirectURIs = slices.Clone(c.RedirectURIs)
		pcs[n] = c
	}
	users := make([]User, len(cfg.Users))
	seen := map[string]bool{}
	for n, u := range cfg.Users {
		switch {
		case u.Subject == "":
			return fmt.Errorf("grpcauthtest: user %d has no Subject", n)
		case seen[u.Subject]:
			return fmt.Errorf("grpcauthtest: duplicate user %q", u.Subject)
		}
		seen[u.Subject] = true
		for _, s := range u.Scopes {
			if !ascii.IsNQChars(s) {
				return fmt.Errorf("grpcauthtest: user %q has invalid scope %q", u.Subject, s)
			}
		}
		if u.Name == "" {
			u.Name = u.Subject
		}
		u.Scopes = slices.Clone(u.Scopes)
		users[n] = u
	}
	cfg.PublicClients, cfg.Users = pcs, users
	if len(cfg.ACRValues) == 0 {
		cfg.ACRValues = DefaultACRValues()
	} else {
		cfg.ACRValues = slices.Clone(cfg.ACRValues)
	}
	for n, v := range cfg.ACRValues {
		switch {
		case !ascii.IsNQChars(v):
			return fmt.Errorf("grpcauthtest: invalid ACRValues entry %q", v)
		case slices.Contains(cfg.ACRValues[:n], v):
			return fmt.Errorf("grpcauthtest: duplicate ACRValues entry %q", v)
		}
	}
	return nil
}

// responseParams are the parameters an authorization response adds to the
// redirect URI's query, which a registered redirect URI may not hold: the
// client would read its value in place of the issuer's.
var responseParams = []string{"code", "state", "iss", "error", "error_description"}

// redirectOrigin checks a registered redirect URI and returns its origin
// as a browser's Origin header spells it (RFC 6454 §6.1): host in lower
// case, no default port.
func redirectOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Fragment != "" || strings.Contains(raw, "#") || u.User != nil {
		return "", fmt.Errorf("redirect URI %q is not an absolute http(s) URL without fragment or user info", raw)
	}
	for _, pair := range strings.FieldsFunc(u.RawQuery, func(r rune) bool { return r == '&' || r == ';' }) {
		name, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if slices.Contains(responseParams, name) {
			return "", fmt.Errorf("redirect URI %q has a query parameter %q, which the authorization response sets", raw, name)
		}
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // an IPv6 literal
	}
	if p := u.Port(); p != "" && !(u.Scheme == "http" && p == "80") && !(u.Scheme == "https" && p == "443") {
		host += ":" + p
	}
	return u.Scheme + "://" + host, nil
}

// newAuthorizer indexes cfg's (validated) public clients and users.
func newAuthorizer(cfg *Config) *authorizer {
	a := &authorizer{
		clients: make(map[string]*PublicClient, len(cfg.PublicClients)),
		users:   make(map[string]*User, len(cfg.Users)),
		codes:   map[string]*authCode{},
		acrs:    cfg.ACRValues,

		sameOrigin: http.NewCrossOriginProtection(),
	}
	for n := range cfg.PublicClients {
		c := &cfg.PublicClients[n]
		a.clients[c.ID] = c
		for _, u := range c.RedirectURIs {
			o, _ := redirectOrigin(u) // checked by checkAuthorize
			if !slices.Contains(a.origins, o) {
				a.origins = append(a.origins, o)
			}
		}
	}
	for n := range cfg.Users {
		a.users[cfg.Users[n].Subject] = &cfg.Users[n]
	}
	return a
}

// authzRequest is a checked authorization request.
type authzRequest struct {
	client      *PublicClient
	redirectURI string
	state       string
	scope       string // as sent, re-sent by the login form
	scopes      []string
	challenge   string
	jkt         string // dpop_jkt: the DPoP key the code is for, or ""
	// OIDC Core 3.1.2.1's acr_values, max_age and prompt as sent (re-sent
	// by the login form), and the acr the sign-in gets ("" when
	// acr_values lists no value).
	acrValues, maxAge, prompt string
	acr                       string
}

// authzError is a refused authorization request. With redirect set, it is
// sent to the client's redirect URI; otherwise (unknown client or redirect
// URI, RFC 6749 §4.1.2.1) it is shown to the person.
type authzError struct {
	redirect bool
	code     string
	desc     string
}

// parseAuthorize checks the parameters of an authorization request (from
// the query, or re-posted by the login form).
func (a *authorizer) parseAuthorize(v url.Values) (*authzRequest, *authzError) {
	if f := repeated(v, authorizeParams); f != nil {
		return nil, &authzError{code: f.Code, desc: f.Description}
	}
	c := a.clients[v.Get("client_id")]
	if c == nil {
		return nil, &authzError{code: "invalid_client", desc: "unknown client_id"}
	}
	req := &authzRequest{client: c, redirectURI: v.Get("redirect_uri"), state: v.Get("state"), scope: v.Get("scope")}
	if !slices.Contains(c.RedirectURIs, req.redirectURI) {
		return nil, &authzError{code: "invalid_request", desc: "redirect_uri is not registered for this client"}
	}
	refuse := func(code, desc string) (*authzRequest, *authzError) {
		return req, &authzError{redirect: true, code: code, desc: desc}
	}
	// OAuth 2.0 Multiple Response Type Encoding Practices: the answer goes
	// in the query, code's default, and nowhere else. A client that asked
	// for another mode (fragment, form_post, ...) must not be sent it in
	// the query, where it would not look (and where a client that looks
	// there anyway would pass here but fail against a real issuer): it is
	// shown to the person with 400, as one for an unknown redirect URI,
	// since the issuer cannot answer in the mode the client expects.
	if m := v.Get("response_mode"); m != "" && m != "query" {
		return nil, &authzError{code: "invalid_request", desc: "response_mode must be query (the only mode this issuer supports)"}
	}
	// RFC 6749, appendix A.5: state is 1*VSCHAR (printable ASCII, space
	// included). The login page carries it in a form field, and another
	// character does not come back as sent: a browser turns a newline into
	// CR LF and a byte that is not UTF-8 into U+FFFD, so the client would
	// be answered with a state it never sent. Refused, the client gets its
	// state back exactly (the redirect URI's query escapes every byte).
	if req.state != "" && !ascii.IsVSChars(req.state) {
		return refuse("invalid_request", "state must be printable ASCII (RFC 6749 appendix A.5)")
	}
	if v.Get("response_type") != "code" {
		return refuse("unsupported_response_type", "only response_type=code is supported")
	}
	// OpenID Connect Core 6.1, 6.2: request objects are not supported,
	// and their parameters must not be ignored, as they would replace
	// those of the query.
	if v.Get("request") != "" {
		return refuse("request_not_supported", "request objects are not supported")
	}
	if v.Get("request_uri") != "" {
		return refuse("request_uri_not_supported", "request_uri is not supported")
	}
	req.challenge = v.Get("code_challenge")
	switch {
	case req.challenge == "":
		return refuse("invalid_request", "code_challenge (PKCE) is required")
	case v.Get("code_challenge_method") != "S256":
		return refuse("invalid_request", "code_challenge_method must be S256")
	case !validChallenge(req.challenge):
		return refuse("invalid_request", "code_challenge must be 43 base64url characters")
	}
	// RFC 9449 §10: dpop_jkt binds the code to the DPoP key of this
	// thumbprint (a base64url SHA-256, shaped as an S256 challenge).
	if req.jkt = v.Get("dpop_jkt"); req.jkt != "" && !validChallenge(req.jkt) { // "" is omitted (RFC 6749 §3.1)
		return refuse("invalid_request", "dpop_jkt must be a JWK SHA-256 thumbprint, 43 base64url characters")
	}
	req.scopes = splitScope(req.scope)
	for _, s := range req.scopes {
		if !ascii.IsNQChars(s) {
			return refuse("invalid_scope", "malformed scope")
		}
	}
	// OIDC Core 3.1.2.1. Every sign-in at the login page is a fresh one
	// (the issuer keeps no session), so auth_time, always in a user
	// token, is the time of the sign-in: max_age and prompt=login are met
	// as they are, and prompt=none cannot be. acr_values and prompt are
	// space-separated lists: one that lists no value (spaces only) asks
	// for nothing, as the parameter left out does, and a value listed
	// twice is listed once.
	req.acrValues, req.maxAge, req.prompt = v.Get("acr_values"), v.Get("max_age"), v.Get("prompt")
	if requested := splitScope(req.acrValues); len(requested) > 0 {
		var ok bool
		if req.acr, ok = a.chooseACR(requested); !ok {
			return refuse("invalid_request", "malformed acr_values")
		}
	}
	if req.maxAge != "" && !validMaxAge(req.maxAge) {
		return refuse("invalid_request", "max_age must be a whole number of seconds")
	}
	prompts := splitScope(req.prompt)
	slices.Sort(prompts)
	prompts = slices.Compact(prompts)
	for _, p := range prompts {
		if !slices.Contains([]string{"none", "login", "consent", "select_account"}, p) {
			return refuse("invalid_request", "unsupported prompt value")
		}
	}
	if slices.Contains(prompts, "none") {
		if len(prompts) > 1 {
			return refuse("invalid_request", "prompt none cannot be combined with other values")
		}
		return refuse("login_required", "the development issuer keeps no session: every sign-in needs its login page")
	}
	return req, nil
}

// chooseACR returns the first of requested that the issuer supports, or
// its default acr when it supports none of them; false when a requested
// value is malformed.
func (a *authorizer) chooseACR(requested []string) (string, bool) {
	acr := ""
	for _, v := range requested {
		if !ascii.IsNQChars(v) {
			return "", false
		}
		if acr == "" && slices.Contains(a.acrs, v) {
			acr = v
		}
	}
	if acr == "" {
		acr = a.acrs[0]
	}
	return acr, true
}

// validMaxAge reports whether s is a max_age: a non-negative whole number
// of seconds, in decimal digits only, that an int64 holds.
func validMaxAge(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// validChallenge reports whether s is an S256 challenge: the unpadded
// base64url encoding of 32 bytes, in its one canonical spelling (the last
// character's unused bits zero), as the token endpoint compares it with the
// encoded hash of the code_verifier as strings.
func validChallenge(s string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// validVerifier reports whether s is an RFC 7636 §4.1 code_verifier:
// 43 to 128 characters of [A-Za-z0-9-._~].
func validVerifier(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '-' || c == '.' || c == '_' || c == '~' ||
			'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// serveAuthorize is the authorization endpoint: GET shows the login page,
// POST (from that page) issues a code to the redirect URI. A POST a browser
// says comes from another origin (Sec-Fetch-Site, else Origin) is refused
// with 403, not redirected: the authorization server's CSRF protection
// (RFC 6749 §10.12), as only the login page itself posts here.
func (i *Issuer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	// No Referer leaves the issuer's origin, as with no-referrer, but the
	// login form's POST carries its Origin (no-referrer would make it
	// "null"), which the same-origin check needs from a browser that sends
	// no Sec-Fetch-Site (one that reaches the issuer over plain http at a
	// non-loopback address, with InsecureAllowNonLoopback).
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	var params url.Values
	switch r.Method {
	case http.MethodGet:
		params = r.URL.Query()
	case http.MethodPost:
		if err := i.authz.sameOrigin.Check(r); err != nil {
			http.Error(w, "grpcauthtest: authorization request refused: the sign-in was posted from another origin", http.StatusForbidden)
			return
		}
		form, f := readForm(w, r, "the authorization endpoint", authorizeParams)
		if f != nil {
			http.Error(w, f.Description, f.status)
			return
		}
		params = form
	default:
		h.Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	req, e := i.authz.parseAuthorize(params)
	if e != nil {
		i.authzRefuse(w, r, req, e)
		return
	}
	if r.Method == http.MethodGet {
		i.showLogin(w, req)
		return
	}
	if params.Has("cancel") {
		i.authzRefuse(w, r, req, &authzError{redirect: true, code: "access_denied", desc: "the user cancelled the sign-in"})
		return
	}
	user := i.authz.users[params.Get("user")]
	if user == nil {
		i.authzRefuse(w, r, req, &authzError{redirect: true, code: "access_denied", desc: "unknown user"})
		return
	}
	code, err := i.authz.issue(req, user, i.cfg.Now(), i.cfg.AuthCodeLifetime)
	if err != nil {
		i.authzRefuse(w, r, req, &authzError{redirect: true, code: "temporarily_unavailable", desc: "too many pending codes"})
		return
	}
	i.authzRedirect(w, r, req, url.Values{"code": {code}})
}

// authzRefuse shows e to the person, or sends it to the redirect URI.
func (i *Issuer) authzRefuse(w http.ResponseWriter, r *http.Request, req *authzRequest, e *authzError) {
	if !e.redirect {
		http.Error(w, "grpcauthtest: authorization request refused: "+e.code+": "+e.desc, http.StatusBadRequest)
		return
	}
	i.authzRedirect(w, r, req, url.Values{"error": {e.code}, "error_description": {e.desc}})
}

// authzRedirect sends the browser to req's redirect URI with params, the
// state and iss (RFC 9207) added to its query.
func (i *Issuer) authzRedirect(w http.ResponseWriter, r *http.Request, req *authzRequest, params url.Values) {
	u, err := url.Parse(req.redirectURI) // checked at registration
	if err != nil {
		http.Error(w, "bad redirect URI", http.StatusInternalServerError)
		return
	}
	if req.state != "" {
		params.Set("state", req.state)
	}
	params.Set("iss", i.url)
	// RFC 6749 §3.1.2: the registered query is retained as it is, in its
	// order and spelling, and the answer's parameters appended (a
	// registered query names none of them: checkAuthorize).
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += params.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

//go:embed login.html
var loginHTML string

var loginPage = template.Must(template.New("login").Parse(loginHTML))

// loginUser is one choice on the login page.
type loginUser struct {
	Subject, Name, Scopes string
}

// showLogin renders the login page for req.
func (i *Issuer) showLogin(w http.ResponseWriter, req *authzRequest) {
	var users []loginUser
	for _, u := range i.cfg.Users {
		users = append(users, loginUser{u.Subject, u.Name, strings.Join(grantUserScopes(&u, req.scopes), " ")})
	}
	data := struct {
		Issuer, ClientID string
		Users            []loginUser
		Hidden           map[string]string
		ACRValues, ACR   string
	}{
		Issuer:   i.url,
		ClientID: req.client.ID,
		Users:    users,
		Hidden: map[string]string{
			"response_type": "code", "client_id": req.client.ID, "redirect_uri": req.redirectURI,
			"state": req.state, "scope": req.scope, "code_challenge": req.challenge,
			"code_challenge_method": "S256", "dpop_jkt": req.jkt,
		},
		ACRValues: req.acrValues,
		ACR:       req.acr,
	}
	// Only when sent, so that the page of a request without them is as
	// it was before the issuer read them.
	for name, value := range map[string]string{"acr_values": req.acrValues, "max_age": req.maxAge, "prompt": req.prompt} {
		if value != "" {
			data.Hidden[name] = value
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginPage.Execute(w, data) // only fails when the client goes away
}

// grantUserScopes returns the requested scopes u has (all of u's scopes
// when none is requested), in u's order.
func grantUserScopes(u *User, requested []string) []string {
	if len(requested) == 0 {
		return slices.Clone(u.Scopes)
	}
	var out []string
	for _, s := range u.Scopes {
		if slices.Contains(requested, s) {
			out = append(out, s)
		}
	}
	return out
}

// issue stores a new code for req and user, dropping expired codes first.
func (a *authorizer) issue(req *authzRequest, user *User, now time.Time, lifetime time.Duration) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, c := range a.codes {
		if !now.Before(c.expires) {
			delete(a.codes, k)
		}
	}
	if len(a.codes) >= maxPendingCodes {
		return "", fmt.Errorf("grpcauthtest: %d authorization codes pending", len(a.codes))
	}
	code := rand.Text()
	a.codes[code] = &authCode{
		clientID:    req.client.ID,
		redirectURI: req.redirectURI,
		challenge:   req.challenge,
		jkt:         req.jkt,
		subject:     user.Subject,
		scopes:      grantUserScopes(user, req.scopes),
		acr:         req.acr,
		authTime:    now,
		expires:     now.Add(lifetime),
	}
	return code, nil
}

// take marks code used and returns its grant; nil when unknown, expired
// or used before. A code is used at most once, whether or not the exchange
// then succeeds. A used code is kept until it expires: a second use returns
// the token issued for the first, if any, for the caller to revoke
// (RFC 6749 §4.1.2), and marks the code so that a token recorded later by
// issued is revoked too.
func (a *authorizer) take(code string, now time.Time) (grant *authCode, revoke string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.codes[code]
	switch {
	case c == nil:
		return nil, ""
	case !now.Before(c.expires):
		delete(a.codes, code)
		return nil, ""
	case c.used:
		c.reused = true
		return nil, c.token
	}
	c.used = true
	return c, ""
}

// issued records token as issued for the used code c, and reports whether
// the code has been used again meanwhile, in which case the caller revokes
// token.
func (a *authorizer) issued(c *authCode, token string) (reused bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c.token = token
	return c.reused
}

// handleAuthCode is the token endpoint's authorization_code grant for
// public clients: no client authentication, the code bound to client_id,
// redirect_uri and the PKCE challenge. With a DPoP proof the token is bound
// to the proof's key (token_type DPoP), as for client credentials; a code
// requested with dpop_jkt (RFC 9449 §10) needs a proof of that key. A
// code redeemed a second time, within its lifetime, revokes the token
// issued for it (RFC 6749 §4.1.2): introspection reports it inactive.
func (i *Issuer) handleAuthCode(r *http.Request, form url.Values) (*TokenResponse, *tokenFailure) {
	if r.Header.Get("Authorization") != "" || form.Has("client_secret") {
		// RFC 6749 §5.2: credentials that do not authenticate a client
		// (a public client has none) are invalid_client; a confidential
		// client that authenticates may not use this grant.
		if _, f := i.authenticate(r, form); f != nil {
			return nil, f
		}
		return nil, fail(http.StatusBadRequest, "unauthorized_client", "authorization_code is for public clients, which send no credentials")
	}
	client := i.authz.clients[form.Get("client_id")]
	if client == nil {
		return nil, unauthorized("unknown public client")
	}
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	switch {
	case code == "" || redirectURI == "":
		return nil, fail(http.StatusBadRequest, "invalid_request", "code and redirect_uri are required")
	case verifier == "":
		return nil, fail(http.StatusBadRequest, "invalid_request", "code_verifier (PKCE) is required")
	case !validVerifier(verifier):
		return nil, fail(http.StatusBadRequest, "invalid_request", "malformed code_verifier")
	}
	jkt, f := i.tokenDPoP(r) // a proof binds the token to its key (dpop.go)
	if f != nil {
		return nil, f
	}
	now := i.cfg.Now()
	grant, revoke := i.authz.take(code, now)
	if revoke != "" {
		i.Revoke(revoke)
	}
	if grant == nil {
		return nil, fail(http.StatusBadRequest, "invalid_grant", "unknown, used or expired code")
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	if grant.clientID != client.ID || grant.redirectURI != redirectURI ||
		subtle.ConstantTimeCompare([]byte(got), []byte(grant.challenge)) != 1 {
		return nil, fail(http.StatusBadRequest, "invalid_grant", "code not issued for this client, redirect_uri or code_verifier")
	}
	if grant.jkt != "" && jkt != grant.jkt { // RFC 9449 §10: MUST reject
		return nil, fail(http.StatusBadRequest, "invalid_dpop_proof", "the code was requested for another DPoP key (dpop_jkt)")
	}
	claims := map[string]any{
		"sub":                       grant.subject,
		i.cfg.Shape.clientIDClaim(): client.ID,
		"auth_time":                 grant.authTime,
	}
	if i.cfg.Shape == ShapeOkta {
		claims["uid"] = grant.subject // Okta's user tokens name the user in uid too
	}
	if grant.acr != "" {
		claims["acr"] = grant.acr
	}
	tok, err := i.Mint(claims, WithScopes(grant.scopes...), withJKT(jkt))
	if err != nil {
		return nil, fail(http.StatusInternalServerError, "server_error", "could not sign the token")
	}
	if i.authz.issued(grant, tok) {
		i.Revoke(tok)
	}
	return i.tokenResponse(tok, jkt, grant.scopes), nil
}

// tokenCORS lets pages on the public clients' redirect-URI origins call the
// token endpoint with fetch: it answers their preflights and marks their
// responses readable. Requests from other origins reach h unchanged.
func (i *Issuer) tokenCORS(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if len(i.authz.origins) > 0 {
			w.Header().Add("Vary", "Origin")
		}
		if origin == "" || !slices.Contains(i.authz.origins, origin) {
			h(w, r)
			return
		}
		hdr := w.Header()
		hdr.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			hdr.Set("Access-Control-Allow-Methods", http.MethodPost)
			hdr.Set("Access-Control-Allow-Headers", "Content-Type, DPoP")
			hdr.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		hdr.Set("Access-Control-Expose-Headers", "DPoP-Nonce")
		h(w, r)
	}
}
