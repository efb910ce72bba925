package connectauth_test

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/grpc"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

func TestCORS_PreflightFromAllowedOriginMayAuthenticate(t *testing.T) {
	served := false
	h := connectauth.CORS(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true }), "http://127.0.0.1:8080")
	req := httptest.NewRequest(http.MethodOptions, "/items.v1.ItemsService/ListItems", nil)
	req.Header.Set("Origin", "http://127.0.0.1:8080")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, dpop, content-type")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if served {
		t.Error("a preflight reached the handler")
	}
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d, want 204", rec.Code)
	}
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "http://127.0.0.1:8080" {
		t.Errorf("Allow-Origin %q", got)
	}
	allowed := strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"authorization", "dpop", "content-type", "connect-protocol-version", "x-grpc-web"} {
		if !strings.Contains(allowed, h) {
			t.Errorf("Allow-Headers %q lacks %q", allowed, h)
		}
	}
	if !strings.Contains(rec.Header().Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("Allow-Methods %q lacks POST", rec.Header().Get("Access-Control-Allow-Methods"))
	}
	if rec.Header().Get("Access-Control-Allow-Credentials") != "" {
		t.Error("the policy allows credentials")
	}
}

func TestCORS_OtherOriginGetsNoCORSHeaders(t *testing.T) {
	served := false
	h := connectauth.CORS(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true }), "http://127.0.0.1:8080")
	req := httptest.NewRequest(http.MethodOptions, "/x", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("Access-Control-Allow-Origin") != "" || rec.Header().Get("Access-Control-Allow-Headers") != "" {
		t.Fatalf("CORS headers for another origin: %v", rec.Header())
	}
	if !served {
		t.Error("the request was not passed on (the handler decides what a non-CORS request gets)")
	}
}

// A page on another origin can read a refusal's challenge and DPoP-Nonce
// from a grpc-go server behind vanguard's transcoder too. There the
// grpcauth interceptors send them as gRPC trailers, which the Connect
// protocol carries in a unary response as headers prefixed with
// "Trailer-" (Trailer-Www-Authenticate, Trailer-Dpop-Nonce): CORS must
// expose those names, or the browser hides them from the page, which then
// cannot retry with the nonce the server demands.
func TestCORS_VanguardRefusalExposesItsChallengeAndNonce(t *testing.T) {
	const origin, procedure = "https://app.example.com", "/authtest.v1.TestService/AllOf"
	auth, key, tok := dpopFixture(t, dpop.Config{Nonces: twoNonces{}})
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()))
	authtestv1.RegisterTestServiceServer(gs, service{})
	transcoder, err := vanguardgrpc.NewTranscoder(gs)
	if err != nil {
		t.Fatal(err)
	}
	srv := serveTLS(t, connectauth.CORS(transcoder, origin))
	proof, err := key.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: srv.URL + procedure, AccessToken: tok}) // no nonce
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+procedure, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	req.Header.Set("Origin", origin)
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", proof)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401 (USE_DPOP_NONCE)", resp.StatusCode)
	}
	exposed := map[string]bool{}
	for _, name := range strings.Split(resp.Header.Get("Access-Control-Expose-Headers"), ",") {
		exposed[http.CanonicalHeaderKey(strings.TrimSpace(name))] = true
	}
	for _, want := range []string{"WWW-Authenticate", "DPoP-Nonce"} {
		found := false
		for name := range resp.Header {
			if name != http.CanonicalHeaderKey(want) && name != http.CanonicalHeaderKey("Trailer-"+want) {
				continue
			}
			found = true
			if !exposed[name] {
				t.Errorf("the response carries %s in %s, which Access-Control-Expose-Headers (%q) does not list", want, name, resp.Header.Get("Access-Control-Expose-Headers"))
			}
		}
		if !found {
			t.Errorf("the response carries no %s: %v", want, resp.Header)
		}
	}
}

// Requests that are not calls reach neither the handler nor a decision
// through the whole stack (CORS, WrapHandler, a connect-go handler with the
// Interceptor): a preflight from an allowed origin is answered by CORS, and
// HEAD, or an OPTIONS that is no preflight, is refused by connect-go (405)
// before any interceptor runs.
func TestCORS_NonCallsNeverReachTheDecision(t *testing.T) {
	const origin, procedure = "https://app.example.com", "/authtest.v1.TestService/AllOf"
	var decisions atomic.Int32
	f := configFixture(t, grpcauth.Config{OnDecision: func(context.Context, grpcauth.Decision) { decisions.Add(1) }})
	srv := serveTLS(t, connectauth.CORS(connectMux(f), origin))
	for _, tc := range []struct {
		method    string
		preflight bool
		want      int
	}{
		{http.MethodOptions, true, http.StatusNoContent},
		{http.MethodOptions, false, http.StatusMethodNotAllowed},
		{http.MethodHead, false, http.StatusMethodNotAllowed},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+procedure, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Authorization", "Bearer not.a.jwt")
		if tc.preflight {
			req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s (preflight %v): status %d, want %d", tc.method, tc.preflight, resp.StatusCode, tc.want)
		}
	}
	if n := decisions.Load(); n != 0 {
		t.Errorf("%d decisions for requests that are not calls, want none", n)
	}
}

// preflight sends h a preflight from origin and returns the response.
func preflight(h http.Handler, origin string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodOptions, "/items.v1.ItemsService/ListItems", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// A configured origin in another case, with the scheme's default port or
// a trailing "/", means the origin a browser sends without them: before,
// it never matched, and the pages it names could not call the service.
func TestCORS_OriginsAreNormalisedAsBrowsersSendThem(t *testing.T) {
	configured := []string{"https://App.Example.com/", "HTTP://127.0.0.1:80", "https://api.example.com:443", "http://[::1]:8080",
		"https://b.example:0443", "http://[0:0:0:0:0:0:0:1]:08081", "http://[::FFFF:1.2.3.4]"}
	strict, err := connectauth.NewCORS(http.NotFoundHandler(), connectauth.CORSConfig{Origins: configured})
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]http.Handler{"CORS": connectauth.CORS(http.NotFoundHandler(), configured...), "NewCORS": strict} {
		for _, origin := range []string{"https://app.example.com", "http://127.0.0.1", "https://api.example.com", "http://[::1]:8080",
			"https://b.example", "http://[::1]:8081", "http://[::ffff:102:304]"} {
			if got := preflight(h, origin).Header().Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("%s: preflight from %s: Allow-Origin %q", name, origin, got)
			}
		}
		if got := preflight(h, "https://App.Example.com/").Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s: a non-normalised Origin header matched: Allow-Origin %q", name, got)
		}
	}
}

// An origin no browser sends is a misconfiguration that would go
// unnoticed (it never matches): NewCORS refuses it, and CORS, which cannot
// return an error, logs it.
func TestCORS_OriginsNoBrowserSendsAreRefusedOrLogged(t *testing.T) {
	for _, origin := range []string{"*", "null", "", "app.example.com", "https://app.example.com/app", "https://app.example.com?x",
		"https://app.example.com#", "https://user@app.example.com", "https://bücher.example", "https://*.example.com", "https://:443", "https://app.example.com:x",
		"https://app.example.com:65536", "http://127.1", "http://0x7f.0.0.1", "http://127.0.0.01", "http://1.2.3.4.5",
		// A code point WHATWG URL forbids in a host, which Go's url.Parse
		// lets through.
		"http://a<b.example", "https://a>b.example", "https://app]example.com", "app://::", "app://a:b:"} {
		h, err := connectauth.NewCORS(http.NotFoundHandler(), connectauth.CORSConfig{Origins: []string{"https://ok.example", origin}})
		if err == nil || h != nil || !strings.HasPrefix(err.Error(), "connectauth: CORSConfig.Origins: ") {
			t.Errorf("NewCORS(%q) = %v, %v; want an error", origin, h, err)
		}
	}
	if _, err := connectauth.NewCORS(http.NotFoundHandler(), connectauth.CORSConfig{}); err == nil {
		t.Error("NewCORS without origins: no error")
	}

	var logged strings.Builder
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	defer slog.SetDefault(prev)
	h := connectauth.CORS(http.NotFoundHandler(), "*", "https://ok.example")
	if !strings.Contains(logged.String(), `level=ERROR`) || !strings.Contains(logged.String(), `\"*\" is not an origin`) {
		t.Errorf("CORS with \"*\" logged %q", logged.String())
	}
	if got := preflight(h, "https://evil.example").Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("\"*\" allowed another origin: %q", got)
	}
	if got := preflight(h, "https://ok.example").Header().Get("Access-Control-Allow-Origin"); got != "https://ok.example" {
		t.Errorf("the valid origin beside \"*\": Allow-Origin %q", got)
	}
}

// An origin written with user info is refused, and the error naming it,
// which NewCORS returns and CORS logs, leaves the user info out: it may
// hold a password, which must not reach the server's log.
func TestCORS_RefusedOriginsUserInfoIsNeitherReturnedNorLogged(t *testing.T) {
	for _, origin := range []string{"https://alice:hunter2@app.example.com", "https://hunter2@app.example.com/", "https://alice:hunter2@app.example.com/path",
		"https://alice:hunter2 @app.example.com", "alice:hunter2@app.example.com", "alice:hunter2@app.example.com//x",
		// A "?", "#" or "/" in the password ends the authority early: the
		// origin does not parse, or parses with the password in its path.
		"https://alice:hunter2?x@app.example.com", "https://alice:hunter2#x@app.example.com", "https://alice:1234/hunter2@app.example.com"} {
		_, err := connectauth.NewCORS(http.NotFoundHandler(), connectauth.CORSConfig{Origins: []string{origin}})
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "app.example.com") {
			t.Errorf("NewCORS(%q): %v, want an error naming the host without the user info", origin, err)
		}
		var logged strings.Builder
		prev := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
		connectauth.CORS(http.NotFoundHandler(), origin)
		slog.SetDefault(prev)
		if !strings.Contains(logged.String(), "level=ERROR") || strings.Contains(logged.String(), "hunter2") {
			t.Errorf("CORS(%q) logged %q, want an error without the user info", origin, logged.String())
		}
	}
}

// Pages that propagate W3C Trace Context (the OpenTelemetry web SDKs send
// traceparent and tracestate) need those headers allowed, or the browser
// refuses every call after its preflight: NewCORS allows the names it is
// given, never a wildcard.
func TestNewCORS_AllowsConfiguredRequestHeaders(t *testing.T) {
	const origin = "https://app.example.com"
	h, err := connectauth.NewCORS(http.NotFoundHandler(), connectauth.CORSConfig{Origins: []string{origin},
		AllowedHeaders: []string{"traceparent", "tracestate", "authorization"}})
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]int{}
	for _, name := range strings.Split(preflight(h, origin).Header().Get("Access-Control-Allow-Headers"), ",") {
		allowed[strings.ToLower(strings.TrimSpace(name))]++
	}
	for _, name := range []string{"traceparent", "tracestate", "authorization", "dpop", "content-type"} {
		if allowed[name] != 1 {
			t.Errorf("Allow-Headers lists %q %d times, want once: %v", name, allowed[name], allowed)
		}
	}
	if got := preflight(connectauth.CORS(http.NotFoundHandler(), origin), origin).Header().Get("Access-Control-Allow-Headers"); strings.Contains(got, "traceparent") {
		t.Errorf("CORS allows traceparent unasked: %q", got)
	}
	for _, name := range []string{"*", "", "trace parent", "x-a\r\nx-b"} {
		if _, err := connectauth.NewCORS(http.NotFoundHandler(), connectauth.CORSConfig{Origins: []string{origin}, AllowedHeaders: []string{name}}); err == nil {
			t.Errorf("NewCORS allowed header %q", name)
		}
	}
}

// REST routes served by a transcoder (Vanguard) from the same handler use
// PUT, PATCH and DELETE, whose preflights the protocols' GET and POST do
// not cover; a page may also need to read a header the service adds.
func TestNewCORS_AllowsConfiguredMethodsAndExposedHeaders(t *testing.T) {
	const origin = "https://app.example.com"
	h, err := connectauth.NewCORS(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }),
		connectauth.CORSConfig{Origins: []string{origin}, AllowedMethods: []string{"PUT", "PATCH", "DELETE", "POST"}, ExposedHeaders: []string{"X-Request-Id", "grpc-status"}})
	if err != nil {
		t.Fatal(err)
	}
	count := func(list string) map[string]int {
		n := map[string]int{}
		for _, name := range strings.Split(list, ",") {
			n[strings.TrimSpace(name)]++
		}
		return n
	}
	methods := count(preflight(h, origin).Header().Get("Access-Control-Allow-Methods"))
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if methods[m] != 1 {
			t.Errorf("Allow-Methods lists %q %d times, want once: %v", m, methods[m], methods)
		}
	}
	req := httptest.NewRequest(http.MethodPut, "/v1/items/1", nil)
	req.Header.Set("Origin", origin)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	exposed := map[string]int{}
	for name, n := range count(rec.Header().Get("Access-Control-Expose-Headers")) {
		exposed[strings.ToLower(name)] += n
	}
	for _, name := range []string{"x-request-id", "grpc-status", "www-authenticate"} {
		if exposed[name] != 1 {
			t.Errorf("Expose-Headers lists %q %d times, want once: %v", name, exposed[name], exposed)
		}
	}
	if got := preflight(connectauth.CORS(http.NotFoundHandler(), origin), origin).Header().Get("Access-Control-Allow-Methods"); strings.Contains(got, "PUT") {
		t.Errorf("CORS allows PUT unasked: %q", got)
	}

	for _, cfg := range []connectauth.CORSConfig{
		{AllowedMethods: []string{"*"}},
		{AllowedMethods: []string{""}},
		{AllowedMethods: []string{"GET POST"}},
		{AllowedMethods: []string{"trace"}},
		{AllowedMethods: []string{"CONNECT"}},
		{ExposedHeaders: []string{"*"}},
		{ExposedHeaders: []string{"x-a\r\nx-b"}},
	} {
		cfg.Origins = []string{origin}
		if _, err := connectauth.NewCORS(http.NotFoundHandler(), cfg); err == nil {
			t.Errorf("NewCORS accepted %+v", cfg)
		}
	}
}

// A browser sends DELETE, GET, HEAD, OPTIONS, POST and PUT upper-cased
// whatever case the page wrote (Fetch, "normalize a method") and compares
// the preflight's Access-Control-Allow-Methods with the request's method
// byte for byte: a configured "delete" must be listed as DELETE, or a
// page's DELETE fails its preflight. Other methods are sent as written.
func TestNewCORS_ListsMethodsAsBrowsersNormalizeThem(t *testing.T) {
	const origin = "https://app.example.com"
	h, err := connectauth.NewCORS(http.NotFoundHandler(),
		connectauth.CORSConfig{Origins: []string{origin}, AllowedMethods: []string{"delete", "Put", "patch", "get"}})
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]int{}
	for _, m := range strings.Split(preflight(h, origin).Header().Get("Access-Control-Allow-Methods"), ",") {
		methods[strings.TrimSpace(m)]++
	}
	want := map[string]int{"GET": 1, "POST": 1, "DELETE": 1, "PUT": 1, "patch": 1}
	if !maps.Equal(methods, want) {
		t.Errorf("Allow-Methods %v, want %v", methods, want)
	}
}

// A refusal by a connect-go server with the Interceptor, behind CORS, is
// readable by a page of the allowed origin in each protocol a browser
// speaks: the response names the origin in Access-Control-Allow-Origin and
// exposes what carries the refusal (the WWW-Authenticate challenge of a
// Connect 401, the grpc-status and challenge headers of a gRPC-Web one),
// and never allows credentials. A page of another origin, or a request
// without one, gets no CORS headers, so the browser withholds the response
// from the page. Every response varies on Origin, so that a shared cache
// does not hand one origin's answer to another.
func TestCORS_ConnectRefusalIsReadableByTheAllowedOriginOnly(t *testing.T) {
	const allowed = "https://app.example.com"
	f := newFixture(t)
	srv := serveTLS(t, connectauth.CORS(connectMux(f), allowed))
	for _, tc := range []struct {
		name, procedure, contentType, body string
		status                             int
		exposed                            []string // response headers the refusal's page must read
	}{
		{"connect unary", "AllOf", "application/json", "{}", http.StatusUnauthorized, []string{"WWW-Authenticate"}},
		{"connect stream", "ServerStream", "application/connect+json", "\x00\x00\x00\x00\x02{}", http.StatusOK, nil}, // the refusal is in the body
		{"grpc-web", "AllOf", "application/grpc-web+proto", "\x00\x00\x00\x00\x00", http.StatusOK, []string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin", "WWW-Authenticate"}},
	} {
		for _, origin := range []string{allowed, "https://evil.example", "null", ""} {
			t.Run(tc.name+" from "+origin, func(t *testing.T) {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/authtest.v1.TestService/"+tc.procedure, strings.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", tc.contentType)
				if origin != "" {
					req.Header.Set("Origin", origin)
				}
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
				}
				if !slices.ContainsFunc(resp.Header.Values("Vary"), func(v string) bool { return strings.EqualFold(v, "Origin") }) {
					t.Errorf("Vary %q lacks Origin", resp.Header.Values("Vary"))
				}
				if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "" {
					t.Errorf("Access-Control-Allow-Credentials %q", got)
				}
				allowOrigin, expose := resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Expose-Headers")
				if origin != allowed {
					if allowOrigin != "" || expose != "" {
						t.Errorf("another origin got Allow-Origin %q, Expose-Headers %q", allowOrigin, expose)
					}
					return
				}
				if allowOrigin != allowed {
					t.Errorf("Allow-Origin %q, want %q", allowOrigin, allowed)
				}
				for _, name := range tc.exposed {
					if resp.Header.Get(name) == "" {
						t.Errorf("the refusal carries no %s", name)
					}
					if !slices.ContainsFunc(strings.Split(expose, ","), func(e string) bool { return strings.EqualFold(strings.TrimSpace(e), name) }) {
						t.Errorf("Expose-Headers %q lacks %s", expose, name)
					}
				}
			})
		}
	}
}
