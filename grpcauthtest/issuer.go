package grpcauthtest

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/internal/endpoint"
)

// Issuer is a running in-process OAuth 2.0 authorization server. All methods
// are safe for concurrent use, including key rotation while it serves.
// Create one with Start or NewIssuer: the zero Issuer serves nothing, and
// its methods panic.
type Issuer struct {
	cfg     Config
	url     string
	clients map[string]*Client

	srv       *http.Server
	done      chan struct{}  // closed when Serve returns
	conns     sync.WaitGroup // one per open connection, via ConnState
	closeOnce sync.Once

	dpop         *dpop.Verifier // the token endpoint's DPoP proofs (dpop.go)
	jwksRequests atomic.Int64
	intro        introspection // the introspection endpoint (introspect.go)
	authz        *authorizer   // the authorization-code grant (authorize.go)

	mu        sync.RWMutex
	all       map[string]*signingKey // every key ever added, by kid
	published []*signingKey          // in the JWKS, oldest first
	current   *signingKey            // signs by default; nil when all removed
	jwks      []byte                 // serialised published keys
}

// Start generates a signing key for cfg.Algorithm, listens on cfg.Addr and
// serves the issuer's endpoints until Close. It fails on an invalid Config
// and, unless cfg.InsecureAllowNonLoopback is set, on a non-loopback Addr
// (ErrNonLoopback). On a loopback address it answers only requests whose
// Host is a loopback name (localhost, 127.0.0.0/8, ::1), others with 421
// Misdirected Request, so that a page on a DNS-rebinding site cannot use it
// from a browser on this machine.
func Start(cfg Config) (*Issuer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if !cfg.InsecureAllowNonLoopback {
		if err := checkLoopback(cfg.Addr); err != nil {
			return nil, err
		}
	}
	i := &Issuer{
		cfg:     cfg,
		clients: make(map[string]*Client, len(cfg.Clients)),
		all:     make(map[string]*signingKey),
		done:    make(chan struct{}),
	}
	if i.dpop, err = newTokenDPoP(cfg.Now, cfg.DPoPNonces); err != nil {
		return nil, err
	}
	for n := range cfg.Clients {
		i.clients[cfg.Clients[n].ID] = &cfg.Clients[n]
	}
	i.authz = newAuthorizer(&i.cfg)
	if _, err := i.AddKey(cfg.Algorithm); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("grpcauthtest: listen: %w", err)
	}
	tcp, _ := ln.Addr().(*net.TCPAddr)
	if tcp == nil {
		_ = ln.Close()
		return nil, fmt.Errorf("grpcauthtest: listener address %v is not TCP", ln.Addr())
	}
	if !cfg.InsecureAllowNonLoopback && !tcp.IP.IsLoopback() {
		_ = ln.Close() // "localhost" resolved to something else
		return nil, fmt.Errorf("%w: %q listens on %v", ErrNonLoopback, cfg.Addr, tcp)
	}
	if !tcp.IP.IsLoopback() {
		cfg.Logger.Warn("grpcauthtest: InsecureAllowNonLoopback: the development issuer listens beyond loopback; anyone who reaches it can mint tokens with its known client secrets and sign in as any user. Never run it as a real issuer",
			"addr", tcp.String())
	}
	host := tcp.IP
	if host.IsUnspecified() {
		host = loopbackOf(cfg.Addr, tcp.IP)
	}
	i.url = "http://" + net.JoinHostPort(host.String(), fmt.Sprint(tcp.Port)) + cfg.Path
	i.srv = &http.Server{
		// Refuse DNS rebinding: on loopback, loopback host names only.
		Handler:           endpoint.LoopbackHostsOnly(tcp, i.routes()),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		// Close waits for every connection goroutine, not only Serve.
		// StateNew runs on the Serve goroutine, so each Add happens before
		// Serve returns and so before Close's Wait.
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				i.conns.Add(1)
			case http.StateClosed, http.StateHijacked:
				i.conns.Done()
			}
		},
	}
	go func() {
		defer close(i.done)
		// Serve returns ErrServerClosed after Close; nothing else to report.
		_ = i.srv.Serve(ln)
	}()
	return i, nil
}

// loopbackOf returns the loopback address that reaches an issuer listening
// on every interface, at listened (an unspecified address), for addr, the
// Config.Addr it was given: of addr's family when addr names an IP
// (127.0.0.1 for 0.0.0.0, ::1 for ::), since Go listens on 0.0.0.0
// through a dual-stack socket whose address reads ::, and of listened's
// otherwise (":0").
func loopbackOf(addr string, listened net.IP) net.IP {
	ip := listened
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if named := net.ParseIP(host); named != nil {
			ip = named
		}
	}
	if ip.To4() != nil {
		return net.IPv4(127, 0, 0, 1)
	}
	return net.IPv6loopback
}

// NewIssuer is Start for tests: it calls t.Fatal if Start fails and registers
// Close with t.Cleanup. Its RSA keys (of AddKey and RotateKey too) are kept
// between test runs under the user's cache directory, in
// grpcauthtest/rsa-2048, instead of being generated each time: generating
// them was most of the CPU time of suites that start many issuers. No two
// issuers of one process share a key. Call it from the goroutine running
// the test, as t.Fatal requires; other goroutines use Start and Close.
func NewIssuer(t testing.TB, cfg Config) *Issuer {
	t.Helper()
	cfg.pooledKeys = true
	i, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
		return nil // only reached when a fake testing.TB's Fatal returns
	}
	t.Cleanup(i.Close)
	return i
}

// Close stops the server, closes every open connection and waits until the
// serving goroutine and every connection goroutine have returned, so no
// goroutine outlives it. That can take up to half a second when a client
// was cut off mid-body (net/http lingers to deliver the error response).
// It is idempotent. Minting still works after Close; only the HTTP
// endpoints stop.
func (i *Issuer) Close() {
	i.closeOnce.Do(func() {
		// The only error is from closing our own listener; nothing to do.
		_ = i.srv.Close()
		<-i.done
		i.conns.Wait()
	})
}

// URL returns the issuer identifier, the "iss" of every token, e.g.
// "http://127.0.0.1:41234/oauth2/default". It has no trailing slash.
func (i *Issuer) URL() string { return i.url }

// JWKSURL returns URL()+"/v1/keys", the JWKS endpoint (Okta's layout).
func (i *Issuer) JWKSURL() string { return i.url + "/v1/keys" }

// TokenURL returns URL()+"/v1/token", the token endpoint (Okta's layout).
// A request with no client credentials is 401 invalid_client, except one
// from a public client (Config.PublicClients), which has none: a grant
// other than authorization_code is refused for the grant with 400
// (unsupported_grant_type, or unauthorized_client for client_credentials).
func (i *Issuer) TokenURL() string { return i.url + "/v1/token" }

// DiscoveryURL returns URL()+"/.well-known/openid-configuration".
func (i *Issuer) DiscoveryURL() string { return i.url + "/.well-known/openid-configuration" }

// Audience returns the "aud" of minted tokens (Config.Audience or its default).
func (i *Issuer) Audience() string { return i.cfg.Audience }

// Algorithm returns the configured signing algorithm, used by RotateKey.
func (i *Issuer) Algorithm() string { return i.cfg.Algorithm }

// Shape returns the configured token shape.
func (i *Issuer) Shape() Shape { return i.cfg.Shape }

// Clients returns a copy of the configured clients, secrets included, so a
// development server can print the credentials it accepts.
func (i *Issuer) Clients() []Client {
	out := make([]Client, len(i.cfg.Clients))
	for n, c := range i.cfg.Clients {
		c.Scopes = append([]string(nil), c.Scopes...)
		out[n] = c
	}
	return out
}

// JWKSRequests returns how many times the JWKS endpoint has served the key
// set, so tests can assert how often a verifier fetched it.
func (i *Issuer) JWKSRequests() int64 { return i.jwksRequests.Load() }
