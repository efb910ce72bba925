package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/grpcauth/grpcauth/examples/items/internal/dev"
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
	audience := fs.String("audience", orDefault(getenv("AUDIENCE"), dev.Audience), "audiences the access tokens may carry, comma-separated (env AUDIENCE)")
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
		audiences:     list(*audience),
		jwksURI:       *jwksURI,
		addr:          *addr,
		devIssuerAddr: *devAddr,
		scopeClaims:   list(*scopeClaims),
		clientIDs:     list(*clientIDs),
		metricsAddr:   *metricsAddr,
		webAddr:       *webAddr,
	}
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
		return config{}, errors.New("server: AUDIENCE is empty")
	}
	for _, kv := range list(*requireClaims) {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return config{}, fmt.Errorf("server: REQUIRE_CLAIMS entry %q is not name=value", kv)
		}
		if cfg.requireClaims == nil {
			cfg.requireClaims = map[string]any{}
		}
		cfg.requireClaims[name] = value
	}
	return cfg, nil
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

// list splits a comma-separated setting, dropping empty entries and space.
func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// ignoredSettings returns a warning for each setting of cfg that has no
// effect: DEV_ISSUER_ADDR given (in the environment or as a flag, at any
// value, its default too) while ISSUER is set, and so no development
// issuer starts. It is accepted, not refused (a shell
// may still export it from local runs), but said, so that nobody takes
// the address for part of the deployment.
func ignoredSettings(cfg config) []string {
	if cfg.issuer != "" && cfg.devIssuerAddrSet {
		return []string{"DEV_ISSUER_ADDR is ignored: ISSUER names the authorization server"}
	}
	return nil
}
