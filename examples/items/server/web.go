package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/grpc"

	"github.com/grpcauth/grpcauth/examples/items/internal/dev"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
	"github.com/grpcauth/grpcauth/examples/items/web"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/httpchallenge"
)

// The web page: package web's files, /config.json, and ItemService for
// browsers (Connect and gRPC-Web) through vanguard's transcoder in front of
// the gRPC server, so the grpcauth interceptors decide browser calls too.
// docs/browsers.md explains the set-up.

// webClientID is the page's public client id at the development issuer.
const webClientID = "items-web"

// webOff is the WEB_ADDR value that turns the page off.
const webOff = "off"

// webUsers are the development issuer's sign-in choices, from least to
// most privileged.
func webUsers() []grpcauthtest.User {
	return []grpcauthtest.User{
		{Subject: "reader", Name: "Reader (may list items)", Scopes: dev.Reader.Scopes},
		{Subject: "writer", Name: "Writer (may list, create and delete its own items)", Scopes: dev.Writer.Scopes},
		{Subject: "admin", Name: "Admin (may also delete any item)", Scopes: dev.Admin.Scopes},
	}
}

// webClients registers the page at pageURL as the development issuer's
// public client; none when the page is off.
func webClients(pageURL string) []grpcauthtest.PublicClient {
	if pageURL == "" {
		return nil
	}
	return []grpcauthtest.PublicClient{{ID: webClientID, RedirectURIs: []string{pageURL}}}
}

// listenWeb listens for the page on addr. When the address is the default
// (explicit false) and busy, it logs a warning and returns a nil listener:
// the page is a convenience the server runs without. "off" turns it off.
func listenWeb(addr string, explicit bool, log *slog.Logger) (net.Listener, error) {
	if addr == webOff {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil && !explicit {
		log.Warn("web page not served: its default address is busy (set WEB_ADDR)", "addr", addr, "err", err)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("server: web page: %w", err)
	}
	return ln, nil
}

// pageURL is the page's URL on ln, its OAuth 2.0 redirect URI.
func pageURL(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return "http://" + ln.Addr().String() + "/"
}

// maxWebMessageBytes bounds a request body the web port's transcoder
// buffers: grpc-go's default receive limit.
const maxWebMessageBytes = 4 << 20

// errInflatedTooLarge refuses a compressed web request whose message
// inflates past maxWebMessageBytes.
var errInflatedTooLarge = fmt.Errorf("server: web request message inflates past %d bytes", maxWebMessageBytes)

// boundedGzip is the transcoder's gzip decompressor. Vanguard's own gzip
// inflates a message without limit, so a few KiB of gzip from a caller
// without a token would otherwise become gigabytes in memory before the
// interceptors see the call; this one fails past maxWebMessageBytes.
type boundedGzip struct {
	gz      gzip.Reader
	limited io.LimitedReader
}

func newBoundedGzip() connect.Decompressor { return &boundedGzip{} }

// Reset starts reading the message compressed in src.
func (b *boundedGzip) Reset(src io.Reader) error {
	b.limited = io.LimitedReader{R: &b.gz, N: maxWebMessageBytes + 1}
	return b.gz.Reset(src)
}

func (b *boundedGzip) Read(p []byte) (int, error) {
	n, err := b.limited.Read(p)
	if b.limited.N <= 0 {
		return n, connect.NewError(connect.CodeResourceExhausted, errInflatedTooLarge)
	}
	return n, err
}

func (b *boundedGzip) Close() error { return b.gz.Close() }

// newGzipCompressor is vanguard's default gzip compressor, which
// vanguard.WithCompression asks for along with the decompressor.
func newGzipCompressor() connect.Compressor { return gzip.NewWriter(io.Discard) }

// webHandler serves the page, its configuration and the transcoded
// ItemService, for a listener on addr. issuerOrigin may fetch from the
// page (the token endpoint). On a loopback addr it answers loopback host
// names only (endpoint.LoopbackHostsOnly, against DNS rebinding). Every
// response, that guard's refusals included, carries the security headers
// (withSecurityHeaders), as they wrap the whole handler.
func webHandler(g *grpc.Server, cfg web.Config, issuerOrigin string, addr net.Addr) (http.Handler, error) {
	// Vanguard reads a whole request body before grpc-go (and grpcauth)
	// sees the call, and by default takes up to 4 GiB: bound it to what
	// the gRPC port itself accepts (grpc-go's default 4 MiB), so an
	// unauthenticated caller cannot make the server hold more.
	// That limit counts the bytes received: a gzip body is bounded again
	// as it inflates (boundedGzip).
	transcoder, err := vanguardgrpc.NewTranscoder(g,
		vanguard.WithDefaultServiceOptions(vanguard.WithMaxMessageBufferBytes(maxWebMessageBytes)),
		vanguard.WithCompression(vanguard.CompressionGzip, newGzipCompressor, newBoundedGzip))
	if err != nil {
		return nil, fmt.Errorf("server: web transcoder: %w", err)
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("server: web config: %w", err)
	}
	static := http.FileServerFS(web.Files)
	canonical := loopbackPageHost(cfg.RedirectURI)
	csp := "default-src 'self'; connect-src 'self' " + issuerOrigin + "; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
	mux := http.NewServeMux()
	// A refusal's challenge, a gRPC trailer that vanguard sends as
	// Trailer-WWW-Authenticate in a Connect unary response, goes in the
	// WWW-Authenticate header of the 401 or 403, where fetch and HTTP
	// clients look for it (connectauth.ChallengeHeaders, which this
	// module, without connectauth in its go.mod, uses directly).
	mux.Handle("POST /"+itemsv1.ItemService_ServiceDesc.ServiceName+"/", httpchallenge.Handler(transcoder))
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(cfgJSON)
	})
	mux.HandleFunc("GET /{file...}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if canonical != "" && r.Host != canonical && samePort(r.Host, canonical) {
			// The issuer sends the sign-in answer to the registered page
			// URL only. Opened under another loopback name (localhost),
			// the page would be another origin, with a sessionStorage of
			// its own: the answer would not find there the state and
			// code_verifier the sign-in kept. (Another port means a
			// tunnel or proxy, where the page's URL may lead nowhere.)
			http.Redirect(w, r, "http://"+canonical+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			return
		}
		static.ServeHTTP(w, r)
	})
	// The headers outermost: a response the guard refuses is a document
	// the browser loads from this origin too.
	return withSecurityHeaders(csp, endpoint.LoopbackHostsOnly(addr, mux)), nil
}

// withSecurityHeaders sets on every response of h (the page, its files,
// config.json, the API's answers, redirects and errors, the loopback
// guard's 421 refusals) the headers that
// keep the page to itself:
//
//   - Content-Security-Policy csp: scripts and styles of the page's own
//     origin only, fetch to the page and the issuer, no framing
//     (frame-ancestors 'none', against clickjacking), no forms, no <base>;
//   - X-Content-Type-Options nosniff: a response is only what its
//     Content-Type says (config.json is never run as a script);
//   - Referrer-Policy no-referrer: the sign-in's answer (code, state) in
//     the page's URL goes to no other site;
//   - Cross-Origin-Opener-Policy same-origin: a window of another origin
//     that opened the page, or that the page opens, gets no handle on it
//     (window.opener), so it cannot navigate or probe the signed-in page.
func withSecurityHeaders(csp string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", csp)
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// loopbackPageHost returns the host (with port) of pageURL when it is a
// plain-http URL on a loopback IP address, as pageURL makes for a loopback
// listener; "" otherwise.
func loopbackPageHost(pageURL string) string {
	u, err := url.Parse(pageURL)
	if err != nil || u.Scheme != "http" {
		return ""
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return ""
	}
	return u.Host
}

// samePort reports whether the host:port values a and b name the same
// port.
func samePort(a, b string) bool {
	_, pa, errA := net.SplitHostPort(a)
	_, pb, errB := net.SplitHostPort(b)
	return errA == nil && errB == nil && pa == pb
}

// origin returns rawURL's scheme://host.
func origin(rawURL string) string {
	scheme, rest, _ := strings.Cut(rawURL, "://")
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

// httpTimeouts bound how long a client may hold a connection of one of the
// server's HTTP ports (the web page, the metrics endpoint) without
// finishing a request: one trickling a header line or a body (slowloris),
// or leaving a kept-alive connection idle, would otherwise tie up the
// connection and its goroutine for ever.
type httpTimeouts struct {
	header  time.Duration // ReadHeaderTimeout: a request's headers
	request time.Duration // ReadTimeout: a request's headers and body
	idle    time.Duration // IdleTimeout: a kept-alive connection between requests
	write   time.Duration // WriteTimeout: a response; 0 for none
}

// webTimeouts are the web port's. A request of at most maxWebMessageBytes
// has a minute. No write timeout: a WatchItems stream's response lasts as
// long as the stream; the request timeout does not end it, as net/http
// lifts it once the request body has been read.
var webTimeouts = httpTimeouts{header: 10 * time.Second, request: time.Minute, idle: time.Minute}

// metricsTimeouts are the metrics endpoint's: a scrape is a small GET.
var metricsTimeouts = httpTimeouts{header: 5 * time.Second, request: 10 * time.Second, idle: time.Minute, write: 10 * time.Second}

// server returns an http.Server of h with the timeouts t.
func (t httpTimeouts) server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.header,
		ReadTimeout:       t.request,
		WriteTimeout:      t.write,
		IdleTimeout:       t.idle,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// serveWeb serves h, webHandler's for ln.Addr() (which holds the loopback
// host guard), on ln, with the timeouts tm (webTimeouts) and at most
// maxConnections connections at a time, until ctx ends or stop is called,
// then shuts down within stopTimeout. stop returns once the server has
// stopped.
func serveWeb(ctx context.Context, ln net.Listener, h http.Handler, tm httpTimeouts, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	srv := tm.server(h)
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(limitConns(ln)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("web page server failed", "err", err)
		}
	}()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancelShutdown := context.WithTimeout(context.Background(), stopTimeout)
		defer cancelShutdown()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close() // the timeout passed: cut off what is left
		}
	}()
	return func() { cancel(); <-stopped; <-served }
}

// webConfig is the page's /config.json: the development issuer's
// endpoints and the page's client, or only the issuer when the server
// uses a real one (sign-in at a real issuer needs a client registered
// there; docs/browsers.md).
func webConfig(issuer string, d *devIssuer, page string) web.Config {
	cfg := web.Config{Issuer: issuer}
	if d == nil {
		return cfg
	}
	cfg.AuthorizationEndpoint = d.AuthorizeURL()
	cfg.TokenEndpoint = d.TokenURL()
	cfg.ClientID = webClientID
	cfg.RedirectURI = page
	cfg.Scope = strings.Join(dev.Admin.Scopes, " ")
	cfg.IssParameterSupported = d.Metadata().AuthorizationResponseIssParameterSupported
	return cfg
}
