// Command client calls every method of the items example server with an
// access token from the OAuth 2.0 client-credentials grant and prints which
// calls the server allowed and which it refused, with the status code.
//
// Settings come from environment variables, each with a matching flag that
// overrides it:
//
//	ISSUER         -issuer         the authorization server; its token endpoint comes from
//	                               {ISSUER}/.well-known/openid-configuration, or is Okta's
//	                               {ISSUER}/v1/token when there is no discovery document.
//	                               Default: the server's development issuer.
//	TOKEN_URL      -token-url      the token endpoint, when discovery does not give it
//	                               (needs ISSUER)
//	CLIENT_ID      -client-id      OAuth 2.0 client id (default items-reader with the
//	                               development issuer; required otherwise)
//	CLIENT_SECRET  -client-secret  its secret (a development client's is filled in for it;
//	                               without ISSUER, only a development client's is accepted;
//	                               prefer the variable: other users can read a flag in ps)
//	SCOPES         -scopes         scopes to request, separated by spaces or commas; an
//	                               empty entry ("a,,b", ",") is refused (default: none, so
//	                               the issuer grants its default scopes)
//	AUDIENCE       -audience       an "audience" token request parameter (Auth0 needs it)
//	RESOURCE       -resource       a "resource" token request parameter (RFC 8707): the API's
//	                               URI, absolute and without a fragment, for oidc-provider,
//	                               ORY Hydra and other servers that issue an opaque token
//	                               without it
//	ADDR           -addr           the server, host:port, port a number from 1 to 65535, not
//	                               a name such as https (default 127.0.0.1:50051)
//	AUTH_METHOD    -auth-method    how the client authenticates to the token endpoint, as
//	                               registered there: client_secret_basic (default, an HTTP
//	                               Basic header) or client_secret_post (in the form, as
//	                               Auth0's "Client Secret (Post)")
//	TOKEN_TYPE     -token-type     bearer (default) or dpop: a DPoP-bound token (RFC 9449),
//	                               bound to an ES256 key made for this run, sent with a
//	                               new proof of the key on every call
//
// A variable one character or its case from one the client reads, which
// is unset (ISSUR, CLIENT_IDS, issuer), is warned about on stderr, as the
// server does (settings.Typos).
//
// A loopback ADDR is dialled in plaintext and the token is sent without
// transport security (see transport); any other ADDR needs TLS. The token
// travels on tokencreds.Credentials (github.com/grpcauth/grpcauth/tokencreds):
// tokencreds.New for a bearer token, tokencreds.NewDPoP with its client
// interceptors for a DPoP-bound one (see run).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/examples/items/internal/dev"
	"github.com/grpcauth/grpcauth/examples/items/internal/settings"
	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/tokencreds"
)

// httpTimeout bounds each request to the authorization server.
const httpTimeout = 10 * time.Second

// config is the client's settings.
type config struct {
	issuer       string
	tokenURL     string
	clientID     string
	clientSecret string
	scopes       []string
	audience     string
	resource     string
	addr         string
	// devIssuer is true when no ISSUER was set: the development issuer
	// the example server starts is used.
	devIssuer bool
	// authStyle is AUTH_METHOD as x/oauth2 names it: never AutoDetect,
	// which resends the secret in the form after any failed request.
	authStyle oauth2.AuthStyle
	// dpop is true for TOKEN_TYPE=dpop: get and send a DPoP-bound token.
	dpop bool
	// typos are warnings about likely misspelt variables
	// (settings.Typos), which run prints first.
	typos []string
}

// loadConfig reads the settings from the environment (lookupEnv, as
// os.LookupEnv) and args; a flag overrides its variable. Usage and flag
// errors go to usage. A setting the client cannot use is refused here,
// with an error naming its variable, before any request: a malformed or
// plaintext-off-loopback ISSUER or TOKEN_URL, an ISSUER with a query or
// fragment (endpoint.CheckIssuer, as the server), an ADDR that is not
// HOST:PORT with a port number, an empty entry in SCOPES, a RESOURCE that
// is not an absolute URI or has a fragment. No error and no usage text
// holds the client secret.
func loadConfig(args []string, lookupEnv func(string) (string, bool), usage io.Writer) (config, error) {
	getenv := func(name string) string { v, _ := lookupEnv(name); return v }
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(usage)
	issuer := fs.String("issuer", getenv("ISSUER"), "authorization server issuer URL (env ISSUER; default: the development issuer)")
	tokenEndpoint := fs.String("token-url", getenv("TOKEN_URL"), "token endpoint (env TOKEN_URL; default: from discovery)")
	clientID := fs.String("client-id", getenv("CLIENT_ID"), "OAuth 2.0 client id (env CLIENT_ID)")
	clientSecret := &secretFlag{getenv("CLIENT_SECRET")}
	fs.Var(clientSecret, "client-secret", "OAuth 2.0 client `secret` (env CLIENT_SECRET; prefer the variable: other users can read a flag in ps)")
	scopes := fs.String("scopes", getenv("SCOPES"), "scopes to request, space- or comma-separated (env SCOPES)")
	audience := fs.String("audience", getenv("AUDIENCE"), `"audience" token request parameter, for Auth0 (env AUDIENCE)`)
	resource := fs.String("resource", getenv("RESOURCE"), `"resource" token request parameter (RFC 8707), for oidc-provider and ORY Hydra (env RESOURCE)`)
	addr := fs.String("addr", orDefault(getenv("ADDR"), dev.ServerAddr), "server address host:port (env ADDR)")
	authMethod := fs.String("auth-method", orDefault(getenv("AUTH_METHOD"), "client_secret_basic"), "token endpoint authentication: client_secret_basic or client_secret_post (env AUTH_METHOD)")
	tokenType := fs.String("token-type", orDefault(getenv("TOKEN_TYPE"), "bearer"), "token to get and send: bearer or dpop, a DPoP-bound token (RFC 9449) (env TOKEN_TYPE)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("client: unexpected arguments %q", fs.Args())
	}
	scopeList, err := splitScopes(*scopes)
	if err != nil {
		return config{}, err
	}
	if _, err := settings.HostPort("ADDR", *addr, settings.Dial); err != nil {
		return config{}, fmt.Errorf("client: %w", err)
	}
	if err := checkResource(*resource); *resource != "" && err != nil {
		return config{}, err
	}
	cfg := config{
		issuer:       *issuer,
		tokenURL:     *tokenEndpoint,
		clientID:     *clientID,
		clientSecret: clientSecret.v,
		scopes:       scopeList,
		audience:     *audience,
		resource:     *resource,
		addr:         *addr,
		typos:        settings.Typos("client", fs, lookupEnv),
	}
	switch *authMethod {
	case "client_secret_basic":
		cfg.authStyle = oauth2.AuthStyleInHeader
	case "client_secret_post":
		cfg.authStyle = oauth2.AuthStyleInParams
	default:
		return config{}, fmt.Errorf("client: AUTH_METHOD %q: want client_secret_basic or client_secret_post", *authMethod)
	}
	switch *tokenType {
	case "bearer":
	case "dpop":
		cfg.dpop = true
	default:
		return config{}, fmt.Errorf("client: TOKEN_TYPE %q: want bearer or dpop", *tokenType)
	}
	if cfg.issuer == "" {
		if err := cfg.useDevIssuer(); err != nil {
			return config{}, err
		}
	}
	for _, u := range []struct{ name, v string }{{"ISSUER", cfg.issuer}, {"TOKEN_URL", cfg.tokenURL}} {
		if err := checkURL(u.v); u.v != "" && err != nil {
			return config{}, fmt.Errorf("client: %s: %w", u.name, err)
		}
	}
	// As the server refuses it: discovery would put its path in the query.
	if err := endpoint.CheckIssuer(cfg.issuer); err != nil {
		return config{}, fmt.Errorf("client: ISSUER %s: %w", printable(endpoint.ForConfig(cfg.issuer)), err)
	}
	if cfg.clientID == "" || cfg.clientSecret == "" {
		return config{}, errors.New("client: set CLIENT_ID and CLIENT_SECRET for this ISSUER")
	}
	return cfg, nil
}

// useDevIssuer points cfg, which names no issuer, at the development
// issuer with one of its clients: CLIENT_ID's (default the reader), whose
// published secret it fills in. Only development credentials go there,
// and only there: a TOKEN_URL, or a CLIENT_SECRET that is not the
// development client's, means a real issuer whose ISSUER is missing, and
// would send the development secret to that endpoint, or a real secret to
// whatever listens on the development issuer's loopback port.
func (cfg *config) useDevIssuer() error {
	if cfg.tokenURL != "" {
		return errors.New("client: TOKEN_URL needs ISSUER (unset, the development issuer is used)")
	}
	cfg.issuer = dev.IssuerURL(dev.IssuerAddr)
	cfg.devIssuer = true
	if cfg.clientID == "" {
		cfg.clientID = dev.Reader.ID
	}
	for _, c := range dev.Clients() {
		if c.ID == cfg.clientID && (cfg.clientSecret == "" || cfg.clientSecret == c.Secret) {
			cfg.clientSecret = c.Secret
			return nil
		}
	}
	if cfg.clientSecret != "" {
		return errors.New("client: CLIENT_ID and CLIENT_SECRET are not a development client's: set ISSUER (unset, the development issuer is used)")
	}
	// Not "for this ISSUER": none is set, and a secret alone would not
	// make CLIENT_ID one of the development issuer's clients.
	var ids []string
	for _, c := range dev.Clients() {
		ids = append(ids, c.ID)
	}
	return fmt.Errorf("client: CLIENT_ID %q is not a development client (%s), and without ISSUER the development issuer is used: for another issuer set ISSUER, CLIENT_ID and CLIENT_SECRET",
		cfg.clientID, strings.Join(ids, ", "))
}

// secretFlag is the -client-secret flag, holding CLIENT_SECRET until the
// flag sets it. Its String is always empty: the flag package prints a
// flag's default (CLIENT_SECRET's value) in the usage text, on -h and
// after a bad flag, unless String says it is the zero value.
type secretFlag struct{ v string }

func (s *secretFlag) String() string     { return "" }
func (s *secretFlag) Set(v string) error { s.v = v; return nil }

// checkResource refuses a RESOURCE that RFC 8707 (section 2) does not
// allow as a resource indicator: one that is not an absolute URI (with a
// scheme: https://items.example.com, urn:items), or that has a fragment.
// Sent as it is, the authorization server would refuse it
// (invalid_target), or issue a token for an audience the server does not
// check. Its error shows the value as endpoint.ForConfig does: without
// userinfo, and with a query or fragment marked, not repeated.
func checkResource(raw string) error {
	u, err := endpoint.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("client: RESOURCE is not a URI: %w", err)
	case !u.IsAbs():
		return fmt.Errorf("client: RESOURCE %s is not an absolute URI: give the API's URI with its scheme, such as https://items.example.com (RFC 8707, section 2)", printable(endpoint.ForConfig(raw)))
	case strings.Contains(raw, "#"):
		return fmt.Errorf("client: RESOURCE %s has a fragment, which a resource indicator never has (RFC 8707, section 2)", printable(endpoint.ForConfig(raw)))
	}
	return nil
}

// splitScopes splits SCOPES, separated by spaces or commas. Nothing but
// space is no scope (the issuer's defaults), but an empty entry between
// commas ("a,,b", a trailing comma, "," alone) is refused: a template
// whose scope went missing would otherwise ask for fewer scopes, or for
// none, which many issuers answer with every scope the client may have.
func splitScopes(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		f := strings.Fields(part)
		if len(f) == 0 && strings.Contains(s, ",") {
			return nil, fmt.Errorf("client: SCOPES %q has an empty entry: separate scopes with single commas or spaces", s)
		}
		out = append(out, f...)
	}
	return out, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func main() {
	cfg, err := loadConfig(os.Args[1:], os.LookupEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		reportError(os.Stderr, err, cfg)
		os.Exit(1)
	}
}

// startServerHint is what reportError adds when the development issuer
// did not answer: the example server runs it.
const startServerHint = "client: is the example server running? Start it with: go run ./examples/items/server"

// reportError prints run's err (printError) and, when the development
// issuer was to give the token and never answered, startServerHint. Once
// it has answered (an OAuth 2.0 error, such as invalid_scope for a
// SCOPES the client may not have), the server that runs it is running,
// and the hint would send the person after the wrong cause; calls that
// failed after the token say what to check themselves (errUnexpected).
// An answer without an OAuth 2.0 error code (another program's 404 page
// on the issuer's port) is no answer of the issuer's: the hint is given.
func reportError(w io.Writer, err error, cfg config) {
	printError(w, err)
	var answered *oauth2.RetrieveError
	issuerAnswered := errors.As(err, &answered) && answered.ErrorCode != ""
	if cfg.devIssuer && !issuerAnswered && !errors.Is(err, errUnexpected) {
		fmt.Fprintln(w, startServerHint)
	}
}

// printError prints err as printable makes it: its text may hold an
// authorization server's answer (an oauth2 error body), which is no more
// the terminal's to interpret than a gRPC server's status message.
func printError(w io.Writer, err error) { fmt.Fprintln(w, printable(err.Error())) }

// run gets a token for cfg's client and calls every method, reporting to
// out, and warning to warn about a token the server will likely refuse.
func run(ctx context.Context, cfg config, out, warn io.Writer) error {
	for _, w := range cfg.typos {
		fmt.Fprintln(warn, "client: warning:", w)
	}
	base := newTransport(http.ProxyFromEnvironment)
	hc := newHTTPClient(base)
	tu := cfg.tokenURL
	if tu == "" {
		var err error
		if tu, err = tokenURL(ctx, hc, cfg.issuer); err != nil {
			return err
		}
	}
	cc := clientcredentials.Config{
		ClientID:     cfg.clientID,
		ClientSecret: cfg.clientSecret,
		TokenURL:     tu,
		Scopes:       cfg.scopes,
		// AUTH_METHOD, never AutoDetect, which resends the secret in the
		// body after any failed request (docs/clients.md).
		AuthStyle: cfg.authStyle,
	}
	cc.EndpointParams = url.Values{}
	for name, v := range map[string]string{"audience": cfg.audience, "resource": cfg.resource} {
		if v != "" {
			cc.EndpointParams.Set(name, v)
		}
	}
	// With TOKEN_TYPE=dpop the token requests, and only they, carry a
	// proof of a key made for this run: the authorization server binds
	// the token to it.
	var signer *dpop.Signer
	tokenClient := hc
	if cfg.dpop {
		var err error
		if signer, err = newDPoPSigner(); err != nil {
			return err
		}
		// nil: tokencreds' own base, which sends loopback hosts direct
		// (LOCALHOST included) and dials localhost without a lookup.
		tokenClient = newHTTPClient(tokencreds.NewDPoPTransport(signer, nil))
	}
	// The token source keeps this context for every later refresh, so it
	// is the long-lived one, carrying only the HTTP client.
	ts := cc.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, tokenClient))
	tok, err := ts.Token()
	// tu as printed: its query (an API key, say) and userinfo left out.
	shown := printable(endpoint.ForConfig(tu))
	if errors.Is(err, tokencreds.ErrNotDPoPToken) { // the DPoPTransport refused it
		return fmt.Errorf("client: %s answered a token that is not a DPoP-bound one: it ignored the DPoP proof (is DPoP enabled for client %s?)", shown, cfg.clientID)
	}
	if err != nil {
		// Without the URL net/http's error quotes whole (endpoint.WithoutURL):
		// shown names it.
		return fmt.Errorf("client: getting a token from %s as %s: %w", shown, cfg.clientID, newTokenError(endpoint.WithoutURL(err), cfg))
	}
	kind := printable(tok.Type())
	if signer != nil {
		if !strings.EqualFold(kind, "DPoP") {
			return fmt.Errorf("client: %s answered a %q token, not a DPoP-bound one: it ignored the DPoP proof (is DPoP enabled for client %s?)", shown, kind, cfg.clientID)
		}
		kind += " (key thumbprint " + signer.Thumbprint() + ")"
	}
	granted, _ := tok.Extra("scope").(string)
	// tu may come from the discovery document: printed as text, as the
	// token type is.
	fmt.Fprintf(out, "token:  %s for client %s from %s\n", kind, cfg.clientID, shown)
	fmt.Fprintf(out, "        scopes %s, expires %s\n", quote(clip(granted, maxPrinted)), tok.Expiry.Format(time.RFC3339))
	fmt.Fprintf(out, "server: %s\n\n", cfg.addr)
	for _, w := range tokenWarnings(tok.AccessToken, cfg) {
		fmt.Fprintln(warn, "client: warning:", w)
	}

	creds := tokencreds.New(ts)
	opts := []grpc.DialOption{transport(cfg.addr)}
	if signer != nil {
		// A new proof on every call; the interceptors follow the
		// server's DPoP nonces, if it asks for them.
		creds = tokencreds.NewDPoP(ts, signer)
		opts = append(opts,
			grpc.WithChainUnaryInterceptor(creds.UnaryClientInterceptor()),
			grpc.WithChainStreamInterceptor(creds.StreamClientInterceptor()))
	}
	conn, err := grpc.NewClient(cfg.addr, opts...)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer conn.Close()
	return callAll(ctx, conn, grpc.PerRPCCredentials(creds), cfg.clientID, out)
}

// newDPoPSigner makes an ES256 (P-256) key for this run and its DPoP
// proof signer. The key lives in memory only: the tokens bound to it are
// useless once the client exits.
func newDPoPSigner() (*dpop.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("client: DPoP key: %w", err)
	}
	signer, err := dpop.NewSigner(key, "ES256")
	if err != nil {
		return nil, fmt.Errorf("client: DPoP key: %w", err)
	}
	return signer, nil
}

// maxRedirects is how many redirects a request to the authorization server
// may follow, as net/http's default policy allows.
const maxRedirects = 10

// newTransport returns http.DefaultTransport's settings with one change:
// requests go through proxy (main passes http.ProxyFromEnvironment, the
// default's), except that a loopback host never does (loopbackDirect).
func newTransport(proxy func(*http.Request) (*url.URL, error)) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = loopbackDirect(proxy)
	return t
}

// loopbackDirect returns proxy, except that a request for a loopback host
// (endpoint.IsLoopback: localhost in any case, 127.0.0.0/8, ::1) goes direct.
// net/http's environment proxy (HTTP_PROXY) lets only "localhost" in lower
// case, and loopback addresses, go direct: an ISSUER or TOKEN_URL of
// http://LOCALHOST:port, which checkURL accepts as loopback, would send
// the client secret to the proxy in clear text.
func loopbackDirect(proxy func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	return func(r *http.Request) (*url.URL, error) {
		if endpoint.IsLoopback(r.URL.Hostname()) {
			return nil, nil
		}
		return proxy(r)
	}
}

// newHTTPClient returns the client for the authorization server's
// discovery document and token endpoint, sending through rt (nil:
// http.DefaultTransport; main passes newTransport's): each request bounded by httpTimeout, and
// redirects followed only to URLs checkURL accepts and never from https
// down to plain http, loopback included (downgrade). A 307
// or 308 answer from the token endpoint resends the client secret (in the
// body, and to a subdomain in the Authorization header) to its Location,
// so a token request (anything but a GET) follows redirects only within
// its own origin (scheme, host and port); the discovery document's GET may
// follow them to any URL checkURL accepts.
func newHTTPClient(rt http.RoundTripper) *http.Client {
	return &http.Client{
		Transport: rt,
		Timeout:   httpTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("client: stopped after %d redirects", maxRedirects)
			}
			if err := downgrade(via[len(via)-1].URL, req.URL); err != nil {
				return err
			}
			if first := via[0]; first.Method != http.MethodGet && (req.URL.Scheme != first.URL.Scheme || req.URL.Host != first.URL.Host) {
				return fmt.Errorf("client: refusing to follow the token endpoint's redirect to another origin (%s://%s)", req.URL.Scheme, req.URL.Host)
			}
			if err := checkURL(req.URL.String()); err != nil {
				return fmt.Errorf("client: redirect: %w", err)
			}
			return nil
		},
	}
}
