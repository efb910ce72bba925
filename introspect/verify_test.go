package introspect_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/endpoint/echotest"
	"github.com/grpcauth/grpcauth/internal/endpoint/proxytest"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
	"net/http/cookiejar"
	"net/http/httputil"
)

// rsClient is this resource server's client at the test issuer. Its secret
// has characters that client_secret_basic must form-urlencode.
var rsClient = grpcauthtest.Client{ID: "resource server", Secret: "s3cr+t/=%"}

// acceptDPoP lists the DPoP token type next to the defaults.
func acceptDPoP(c *introspect.Config) { c.TokenTypes = append(introspect.DefaultTokenTypes(), "DPoP") }

// testJKT is a well-formed RFC 7638 thumbprint (RFC 9449, section 6.1's
// example).
const testJKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

// clock is a settable clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2032, 3, 4, 5, 6, 7, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a test issuer with an introspection endpoint and a Verifier for it.
// The issuer and the Verifier have separate clocks, advanced together by
// default.
type env struct {
	iss    *grpcauthtest.Issuer
	issClk *clock // the authorization server's
	clk    *clock // the resource server's
	cfg    introspect.Config
	v      *introspect.Verifier
	logs   *syncBuffer
}

func newEnv(t *testing.T, mutate func(*introspect.Config)) *env {
	t.Helper()
	e := &env{issClk: newClock(), clk: newClock(), logs: &syncBuffer{}}
	e.iss = grpcauthtest.NewIssuer(t, grpcauthtest.Config{Now: e.issClk.Now, Clients: []grpcauthtest.Client{rsClient}})
	e.cfg = introspect.Config{
		Endpoint:     e.iss.IntrospectionURL(),
		Issuer:       e.iss.URL(),
		ClientID:     rsClient.ID,
		ClientSecret: rsClient.Secret,
		Audiences:    []string{e.iss.Audience()},
		Now:          e.clk.Now,
		HTTPClient:   &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
		Logger:       slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(&e.cfg)
	}
	e.v = newVerifier(t, e.cfg)
	return e
}

func newVerifier(t *testing.T, cfg introspect.Config) *introspect.Verifier {
	t.Helper()
	v, err := introspect.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// advance moves both clocks.
func (e *env) advance(d time.Duration) {
	e.clk.Advance(d)
	e.issClk.Advance(d)
}

func (e *env) opaque(t *testing.T, claims map[string]any) string {
	t.Helper()
	tok, err := e.iss.MintOpaqueClaims(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) verify(t *testing.T, token string) (verifier.Claims, error) {
	t.Helper()
	return e.v.VerifyAccessToken(context.Background(), token)
}

func TestVerify_ActiveOpaqueTokenGivesItsClaims(t *testing.T) {
	e := newEnv(t, nil)
	tok, err := e.iss.MintOpaque("svc", "items:read", "items:write")
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.verify(t, tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject() != "svc" || c.ClientID() != "svc" || c.Issuer() != e.iss.URL() ||
		!c.HasScope("items:read") || !c.HasScope("items:write") || c.HasScope("items") ||
		!c.Expiry().Equal(e.issClk.Now().Add(time.Hour).Truncate(time.Second)) {
		t.Fatalf("claims: sub %q client %q iss %q scopes %v exp %v", c.Subject(), c.ClientID(), c.Issuer(), c.Scopes(), c.Expiry())
	}
	var tt string
	if err := c.Claim("token_type", &tt); err != nil || tt != "Bearer" {
		t.Fatalf("token_type %q, %v", tt, err)
	}
}

func TestVerify_Outcomes(t *testing.T) {
	type tokenFunc func(t *testing.T, e *env) string
	opaque := func(claims map[string]any) tokenFunc {
		return func(t *testing.T, e *env) string { return e.opaque(t, claims) }
	}
	raw := func(s string) tokenFunc { return func(*testing.T, *env) string { return s } }
	tests := []struct {
		name     string
		mutate   func(*introspect.Config)
		token    tokenFunc
		want     error // nil: verifies
		requests int64 // introspection requests made
	}{
		{name: "active", token: opaque(nil), requests: 1},
		{name: "active JWT", token: func(t *testing.T, e *env) string {
			tok, err := e.iss.Token("svc", "items:read")
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, requests: 1},
		{name: "revoked", token: func(t *testing.T, e *env) string {
			tok := e.opaque(t, nil)
			e.iss.Revoke(tok)
			return tok
		}, want: introspect.ErrInactive, requests: 1},
		{name: "never issued", token: raw("bm90LWlzc3VlZA"), want: introspect.ErrInactive, requests: 1},
		{name: "expired at the server", token: func(t *testing.T, e *env) string {
			tok := e.opaque(t, map[string]any{"exp": e.issClk.Now().Add(time.Second)})
			e.issClk.Advance(time.Second)
			return tok
		}, want: introspect.ErrInactive, requests: 1},
		{name: "another API's audience", token: opaque(map[string]any{"aud": "api://other"}), want: verifier.ErrAudience, requests: 1},
		{name: "one of several audiences", token: opaque(map[string]any{"aud": []string{"api://other", "api://default"}}), requests: 1},
		{name: "no audience", token: opaque(map[string]any{"aud": nil}), want: verifier.ErrAudience, requests: 1},
		{name: "no audience, check skipped", mutate: func(c *introspect.Config) { c.Audiences, c.SkipAudienceCheck = nil, true },
			token: opaque(map[string]any{"aud": nil}), requests: 1},
		{name: "another issuer", token: opaque(map[string]any{"iss": "https://other.example"}), want: verifier.ErrIssuer, requests: 1},
		{name: "no iss: the configured issuer is named", token: opaque(map[string]any{"iss": nil}), requests: 1},
		{name: "no exp", token: opaque(map[string]any{"exp": nil}), want: verifier.ErrClaims, requests: 1},
		{name: "no exp, requirement skipped", mutate: func(c *introspect.Config) { c.SkipExpiryRequirement = true },
			token: opaque(map[string]any{"exp": nil}), requests: 1},
		{name: "DPoP-bound", token: opaque(map[string]any{"token_type": "DPoP"}), want: verifier.ErrClaims, requests: 1},
		{name: "DPoP-bound, DPoP listed", mutate: acceptDPoP,
			token: opaque(map[string]any{"token_type": "DPoP", "cnf": map[string]any{"jkt": testJKT}}), requests: 1},
		{name: "DPoP listed, no cnf", mutate: acceptDPoP, token: opaque(map[string]any{"token_type": "DPoP"}), want: verifier.ErrClaims, requests: 1},
		{name: "DPoP listed, cnf without jkt", mutate: acceptDPoP,
			token: opaque(map[string]any{"token_type": "DPoP", "cnf": map[string]any{"x5t#S256": testJKT}}), want: verifier.ErrClaims, requests: 1},
		{name: "DPoP listed, empty jkt", mutate: acceptDPoP,
			token: opaque(map[string]any{"token_type": "DPoP", "cnf": map[string]any{"jkt": ""}}), want: verifier.ErrClaims, requests: 1},
		{name: "DPoP listed, jkt not a string", mutate: acceptDPoP,
			token: opaque(map[string]any{"token_type": "DPoP", "cnf": map[string]any{"jkt": 1}}), want: verifier.ErrClaims, requests: 1},
		{name: "DPoP listed, a Bearer token still verifies", mutate: acceptDPoP, token: opaque(map[string]any{"token_type": "Bearer"}), requests: 1},
		{name: "refresh token", token: opaque(map[string]any{"token_type": "refresh_token"}), want: verifier.ErrClaims, requests: 1},
		{name: "token_type in lower case", token: opaque(map[string]any{"token_type": "bearer"}), requests: 1},
		{name: "token_type access_token", token: opaque(map[string]any{"token_type": "access_token"}), requests: 1},
		{name: "token_type not a string", token: opaque(map[string]any{"token_type": 1}), want: verifier.ErrClaims, requests: 1},
		{name: "only the configured token types", mutate: func(c *introspect.Config) { c.TokenTypes = []string{"Bearer"} },
			token: opaque(map[string]any{"token_type": "access_token"}), want: verifier.ErrClaims, requests: 1},
		{name: "client not allowed", mutate: func(c *introspect.Config) { c.ClientIDs = []string{"other"} },
			token: opaque(nil), want: verifier.ErrClaims, requests: 1},
		{name: "client allowed", mutate: func(c *introspect.Config) { c.ClientIDs = []string{"other", grpcauthtest.DefaultClientID} },
			token: opaque(nil), requests: 1},
		{name: "not yet valid", token: func(t *testing.T, e *env) string {
			return e.opaque(t, map[string]any{"nbf": e.clk.Now().Add(time.Hour)})
		}, want: verifier.ErrNotYetValid, requests: 1},
		{name: "exp not a number (the server's fault)", token: opaque(map[string]any{"exp": "soon"}), want: introspect.ErrUnavailable, requests: 1},
		{name: "empty", token: raw(""), want: verifier.ErrMalformed},
		{name: "space", token: raw("abc def"), want: verifier.ErrMalformed},
		{name: "line break", token: raw("abc\ndef"), want: verifier.ErrMalformed},
		{name: "non-ASCII", token: raw("tökén"), want: verifier.ErrMalformed},
		{name: "larger than MaxTokenSize", token: raw(strings.Repeat("a", introspect.DefaultMaxTokenSize+1)), want: verifier.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.mutate)
			tok := tc.token(t, e)
			c, err := e.verify(t, tok)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("got %v, want claims", err)
			case tc.want == nil && c.Issuer() != e.iss.URL():
				t.Fatalf("issuer %q, want %q", c.Issuer(), e.iss.URL())
			case tc.want != nil && (!errors.Is(err, tc.want) || !c.IsZero()):
				t.Fatalf("got %v, %v; want %v", c, err, tc.want)
			}
			if got := e.iss.IntrospectionRequests(); got != tc.requests {
				t.Fatalf("%d introspection requests, want %d", got, tc.requests)
			}
			if tok != "" && strings.Contains(e.logs.String(), tok) {
				t.Fatal("the token appears in the log")
			}
		})
	}
}

func TestVerify_PastExpIsExpiredWhateverTheServerSays(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.opaque(t, nil) // exp = server's now + 1h
	e.clk.Advance(time.Hour + time.Minute)
	c, err := e.verify(t, tok) // the server, an hour behind, says active
	var expired *verifier.TokenExpiredError
	if !errors.Is(err, verifier.ErrExpired) || !errors.As(err, &expired) || !c.IsZero() {
		t.Fatalf("got %v, %v; want *verifier.TokenExpiredError", c, err)
	}
	if !expired.Expiry.Equal(e.issClk.Now().Add(time.Hour).Truncate(time.Second)) {
		t.Fatalf("Expiry %v", expired.Expiry)
	}
	// The verdict is remembered like an inactive token's, not asked again.
	if _, err := e.verify(t, tok); !errors.Is(err, verifier.ErrExpired) {
		t.Fatalf("second call: %v, want ErrExpired", err)
	}
	if got := e.iss.IntrospectionRequests(); got != 1 {
		t.Fatalf("%d introspection requests, want 1", got)
	}
}

func TestVerify_CacheHitMakesNoRequest(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.opaque(t, map[string]any{"scope": "items:read"})
	for i := range 3 {
		c, err := e.verify(t, tok)
		if err != nil || !c.HasScope("items:read") {
			t.Fatalf("call %d: %v, %v", i, c, err)
		}
	}
	if got := e.iss.IntrospectionRequests(); got != 1 {
		t.Fatalf("3 calls made %d requests, want 1", got)
	}
	// Another token is another entry.
	if _, err := e.verify(t, e.opaque(t, nil)); err != nil {
		t.Fatal(err)
	}
	if got := e.iss.IntrospectionRequests(); got != 2 {
		t.Fatalf("a second token: %d requests, want 2", got)
	}
}

func TestVerify_CacheEntryLivesUntilTTLOrExpPlusSkewWhicheverComesFirst(t *testing.T) {
	tests := []struct {
		name     string
		ttl      time.Duration
		skew     time.Duration // Config.ClockSkew
		lifetime time.Duration // the token's exp - now
		last     time.Duration // the last instant the entry is used
		again    error         // the outcome one second later
		requests int64         // the requests made by then
	}{
		{"TTL first", time.Minute, -1, time.Hour, time.Minute - time.Second, nil, 2},
		// An entry that ends with its token answers ErrExpired itself:
		// the server would only say "active": false.
		{"exp first", time.Hour, -1, 2 * time.Minute, 2*time.Minute - time.Second, verifier.ErrExpired, 1},
		{"exp plus skew first", time.Hour, 30 * time.Second, 2 * time.Minute, 2*time.Minute + 29*time.Second, verifier.ErrExpired, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *introspect.Config) {
				c.Cache.TTL = tc.ttl
				c.ClockSkew = tc.skew
			})
			tok := e.opaque(t, map[string]any{"exp": e.issClk.Now().Add(tc.lifetime)})
			if _, err := e.verify(t, tok); err != nil {
				t.Fatal(err)
			}
			e.advance(tc.last)
			if _, err := e.verify(t, tok); err != nil {
				t.Fatalf("at %v: %v", tc.last, err)
			}
			if got := e.iss.IntrospectionRequests(); got != 1 {
				t.Fatalf("at %v: %d requests, want 1 (a hit)", tc.last, got)
			}
			e.advance(time.Second)
			_, err := e.verify(t, tok)
			if got := e.iss.IntrospectionRequests(); got != tc.requests {
				t.Fatalf("after the entry's end: %d requests, want %d", got, tc.requests)
			}
			if !errors.Is(err, tc.again) || (tc.again == nil) != (err == nil) {
				t.Fatalf("after the entry's end: %v, want %v", err, tc.again)
			}
		})
	}
}

// An opaque token that expires while cached is ACCESS_TOKEN_EXPIRED, as a
// JWT is, for NegativeTTL; after that, or on a replica that never cached
// it, the server's bare "active": false makes it ErrInactive.
func TestVerify_ExpiredWhileCachedIsErrExpiredForNegativeTTL(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.opaque(t, map[string]any{"exp": e.issClk.Now().Add(30 * time.Second)})
	if _, err := e.verify(t, tok); err != nil {
		t.Fatal(err)
	}
	e.advance(30*time.Second + verifier.DefaultClockSkew)
	var expired *verifier.TokenExpiredError
	for i := range 2 {
		if _, err := e.verify(t, tok); !errors.As(err, &expired) {
			t.Fatalf("call %d past exp plus skew: %v, want *verifier.TokenExpiredError", i, err)
		}
	}
	if got := e.iss.IntrospectionRequests(); got != 1 {
		t.Fatalf("%d requests, want 1: the expiry is known without asking", got)
	}
	e.advance(introspect.DefaultNegativeCacheTTL)
	if _, err := e.verify(t, tok); !errors.Is(err, introspect.ErrInactive) {
		t.Fatalf("after NegativeTTL: %v, want ErrInactive (the server's verdict)", err)
	}
}

func TestVerify_RevocationShowsAfterTheTTL(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.opaque(t, nil)
	if _, err := e.verify(t, tok); err != nil {
		t.Fatal(err)
	}
	e.iss.Revoke(tok)
	if _, err := e.verify(t, tok); err != nil {
		t.Fatalf("within the TTL the cached result stands: %v", err)
	}
	e.advance(introspect.DefaultCacheTTL)
	if _, err := e.verify(t, tok); !errors.Is(err, introspect.ErrInactive) {
		t.Fatalf("after the TTL: %v, want ErrInactive", err)
	}
}

// A cached answer is used only from when it was stored on, by Config.Now:
// the service's clock set back past that (the token cached at 12:00:00,
// the clock stepped back to 11:59:30) does not stretch the answer's use by
// the step, and the token, revoked meanwhile, is asked about again. Before,
// with an injected clock as with time.Now's wall clock (which the caches
// now compare by, see TestCaches_DeadlinesAreWallClockTimes), the answer
// stood until the clock had caught up with its end again.
func TestVerify_ClockSetBackDoesNotStretchACachedAnswer(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.opaque(t, nil)
	if _, err := e.verify(t, tok); err != nil {
		t.Fatal(err)
	}
	e.iss.Revoke(tok)
	e.clk.Advance(-30 * time.Second) // the service's clock only, within ClockSkew of the iat
	if _, err := e.verify(t, tok); !errors.Is(err, introspect.ErrInactive) {
		t.Fatalf("after the clock was set back: %v, want ErrInactive (asked again)", err)
	}
	if got := e.iss.IntrospectionRequests(); got != 2 {
		t.Fatalf("%d requests, want 2", got)
	}
}

func TestVerify_InactiveResultsAreCachedBriefly(t *testing.T) {
	e := newEnv(t, nil)
	tok := "bm90LWlzc3VlZA"
	for range 3 {
		if _, err := e.verify(t, tok); !errors.Is(err, introspect.ErrInactive) {
			t.Fatalf("got %v, want ErrInactive", err)
		}
	}
	if got := e.iss.IntrospectionRequests(); got != 1 {
		t.Fatalf("%d requests, want 1", got)
	}
	e.advance(introspect.DefaultNegativeCacheTTL)
	if _, err := e.verify(t, tok); !errors.Is(err, introspect.ErrInactive) {
		t.Fatalf("got %v, want ErrInactive", err)
	}
	if got := e.iss.IntrospectionRequests(); got != 2 {
		t.Fatalf("after NegativeTTL: %d requests, want 2", got)
	}
}

// TestVerify_FloodOfInactiveTokensStaysWithinMaxNegativeEntries: distinct
// made-up tokens, each answered "active": false, are remembered at most
// Cache.MaxNegativeEntries at a time, and evict no positive entry, even
// from a positive cache of one entry: the good token cached before the
// flood is still answered without a request (docs/introspection.md,
// Cache.MaxNegativeEntries).
func TestVerify_FloodOfInactiveTokensStaysWithinMaxNegativeEntries(t *testing.T) {
	const maxNeg = 5
	e := newEnv(t, func(c *introspect.Config) {
		c.Cache.MaxEntries = 1
		c.Cache.MaxNegativeEntries = maxNeg
	})
	good := e.opaque(t, nil)
	if _, err := e.verify(t, good); err != nil {
		t.Fatal(err)
	}
	const flood = 4 * maxNeg
	for i := range flood {
		if _, err := e.verify(t, fmt.Sprintf("made-up-%d", i)); !errors.Is(err, introspect.ErrInactive) {
			t.Fatalf("made-up token %d: %v, want ErrInactive", i, err)
		}
		if st := e.v.Stats(); st.NegativeEntries > maxNeg || st.CacheEntries != 1 {
			t.Fatalf("after %d made-up tokens: %d negative and %d positive entries, want at most %d and 1",
				i+1, st.NegativeEntries, st.CacheEntries, maxNeg)
		}
	}
	if _, err := e.verify(t, good); err != nil {
		t.Fatalf("the good token after the flood: %v", err)
	}
	if got := e.iss.IntrospectionRequests(); got != 1+flood {
		t.Fatalf("%d requests, want %d: the good token's cached answer was evicted by the flood", got, 1+flood)
	}
}

// TestVerify_ScopeIsSplitOnSpacesOnly: an answer's scope string is split on
// U+0020 alone (RFC 6749, 3.3); an element holding a tab or another space
// character is no scope-token and matches nothing, so a scope string
// cannot grant a scope hidden behind one.
func TestVerify_ScopeIsSplitOnSpacesOnly(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.opaque(t, map[string]any{"scope": "items:read\titems:write  admin\u00a0x items:list\n"})
	c, err := e.verify(t, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Scopes(); len(got) != 0 {
		t.Fatalf("Scopes() = %q, want none: every element holds a character other than U+0020 that is no NQCHAR", got)
	}
	tok = e.opaque(t, map[string]any{"scope": "items:read\titems:write items:list"})
	if c, err = e.verify(t, tok); err != nil {
		t.Fatal(err)
	}
	if !c.HasScope("items:list") || c.HasScope("items:read") || c.HasScope("items:write") {
		t.Fatalf("Scopes() = %q, want only items:list", c.Scopes())
	}
}

func TestVerify_CacheDisabledIntrospectsEveryCall(t *testing.T) {
	e := newEnv(t, func(c *introspect.Config) { c.Cache.Disabled = true })
	tok := e.opaque(t, nil)
	for range 3 {
		if _, err := e.verify(t, tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.iss.IntrospectionRequests(); got != 3 {
		t.Fatalf("%d requests, want 3", got)
	}
}

func TestVerify_ClientAuthenticationMethods(t *testing.T) {
	for _, m := range []introspect.AuthMethod{introspect.ClientSecretBasic, introspect.ClientSecretPost} {
		t.Run(m.String(), func(t *testing.T) {
			rec := &recorder{base: &http.Transport{DisableKeepAlives: true}}
			e := newEnv(t, func(c *introspect.Config) {
				c.AuthMethod = m
				c.HTTPClient = &http.Client{Transport: rec}
			})
			tok := e.opaque(t, nil)
			if _, err := e.verify(t, tok); err != nil {
				t.Fatal(err)
			}
			r := rec.last()
			form, err := url.ParseQuery(r.body)
			if err != nil {
				t.Fatal(err)
			}
			if r.method != http.MethodPost || r.contentType != "application/x-www-form-urlencoded" ||
				form.Get("token") != tok || form.Get("token_type_hint") != "access_token" || r.query != "" {
				t.Fatalf("request %+v", r)
			}
			wantBasic := "Basic " + b64(url.QueryEscape(rsClient.ID)+":"+url.QueryEscape(rsClient.Secret))
			switch m {
			case introspect.ClientSecretBasic:
				if r.authorization != wantBasic || form.Has("client_secret") || form.Has("client_id") {
					t.Fatalf("basic: Authorization %q, form %v", r.authorization, form)
				}
			case introspect.ClientSecretPost:
				if r.authorization != "" || form.Get("client_id") != rsClient.ID || form.Get("client_secret") != rsClient.Secret {
					t.Fatalf("post: Authorization %q, form has client_id %q", r.authorization, form.Get("client_id"))
				}
			}
		})
	}
}

// TestVerify_BadClientCredentialsAreUnavailableNotTheCallersFault: refused
// client credentials fail the call with ErrUnavailable, logged as an error
// without the secret or the token, and are not cached: past the pause the
// refusal makes (Cache.NegativeTTL, at most a minute), the token is asked
// about again. NegativeTTL is an hour, so that a failure cached as a
// refusal would still be within its entry's lifetime a minute later.
func TestVerify_BadClientCredentialsAreUnavailableNotTheCallersFault(t *testing.T) {
	e := newEnv(t, func(c *introspect.Config) {
		c.ClientSecret = "wrong"
		c.Cache.NegativeTTL = time.Hour
	})
	tok := e.opaque(t, nil)
	for i := 1; i <= 2; i++ {
		_, err := e.verify(t, tok)
		if !errors.Is(err, introspect.ErrUnavailable) || !errors.Is(err, verifier.ErrKeysUnavailable) {
			t.Fatalf("got %v, want ErrUnavailable", err)
		}
		if got := e.iss.IntrospectionRequests(); got != int64(i) {
			t.Fatalf("call %d: %d requests; failures must not be cached", i, got)
		}
		if st := e.v.Stats(); st.NegativeEntries != 0 || st.CacheEntries != 0 {
			t.Fatalf("call %d: %d negative and %d positive entries; failures must not be cached", i, st.NegativeEntries, st.CacheEntries)
		}
		e.advance(time.Minute) // past the pause the refusal makes, at most a minute
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "client credentials") {
		t.Fatalf("refused credentials not logged as an error:\n%s", logs)
	}
	if strings.Contains(logs, "wrong") || strings.Contains(logs, tok) {
		t.Fatalf("the secret or the token appears in the log:\n%s", logs)
	}
}

func TestVerify_EndpointDownIsUnavailable(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.opaque(t, nil)
	e.iss.Close()
	_, err := e.verify(t, tok)
	if !errors.Is(err, introspect.ErrUnavailable) || !errors.Is(err, verifier.ErrKeysUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

func TestVerify_BadAnswersAreUnavailableAndNotCached(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: []grpcauthtest.Client{rsClient}})
	active := `{"active":true,"exp":99999999999,"aud":"` + iss.Audience() + `","iss":"` + iss.URL() + `"}`
	bomb := gzipBomb()
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"500", answer(http.StatusInternalServerError, "{}")},
		{"503", answer(http.StatusServiceUnavailable, "")},
		{"429", answer(http.StatusTooManyRequests, "")},
		{"400", answer(http.StatusBadRequest, `{"error":"invalid_request"}`)},
		{"redirect to the real endpoint", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, iss.IntrospectionURL(), http.StatusTemporaryRedirect)
		}},
		{"not JSON", answer(http.StatusOK, "<html>")},
		{"HTML content type", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, active)
		}},
		{"active missing", answer(http.StatusOK, `{"scope":"a"}`)},
		{"active a string", answer(http.StatusOK, `{"active":"true"}`)},
		{"trailing garbage", answer(http.StatusOK, active+"x")},
		{"aud of the wrong type", answer(http.StatusOK, `{"active":true,"exp":99999999999,"aud":1}`)},
		{"active a number", answer(http.StatusOK, `{"active":1}`)},
		{"active null", answer(http.StatusOK, `{"active":null}`)},
		{"exp a boolean", answer(http.StatusOK, strings.Replace(active, `"exp":99999999999`, `"exp":true`, 1))},
		{"exp negative", answer(http.StatusOK, strings.Replace(active, `"exp":99999999999`, `"exp":-1`, 1))},
		{"exp past year 9999", answer(http.StatusOK, strings.Replace(active, `"exp":99999999999`, `"exp":1e300`, 1))},
		{"iat a string", answer(http.StatusOK, strings.Replace(active, `{"active":true,`, `{"active":true,"iat":"1700000000",`, 1))},
		{"nbf an object", answer(http.StatusOK, strings.Replace(active, `{"active":true,`, `{"active":true,"nbf":{},`, 1))},
		{"scope a number", answer(http.StatusOK, strings.Replace(active, `{"active":true,`, `{"active":true,"scope":7,`, 1))},
		{"aud an array of 65", answer(http.StatusOK, strings.Replace(active, `"aud":"`+iss.Audience()+`"`,
			`"aud":["`+strings.Repeat(`a","`, 64)+iss.Audience()+`"]`, 1))},
		{"larger than MaxResponseSize", answer(http.StatusOK, `{"active":true,"x":"`+strings.Repeat("a", 70<<10)+`"}`)},
		{"hangs past Timeout", hang},
		{"body stalls past Timeout", stall(active)},
		{"a 503's body stalls past Timeout", stallStatus(http.StatusServiceUnavailable, "text/plain", "try again later")},
		{"a 401's body stalls past Timeout", stallStatus(http.StatusUnauthorized, "application/json", `{"error":"invalid_client"}`)},
		{"an HTML 200's body stalls past Timeout", stallStatus(http.StatusOK, "text/html", "<html>")},
		{"headers larger than 64 KiB", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Pad", strings.Repeat("a", 1<<20))
			answer(http.StatusOK, active)(w, r)
		}},
		{"gzip inflating past MaxResponseSize", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			answer(http.StatusOK, bomb)(w, r)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int64
			// The handler may run after the call gave up (Timeout, on a
			// loaded machine): wait for each request rather than count
			// them as the call returns.
			requested := make(chan struct{}, 3)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				requested <- struct{}{}
				tc.handler(w, r)
			}))
			defer srv.Close()
			clk := newClock()
			v := newVerifier(t, introspect.Config{
				Endpoint: srv.URL, Issuer: iss.URL(), ClientID: rsClient.ID, ClientSecret: rsClient.Secret,
				Audiences: []string{iss.Audience()}, Timeout: 200 * time.Millisecond,
				Logger: slog.New(slog.DiscardHandler), Now: clk.Now,
			})
			for i := int64(1); i <= 2; i++ {
				if i == 2 {
					// Past the second a 429 or 503 without a Retry-After
					// backs off for, well within NegativeTTL (10 s): a
					// failure cached would still answer.
					clk.Advance(time.Second)
				}
				c, err := v.VerifyAccessToken(context.Background(), "dG9rZW4")
				if !errors.Is(err, introspect.ErrUnavailable) || !c.IsZero() {
					t.Fatalf("call %d: %v, %v; want ErrUnavailable", i, c, err)
				}
				select {
				case <-requested:
				case <-time.After(10 * time.Second):
					t.Fatalf("call %d made no request; failures must not be cached", i)
				}
			}
			if n := hits.Load(); n != 2 {
				t.Fatalf("%d requests for 2 calls", n)
			}
			if iss.IntrospectionRequests() != 0 {
				t.Fatal("a redirect was followed")
			}
			if st := v.Stats(); st.Requests != 2 || st.Failures != 2 || st.CacheMisses != 2 || st.NegativeEntries != 0 {
				t.Fatalf("Stats = %+v, want 2 requests, 2 failures, 2 misses, nothing cached", st)
			}
		})
	}
}

// gzipBomb returns a gzip stream of about 8 KiB that inflates to a JSON
// object of 8 MiB.
func gzipBomb() string {
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	_, _ = io.WriteString(z, `{"active":true,"x":"`+strings.Repeat("a", 8<<20)+`"}`)
	_ = z.Close()
	return b.String()
}

// hang reads the request, then answers only when the client has gone. (The
// server notices a closed connection only once the body has been read.)
func hang(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

// stall sends the headers of a 200 answer of body and half of it, then
// hangs until the client has gone.
func stall(body string) http.HandlerFunc {
	return stallStatus(http.StatusOK, "application/json", body)
}

// stallStatus is stall for an answer of status and contentType.
func stallStatus(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body[:len(body)/2])
		w.(http.Flusher).Flush()
		hang(w, r)
	}
}

// TestVerify_TimeoutBoundsAStalledBodyWithAGivenClient: Config.Timeout
// bounds the whole request, reading the body included, also with an
// HTTPClient of the caller's that has no timeout of its own: an endpoint
// (or a proxy) that sends the start of an answer and stalls holds neither
// the caller nor a MaxConcurrent slot past it, and the call fails with
// ErrUnavailable, uncached.
func TestVerify_TimeoutBoundsAStalledBodyWithAGivenClient(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: []grpcauthtest.Client{rsClient}})
	active := `{"active":true,"exp":99999999999,"aud":"` + iss.Audience() + `","iss":"` + iss.URL() + `"}`
	srv := httptest.NewServer(stall(active))
	defer srv.Close()
	v := newVerifier(t, introspect.Config{
		Endpoint: srv.URL, Issuer: iss.URL(), ClientID: rsClient.ID, ClientSecret: rsClient.Secret,
		Audiences: []string{iss.Audience()}, Timeout: 200 * time.Millisecond,
		HTTPClient: &http.Client{}, Logger: slog.New(slog.DiscardHandler),
	})
	for i := 1; i <= 2; i++ {
		if _, err := v.VerifyAccessToken(context.Background(), "dG9rZW4"); !errors.Is(err, introspect.ErrUnavailable) {
			t.Fatalf("call %d: %v, want ErrUnavailable", i, err)
		}
	}
	if st := v.Stats(); st.Requests != 2 || st.Failures != 2 || st.InFlight != 0 {
		t.Fatalf("Stats = %+v, want 2 requests, 2 failures, none in flight", st)
	}
}

func answer(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

func TestVerify_CallerDeadlineEndsTheWait(t *testing.T) {
	entered := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		hang(w, r)
	}))
	defer srv.Close()
	v := newVerifier(t, introspect.Config{Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "c",
		ClientSecret: "s", Audiences: []string{"a"}, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := v.VerifyAccessToken(ctx, "dG9rZW4")
		done <- err
	}()
	<-entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || errors.Is(err, verifier.ErrKeysUnavailable) {
		t.Fatalf("got %v, want the caller's context.Canceled", err)
	}
}

func TestNew_RejectsBadConfigs(t *testing.T) {
	good := introspect.Config{Endpoint: "https://example.okta.com/oauth2/v1/introspect", Issuer: "https://example.okta.com",
		ClientID: "c", ClientSecret: "s", Audiences: []string{"api"}}
	tests := []struct {
		name   string
		mutate func(*introspect.Config)
		want   string
	}{
		{"no endpoint", func(c *introspect.Config) { c.Endpoint = "" }, "Endpoint"},
		{"plain http off loopback", func(c *introspect.Config) { c.Endpoint = "http://example.okta.com/introspect" }, "loopback"},
		{"userinfo in the endpoint", func(c *introspect.Config) { c.Endpoint = "https://u:p@example.okta.com/introspect" }, "userinfo"},
		{"another scheme", func(c *introspect.Config) { c.Endpoint = "ftp://example.okta.com/introspect" }, "https"},
		{"no issuer", func(c *introspect.Config) { c.Issuer = "" }, "Issuer"},
		{"no client id", func(c *introspect.Config) { c.ClientID = "" }, "ClientID"},
		{"no secret", func(c *introspect.Config) { c.ClientSecret = "" }, "ClientSecret"},
		{"unknown auth method", func(c *introspect.Config) { c.AuthMethod = 7 }, "AuthMethod"},
		{"no audiences", func(c *introspect.Config) { c.Audiences = nil }, "Audiences"},
		{"empty audience", func(c *introspect.Config) { c.Audiences = []string{""} }, "Audiences"},
		{"empty token type", func(c *introspect.Config) { c.TokenTypes = []string{""} }, "TokenTypes"},
		{"negative timeout", func(c *introspect.Config) { c.Timeout = -1 }, "Timeout"},
		{"negative concurrency", func(c *introspect.Config) { c.MaxConcurrent = -1 }, "MaxConcurrent"},
		{"negative TTL", func(c *introspect.Config) { c.Cache.TTL = -1 }, "Cache.TTL"},
		{"negative cache bytes", func(c *introspect.Config) { c.Cache.MaxBytes = -1 }, "Cache.MaxBytes"},
		{"zero Logger", func(c *introspect.Config) { c.Logger = &slog.Logger{} }, "Logger has no handler"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.mutate(&cfg)
			v, err := introspect.New(cfg)
			if err == nil || v != nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "introspect: invalid config") {
				t.Fatalf("got %v, %v; want an error naming %s", v, err, tc.want)
			}
		})
	}
	for _, ok := range []string{"https://example.okta.com/x", "http://127.0.0.1:8080/x", "http://[::1]/x", "http://localhost/x"} {
		cfg := good
		cfg.Endpoint = ok
		v, err := introspect.New(cfg)
		if err != nil {
			t.Fatalf("%s: %v", ok, err)
		}
		v.Close()
	}
}

// An Endpoint that does not parse is refused with an error that does not
// repeat it: its userinfo or query may hold a secret, and New's error is
// usually logged. (url.Parse's own error quotes the whole string, and,
// when a "?", "#" or "/" in the password ends the authority early, the
// password's start as an invalid port.)
func TestNew_UnparsableEndpointIsNotRepeatedInTheError(t *testing.T) {
	for _, endpoint := range []string{
		"https://rs:hunter2@example.okta.com/oauth2/v1/intro%zzspect?key=hunter2",
		"https://rs:hunter2?x@example.okta.com/oauth2/v1/introspect",
		"https://rs:hunter2#x@example.okta.com/oauth2/v1/introspect",
		"https://rs:hunter2/x@example.okta.com/oauth2/v1/introspect",
	} {
		_, err := introspect.New(introspect.Config{
			Endpoint: endpoint,
			Issuer:   "https://example.okta.com", ClientID: "c", ClientSecret: "s", Audiences: []string{"api"},
		})
		if err == nil || !strings.Contains(err.Error(), "Endpoint: invalid URL") || strings.Contains(err.Error(), "hunter") {
			t.Errorf("New(%q) = %v, want an invalid-URL error without the URL's secrets", endpoint, err)
		}
	}
}

// An Issuer that may hold a password (userinfo, or an "@" after its host
// where the rest of a password holding "/", "?" or "#" lands, or so broken
// by one that it does not parse) is refused by New, with an error naming
// the field and quoting nothing of the URL: the Verifier, its Stats and
// metric labels would show it as it is. An Issuer that is never requested
// need not be https.
func TestNew_IssuerWithAPasswordIsRefusedWithoutQuotingIt(t *testing.T) {
	cfg := introspect.Config{Endpoint: "https://example.okta.com/oauth2/v1/introspect",
		ClientID: "c", ClientSecret: "s", Audiences: []string{"api"}}
	for _, issuer := range []string{
		"https://rs:hunter2@example.okta.com",
		"https://rs@example.okta.com",
		"https://rs:hunter2/x@example.okta.com",
		"https://rs:hunter2?x@example.okta.com",
		"https://rs:hunter2#x@example.okta.com",
		"https:rs:hunter2@example.okta.com",
		"https://rs:hun%zzter2@example.okta.com",
		"HTTPS://rs:hunter2@example.okta.com",
		"https://rs%40x:hunter2@example.okta.com",
		"https://rs:hunter2@[2001:db8::1]:8443/oauth2/default",
		"https://rs:hunter2\\x@example.okta.com",
		"https://example.okta.com/oauth2/default?rs:hunter2@x",
		"urn:rs:hunter2@example.okta.com",
	} {
		cfg.Issuer = issuer
		v, err := introspect.New(cfg)
		if err == nil || v != nil || !strings.HasPrefix(err.Error(), "introspect: invalid config: Issuer: ") ||
			strings.Contains(err.Error(), "hun") || strings.Contains(err.Error(), "example.okta.com") {
			t.Errorf("New with Issuer %q = %v, %v; want an Issuer error quoting nothing of it", issuer, v, err)
		}
	}
	for _, issuer := range []string{"https://example.okta.com", "https://example.okta.com/oauth2/default", "https://[2001:db8::1]:8443/oauth2/default", "https://example.okta.com/oauth2/a%40b", "http://issuer.example", "urn:example:issuer"} {
		cfg.Issuer = issuer
		v, err := introspect.New(cfg)
		if err != nil {
			t.Fatalf("New with Issuer %q: %v, want it accepted", issuer, err)
		}
		if got := v.Stats().Issuer; got != issuer {
			t.Errorf("Stats().Issuer = %q, want %q", got, issuer)
		}
		v.Close()
	}
}

// TestNew_IssuerWithAQueryOrFragmentIsRefused: an Issuer with a query or
// a fragment, which an issuer identifier never has (RFC 8414, section 2),
// is refused by New, as verifier.New refuses it, with an error naming the
// field and quoting nothing of it. Before, it was accepted, and Stats.Issuer,
// the "issuer" label of every otelmetrics figure, showed its query (a
// tenant's key, say) as it was.
func TestNew_IssuerWithAQueryOrFragmentIsRefused(t *testing.T) {
	cfg := introspect.Config{Endpoint: "https://example.okta.com/oauth2/v1/introspect",
		ClientID: "c", ClientSecret: "s", Audiences: []string{"api"}}
	for _, issuer := range []string{
		"https://as.example/oauth2?tenant=t0psecret",
		"https://as.example/oauth2#t0psecret",
		"https://as.example/oauth2?tenant=t0psecret#t0psecret",
		"https://as.example/oauth2?",
		"https://as.example/oauth2#",
		"urn:as:t0psecret?x",
	} {
		cfg.Issuer = issuer
		v, err := introspect.New(cfg)
		if err == nil || v != nil || err.Error() != "introspect: invalid config: Issuer: an issuer identifier has no query or fragment" {
			t.Errorf("New with Issuer %q = %v, %v; want an Issuer error quoting nothing of it", issuer, v, err)
		}
	}
}

func TestVerify_CloseEndsEveryGoroutine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	iss, err := grpcauthtest.Start(grpcauthtest.Config{Clients: []grpcauthtest.Client{rsClient}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := introspect.New(introspect.Config{Endpoint: iss.IntrospectionURL(), Issuer: iss.URL(),
		ClientID: rsClient.ID, ClientSecret: rsClient.Secret, Audiences: []string{iss.Audience()}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		tok, err := iss.MintOpaque("svc")
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if _, err := v.VerifyAccessToken(context.Background(), tok); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	v.Close()
	v.Close()
	iss.Close()
	goleak.VerifyNone(t, ignore)
}

// request is what recorder saw of one request.
type request struct {
	method, query, contentType, authorization, body string
}

// recorder records requests and passes them on.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []request
}

func (rec *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, request{r.Method, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(body)})
	rec.mu.Unlock()
	return rec.base.RoundTrip(r)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func (rec *recorder) last() request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.reqs[len(rec.reqs)-1]
}

// afterAnswer is an http.RoundTripper that runs after, when set, once the
// server has answered and before the answer reaches the Verifier.
type afterAnswer struct {
	base  http.RoundTripper
	after atomic.Pointer[func()]
}

func (a *afterAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := a.base.RoundTrip(r)
	if f := a.after.Load(); err == nil && f != nil {
		(*f)()
	}
	return resp, err
}

// A token revoked right after the server answered "active", with the
// answer then taking 4 s to arrive, works for at most Cache.TTL after the
// revocation: the cached answer's lifetime counts from the request, not
// from its arrival.
func TestVerify_SlowAnswerDoesNotStretchTheRevocationWindow(t *testing.T) {
	rt := &afterAnswer{base: &http.Transport{DisableKeepAlives: true}}
	e := newEnv(t, func(c *introspect.Config) { c.HTTPClient = &http.Client{Transport: rt} })
	tok := e.opaque(t, nil)
	slow := func() {
		e.iss.Revoke(tok)
		e.advance(4 * time.Second)
	}
	rt.after.Store(&slow)
	if _, err := e.verify(t, tok); err != nil {
		t.Fatal(err)
	}
	rt.after.Store(nil)
	e.advance(introspect.DefaultCacheTTL - 4*time.Second) // TTL after the request, 56 s after the revocation
	if _, err := e.verify(t, tok); !errors.Is(err, introspect.ErrInactive) {
		t.Fatalf("revoked token at the TTL after its request: %v, want ErrInactive (asked again)", err)
	}
}

// A redirected introspection request carries the token and the client's
// credentials (the form, and on the same host the Basic header) to the
// Location: a client passed as Config.HTTPClient follows none either.
func TestVerify_GivenHTTPClientFollowsNoRedirect(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: []grpcauthtest.Client{rsClient}})
	tok, err := iss.MintOpaque("svc")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, iss.IntrospectionURL(), http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	v := newVerifier(t, introspect.Config{
		Endpoint: srv.URL, Issuer: iss.URL(), ClientID: rsClient.ID, ClientSecret: rsClient.Secret,
		Audiences: []string{iss.Audience()}, HTTPClient: client, Logger: slog.New(slog.DiscardHandler),
	})
	if _, err := v.VerifyAccessToken(context.Background(), tok); !errors.Is(err, introspect.ErrUnavailable) {
		t.Errorf("got %v, want ErrUnavailable", err)
	}
	if n := iss.IntrospectionRequests(); n != 0 {
		t.Errorf("the redirect was followed: %d requests reached its target", n)
	}
	if client.CheckRedirect != nil {
		t.Error("New changed the caller's http.Client")
	}
}

// A client passed as Config.HTTPClient keeps no cookies: an endpoint that
// sets one never gets it back, as the key set's fetches never send one.
func TestVerify_GivenHTTPClientSendsNoCookies(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: []grpcauthtest.Client{rsClient}})
	target, err := url.Parse(iss.IntrospectionURL())
	if err != nil {
		t.Fatal(err)
	}
	cookies := make(chan string, 4)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.URL.Path, pr.Out.Host = target.Scheme, target.Host, target.Path, target.Host
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cookies <- r.Header.Get("Cookie")
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "tracked"})
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar}
	v := newVerifier(t, introspect.Config{
		Endpoint: srv.URL, Issuer: iss.URL(), ClientID: rsClient.ID, ClientSecret: rsClient.Secret,
		Audiences: []string{iss.Audience()}, HTTPClient: client, Logger: slog.New(slog.DiscardHandler),
	})
	for range 2 {
		tok, err := iss.MintOpaque("svc")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.VerifyAccessToken(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		if c := <-cookies; c != "" {
			t.Fatalf("the introspection request carried Cookie: %q", c)
		}
	}
	if client.Jar == nil {
		t.Error("New changed the caller's http.Client")
	}
}

// TestVerify_AnEndpointOnLOCALHOSTIsNotSentThroughAGivenClientsProxy: an
// Endpoint naming localhost in another case (plain http, which New accepts
// as loopback) is requested directly by a given client whose transport
// uses the environment's proxy, as http.DefaultTransport does
// (proxytest). Before, only the name in lower case went direct, and the
// token and the client's credentials went to the proxy in clear text.
func TestVerify_AnEndpointOnLOCALHOSTIsNotSentThroughAGivenClientsProxy(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: []grpcauthtest.Client{rsClient}})
	tok, err := iss.MintOpaque("svc")
	if err != nil {
		t.Fatal(err)
	}
	proxy := proxytest.New(t)
	client := &http.Client{Transport: proxy.Transport()}
	for _, host := range []string{"LOCALHOST", "LocalHost"} {
		ep := strings.Replace(iss.IntrospectionURL(), "127.0.0.1", host, 1)
		if ep == iss.IntrospectionURL() {
			t.Fatalf("the issuer's endpoint %q is not on 127.0.0.1", ep)
		}
		v := newVerifier(t, introspect.Config{
			Endpoint: ep, Issuer: iss.URL(), ClientID: rsClient.ID, ClientSecret: rsClient.Secret,
			Audiences: []string{iss.Audience()}, HTTPClient: client, Logger: slog.New(slog.DiscardHandler),
		})
		if _, err := v.VerifyAccessToken(context.Background(), tok); err != nil {
			t.Errorf("%s: %v, want the token accepted by the endpoint", host, err)
		}
		if u, ok := proxy.Proxied(); ok {
			t.Errorf("%s: the request went to the proxy, for %s", host, u)
		}
	}
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// failingReader is a body whose every Read fails with err.
type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// A failed request's error may quote what the server sent at length
// (net/http quotes a malformed header line whole, up to the client's
// header limit: 10 MiB for a caller's client by default), and it reaches
// the log and every refused call's error, hence its decision log: both
// stay bounded.
func TestVerify_RequestErrorsAreClippedInLogsAndErrors(t *testing.T) {
	long := errors.New("malformed MIME header line: " + strings.Repeat("a", 64<<10))
	tests := []struct {
		name string
		rt   roundTripFunc
	}{
		{"request fails", func(*http.Request) (*http.Response, error) { return nil, long }},
		{"body fails", func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(failingReader{long}), Request: r}, nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			v := newVerifier(t, introspect.Config{
				Endpoint: "https://as.example/introspect", Issuer: "https://as.example", ClientID: "rs", ClientSecret: "s",
				Audiences: []string{"a"}, HTTPClient: &http.Client{Transport: tc.rt},
				Logger: slog.New(slog.NewTextHandler(logs, nil)),
			})
			_, err := v.VerifyAccessToken(context.Background(), "dG9rZW4")
			if !errors.Is(err, introspect.ErrUnavailable) || !strings.Contains(err.Error(), "aaaa") {
				t.Fatalf("got %.200v, want ErrUnavailable with the failure's text", err)
			}
			if len(err.Error()) > 2048 {
				t.Errorf("error is %d bytes, want at most 2 KiB", len(err.Error()))
			}
			for _, line := range strings.Split(logs.String(), "\n") {
				if len(line) > 2048 {
					t.Errorf("a log line is %d bytes, want at most 2 KiB: %.200s…", len(line), line)
				}
			}
		})
	}
}

// TestVerify_AnswerWithoutIssIsReadAsSent checks that naming the
// configured issuer in an answer without iss changes nothing else: the
// other members are read as sent, as they are when the answer has iss. A
// long sub with "&", "<" and ">" verifies either way; HTML-escaping them
// (\u0026) would make it an escaped string longer than the 1 KiB the
// parser allows for those.
func TestVerify_AnswerWithoutIssIsReadAsSent(t *testing.T) {
	const issuer = "https://issuer.example"
	sub := strings.Repeat("a&<b>", 300)
	for _, tc := range []struct{ name, iss string }{
		{"iss", `"iss":"` + issuer + `",`},
		{"no iss", ""},
		{"null iss", `"iss":null,`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(answer(http.StatusOK, `{"active":true,`+tc.iss+`"exp":99999999999,"aud":"api://x","sub":"`+sub+`"}`))
			defer srv.Close()
			v := newVerifier(t, introspect.Config{
				Endpoint: srv.URL, Issuer: issuer, ClientID: "rs", ClientSecret: "secret",
				Audiences: []string{"api://x"}, Logger: slog.New(slog.DiscardHandler),
			})
			c, err := v.VerifyAccessToken(context.Background(), "dG9rZW4")
			if err != nil {
				t.Fatalf("got %v, want claims", err)
			}
			if c.Subject() != sub || c.Issuer() != issuer {
				t.Fatalf("sub %.20q…, iss %q", c.Subject(), c.Issuer())
			}
		})
	}
}

// A caller that changes the fields of the error it was given (errors.As
// hands out the pointer; an OnDecision hook could) changes no other
// caller's error: not the next negative-cache answer for the same token,
// nor the next refusal of another token for the same reason, nor a
// cached expiry.
func TestVerify_ChangingARefusalsErrorChangesNoOtherCallers(t *testing.T) {
	e := newEnv(t, func(c *introspect.Config) { c.ClientIDs = []string{"other"} })
	tok := e.opaque(t, nil)
	for round := range 3 { // a request, then negative-cache answers
		_, err := e.verify(t, tok)
		var ce *verifier.ClaimError
		if !errors.As(err, &ce) || ce.Claim != "client_id" || ce.Reason != "client not allowed" {
			t.Fatalf("round %d: %v, want the client_id refusal unchanged", round, err)
		}
		ce.Claim, ce.Reason = "changed", "changed"
	}
	if _, err := e.verify(t, e.opaque(t, map[string]any{"jti": "another"})); err == nil || strings.Contains(err.Error(), "changed") {
		t.Fatalf("another token's refusal = %v, want the client_id refusal unchanged", err)
	}

	e = newEnv(t, nil)
	tok = e.opaque(t, nil)
	if _, err := e.verify(t, tok); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Hour + time.Minute) // the positive entry ended with the token
	want := e.issClk.Now().Add(time.Hour).Truncate(time.Second)
	for round := range 3 { // the ended entry, then negative-cache answers
		_, err := e.verify(t, tok)
		var expired *verifier.TokenExpiredError
		if !errors.As(err, &expired) || !expired.Expiry.Equal(want) {
			t.Fatalf("round %d: %v, want expired at %v", round, err, want)
		}
		expired.Expiry = time.Time{}
	}
}

// Neither the token nor the client secret reaches the log or the error of
// a refusal, whatever the endpoint answers: even an endpoint that echoes
// the request, in the body of an error, of a redirect's Location, as the
// value of claims of the wrong type (which the error does describe), or
// into a status or header line net/http cannot parse, which its error
// quotes (before, that quote reached the log and the error whole, but
// clipped to 1 KiB).
func TestVerify_TokenAndClientSecretNeverReachLogsOrErrors(t *testing.T) {
	// "+", "/" and "=" are form-encoded in the request: both forms are
	// looked for (each holds its marker).
	const token, secret = "TOKENmarker01+/23456789==", "SECRETmarker98+/76543210="
	echo := func(r *http.Request) string {
		b, _ := io.ReadAll(r.Body)
		return string(b) + " " + r.Header.Get("Authorization")
	}
	answers := map[string]http.HandlerFunc{
		"refused credentials": func(w http.ResponseWriter, r *http.Request) { http.Error(w, echo(r), http.StatusUnauthorized) },
		"server error":        func(w http.ResponseWriter, r *http.Request) { http.Error(w, echo(r), http.StatusInternalServerError) },
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere?"+echo(r), http.StatusFound)
		},
		"not JSON": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, echo(r))
		},
		"claims of the wrong type": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			v := strconv.Quote(echo(r))
			_, _ = io.WriteString(w, `{"active":true,"iss":`+v+`,"aud":[1,`+v+`],"exp":`+v+`,"scope":[`+v+`],"client_id":{"x":`+v+`}}`)
		},
		"another issuer": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"active":true,"iss":`+strconv.Quote(echo(r))+`,"exp":99999999999}`)
		},
		// net/http quotes a status or header line it cannot parse in its
		// error: an endpoint or a proxy echoing the request into one.
		"echoed into the status line": func(w http.ResponseWriter, r *http.Request) {
			echotest.RawAnswer(w, "HTTP/1.1 "+echo(r)+"\r\n\r\n")
		},
		"echoed into a header line": func(w http.ResponseWriter, r *http.Request) {
			echotest.RawAnswer(w, "HTTP/1.1 200 OK\r\n"+echo(r)+"\r\nContent-Length: 0\r\n\r\n")
		},
	}
	for name, h := range answers {
		for _, method := range []introspect.AuthMethod{introspect.ClientSecretBasic, introspect.ClientSecretPost} {
			t.Run(fmt.Sprint(name, "/", method), func(t *testing.T) {
				srv := httptest.NewServer(h)
				defer srv.Close()
				logs := &syncBuffer{}
				v := newVerifier(t, introspect.Config{Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs",
					ClientSecret: secret, AuthMethod: method, Audiences: []string{"a"},
					Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
				_, err := v.VerifyAccessToken(context.Background(), token)
				if err == nil {
					t.Fatal("accepted")
				}
				basic := base64.StdEncoding.EncodeToString([]byte("rs:" + secret))
				for _, out := range []string{err.Error(), logs.String()} {
					for _, s := range []string{"TOKENmarker", "SECRETmarker", basic[:12]} {
						if strings.Contains(out, s) {
							t.Errorf("%q reached the error or the log: %s", s, out)
						}
					}
				}
			})
		}
	}
}

// An answer whose cid, client_id and azp name different clients names no
// client (verifier.Claims.ClientID), so ClientIDs refuses it, saying why,
// even when one of them is allowed; when they agree it is accepted.
func TestVerify_ClientClaimsThatDisagreeAreRefusedAsSuch(t *testing.T) {
	e := newEnv(t, func(c *introspect.Config) { c.ClientIDs = []string{grpcauthtest.DefaultClientID} })
	_, err := e.verify(t, e.opaque(t, map[string]any{"azp": "another-client"}))
	var ce *verifier.ClaimError
	if !errors.As(err, &ce) || ce.Claim != "client_id" || ce.Reason != "cid, client_id and azp name different clients" {
		t.Fatalf("client_id %q, azp %q: %v, want the refusal for clients that differ", grpcauthtest.DefaultClientID, "another-client", err)
	}
	c, err := e.verify(t, e.opaque(t, map[string]any{"jti": "agreeing", "azp": grpcauthtest.DefaultClientID}))
	if err != nil || c.ClientID() != grpcauthtest.DefaultClientID {
		t.Fatalf("client_id and azp agreeing: %q, %v, want %q accepted", c.ClientID(), err, grpcauthtest.DefaultClientID)
	}
}

// A client secret too short to cut out where it stands (under
// endpoint.MinSecret bytes), which a server echoes into a line net/http
// quotes, withholds the failure's text from the error and the log, with
// either AuthMethod, rather than take each of its bytes out of the rest
// (as before: every "k9" of the text, the secret's length and places
// told). The echo holds the secret as the form carries it and as a
// server decoding the Basic credentials would show it.
func TestVerify_ShortClientSecretWithholdsTheFailuresText(t *testing.T) {
	const secret = "k9"
	for _, method := range []introspect.AuthMethod{introspect.ClientSecretBasic, introspect.ClientSecretPost} {
		t.Run(fmt.Sprint(method), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				_, pw, _ := r.BasicAuth()
				echotest.RawAnswer(w, "HTTP/1.1 200 OK\r\n"+string(b)+" pw="+pw+" k9k9\r\nContent-Length: 0\r\n\r\n")
			}))
			defer srv.Close()
			logs := &syncBuffer{}
			v := newVerifier(t, introspect.Config{Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs",
				ClientSecret: secret, AuthMethod: method, Audiences: []string{"a"},
				Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			_, err := v.VerifyAccessToken(context.Background(), "TOKENmarker0123456789")
			if err == nil {
				t.Fatal("accepted")
			}
			for _, out := range []string{err.Error(), logs.String()} {
				if strings.Contains(out, secret) || strings.Contains(out, "TOKENmarker") || !strings.Contains(out, "[text withheld") {
					t.Errorf("want the text withheld, with no %q: %s", secret, out)
				}
			}
		})
	}
}
