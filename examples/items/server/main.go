// Command server is the grpcauth example: an in-memory items.v1.ItemService
// whose every method requires the OAuth 2.0 scopes its proto options name,
// checked by the grpcauth interceptors against access tokens verified
// locally with the issuer's published keys.
//
// Settings come from environment variables, each with a matching flag that
// overrides it:
//
//	ISSUER               -issuer               the authorization server whose tokens are accepted,
//	                                           e.g. https://{yourOktaDomain}/oauth2/default: https,
//	                                           or http on loopback, with no userinfo, query or fragment.
//	                                           Unset: start the development issuer (see below);
//	                                           set but empty: refused, as is an empty AUDIENCE.
//	AUDIENCE             -audience             the aud the tokens must carry; a comma-separated
//	                                           list accepts any of them. Required with ISSUER
//	                                           (RFC 9068: unset, the server refuses to start)
//	                                           unless SKIP_AUDIENCE_CHECK; without ISSUER
//	                                           default api://default, the development issuer's
//	JWKS_URI             -jwks-uri             the issuer's key set URL (needs ISSUER); unset: found by discovery
//	ADDR                 -addr                 listen address (default 127.0.0.1:50051); HOST:PORT,
//	                                           loopback only without ISSUER, as are WEB_ADDR,
//	                                           METRICS_ADDR and DEV_ISSUER_ADDR
//	DEV_ISSUER_ADDR      -dev-issuer-addr      the development issuer's loopback address
//	                                           (default 127.0.0.1:50052); ignored, with a warning, with ISSUER
//	WEB_ADDR             -web-addr             the web page and the Connect/gRPC-Web endpoint for
//	                                           browsers (default 127.0.0.1:8080; off: none). When
//	                                           the default is busy the server runs without the page.
//	DEV_DPOP_NONCES      -dev-dpop-nonces      true: the development issuer's token endpoint requires
//	                                           a DPoP nonce in proofs (use_dpop_nonce), as Okta does
//
// and, for identity providers other than Okta:
//
//	SCOPE_CLAIMS         -scope-claims         claims scopes are read from (default scp,scope);
//	                                           e.g. scope,permissions for Auth0, scp,roles for Entra ID
//	CLIENT_IDS           -client-ids           comma-separated allow-list of client ids (default: any)
//	SKIP_AUDIENCE_CHECK  -skip-audience-check  accept tokens without a matching aud (Cognito);
//	                                           needs CLIENT_IDS
//	REQUIRE_CLAIMS       -require-claims       comma-separated name=value claims every token must
//	                                           carry, e.g. token_use=access for Cognito; values
//	                                           are strings, matching no number or boolean claim
//	REQUIRE_ACCESS_TOKEN_PROFILE               true: accept only RFC 9068 JWT access tokens
//	                     -require-access-token-profile
//	                                           (typ at+jwt; verifier.Config.RequireAccessTokenProfile);
//	                                           the development issuer then mints such tokens
//
// and for observability:
//
//	METRICS_ADDR         -metrics-addr         serve grpcauth's OpenTelemetry metrics (package
//	                                           otelmetrics) as Prometheus text at
//	                                           http://METRICS_ADDR/metrics, e.g. 127.0.0.1:9464.
//	                                           Default: off. Bind a loopback or internal address.
//
// A setting the server cannot use as written is refused at start-up (exit
// status 2) with an error naming the variable: a list with an empty entry
// ("a,,b", a trailing comma), a claim name holding space, a REQUIRE_CLAIMS
// entry without a name or a value or naming a claim twice, a port that is
// not a number from 0 to 65535 (a named one, localhost:http, too), ISSUER
// without AUDIENCE. A variable one letter or spelling from one the server
// reads, which is unset (ISSUR, AUDIENCES, CLIENT_ID, JWKS_URL), is warned
// about (settings.Typos, which the client shares), as is
// an Auth0, Okta, Keycloak, Cognito or Entra ID ISSUER whose trailing
// slash differs from the provider's issuers.
//
// Every grpcauth decision is logged (text, to stderr): denials at Info,
// server-side problems at Warn, allowed calls at Debug (hidden by default).
//
// Without ISSUER the server starts an embedded development issuer
// (grpcauthtest) on a loopback address, with three clients whose fixed,
// published secrets it prints along with commands to get a token and call
// the service. That issuer is for local development only.
//
// The server prints "serving on HOST:PORT" once it accepts calls, and stops
// gracefully on SIGINT or SIGTERM; a second one ends it at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/celcond"
	"github.com/grpcauth/grpcauth/examples/items/internal/dev"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// readyTimeout bounds the wait for the issuer's keys at start-up. The
// server starts serving either way: until the keys arrive, calls that need
// a token fail with Unavailable, and "accepting tokens" is logged when they
// do. A variable for tests only.
var readyTimeout = 10 * time.Second

const (
	// stopTimeout bounds a graceful stop; calls still running then are
	// cut off.
	stopTimeout = 10 * time.Second
	// maxHeaderBytes bounds the headers of one request on every port: the
	// metadata of a gRPC call (grpc-go's default is 16 MiB) and an HTTP
	// request's headers (net/http's, 1 MiB). A call to a public stream
	// (health's Watch, reflection) needs no token, and its metadata lives
	// as long as the stream: unbounded, any caller could make the server
	// hold 16 MiB per stream.
	maxHeaderBytes = 64 << 10
	// maxConcurrentStreams bounds the calls one gRPC connection may have
	// open at a time (grpc-go's default: no bound).
	maxConcurrentStreams = 100
	// maxConnections bounds the connections each port (gRPC, the web
	// page, metrics) serves at a time; further ones wait in the kernel's
	// accept queue until one closes. Without it every connection costs
	// goroutines and buffers, with no bound but the process's file
	// limit. Size it to the expected clients, with room for reconnects.
	maxConnections = 1000
	// maxConnectionIdle closes a gRPC connection with no call for this
	// long (with GOAWAY; clients reconnect on their next call), so idle
	// connections do not hold slots of maxConnections for ever.
	maxConnectionIdle = 5 * time.Minute
	// maxConnectionAge closes any gRPC connection after about this long
	// (with GOAWAY; grpc-go adds up to 10% either way, so that clients
	// that connected together do not all reconnect together), and
	// maxConnectionAgeGrace is how long the calls still open then may go
	// on before the connection is cut. Without them a client that calls
	// every few minutes, or keeps a stream open, holds its connection, a
	// slot of maxConnections and its place on one server behind a load
	// balancer for ever (grpc-go's defaults are infinite). Half an hour
	// is long next to maxConnectionIdle and any unary call, so a client
	// pays one reconnect (a handshake) per half hour; a minute of grace
	// lets unary calls and an import finish, and ends a WatchItems or
	// health Watch stream with Unavailable within 34 minutes at most, for
	// the client to open again (a new WatchItems replays the items first).
	maxConnectionAge      = 30 * time.Minute
	maxConnectionAgeGrace = time.Minute
	// keepaliveMinTime is the shortest interval between a client's
	// keepalive pings that the server accepts, and only while a call is
	// open; a client pinging more often, or on an idle connection, is
	// closed with GOAWAY too_many_pings. (grpc-go's defaults, stated
	// here so that a team tuning client keepalives sees the other side.)
	keepaliveMinTime = 5 * time.Minute
)

func main() {
	cfg, err := loadConfig(os.Args[1:], os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(stopOnSignal(log), cfg, os.Stdout, log); err != nil {
		log.Error("server failed", "err", err)
		os.Exit(1)
	}
}

// stopOnSignal returns a context that ends at the first SIGINT or
// SIGTERM, which starts the graceful stop. A second signal (Ctrl-C pressed
// again) ends the process at once instead of waiting for running calls:
// it is logged, the handler is removed and the signal raised again, so the
// process ends by that signal as it would without a handler, or else
// exits (endBySignal). (Unlike
// signal.NotifyContext, whose stop would run only after the graceful stop,
// and swallow every further signal until then.)
func stopOnSignal(log *slog.Logger) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		sig := <-sigs
		log.Warn("second signal: ending at once, without waiting for running calls", "signal", sig.String())
		signal.Stop(sigs)
		endBySignal(sig, raise, os.Exit)
	}()
	return ctx
}

// raise sends sig to this process.
func raise(sig os.Signal) error {
	p, err := os.FindProcess(os.Getpid())
	if err != nil {
		return err
	}
	return p.Signal(sig)
}

// endBySignal ends the process by sig, its handler removed: raise sends
// it again, and its default action ends the process. When sig cannot be
// sent (Windows sends no os.Interrupt to a process), or does not end the
// process within a second (SIGINT ignored since the process started, as a
// non-interactive shell starts a background job: removing the handler
// ignores it again), exit ends it with the shell's code for sig, 128 plus
// its number.
func endBySignal(sig os.Signal, raise func(os.Signal) error, exit func(int)) {
	if raise(sig) == nil {
		time.Sleep(time.Second) // the signal's delivery is asynchronous
	}
	code := 1
	if n, ok := sig.(syscall.Signal); ok {
		code = 128 + int(n)
	}
	exit(code)
}

// run serves until ctx ends, then stops gracefully. It prints what a person
// needs (the development issuer's credentials, the ready line) to out and
// logs to log.
func run(ctx context.Context, cfg config, out io.Writer, log *slog.Logger) error {
	issuer := cfg.issuer
	webLn, err := listenWeb(cfg.webAddr, cfg.webAddr != defaultWebAddr, log)
	if err != nil {
		return err
	}
	if webLn != nil {
		defer webLn.Close() // in case serving never starts
	}
	var devIssuer *devIssuer
	if issuer == "" {
		aud := dev.Audience
		if len(cfg.audiences) > 0 {
			aud = cfg.audiences[0]
		}
		d, err := startDevIssuer(cfg.devIssuerAddr, aud, cfg.requireProfile, cfg.devDPoPNonces, pageURL(webLn))
		if err != nil {
			return err
		}
		// Said in the log too, not only in the banner on stdout: a log
		// pipeline may keep stderr alone.
		log.Warn("development issuer running: FOR LOCAL DEVELOPMENT ONLY, its client secrets are published; set ISSUER to use a real authorization server", "issuer", d.URL())
		for _, w := range devIssuerWarnings(cfg) {
			log.Warn(w)
		}
		defer d.Close()
		devIssuer = d
		issuer = d.URL()
	}

	vc := cfg.verifierConfig(issuer)
	vc.Logger = log
	v, err := verifier.New(ctx, vc)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	defer v.Close()
	for _, w := range slices.Concat(issuerWarnings(cfg.issuer), issuerSlashWarnings(cfg.issuer), scopeClaimWarnings(cfg), ignoredSettings(cfg)) {
		log.Warn(w)
	}

	audience := strings.Join(cfg.audiences, ",")
	if cfg.skipAudienceCheck {
		audience = "(not checked)"
	}
	var onDecision func(context.Context, grpcauth.Decision)
	if cfg.metricsAddr != "" {
		m, err := newMetrics(v)
		if err != nil {
			return err
		}
		defer m.Close()
		maddr, stopMetrics, err := serveMetrics(ctx, cfg.metricsAddr, m, metricsTimeouts, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
		onDecision = m.OnDecision
		fmt.Fprintf(out, "metrics on http://%s/metrics\n", maddr)
	}
	s, err := newServer(v, issuer, audience, log, onDecision)
	if err != nil {
		return err
	}

	if webLn != nil {
		h, err := webHandler(s.grpc, webConfig(issuer, devIssuer, pageURL(webLn)), origin(issuer), webLn.Addr())
		if err != nil {
			return err
		}
		defer serveWeb(ctx, webLn, h, webTimeouts, log)()
		fmt.Fprintf(out, "web page on %s\n", pageURL(webLn))
	}

	readyCtx, cancel := context.WithTimeout(ctx, readyTimeout)
	keysErr := v.Ready(readyCtx)
	if keysErr != nil {
		log.Warn("issuer keys not loaded yet; calls that need a token fail with Unavailable until they are", "issuer", issuer, "err", keysErr)
	}
	cancel()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	addr := ln.Addr().String()
	if devIssuer != nil {
		devIssuer.printUsage(out, addr)
	}
	if keysErr == nil {
		log.Info("accepting tokens", "issuer", issuer, "audience", audience)
	} else {
		log.Warn("serving without the issuer's keys: calls that need a token fail until they load", "issuer", issuer, "audience", audience)
		// Say when they load, as the key set itself logs a success
		// only at debug level: otherwise "accepting tokens" never comes.
		waitCtx, stopWaiting := context.WithCancel(ctx)
		waited := make(chan struct{})
		go func() {
			defer close(waited)
			if v.Ready(waitCtx) == nil {
				log.Info("accepting tokens", "issuer", issuer, "audience", audience)
			}
		}()
		defer func() { stopWaiting(); <-waited }()
	}
	fmt.Fprintf(out, "serving on %s\n", addr)
	return s.serve(ctx, ln, log)
}

// server is the gRPC server with its services.
type server struct {
	grpc   *grpc.Server
	health *health.Server
	// stopping is closed when shutdown begins; it ends WatchItems and
	// health Watch streams.
	stopping chan struct{}
}

// newServer builds the gRPC server: the grpcauth interceptors in front of
// ItemService (with two seeded items), health checking and reflection.
// onDecision, when not nil, receives every decision (for metrics).
func newServer(v *verifier.Verifier, issuer, audience string, log *slog.Logger, onDecision func(context.Context, grpcauth.Decision)) (*server, error) {
	conds, err := celcond.New(celcond.Config{}) // CreateItem's condition (docs/conditions.md)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	auth, err := grpcauth.New(grpcauth.Config{
		Verifier:   v,
		Conditions: conds,
		// Health checking and reflection carry no grpcauth options; they
		// are public by configuration. Leave reflection out in production
		// if the API surface should stay private.
		Public:     grpcauth.StandardPublicServices,
		Logger:     log,
		OnDecision: onDecision,
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &server{
		grpc: grpc.NewServer(
			grpc.MaxHeaderListSize(maxHeaderBytes),
			grpc.MaxConcurrentStreams(maxConcurrentStreams),
			grpc.KeepaliveParams(keepalive.ServerParameters{
				MaxConnectionIdle:     maxConnectionIdle,
				MaxConnectionAge:      maxConnectionAge,
				MaxConnectionAgeGrace: maxConnectionAgeGrace,
			}),
			grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime}),
			grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
			grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
		),
		health:   health.NewServer(), // "" (the whole server) is SERVING
		stopping: make(chan struct{}),
	}
	st := newStore(time.Now)
	for _, name := range []string{"first example item", "second example item"} {
		if _, err := st.create(name, "server", ""); err != nil {
			return nil, fmt.Errorf("server: seeding the store: %w", err)
		}
	}
	items := &service{store: st, stopping: s.stopping, log: log}
	itemsv1.RegisterItemServiceServer(s.grpc, items)
	s.health.SetServingStatus(itemsv1.ItemService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s.grpc, healthService{s.health, s.stopping})
	reflection.Register(s.grpc)

	// The start-up check: a method without a usable rule is denied to
	// every caller, and a Config name matching no registered method or
	// service is a dead entry (a typo, say). This server still starts, so
	// the example shows the outcome; a production server would rather
	// refuse to start.
	var problems *grpcauth.CheckError
	if err := auth.Check(s.grpc); errors.As(err, &problems) {
		for _, p := range problems.Problems {
			if p.ConfigField != "" {
				log.Warn("grpcauth Config entry matches no registered method or service", "field", "Config."+p.ConfigField, "name", p.Method, "err", p.Err)
			} else {
				log.Warn("grpcauth start-up check found a problem with a method", "method", p.Method, "err", p.Err)
			}
		}
	} else if err != nil {
		log.Warn("start-up check failed", "err", err)
	}
	items.info = serverInfo(issuer, audience, auth)
	return s, nil
}

// serve serves on ln, at most maxConnections connections at a time, until
// ctx ends, then stops gracefully: health turns NOT_SERVING, WatchItems
// and health Watch streams end, and running calls get stopTimeout to
// finish before they are cut off.
func (s *server) serve(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	served := make(chan error, 1)
	go func() { served <- s.grpc.Serve(limitConns(ln)) }()
	select {
	case err := <-served:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down")
	s.health.Shutdown()
	close(s.stopping)
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		log.Warn("graceful stop timed out; closing remaining calls")
		s.grpc.Stop()
		<-stopped
	}
	<-served
	return nil
}

// limitConns is ln serving at most maxConnections connections at a time:
// Accept waits while that many are open (netutil.LimitListener).
func limitConns(ln net.Listener) net.Listener {
	return netutil.LimitListener(ln, maxConnections)
}

// healthService is the health service, whose Watch streams end when the
// server begins to shut down. grpc-go's health.Server ends them only with
// the connection, so one open Watch (a client with gRPC's client-side
// health checking, or any caller: the service needs no token) would hold
// every graceful stop for all of stopTimeout, then cut the calls still
// running.
type healthService struct {
	*health.Server
	stopping <-chan struct{}
}

// Watch is health.Server's Watch until shutdown begins; it then ends with
// Unavailable, as WatchItems does.
func (h healthService) Watch(req *healthpb.HealthCheckRequest, stream grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-h.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := h.Server.Watch(req, watchStream{stream, ctx})
	select {
	case <-h.stopping:
		return status.Error(codes.Unavailable, "server is shutting down")
	default:
		return err
	}
}

// watchStream is a Watch stream with the context healthService.Watch
// cancels at shutdown.
type watchStream struct {
	grpc.ServerStreamingServer[healthpb.HealthCheckResponse]
	ctx context.Context
}

func (s watchStream) Context() context.Context { return s.ctx }
