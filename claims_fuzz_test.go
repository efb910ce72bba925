package grpcauth_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/celcond"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// FuzzSignedClaimsThroughInterceptors signs any payload text (its first
// members after the issuer's iss, aud and exp, so that most inputs verify:
// a fuzzed member of those names after them counts, as the last one does)
// with a key of the verifier's set, and calls, with it as a bearer token,
// every kind of rule the test services have, unary and streaming, through
// the real interceptors over bufconn: scopes (all of, any of), step-up
// (acr_values, max_age_seconds), CEL conditions reading claims (celcond),
// with OnDecision and a Debug logger set, enforced and in dry run. Nothing
// may panic (a panic in a handler's goroutine ends the process, which the
// engine reports); each call ends with OK, Unauthenticated or
// PermissionDenied (Unavailable needs keys or descriptors the server
// cannot get, and here it has both), in dry run with OK or
// Unauthenticated; a refusal carries a grpcauth reason; neither a
// status, a challenge nor a log record holds the token's signature; and
// a handler, or OnDecision, walking every accessor of the call's claims
// finds them consistent (Has and Raw agree with Names, every Raw is JSON,
// Scopes sorted and each HasScope), and, where enforced, holding what the
// method's rule requires.
//
//	go test -run '^$' -fuzz FuzzSignedClaimsThroughInterceptors -fuzztime 60s -parallel 1 .
func FuzzSignedClaimsThroughInterceptors(f *testing.F) {
	for _, s := range claimSeeds {
		f.Add(s)
	}
	fx := newClaimsFixture(f, nil)
	f.Fuzz(func(t *testing.T, payload string) {
		tok := fx.underTest(payload, "")
		fx.run(t, metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok), nil)
	})
}

// claimSeeds are payloads as issuers write them, and odd shapes of the
// claims the interceptors read after the signature is checked.
var claimSeeds = []string{
	// Okta
	`{"ver":1,"jti":"AT.x","iat":1893553445,"cid":"client-1","uid":"00u1","scp":["test:read","test:write","openid"],"auth_time":1893553445,"sub":"alice","acr":"urn:example:mfa","amr":["pwd","mfa"],"groups":["Everyone"]}`,
	// Auth0
	`{"sub":"auth0|alice","azp":"client-1","scope":"test:read test:stream test:write","gty":"client-credentials","permissions":["test:admin"],"https://example.com/roles":["admin"],"iat":1893553445}`,
	// Entra ID
	`{"aio":"x","appid":"client-1","azp":"client-1","idp":"https://sts.windows.net/t/","name":"Alice","oid":"o","roles":["test:admin"],"scp":"test:read test:write","sub":"alice","tid":"acme","uti":"u","ver":"2.0","acr":"1","amr":["pwd","rsa"],"wids":["w"]}`,
	// Keycloak
	`{"typ":"Bearer","azp":"client-1","sid":"s","acr":"phr","realm_access":{"roles":["offline_access"]},"resource_access":{"account":{"roles":["view-profile"]}},"scope":"openid test:read test:admin","sub":"alice","preferred_username":"alice","auth_time":1893553400,"tenant":"acme","allowed-origins":["*"]}`,
	// Cognito
	`{"sub":"alice","cognito:groups":["admins"],"token_use":"access","scope":"test:read aws.cognito.signin.user.admin","auth_time":1893553445,"client_id":"client-1","username":"alice","origin_jti":"o","event_id":"e"}`,
	// RFC 9068
	`{"client_id":"client-1","sub":"alice","scope":"test:read test:write test:audit","jti":"j","iat":1893553445,"acr":"phr","auth_time":1893553445,"tenant":"acme"}`,
	// The shape that panicked (2ab0ae34), and its neighbours.
	`{"sub":"alice","scp":["a",null]}`,
	`{"sub":"alice","scp":[null]}`,
	`{"sub":"alice","scp":[null,"test:read"],"scope":null}`,
	`{"sub":"alice","scp":[["test:read"],{"a":1},1,true]}`,
	`{"sub":"alice","scp":[1e400,-0,18446744073709551616]}`,
	`{"sub":"alice","scp":"test:read  test:write\t","scope":["test:read"]}`,
	`{"sub":"alice","scp":["test:read","test:read",""," "]}`,
	`{"sub":"alice","scope":"\u0074est:read test:\u0077rite","roles":[]}`,
	`{"sub":"alice","\u0073cp":["test:write"],"scp":["test:read"]}`,
	`{"sub":"alice","scp":["test:read"],"scp":"test:write test:read"}`,
	// Numbers where strings go, huge numbers, duplicates, escapes.
	`{"sub":1,"cid":2,"client_id":["client-1"],"azp":null,"jti":{},"scp":["test:read"]}`,
	`{"sub":"alice","iat":1e400,"nbf":-1,"scp":["test:read"]}`,
	`{"sub":"alice","sub":"bob","cid":"client-1","client_id":"client-2","scp":["test:read"]}`,
	`{"sub":"al\u0000ice","cid":"client-\u0031","tenant":"ac\"me","scp":["test:read"]}`,
	`{"sub":"alice","tenant":123456789012345678901234567890,"scp":["test:read"]}`,
	`{"sub":"alice","tenant":["acme"],"scp":["test:read"]}`,
	`{"sub":"alice","tenant":{"id":"acme"},"scp":["test:read"]}`,
	`{"sub":"alice","tenant":null,"scp":["test:read"]}`,
	`{"":"","\ud800":"x","sub":"alice","scp":["test:read"]}`,
	// cnf of wrong types.
	`{"sub":"alice","cnf":null,"scp":["test:read"]}`,
	`{"sub":"alice","cnf":"x","scp":["test:read"]}`,
	`{"sub":"alice","cnf":[],"scp":["test:read"]}`,
	`{"sub":"alice","cnf":{"jkt":1},"scp":["test:read"]}`,
	`{"sub":"alice","cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},"scp":["test:read"]}`,
	`{"sub":"alice","cnf":{"x5t#S256":"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"},"scp":["test:read"]}`,
	`{"sub":"alice","cnf":{"x5t#S256":null,"jkt":null},"scp":["test:read"]}`,
	`{"sub":"alice","cnf":{"jkt":"a","x5t#S256":"b"},"scp":["test:read"]}`,
	`{"sub":"alice","cnf":{"jwk":{"kty":"OKP"}},"scp":["test:read"]}`,
	// Step-up claims of odd types.
	`{"sub":"alice","acr":2,"auth_time":1893553445,"scp":["test:read"]}`,
	`{"sub":"alice","acr":["phr"],"auth_time":1893553445}`,
	`{"sub":"alice","acr":"phr","auth_time":"1893553445"}`,
	`{"sub":"alice","acr":"phr","auth_time":1893553444.999}`,
	`{"sub":"alice","acr":"phr","auth_time":-1}`,
	`{"sub":"alice","acr":"phr","auth_time":1e400}`,
	`{"sub":"alice","acr":"phr","auth_time":9223372036854775807}`,
	`{"sub":"alice","acr":"phr","auth_time":null}`,
	`{"sub":"alice","acr":null,"auth_time":1893553445}`,
	`{"sub":"alice","acr":"urn:example:mfa","auth_time":1893553445,"amr":{"pwd":true}}`,
	`{"sub":"alice","acr":"phr","auth_time":1893553445,"amr":"mfa"}`,
	// Objects and arrays nested, where the CEL condition reads.
	`{"sub":"alice","cid":"client-1","amr":[["mfa"]],"roles":[{"admin":true}],"groups":[[[]]]}`,
	`{"sub":"alice","cid":"client-1","amr":["mfa",null,1],"roles":"admin","auth_time":true}`,
	`{"sub":"alice","cid":"client-1","scp":["test:read"],"x":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}`,
	// What the log records clip: a sub and a client id of more than
	// 256 bytes, a multi-byte character across the cut, control and
	// bidi characters.
	`{"sub":"` + strings.Repeat("a", 255) + `\u00e9\u00e9","cid":"` + strings.Repeat("\u4e16", 100) + `","scp":["test:read"]}`,
	`{"sub":"\u202ealice\u0007\n","azp":"client-1","cid":"client-2","scp":"test:read"}`,
	`{}`,
	`{"sub":""}`,
	`{"sub":null,"scp":["test:read","test:write"]}`,
	`[]`,
	`null`,
}

// The fixture's issuer: its clock, key id and audience.
var (
	fuzzNow      = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	fuzzKid      = "fuzz"
	fuzzAudience = "api://grpcauth-fuzz"
	fuzzHeader   = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","kid":"` + fuzzKid + `","typ":"at+jwt"}`))
)

// claimsFixture is a verifier for an Ed25519 key of its own, and two
// servers of the test services behind Authenticators sharing it: one
// enforcing, one in dry run.
type claimsFixture struct {
	priv     ed25519.PrivateKey
	issuer   string
	enforced *fuzzClients
	dryRun   *fuzzClients

	// secrets, guarded by secretsMu, are the texts no status, challenge or
	// log record may hold: the signature of the token under test, and the
	// DPoP proofs sent with it.
	secretsMu sync.Mutex
	secrets   []string
	// mu guards problems, what handlers, OnDecision and the logger found,
	// and walked, the claims walked with the token under test.
	mu       sync.Mutex
	problems []string
	walked   map[verifier.Claims]bool
}

type fuzzClients struct {
	test authtestv1.TestServiceClient
	cond authtestv1.ConditionServiceClient
}

// newClaimsFixture builds the fixture; configure, when not nil, changes
// both Authenticators' Config.
func newClaimsFixture(f *testing.F, configure func(*grpcauth.Config)) *claimsFixture {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": fuzzKid,
		"x": base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
	}}})
	if err != nil {
		f.Fatal(err)
	}
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) }))
	f.Cleanup(keys.Close)
	fx := &claimsFixture{priv: priv, issuer: keys.URL, walked: map[verifier.Claims]bool{}}
	now := func() time.Time { return fuzzNow }
	logger := slog.New(slog.NewJSONHandler(logCheck{fx}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer:      keys.URL,
		JWKSURL:     keys.URL + "/keys",
		Audiences:   []string{fuzzAudience},
		Now:         now,
		ScopeClaims: []string{"scp", "scope", "roles"},
		Logger:      logger,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { v.Close() })
	if err := v.Ready(context.Background()); err != nil {
		f.Fatal(err)
	}
	conds, err := celcond.New(celcond.Config{})
	if err != nil {
		f.Fatal(err)
	}
	// A condition that reads claims of every shape issuers write, each
	// branch an error on a claim of another type.
	rules := map[string]*grpcauthv1.Rule{
		"/authtest.v1.ConditionService/Method": {Condition: `('amr' in claims && 'mfa' in claims.amr)` +
			` || ('roles' in claims && claims.roles.exists(r, r == 'admin'))` +
			` || (has(claims.cnf) && has(claims.cnf.jkt) && claims.cnf.jkt != '')` +
			` || ('auth_time' in claims && claims.auth_time > 1893553000.0)` +
			` || ('realm_access' in claims && 'test:admin' in claims.realm_access.roles)` +
			` || claims.exists(k, k.startsWith('https://') && size(claims[k]) > 0)` +
			` || (subject == 'alice' && client_id == 'client-1' && size(scopes) > 0 && method != '')`},
	}
	for _, dry := range []bool{false, true} {
		cfg := grpcauth.Config{
			Verifier:   v,
			Conditions: conds,
			Rules:      rules,
			DryRun:     dry,
			Now:        now,
			Logger:     logger,
			OnDecision: fx.onDecision,
		}
		if configure != nil {
			configure(&cfg)
		}
		auth, err := grpcauth.New(cfg)
		if err != nil {
			f.Fatal(err)
		}
		clients := fx.serve(f, auth, dry)
		if dry {
			fx.dryRun = clients
		} else {
			fx.enforced = clients
		}
	}
	return fx
}

// serve runs the test services behind auth on bufconn until f ends.
func (fx *claimsFixture) serve(f *testing.F, auth *grpcauth.Authenticator, dry bool) *fuzzClients {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()))
	svc := &claimsService{fx: fx, dryRun: dry}
	authtestv1.RegisterTestServiceServer(srv, svc)
	authtestv1.RegisterConditionServiceServer(srv, svc)
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(lis) })
	conn, err := grpc.NewClient("passthrough:///bufnet", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(withCallCredentials(ctx, method), method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(withCallCredentials(ctx, method), desc, cc, method, opts...)
		}))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		conn.Close()
		srv.Stop()
		wg.Wait()
	})
	return &fuzzClients{test: authtestv1.NewTestServiceClient(conn), cond: authtestv1.NewConditionServiceClient(conn)}
}

// problem records what a handler, OnDecision or the logger found wrong,
// for run to report on the fuzz test's goroutine.
func (fx *claimsFixture) problem(format string, args ...any) {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	fx.problems = append(fx.problems, fmt.Sprintf(format, args...))
}

// setSecrets makes secrets the texts holdsToken looks for (none: no
// token is under test).
func (fx *claimsFixture) setSecrets(secrets ...string) {
	fx.secretsMu.Lock()
	defer fx.secretsMu.Unlock()
	fx.secrets = secrets
}

// addSecret adds a text holdsToken looks for.
func (fx *claimsFixture) addSecret(secret string) {
	fx.secretsMu.Lock()
	defer fx.secretsMu.Unlock()
	fx.secrets = append(fx.secrets, secret)
}

// holdsToken reports whether s holds the token under test's signature, or
// a text of a proof sent with it.
func (fx *claimsFixture) holdsToken(s []byte) bool {
	fx.secretsMu.Lock()
	defer fx.secretsMu.Unlock()
	for _, secret := range fx.secrets {
		if bytes.Contains(s, []byte(secret)) {
			return true
		}
	}
	return false
}

// callCredentialsKey is the context key of a function that sets the
// credentials of each call made with the context (withCallCredentials).
type callCredentialsKey struct{}

// withCallCredentials is ctx as the call to method sends it: with the
// metadata the function under callCredentialsKey, if any, adds for it.
func withCallCredentials(ctx context.Context, method string) context.Context {
	if set, ok := ctx.Value(callCredentialsKey{}).(func(context.Context, string) context.Context); ok {
		return set(ctx, method)
	}
	return ctx
}

// walk is walkClaims of c, once per token: the claims of its calls are
// the verifier's one cached value, walked alike each time.
func (fx *claimsFixture) walk(c verifier.Claims) string {
	fx.mu.Lock()
	seen := fx.walked[c]
	fx.walked[c] = true
	fx.mu.Unlock()
	if seen {
		return ""
	}
	return walkClaims(c)
}

func (fx *claimsFixture) onDecision(ctx context.Context, d grpcauth.Decision) {
	if msg := fx.walk(d.Claims); msg != "" {
		fx.problem("OnDecision for %s: %s", d.Method, msg)
	}
	if d.Err != nil && fx.holdsToken([]byte(d.Err.Error())) {
		fx.problem("OnDecision for %s: Decision.Err holds the token: %v", d.Method, d.Err)
	}
	_ = d.LogValue().Resolve().String()
	if c, ok := grpcauth.ClaimsFromContext(ctx); ok {
		if msg := fx.walk(c); msg != "" {
			fx.problem("OnDecision for %s, the context's claims: %s", d.Method, msg)
		}
	}
}

// logCheck is the logger's io.Discard, which records a record holding the
// token under test.
type logCheck struct{ fx *claimsFixture }

func (l logCheck) Write(p []byte) (int, error) {
	if l.fx.holdsToken(p) {
		l.fx.problem("a log record holds the token: %s", p)
	}
	return len(p), nil
}

// walkClaims calls every accessor of c and returns what it finds
// inconsistent, or "".
func walkClaims(c verifier.Claims) string {
	_ = c.IsZero()
	_, _, _, _ = c.Issuer(), c.Subject(), c.ClientID(), c.ID()
	_, _, _, _ = c.Audience(), c.IssuedAt(), c.Expiry(), c.NotBefore()
	_ = c.Footprint()
	scopes := c.Scopes()
	if !slices.IsSorted(scopes) {
		return fmt.Sprintf("Scopes() = %q, not sorted", scopes)
	}
	for _, s := range scopes {
		if !c.HasScope(s) {
			return fmt.Sprintf("Scopes() holds %q, and HasScope(%q) is false", s, s)
		}
	}
	_ = c.HasScope("")
	names := c.Names()
	if !slices.IsSorted(names) {
		return fmt.Sprintf("Names() = %q, not sorted", names)
	}
	for _, n := range append(names, "", "missing", "scp", "cnf", "acr", "amr", "auth_time", "tenant", "SUB") {
		listed := slices.Contains(names, n)
		raw, ok := c.Raw(n)
		if has := c.Has(n); has != listed || ok != listed {
			return fmt.Sprintf("claim %q: Has %v, Raw present %v, listed by Names %v", n, has, ok, listed)
		}
		if ok && !json.Valid(raw) {
			return fmt.Sprintf("Raw(%q) = %q, not JSON", n, raw)
		}
		var (
			v  any
			s  string
			ss []string
			fl float64
			m  map[string]any
		)
		err := c.Claim(n, &v)
		if !listed && err == nil {
			return fmt.Sprintf("Claim(%q) of an absent claim: no error", n)
		}
		_, _, _, _ = c.Claim(n, &s), c.Claim(n, &ss), c.Claim(n, &fl), c.Claim(n, &m)
	}
	return ""
}

// claimsService implements the test services: each handler walks its
// call's claims and, on the enforcing server, checks that they hold what
// the method's rule requires.
type claimsService struct {
	authtestv1.UnimplementedTestServiceServer
	authtestv1.UnimplementedConditionServiceServer
	fx     *claimsFixture
	dryRun bool
}

// seen walks ctx's claims; requires, on the enforcing server, is what the
// method's rule admits.
func (s *claimsService) seen(ctx context.Context, method string, requires func(verifier.Claims) bool) *authtestv1.Caller {
	c, ok := grpcauth.ClaimsFromContext(ctx)
	if !ok {
		s.fx.problem("%s: the handler got no claims", method)
		return nil
	}
	if msg := s.fx.walk(c); msg != "" {
		s.fx.problem("%s: %s", method, msg)
	}
	if !s.dryRun && requires != nil && !requires(c) {
		s.fx.problem("%s: admitted claims its rule refuses: scopes %q", method, c.Scopes())
	}
	return &authtestv1.Caller{Authenticated: true, Subject: c.Subject(), ClientId: c.ClientID(), Scopes: c.Scopes()}
}

func scopes(all ...string) func(verifier.Claims) bool {
	return func(c verifier.Claims) bool {
		for _, s := range all {
			if !c.HasScope(s) {
				return false
			}
		}
		return true
	}
}

// steppedUp is the step-up rule of StepUp, read independently: an acr
// among its values, an auth_time at most 300 s old and not ahead.
func steppedUp(acrs ...string) func(verifier.Claims) bool {
	return func(c verifier.Claims) bool {
		var acr string
		var at float64
		if c.Claim("acr", &acr) != nil || !slices.Contains(acrs, acr) || c.Claim("auth_time", &at) != nil {
			return false
		}
		now := float64(fuzzNow.Unix())
		return at >= now-300 && at <= now+3600 // the verifier's skew at most
	}
}

func (s *claimsService) AllOf(ctx context.Context, _ *authtestv1.AllOfRequest) (*authtestv1.AllOfResponse, error) {
	return &authtestv1.AllOfResponse{Caller: s.seen(ctx, "AllOf", scopes("test:read", "test:write"))}, nil
}

func (s *claimsService) AnyOf(ctx context.Context, _ *authtestv1.AnyOfRequest) (*authtestv1.AnyOfResponse, error) {
	anyOf := func(c verifier.Claims) bool {
		return scopes("test:admin")(c) || scopes("test:write", "test:audit")(c)
	}
	return &authtestv1.AnyOfResponse{Caller: s.seen(ctx, "AnyOf", anyOf)}, nil
}

func (s *claimsService) Authenticated(ctx context.Context, _ *authtestv1.AuthenticatedRequest) (*authtestv1.AuthenticatedResponse, error) {
	return &authtestv1.AuthenticatedResponse{Caller: s.seen(ctx, "Authenticated", nil)}, nil
}

func (s *claimsService) ServerStream(_ *authtestv1.ServerStreamRequest, stream grpc.ServerStreamingServer[authtestv1.ServerStreamResponse]) error {
	return stream.Send(&authtestv1.ServerStreamResponse{Caller: s.seen(stream.Context(), "ServerStream", scopes("test:read", "test:stream"))})
}

func (s *claimsService) BidiStream(stream grpc.BidiStreamingServer[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse]) error {
	return answerEach(stream, func() *authtestv1.BidiStreamResponse {
		return &authtestv1.BidiStreamResponse{Caller: s.seen(stream.Context(), "BidiStream", scopes("test:stream"))}
	})
}

// answerEach sends answer() for each message stream receives, until the
// client closes its side.
func answerEach[Req, Resp any](stream grpc.BidiStreamingServer[Req, Resp], answer func() *Resp) error {
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := stream.Send(answer()); err != nil {
			return err
		}
	}
}

func (s *claimsService) Own(ctx context.Context, _ *authtestv1.OwnRequest) (*authtestv1.OwnResponse, error) {
	return &authtestv1.OwnResponse{Caller: s.seen(ctx, "Own", scopes("test:write"))}, nil
}

func (s *claimsService) Tenant(ctx context.Context, _ *authtestv1.TenantRequest) (*authtestv1.TenantResponse, error) {
	tenant := func(c verifier.Claims) bool {
		var t string
		return c.Claim("tenant", &t) == nil && t == "acme"
	}
	return &authtestv1.TenantResponse{Caller: s.seen(ctx, "Tenant", tenant)}, nil
}

func (s *claimsService) Method(ctx context.Context, _ *authtestv1.MethodRequest) (*authtestv1.MethodResponse, error) {
	return &authtestv1.MethodResponse{Caller: s.seen(ctx, "Method", nil)}, nil
}

func (s *claimsService) StepUp(ctx context.Context, _ *authtestv1.StepUpRequest) (*authtestv1.StepUpResponse, error) {
	return &authtestv1.StepUpResponse{Caller: s.seen(ctx, "StepUp", steppedUp("urn:example:mfa", "phr"))}, nil
}

func (s *claimsService) OwnClientStream(stream grpc.ClientStreamingServer[authtestv1.OwnClientStreamRequest, authtestv1.OwnClientStreamResponse]) error {
	var n int32
	for {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			owner := func(c verifier.Claims) bool { return c.Subject() == "alice" }
			return stream.SendAndClose(&authtestv1.OwnClientStreamResponse{Caller: s.seen(stream.Context(), "OwnClientStream", owner), Received: n})
		}
		if err != nil {
			return err
		}
		n++
	}
}

func (s *claimsService) StepUpStream(stream grpc.BidiStreamingServer[authtestv1.StepUpStreamRequest, authtestv1.StepUpStreamResponse]) error {
	return answerEach(stream, func() *authtestv1.StepUpStreamResponse {
		return &authtestv1.StepUpStreamResponse{Caller: s.seen(stream.Context(), "StepUpStream", steppedUp("urn:example:mfa"))}
	})
}

// sign returns the token of payload's members after the issuer's iss, aud
// and exp, and the members more (payload itself when it is no object).
func (fx *claimsFixture) sign(payload, more string) string {
	good := fmt.Sprintf(`"iss":%q,"aud":%q,"exp":%d`, fx.issuer, fuzzAudience, fuzzNow.Add(time.Hour).Unix())
	if more != "" {
		good += "," + more
	}
	if rest, ok := strings.CutPrefix(strings.TrimLeft(payload, " \t\r\n"), "{"); ok {
		if strings.HasPrefix(strings.TrimLeft(rest, " \t\r\n"), "}") {
			payload = "{" + good + rest
		} else {
			payload = "{" + good + "," + rest
		}
	}
	input := fuzzHeader + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	return input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(fx.priv, []byte(input)))
}

// underTest returns sign's token, and makes its signature the text
// holdsToken looks for.
func (fx *claimsFixture) underTest(payload, more string) string {
	tok := fx.sign(payload, more)
	fx.setSecrets(tok[strings.LastIndexByte(tok, '.')+1:])
	return tok
}

// unary calls a unary method, collecting its header and trailer.
func unary[Req, Resp any](f func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) func(context.Context, *metadata.MD) error {
	return func(ctx context.Context, md *metadata.MD) error {
		var header, trailer metadata.MD
		_, err := f(ctx, req, grpc.Header(&header), grpc.Trailer(&trailer))
		*md = metadata.Join(header, trailer)
		return err
	}
}

// bidi sends n requests on a stream, closes its send side and receives
// until the stream ends.
func bidi[Req, Resp any](open func(context.Context, ...grpc.CallOption) (grpc.BidiStreamingClient[Req, Resp], error), req *Req, n int) func(context.Context, *metadata.MD) error {
	return func(ctx context.Context, md *metadata.MD) error {
		st, err := open(ctx)
		if err != nil {
			return err
		}
		for range n {
			if st.Send(req) != nil {
				break // the stream ended: its status comes from Recv
			}
		}
		_ = st.CloseSend()
		return drain(st, st.Recv, md)
	}
}

// drain receives on st until it ends, and returns its status (nil for
// OK), with its header and trailer in md.
func drain[Resp any](st grpc.ClientStream, recv func() (*Resp, error), md *metadata.MD) error {
	var err error
	for err == nil {
		_, err = recv()
	}
	header, _ := st.Header()
	*md = metadata.Join(header, st.Trailer())
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// fuzzCalls are the calls run makes with each token, on the enforcing
// server and (those marked) in dry run.
var fuzzCalls = []struct {
	name     string
	inDryRun bool
	call     func(c *fuzzClients) func(context.Context, *metadata.MD) error
}{
	{"AllOf", true, func(c *fuzzClients) func(context.Context, *metadata.MD) error {
		return unary(c.test.AllOf, &authtestv1.AllOfRequest{})
	}},
	{"AnyOf", false, func(c *fuzzClients) func(context.Context, *metadata.MD) error {
		return unary(c.test.AnyOf, &authtestv1.AnyOfRequest{})
	}},
	{"Authenticated", false, func(c *fuzzClients) func(context.Context, *metadata.MD) error {
		return unary(c.test.Authenticated, &authtestv1.AuthenticatedRequest{})
	}},
	{"Own", false, func(c *fuzzClients) func(context.Context, *metadata.MD) error {
		return unary(c.cond.Own, &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "alice"}})
	}},
	{"Tenant", true, func(c *fuzzClients) func(context.Context, *metadata.MD) error {
		return unary(c.cond.Tenant, &authtestv1.TenantRequest{Tenant: "acme"})
	}},
	{"Method", true, func(c *fuzzClients) func(context.Context, *metadata.MD) error {
		return unary(c.cond.Method, &authtestv1.MethodRequest{})
	}},
	{"StepUp", true, func(c *fuzzClients) func(context.Context, *metadata.MD) error {
		return unary(c.cond.StepUp, &authtestv1.StepUpRequest{})
	}},
	{"ServerStream", false, func(c *fuzzClients) func(context.Context, *metadata.MD) error {
		return func(ctx context.Context, md *metadata.MD) error {
			st, err := c.test.ServerStream(ctx, &authtestv1.ServerStreamRequest{Count: 1})
			if err != nil {
				return err
			}
			return drain(st, st.Recv, md)
		}
	}},
	{"BidiStream", true, func(c *fuzzClients) func(context.Context, *metadata.MD) error {
		return bidi(c.test.BidiStream, &authtestv1.BidiStreamRequest{}, 1)
	}},
	{"OwnClientStream", false, func(c *fuzzClients) func(context.Context, *metadata.MD) error {
		return func(ctx context.Context, md *metadata.MD) error {
			st, err := c.cond.OwnClientStream(ctx)
			if err != nil {
				return err
			}
			for range 2 {
				if st.Send(&authtestv1.OwnClientStreamRequest{Owner: "alice"}) != nil {
					break
				}
			}
			_, err = st.CloseAndRecv()
			header, _ := st.Header()
			*md = metadata.Join(header, st.Trailer())
			return err
		}
	}},
	{"StepUpStream", true, func(c *fuzzClients) func(context.Context, *metadata.MD) error {
		return bidi(c.cond.StepUpStream, &authtestv1.StepUpStreamRequest{}, 1)
	}},
}

// run makes every call of fuzzCalls with ctx's credentials (the texts
// setSecrets named must not come back), and reports what went wrong;
// after, when not nil, checks each call's outcome further.
func (fx *claimsFixture) run(t *testing.T, ctx context.Context, after func(call string, dry bool, st *status.Status, md metadata.MD)) {
	defer fx.setSecrets()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, dry := range []bool{false, true} {
		clients, want := fx.enforced, []codes.Code{codes.OK, codes.Unauthenticated, codes.PermissionDenied}
		if dry {
			clients, want = fx.dryRun, []codes.Code{codes.OK, codes.Unauthenticated}
		}
		for _, c := range fuzzCalls {
			if dry && !c.inDryRun {
				continue
			}
			var md metadata.MD
			err := c.call(clients)(ctx, &md)
			st := status.Convert(err)
			if !slices.Contains(want, st.Code()) {
				t.Errorf("%s (dry run %v): %v, want one of %v", c.name, dry, err, want)
			}
			if st.Code() != codes.OK && len(st.Details()) == 0 {
				t.Errorf("%s (dry run %v): %v has no ErrorInfo", c.name, dry, err)
			}
			if fx.holdsToken([]byte(st.Message())) || fx.holdsToken([]byte(fmt.Sprint(st.Details()))) {
				t.Errorf("%s (dry run %v): the status holds the token: %v", c.name, dry, st.Proto())
			}
			for _, v := range md.Get("www-authenticate") {
				if fx.holdsToken([]byte(v)) {
					t.Errorf("%s (dry run %v): the challenge holds the token: %s", c.name, dry, v)
				}
			}
			if after != nil {
				after(c.name, dry, st, md)
			}
		}
	}
	fx.mu.Lock()
	problems := fx.problems
	fx.problems = nil
	clear(fx.walked)
	fx.mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
}
