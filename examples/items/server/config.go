package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/grpcauth/grpcauth/examples/items/internal/dev"
	"github.com/grpcauth/grpcauth/examples/items/internal/settings"
	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/verifier"
)

// config is the server's settings; see the package comment.
type config struct {
	issuer            string
	audiences         []string
	jwksURI           string
	addr              string
	devIssuerAddr     string
	scopeClaims       []string
	clientIDs         []string
	skipAudienceCheck bool
	requireClaims     map[string]any
	// requireProfile turns on RFC 9068's JWT access token profile
	// (verifier.Config.RequireAccessTokenProfile).
	requireProfile bool
	metricsAddr    string
	webAddr        string // "off": no web page
	// devDPoPNonces makes the development issuer require DPoP nonces
	// (grpcauthtest.Config.DPoPNonces).
	devDPoPNonces bool
	// typos are warnings about likely misspelt variables
	// (settings.Typos).
	typos []string
	// devIssuerAddrSet is true when DEV_ISSUER_ADDR was given (in the
	// environment, even empty, or as a flag), whatever its value.
	devIssuerAddrSet bool
}

// defaultWebAddr is the web page's default address (WEB_ADDR).
const defaultWebAddr = "127.0.0.1:8080"

// loadConfig reads the settings from the environment (lookupEnv, as
// os.LookupEnv) and args; a flag overrides its variable. ISSUER or AUDIENCE
// set to nothing, in the environment or as a flag, is an error, not the
// default: see checkSetButEmpty.
func loadConfig(args []string, lookupEnv func(string) (string, bool)) (config, error) {
	getenv := func(name string) string { v, _ := lookupEnv(name); return v }
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	issuer := fs.String("issuer", getenv("ISSUER"), "issuer URL of the authorization server (env ISSUER; unset: start the development issuer)")
	audience := fs.String("audience", getenv("AUDIENCE"), "audiences the access tokens must carry one of, comma-separated; required with ISSUER (env AUDIENCE; default without ISSUER: api://default, the development issuer's)")
	jwksURI := fs.String("jwks-uri", getenv("JWKS_URI"), "JWKS URL of the issuer; needs ISSUER (env JWKS_URI; unset: OIDC discovery)")
	addr := fs.String("addr", orDefault(getenv("ADDR"), dev.ServerAddr), "listen address (env ADDR)")
	devAddr := fs.String("dev-issuer-addr", orDefault(getenv("DEV_ISSUER_ADDR"), dev.IssuerAddr), "loopback address of the development issuer, used without ISSUER (env DEV_ISSUER_ADDR)")
	scopeClaims := fs.String("scope-claims", getenv("SCOPE_CLAIMS"), "claims scopes are read from, comma-separated (env SCOPE_CLAIMS; default scp,scope)")
	clientIDs := fs.String("client-ids", getenv("CLIENT_IDS"), "client ids whose tokens are accepted, comma-separated (env CLIENT_IDS; default any)")
	skipAud := fs.String("skip-audience-check", getenv("SKIP_AUDIENCE_CHECK"), "true: accept tokens whatever their aud; needs CLIENT_IDS (env SKIP_AUDIENCE_CHECK)")
	metricsAddr := fs.String("metrics-addr", getenv("METRICS_ADDR"), "address of the HTTP metrics endpoint GET /metrics, e.g. 127.0.0.1:9464 (env METRICS_ADDR; default off)")
	webAddr := fs.String("web-addr", orDefault(getenv("WEB_ADDR"), defaultWebAddr), "address of the web page and the Connect endpoint for browsers, or off (env WEB_ADDR)")
	requireClaims := fs.String("require-claims", getenv("REQUIRE_CLAIMS"), "name=value claims every token must carry, comma-separated (env REQUIRE_CLAIMS)")
	requireProfile := fs.String("require-access-token-profile", getenv("REQUIRE_ACCESS_TOKEN_PROFILE"), "true: accept only RFC 9068 access tokens (typ at+jwt) (env REQUIRE_ACCESS_TOKEN_PROFILE)")
	devNonces := fs.String("dev-dpop-nonces", getenv("DEV_DPOP_NONCES"), "true: the development issuer's token endpoint requires a DPoP nonce (use_dpop_nonce), as Okta does (env DEV_DPOP_NONCES)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("server: unexpected arguments %q", fs.Args())
	}
	if err := checkSetButEmpty(fs, lookupEnv); err != nil {
		return config{}, err
	}
	// A listen address given empty as a flag means its default, as it
	// does set empty in the environment: net.Listen would take "" for a
	// random port on every interface.
	for _, a := range []struct {
		v   *string
		def string
	}{{addr, dev.ServerAddr}, {devAddr, dev.IssuerAddr}, {webAddr, defaultWebAddr}} {
		*a.v = orDefault(*a.v, a.def)
	}
	cfg := config{
		issuer:        *issuer,
		jwksURI:       *jwksURI,
		addr:          *addr,
		devIssuerAddr: *devAddr,
		metricsAddr:   *metricsAddr,
		webAddr:       *webAddr,
	}
	if *issuer == "" {
		// The development issuer's tokens carry it.
		*audience = orDefault(*audience, dev.Audience)
	}
	for _, l := range []struct {
		name  string
		v     string
		dst   *[]string
		names bool // entries are claim names
	}{{"AUDIENCE", *audience, &cfg.audiences, false}, {"SCOPE_CLAIMS", *scopeClaims, &cfg.scopeClaims, true}, {"CLIENT_IDS", *clientIDs, &cfg.clientIDs, false}} {
		var err error
		if *l.dst, err = list(l.name, l.v, l.names); err != nil {
			return config{}, err
		}
	}
	if err := cfg.checkURLs(); err != nil {
		return config{}, err
	}
	if err := cfg.checkListenAddrs(); err != nil {
		return config{}, err
	}
	cfg.typos = settings.Typos("server", fs, lookupEnv)
	// Given, not only moved from the default: set to the default, it is
	// as ignored with ISSUER (ignoredSettings).
	_, devAddrInEnv := lookupEnv("DEV_ISSUER_ADDR")
	cfg.devIssuerAddrSet = devAddrInEnv || flagSet(fs, "dev-issuer-addr")
	for _, b := range []struct {
		name string
		v    string
		dst  *bool
	}{{"SKIP_AUDIENCE_CHECK", *skipAud, &cfg.skipAudienceCheck}, {"REQUIRE_ACCESS_TOKEN_PROFILE", *requireProfile, &cfg.requireProfile}, {"DEV_DPOP_NONCES", *devNonces, &cfg.devDPoPNonces}} {
		if b.v == "" {
			continue
		}
		v, err := strconv.ParseBool(b.v)
		if err != nil {
			return config{}, fmt.Errorf("server: %s %q is not true or false", b.name, b.v)
		}
		*b.dst = v
	}
	if cfg.jwksURI != "" && cfg.issuer == "" {
		// Without ISSUER the development issuer would start, and its
		// tokens be checked against another issuer's keys.
		return config{}, errors.New("server: JWKS_URI needs ISSUER (unset, the development issuer starts)")
	}
	if cfg.devDPoPNonces && cfg.issuer != "" {
		return config{}, errors.New("server: DEV_DPOP_NONCES is for the development issuer, which ISSUER turns off")
	}
	if cfg.skipAudienceCheck && len(cfg.clientIDs) == 0 {
		// Without aud and without a client allow-list, a token the issuer
		// minted for any other application would be accepted.
		return config{}, errors.New("server: SKIP_AUDIENCE_CHECK needs CLIENT_IDS")
	}
	if !cfg.skipAudienceCheck && len(cfg.audiences) == 0 {
		// Only with ISSUER: without it AUDIENCE has a default. No default
		// for a real issuer: api://default is Okta's default
		// authorization server's, which every API on it shares, and other
		// providers never issue. RFC 9068, section 4: the resource server
		// must check that aud names it.
		return config{}, fmt.Errorf("server: AUDIENCE is unset: with ISSUER, set it to the aud this API's access tokens carry (Okta's default authorization server: %s; RFC 9068 requires the check), or SKIP_AUDIENCE_CHECK=true with CLIENT_IDS for an issuer whose access tokens carry no aud (Cognito)", dev.Audience)
	}
	entries, err := list("REQUIRE_CLAIMS", *requireClaims, false)
	if err != nil {
		return config{}, err
	}
	for _, kv := range entries {
		name, value, ok := strings.Cut(kv, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || value == "" {
			return config{}, fmt.Errorf("server: REQUIRE_CLAIMS entry %q is not name=value", kv)
		}
		if err := checkClaimName("REQUIRE_CLAIMS", name); err != nil {
			return config{}, err
		}
		if _, dup := cfg.requireClaims[name]; dup {
			// One value would silently replace the other.
			return config{}, fmt.Errorf("server: REQUIRE_CLAIMS names claim %q twice", name)
		}
		if cfg.requireClaims == nil {
			cfg.requireClaims = map[string]any{}
		}
		cfg.requireClaims[name] = value
	}
	return cfg, nil
}

// checkURLs refuses an ISSUER or JWKS_URI that verifier.New would refuse
// (not https, or plain http beyond loopback; userinfo; no host; for
// ISSUER a query or fragment, which an issuer identifier never has:
// endpoint.CheckIssuer, as the client checks it),
// before anything listens, with an error that names the variable and
// quotes the URL without its userinfo, query or fragment, where a secret
// may be.
func (cfg config) checkURLs() error {
	for _, s := range []struct{ name, v string }{{"ISSUER", cfg.issuer}, {"JWKS_URI", cfg.jwksURI}} {
		if s.v == "" {
			continue
		}
		u, err := endpoint.Parse(s.v)
		if err == nil {
			err = endpoint.Check(u)
		}
		if err == nil && s.name == "ISSUER" {
			err = endpoint.CheckIssuer(s.v)
		}
		if err != nil {
			return fmt.Errorf("server: %s %s: %w", s.name, endpoint.RedactString(s.v), err)
		}
	}
	return nil
}

// checkListenAddrs refuses a listen address (ADDR, WEB_ADDR unless off,
// METRICS_ADDR when set, DEV_ISSUER_ADDR without ISSUER) that is not
// HOST:PORT with a port number from 0 to 65535 (settings.HostPort: a
// named port is refused), and, without ISSUER, one beyond
// loopback: the development issuer's client secrets are published, so a
// server trusting it must not be reachable from other machines (a
// deployment that forgot ISSUER would otherwise serve, to the network,
// whatever anyone on the host mints). An empty host listens on every
// interface.
func (cfg config) checkListenAddrs() error {
	for _, a := range []struct {
		name, v string
		skip    bool
	}{
		{"ADDR", cfg.addr, false},
		{"WEB_ADDR", cfg.webAddr, cfg.webAddr == webOff},
		{"METRICS_ADDR", cfg.metricsAddr, cfg.metricsAddr == ""},
		{"DEV_ISSUER_ADDR", cfg.devIssuerAddr, cfg.issuer != ""},
	} {
		if a.skip {
			continue
		}
		host, err := settings.HostPort(a.name, a.v, settings.Listen)
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		if cfg.issuer == "" && !endpoint.IsLoopback(host) {
			return fmt.Errorf("server: %s %q is beyond loopback, and without ISSUER the development issuer runs, whose client secrets are published: listen on 127.0.0.1, [::1] or localhost, or set ISSUER to a real authorization server", a.name, a.v)
		}
	}
	return nil
}

// checkSetButEmpty refuses ISSUER and AUDIENCE when they are set (in the
// environment, or as a flag, which wins) to nothing but space. Unset, they
// have defaults: no ISSUER starts the development issuer, whose client
// secrets are published, and no AUDIENCE is api://default. Set to nothing,
// they are a mistake (a deployment template whose variable is missing),
// and the default would be the wrong thing to do quietly: the development
// issuer where a real one was meant, or tokens accepted for api://default,
// which may be another API's audience at the same authorization server.
func checkSetButEmpty(fs *flag.FlagSet, lookupEnv func(string) (string, bool)) error {
	for _, s := range []struct{ env, flag, unset string }{
		{"ISSUER", "issuer", "give the authorization server's URL, or unset it to start the development issuer"},
		{"AUDIENCE", "audience", "give the audience tokens must carry, or unset it for api://default"},
	} {
		v, set := lookupEnv(s.env)
		if f := fs.Lookup(s.flag); flagSet(fs, s.flag) {
			v, set = f.Value.String(), true
		}
		if set && strings.TrimSpace(v) == "" {
			return fmt.Errorf("server: %s is set but empty: %s", s.env, s.unset)
		}
	}
	return nil
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// verifierConfig is the verifier configuration for cfg and issuer (cfg's,
// or the development issuer's).
func (cfg config) verifierConfig(issuer string) verifier.Config {
	vc := verifier.Config{
		Issuer:       issuer,
		JWKSURL:      cfg.jwksURI,
		ScopeClaims:  cfg.scopeClaims,
		ClientIDs:    cfg.clientIDs,
		AssertClaims: cfg.requireClaims,

		RequireAccessTokenProfile: cfg.requireProfile,
	}
	if cfg.skipAudienceCheck {
		vc.SkipAudienceCheck = true
	} else {
		vc.Audiences = cfg.audiences
	}
	return vc
}

// oktaOrgDomains are the domains under which Okta serves its orgs: its
// commercial cells, preview (sandbox) orgs, the EMEA cells, and Okta for
// Government (okta-gov.com, okta.mil). An org on a custom URL domain
// cannot be told apart, and gets no warning.
var oktaOrgDomains = []string{".okta.com", ".oktapreview.com", ".okta-emea.com", ".okta-gov.com", ".okta.mil"}

// issuerWarnings returns what a person must know about ISSUER before the
// first token arrives: an Okta domain without a path is the org
// authorization server, whose access tokens are for Okta's own APIs and
// which every call needing a token would then be refused with
// (ACCESS_TOKEN_TYPE_UNSUPPORTED), though discovery and the keys load.
// issuer has passed verifier.New. A warning only: the server still starts.
func issuerWarnings(issuer string) []string {
	u, err := url.Parse(issuer)
	if err != nil || strings.Trim(u.Path, "/") != "" {
		return nil
	}
	host := strings.ToLower(u.Hostname())
	for _, d := range oktaOrgDomains {
		if strings.HasSuffix(host, d) {
			return []string{fmt.Sprintf("ISSUER %s is an Okta org authorization server, whose access tokens are for Okta's own APIs: every call that needs a token would be refused (ACCESS_TOKEN_TYPE_UNSUPPORTED). Use a custom authorization server, such as %s://%s/oauth2/default",
				issuer, u.Scheme, u.Host)}
		}
	}
	return nil
}

// issuerSlashWarnings returns a warning when issuer, which has passed
// verifier.New, differs by a trailing slash from the form its provider
// gives its issuers: a token's iss must equal ISSUER exactly, so every
// token would be refused (ACCESS_TOKEN_INVALID), and discovery fails
// first when the issuer serves it. Auth0's issuers end with a slash;
// Okta's custom authorization servers (/oauth2/...), Keycloak's realms
// (/realms/...), Cognito's user pools and Entra ID's v2.0 endpoint have
// none. Other issuers cannot be told, and get no warning.
func issuerSlashWarnings(issuer string) []string {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil
	}
	host := strings.ToLower(u.Hostname())
	trimmed := strings.TrimRight(u.Path, "/")
	switch {
	case (host == "auth0.com" || strings.HasSuffix(host, ".auth0.com")) && u.Path == "":
		return []string{fmt.Sprintf("ISSUER %s has no trailing slash, but Auth0's issuer ends with a slash: tokens' iss would not match. Use %s/", issuer, issuer)}
	case !strings.HasSuffix(u.Path, "/") || trimmed == "":
		return nil
	case strings.HasPrefix(u.Path, "/oauth2/") && slices.ContainsFunc(oktaOrgDomains, func(d string) bool { return strings.HasSuffix(host, d) }),
		strings.Contains(u.Path, "/realms/"),
		strings.HasPrefix(host, "cognito-idp.") && strings.HasSuffix(host, ".amazonaws.com"),
		host == "login.microsoftonline.com" && strings.HasSuffix(trimmed, "/v2.0"):
		u.Path = trimmed
		return []string{fmt.Sprintf("ISSUER %s ends with a slash, but this provider's issuer has no trailing slash: tokens' iss would not match. Use %s", issuer, u.String())}
	}
	return nil
}

// list splits name's comma-separated setting s, dropping the space around
// entries; s of nothing but space is no entry (the setting's default). An
// empty entry ("a,,b", a trailing comma) is refused, as is one holding a
// control character, and, when names is set (claim names), one holding
// space ("scp roles", a list separated by spaces): the setting would not
// be what it reads as.
func list(name, s string, names bool) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, fmt.Errorf("server: %s %q has an empty entry: separate entries with single commas", name, s)
		}
		if strings.ContainsFunc(f, unicode.IsControl) {
			return nil, fmt.Errorf("server: %s entry %q holds a control character", name, f)
		}
		if names {
			if err := checkClaimName(name, f); err != nil {
				return nil, err
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// checkClaimName refuses a claim name, in the setting name, that holds
// space or a control character, which no claim name an identity provider
// issues does.
func checkClaimName(name, claim string) error {
	if strings.ContainsFunc(claim, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return fmt.Errorf("server: %s claim name %q holds space or a control character: separate entries with commas", name, claim)
	}
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// scopeClaimWarnings returns a warning when SCOPE_CLAIMS names
// permissions: Auth0 puts there every permission the user holds, asked
// for or not, so reading it admits a person's token to methods the
// application never asked for (docs/providers.md, Auth0). Not refused: a
// provider of your own may mean something else by the name.
func scopeClaimWarnings(cfg config) []string {
	if !slices.Contains(cfg.scopeClaims, "permissions") {
		return nil
	}
	return []string{"SCOPE_CLAIMS names permissions: Auth0 puts every permission the user holds there, not only what the application asked for; read scope alone"}
}

// ignoredSettings returns a warning for each setting of cfg that has no
// effect: a likely misspelt variable (settings.Typos); DEV_ISSUER_ADDR given (in
// the environment or as a flag, at any value, its default too) while
// ISSUER is set, and so no development issuer starts; AUDIENCE given
// while ISSUER is set and SKIP_AUDIENCE_CHECK is true, so that no aud is
// checked. They are accepted, not refused (a shell may still export
// DEV_ISSUER_ADDR from local runs), but said, so that nobody takes them
// for part of the deployment.
func ignoredSettings(cfg config) []string {
	out := cfg.typos
	if cfg.issuer != "" && cfg.devIssuerAddrSet {
		out = append(out, "DEV_ISSUER_ADDR is ignored: ISSUER names the authorization server")
	}
	if cfg.issuer != "" && cfg.skipAudienceCheck && len(cfg.audiences) > 0 {
		// Without ISSUER it is the aud the development issuer mints.
		out = append(out, "AUDIENCE is ignored: SKIP_AUDIENCE_CHECK=true accepts tokens whatever their aud")
	}
	return out
}
