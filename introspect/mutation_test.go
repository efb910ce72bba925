package introspect_test

// Tests for checks a mutation run found no test holding: each fails when
// the check it names is removed or weakened, and passes on the real code.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// muIssuer is the issuer the answers of answerEnv name.
const muIssuer = "https://issuer.example"

// answerEnv is a Verifier whose endpoint answers every request with the
// JSON body answer returns (status 200, application/json), counting them.
type answerEnv struct {
	v        *introspect.Verifier
	clk      *clock
	requests atomic.Int64
	tokens   chan string // the token of each request, when not nil
}

func newAnswerEnv(t *testing.T, answer func(token string) string, mutate func(*introspect.Config)) *answerEnv {
	t.Helper()
	e := &answerEnv{clk: newClock()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		_ = r.ParseForm()
		if e.tokens != nil {
			e.tokens <- r.PostForm.Get("token")
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer(r.PostForm.Get("token")))
	}))
	t.Cleanup(srv.Close)
	cfg := introspect.Config{
		Endpoint: srv.URL, Issuer: muIssuer, ClientID: "c", ClientSecret: "s",
		Audiences: []string{"api"}, Now: e.clk.Now, HTTPClient: &http.Client{},
		Logger: slog.New(slog.DiscardHandler),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	e.v = newVerifier(t, cfg)
	return e
}

func (e *answerEnv) verify(token string) (verifier.Claims, error) {
	return e.v.VerifyAccessToken(context.Background(), token)
}

// activeAnswer is an active answer for muIssuer's "api", expiring in an
// hour by clk.
func activeAnswer(clk *clock) string {
	return `{"active":true,"iss":"` + muIssuer + `","aud":"api","exp":` + unix(clk.Now().Add(time.Hour)) + `}`
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// A token of exactly MaxTokenSize bytes is within the bound: it is
// introspected, not refused as malformed.
func TestVerify_TokenOfExactlyMaxTokenSizeIsIntrospected(t *testing.T) {
	var e *answerEnv
	e = newAnswerEnv(t, func(string) string { return activeAnswer(e.clk) }, func(c *introspect.Config) { c.MaxTokenSize = 16 })
	if _, err := e.verify("abcdefghijklmnop"); err != nil {
		t.Fatalf("a 16-byte token with MaxTokenSize 16: %v, want it accepted", err)
	}
	if _, err := e.verify("abcdefghijklmnopq"); !errors.Is(err, verifier.ErrMalformed) {
		t.Fatalf("a 17-byte token with MaxTokenSize 16: %v, want verifier.ErrMalformed", err)
	}
}

// A token of padding alone ("=", "==") is no b64token: it is refused as
// malformed without a request.
func TestVerify_PaddingAloneIsMalformedWithoutARequest(t *testing.T) {
	var e *answerEnv
	e = newAnswerEnv(t, func(string) string { return activeAnswer(e.clk) }, nil)
	for _, tok := range []string{"=", "=="} {
		if _, err := e.verify(tok); !errors.Is(err, verifier.ErrMalformed) {
			t.Errorf("token %q: %v, want verifier.ErrMalformed", tok, err)
		}
	}
	if n := e.requests.Load(); n != 0 {
		t.Fatalf("%d requests sent for padding-only tokens, want none", n)
	}
}

// An active answer whose nbf is in the future is refused, and the refusal
// cached: the second call, answered from the negative cache, is refused
// as the first was, without a request.
func TestVerify_NotYetValidRefusalIsReusedWithoutARequest(t *testing.T) {
	var e *answerEnv
	e = newAnswerEnv(t, func(string) string {
		return `{"active":true,"iss":"` + muIssuer + `","aud":"api","exp":` + unix(e.clk.Now().Add(3*time.Hour)) +
			`,"nbf":` + unix(e.clk.Now().Add(time.Hour)) + `}`
	}, nil)
	for i := 1; i <= 2; i++ {
		if _, err := e.verify("dG9rZW4"); !errors.Is(err, verifier.ErrNotYetValid) {
			t.Fatalf("call %d: %v, want verifier.ErrNotYetValid", i, err)
		}
	}
	if n := e.requests.Load(); n != 1 {
		t.Fatalf("%d requests, want 1 (the second call answered from the cache)", n)
	}
}

// nbf and iat are judged with ClockSkew, as a JWT's are: an answer whose
// nbf or iat is up to ClockSkew ahead of this clock is accepted; one past
// it is refused as not yet valid.
func TestVerify_NotBeforeAndIssuedAtAreJudgedWithClockSkew(t *testing.T) {
	for _, claim := range []string{"nbf", "iat"} {
		t.Run(claim, func(t *testing.T) {
			ahead := atomic.Int64{}
			var e *answerEnv
			e = newAnswerEnv(t, func(string) string {
				return `{"active":true,"iss":"` + muIssuer + `","aud":"api","exp":` + unix(e.clk.Now().Add(3*time.Hour)) +
					`,"` + claim + `":` + unix(e.clk.Now().Add(time.Duration(ahead.Load()))) + `}`
			}, func(c *introspect.Config) { c.ClockSkew = time.Minute; c.Cache.Disabled = true })
			ahead.Store(int64(30 * time.Second))
			if _, err := e.verify("dG9rZW4"); err != nil {
				t.Fatalf("%s 30s ahead, ClockSkew 1m: %v, want accepted", claim, err)
			}
			ahead.Store(int64(2 * time.Minute))
			if _, err := e.verify("dG9rZW4"); !errors.Is(err, verifier.ErrNotYetValid) {
				t.Fatalf("%s 2m ahead, ClockSkew 1m: %v, want verifier.ErrNotYetValid", claim, err)
			}
		})
	}
}

// An answer the server calls active but whose exp has passed here (plus
// ClockSkew) is refused as expired, and that refusal is reused for
// Cache.NegativeTTL, as any refusal, not for Cache.TTL: the server is
// asked again once NegativeTTL has passed.
func TestVerify_ActiveButExpiredHereIsReusedForNegativeTTL(t *testing.T) {
	var e *answerEnv
	e = newAnswerEnv(t, func(string) string {
		return `{"active":true,"iss":"` + muIssuer + `","aud":"api","exp":` + unix(e.clk.Now().Add(-2*time.Minute)) + `}`
	}, func(c *introspect.Config) {
		c.ClockSkew = time.Minute
		c.Cache.TTL = time.Hour
		c.Cache.NegativeTTL = 10 * time.Second
	})
	var expired *verifier.TokenExpiredError
	for i, want := range []int64{1, 1} {
		if _, err := e.verify("dG9rZW4"); !errors.As(err, &expired) {
			t.Fatalf("call %d: %v, want a *verifier.TokenExpiredError", i+1, err)
		}
		if n := e.requests.Load(); n != want {
			t.Fatalf("after call %d: %d requests, want %d", i+1, n, want)
		}
	}
	e.clk.Advance(10 * time.Second)
	if _, err := e.verify("dG9rZW4"); !errors.As(err, &expired) {
		t.Fatalf("after NegativeTTL: %v, want a *verifier.TokenExpiredError", err)
	}
	if n := e.requests.Load(); n != 2 {
		t.Fatalf("after NegativeTTL: %d requests, want 2 (the refusal reused for NegativeTTL only)", n)
	}
}

// token_type is compared without regard to case, the DPoP binding rule
// included: an answer saying "dpop" (or "DPOP") without cnf.jkt is refused
// as one saying "DPoP" is, not accepted as an unbound token.
func TestVerify_DPoPTokenTypeInAnyCaseNeedsTheKeyBinding(t *testing.T) {
	for _, tt := range []string{"DPoP", "dpop", "DPOP"} {
		t.Run(tt, func(t *testing.T) {
			var e *answerEnv
			e = newAnswerEnv(t, func(string) string {
				return `{"active":true,"iss":"` + muIssuer + `","aud":"api","exp":` + unix(e.clk.Now().Add(time.Hour)) +
					`,"token_type":"` + tt + `"}`
			}, acceptDPoP)
			var ce *verifier.ClaimError
			if _, err := e.verify("dG9rZW4"); !errors.As(err, &ce) || ce.Claim != "cnf" {
				t.Fatalf("token_type %q without cnf: %v, want a *verifier.ClaimError for cnf", tt, err)
			}
		})
	}
}

// TestVerify_DPoPKeyBindingIsTheMemberNamedExactlyJkt: the cnf.jkt that a
// DPoP answer must carry is the member named exactly "jkt" (the last when
// repeated), as everywhere else: a "JKT" or "Jkt" (which the interceptors
// do not read as a key binding, and nor would a caller checking the proof
// itself) does not make the token bound. Before, cnf was decoded into a
// struct field, which encoding/json matches without regard to case, so
// such an answer was accepted as bound.
func TestVerify_DPoPKeyBindingIsTheMemberNamedExactlyJkt(t *testing.T) {
	for _, tc := range []struct {
		cnf   string
		bound bool
	}{
		{`{"jkt":"` + testJKT + `"}`, true},
		{`{"JKT":"` + testJKT + `"}`, false},
		{`{"Jkt":"` + testJKT + `"}`, false},
		{`{"jkt":"","JKT":"` + testJKT + `"}`, false},
		{`{"jkt":"` + testJKT + `","jkt":""}`, false},
		{`{"jkt":"","jkt":"` + testJKT + `"}`, true},
		{`{"jkt":null}`, false},
		{`[{"jkt":"` + testJKT + `"}]`, false},
	} {
		t.Run(tc.cnf, func(t *testing.T) {
			var e *answerEnv
			e = newAnswerEnv(t, func(string) string {
				return `{"active":true,"iss":"` + muIssuer + `","aud":"api","exp":` + unix(e.clk.Now().Add(time.Hour)) +
					`,"token_type":"DPoP","cnf":` + tc.cnf + `}`
			}, acceptDPoP)
			_, err := e.verify("dG9rZW4")
			var ce *verifier.ClaimError
			switch {
			case tc.bound && err != nil:
				t.Fatalf("cnf %s: %v, want the token accepted", tc.cnf, err)
			case !tc.bound && (!errors.As(err, &ce) || ce.Claim != "cnf"):
				t.Fatalf("cnf %s: %v, want a *verifier.ClaimError for cnf", tc.cnf, err)
			}
		})
	}
}

// Close empties the caches: a token whose answer was cached is refused
// with verifier.ErrClosed afterwards, as every other, not accepted from
// the cache of a closed Verifier.
func TestVerify_CloseEndsCachedAnswersToo(t *testing.T) {
	var e *answerEnv
	e = newAnswerEnv(t, func(string) string { return activeAnswer(e.clk) }, nil)
	if _, err := e.verify("dG9rZW4"); err != nil {
		t.Fatal(err)
	}
	if err := e.v.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify("dG9rZW4"); !errors.Is(err, verifier.ErrClosed) {
		t.Fatalf("a cached token after Close: %v, want verifier.ErrClosed", err)
	}
	if st := e.v.Stats(); st.CacheEntries != 0 || st.CacheBytes != 0 {
		t.Fatalf("after Close: %d cached answers (%d bytes), want none", st.CacheEntries, st.CacheBytes)
	}
}

// Close closes the idle connections of the HTTP client New made (none was
// given): no connection to the endpoint, nor the goroutines that serve it,
// outlives the Verifier, though the endpoint stays up.
func TestVerify_CloseClosesTheIdleConnectionsOfItsOwnClient(t *testing.T) {
	var e *answerEnv
	e = newAnswerEnv(t, func(string) string { return activeAnswer(e.clk) }, func(c *introspect.Config) { c.HTTPClient = nil })
	ignore := goleak.IgnoreCurrent() // the endpoint's server, which stays up
	if _, err := e.verify("dG9rZW4"); err != nil {
		t.Fatal(err)
	}
	if err := e.v.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, ignore)
}

// MaxResponseSize bounds the body exactly: an answer of MaxResponseSize
// bytes is read, one a byte longer is refused (ErrUnavailable), though it
// is well-formed JSON.
func TestVerify_MaxResponseSizeIsExact(t *testing.T) {
	const max = 512
	pad := atomic.Int64{}
	var e *answerEnv
	e = newAnswerEnv(t, func(string) string {
		a := activeAnswer(e.clk)
		return a + strings.Repeat(" ", max-len(a)+int(pad.Load()))
	}, func(c *introspect.Config) { c.MaxResponseSize = max; c.Cache.Disabled = true })
	if _, err := e.verify("dG9rZW4"); err != nil {
		t.Fatalf("an answer of MaxResponseSize bytes: %v, want accepted", err)
	}
	pad.Store(1)
	if _, err := e.verify("dG9rZW4"); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("an answer of MaxResponseSize+1 bytes: %v, want ErrUnavailable", err)
	}
}

// TestVerify_AContentTypeWithABrokenParameterIsReadAsItsMediaType: a 200
// answer labelled application/json whose parameters do not parse is read
// as JSON, as one without a label is (before, it was ErrUnavailable, and
// every token's answer with it); a label whose media type is not
// application/json, or that is no single media type, is still refused,
// broken parameter or not.
func TestVerify_AContentTypeWithABrokenParameterIsReadAsItsMediaType(t *testing.T) {
	clk := newClock()
	for _, tc := range []struct {
		label  string
		accept bool
	}{
		{"application/json; charset", true},
		{"application/json;charset=", true},
		{`Application/JSON; charset="utf-8`, true},
		{"application/json;;", true},
		{"text/html; charset", false},
		{"text/html;charset=", false},
		{"application/json, text/html", false},
		{"application/json charset=utf-8", false},
		{"application/json; charset=utf-8; charset=latin1", false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", tc.label)
			_, _ = io.WriteString(w, activeAnswer(clk))
		}))
		v := newVerifier(t, introspect.Config{Endpoint: srv.URL, Issuer: muIssuer, ClientID: "c", ClientSecret: "s",
			Audiences: []string{"api"}, Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
		c, err := v.VerifyAccessToken(context.Background(), "dG9rZW4")
		switch {
		case tc.accept && (err != nil || c.Issuer() != muIssuer):
			t.Errorf("Content-Type %q: %v, want the active answer accepted", tc.label, err)
		case !tc.accept && !errors.Is(err, introspect.ErrUnavailable):
			t.Errorf("Content-Type %q: %v, want ErrUnavailable", tc.label, err)
		}
		srv.Close()
	}
}

// The refusal of a token found expired in the cache is used only from the
// instant it was made: a clock set back before it asks the server again,
// as any cached answer is then not used.
func TestVerify_ClockSetBackDoesNotStretchAnExpiredRefusal(t *testing.T) {
	var e *answerEnv
	var exp time.Time
	e = newAnswerEnv(t, func(string) string {
		return `{"active":true,"iss":"` + muIssuer + `","aud":"api","exp":` + unix(exp) + `}`
	}, func(c *introspect.Config) { c.ClockSkew = -1; c.Cache.TTL = time.Hour })
	exp = e.clk.Now().Add(30 * time.Second)
	if _, err := e.verify("dG9rZW4"); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(31 * time.Second)
	var expired *verifier.TokenExpiredError
	if _, err := e.verify("dG9rZW4"); !errors.As(err, &expired) || e.requests.Load() != 1 {
		t.Fatalf("past exp: %v after %d requests, want a *verifier.TokenExpiredError from the cache", err, e.requests.Load())
	}
	e.clk.Advance(-time.Minute) // before exp again
	if _, err := e.verify("dG9rZW4"); err != nil {
		t.Fatalf("clock set back before exp: %v, want the server asked again and the token accepted", err)
	}
	if n := e.requests.Load(); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

// MaxRequestRate lets a request through only for a whole request's worth
// of budget: at one a second, a second request half a second after the
// first is refused, one a second after it is sent. A rate below one a
// second still lets one through at once.
func TestVerify_MaxRequestRateSpendsWholeRequests(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		wait time.Duration // from one request allowed to the next
	}{{1, time.Second}, {0.5, 2 * time.Second}} {
		t.Run(strconv.FormatFloat(tc.rate, 'g', -1, 64), func(t *testing.T) {
			e := newAnswerEnv(t, func(string) string { return `{"active":false}` }, func(c *introspect.Config) {
				c.MaxRequestRate = tc.rate
				c.Cache.Disabled = true
			})
			if _, err := e.verify("first"); !errors.Is(err, introspect.ErrInactive) {
				t.Fatalf("first request: %v, want ErrInactive (sent)", err)
			}
			e.clk.Advance(tc.wait / 2)
			if _, err := e.verify("second"); !errors.Is(err, introspect.ErrUnavailable) {
				t.Fatalf("after half a request's worth: %v, want ErrUnavailable (MaxRequestRate)", err)
			}
			e.clk.Advance(tc.wait / 2)
			if _, err := e.verify("third"); !errors.Is(err, introspect.ErrInactive) {
				t.Fatalf("after a whole request's worth: %v, want ErrInactive (sent)", err)
			}
			if n := e.requests.Load(); n != 2 {
				t.Fatalf("%d requests, want 2", n)
			}
		})
	}
}

// The negative cache is bounded by Cache.MaxNegativeEntries, not by the
// positive cache's MaxEntries.
func TestVerify_NegativeCacheIsBoundedByMaxNegativeEntries(t *testing.T) {
	e := newAnswerEnv(t, func(string) string { return `{"active":false}` }, func(c *introspect.Config) {
		c.Cache.MaxEntries = 100
		c.Cache.MaxNegativeEntries = 2
	})
	for i := range 5 {
		if _, err := e.verify("made-up-" + strconv.Itoa(i)); !errors.Is(err, introspect.ErrInactive) {
			t.Fatal(err)
		}
	}
	if n := e.v.Stats().NegativeEntries; n > 2 {
		t.Fatalf("%d negative entries, want at most MaxNegativeEntries (2)", n)
	}
}

// The body of a 401 or 403 answer is read up to MaxResponseSize only: an
// invalid_client beyond it is not seen, and pauses nothing.
func TestVerify_RefusalBodyIsReadUpToMaxResponseSize(t *testing.T) {
	clk := newClock()
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"x":"`+strings.Repeat("a", 4096)+`","error":"invalid_client"}`)
	}))
	defer srv.Close()
	v := newVerifier(t, introspect.Config{Endpoint: srv.URL, Issuer: muIssuer, ClientID: "c", ClientSecret: "s",
		Audiences: []string{"api"}, Now: clk.Now, MaxResponseSize: 1024, HTTPClient: &http.Client{},
		Logger: slog.New(slog.DiscardHandler)})
	for i := 1; i <= 2; i++ {
		if _, err := v.VerifyAccessToken(context.Background(), "dG9rZW4"); !errors.Is(err, introspect.ErrUnavailable) {
			t.Fatalf("call %d: %v, want ErrUnavailable", i, err)
		}
	}
	if n := requests.Load(); n != 2 {
		t.Fatalf("%d requests, want 2: an invalid_client past MaxResponseSize paused requests", n)
	}
}

// skewJWT is a JWTVerifier of one's own with a clock skew; it accepts
// nothing.
type skewJWT struct{ skew time.Duration }

func (*skewJWT) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return verifier.Claims{}, verifier.ErrMalformed
}

func (s *skewJWT) ClockSkew() time.Duration { return s.skew }

// A Combined's ClockSkew is the larger of its verifiers': here the
// introspection Verifier's.
func TestCombined_ClockSkewIsTheLargerOfBoth(t *testing.T) {
	e := newAnswerEnv(t, func(string) string { return `{"active":false}` }, func(c *introspect.Config) { c.ClockSkew = 5 * time.Minute })
	c, err := introspect.Combine(&skewJWT{skew: time.Minute}, e.v)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ClockSkew(); got != 5*time.Minute {
		t.Fatalf("ClockSkew = %v, want 5m (the introspection Verifier's, the larger)", got)
	}
}

// Combine refuses a nil pointer of a JWTVerifier type of one's own, which
// would panic on the first JWT, as it refuses a nil interface.
func TestCombine_RefusesANilPointerJWTVerifierOfOnesOwn(t *testing.T) {
	e := newAnswerEnv(t, func(string) string { return `{"active":false}` }, nil)
	if _, err := introspect.Combine((*skewJWT)(nil), e.v); err == nil {
		t.Fatal("Combine accepted a nil *skewJWT")
	}
}

// New copies Config.TokenTypes: changing the caller's slice afterwards
// changes nothing the Verifier accepts.
func TestNew_TokenTypesAreCopied(t *testing.T) {
	types := []string{"Bearer"}
	var e *answerEnv
	e = newAnswerEnv(t, func(string) string {
		return `{"active":true,"iss":"` + muIssuer + `","aud":"api","exp":` + unix(e.clk.Now().Add(time.Hour)) + `,"token_type":"refresh_token"}`
	}, func(c *introspect.Config) { c.TokenTypes = types; c.Cache.Disabled = true })
	types[0] = "refresh_token"
	var ce *verifier.ClaimError
	if _, err := e.verify("dG9rZW4"); !errors.As(err, &ce) || ce.Claim != "token_type" {
		t.Fatalf("token_type refresh_token after the caller's slice changed: %v, want a *verifier.ClaimError for token_type", err)
	}
}

// connCounter counts the connections a test server accepts.
func connCounter(srv *httptest.Server) *atomic.Int64 {
	var n atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

// The body of a 200 answer refused for its Content-Type is read to its end
// (within MaxResponseSize), so that the connection carries the next
// request rather than being closed.
func TestVerify_ABodyRefusedForItsLabelLeavesTheConnectionReusable(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>"+strings.Repeat("x", 100)+"</html>")
	}))
	conns := connCounter(srv)
	srv.Start()
	defer srv.Close()
	v := newVerifier(t, introspect.Config{Endpoint: srv.URL, Issuer: muIssuer, ClientID: "c", ClientSecret: "s",
		Audiences: []string{"api"}, HTTPClient: &http.Client{Transport: &http.Transport{}}, Logger: slog.New(slog.DiscardHandler)})
	for i := 1; i <= 3; i++ {
		if _, err := v.VerifyAccessToken(context.Background(), "dG9rZW4"); !errors.Is(err, introspect.ErrUnavailable) {
			t.Fatalf("call %d: %v, want ErrUnavailable", i, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 3 requests, want 1 (reused)", n)
	}
}

// A body is read no further than MaxResponseSize (and a byte), whether
// the answer is a 200 or refused for its status: an endpoint sending an
// endless body gets its connection closed, not read for Timeout.
func TestVerify_ABodyIsReadUpToMaxResponseSize(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusInternalServerError} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			const sent = 64 << 20
			written := make(chan int64, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				chunk := []byte(strings.Repeat(" ", 64<<10))
				var n int64
				for n < sent {
					m, err := w.Write(chunk)
					n += int64(m)
					if err != nil {
						break
					}
				}
				written <- n
			}))
			defer srv.Close()
			v := newVerifier(t, introspect.Config{Endpoint: srv.URL, Issuer: muIssuer, ClientID: "c", ClientSecret: "s",
				Audiences: []string{"api"}, MaxResponseSize: 1024, Timeout: time.Hour,
				HTTPClient: &http.Client{Transport: &http.Transport{}}, Logger: slog.New(slog.DiscardHandler)})
			if _, err := v.VerifyAccessToken(context.Background(), "dG9rZW4"); !errors.Is(err, introspect.ErrUnavailable) {
				t.Fatalf("status %d, endless body: %v, want ErrUnavailable", status, err)
			}
			if n := <-written; n >= sent {
				t.Fatalf("the client read all %d bytes of the body, want at most about MaxResponseSize", n)
			}
		})
	}
}

// The caches are keyed by the whole token: two tokens that differ only in
// their last character each get their own answer, never the other's.
func TestVerify_TokensDifferingInTheirLastByteGetTheirOwnAnswers(t *testing.T) {
	prefix := strings.Repeat("A", 200)
	var e *answerEnv
	e = newAnswerEnv(t, func(token string) string {
		if token == prefix+"1" {
			return activeAnswer(e.clk)
		}
		return `{"active":false}`
	}, nil)
	for range 2 { // asked, then from the caches
		if _, err := e.verify(prefix + "1"); err != nil {
			t.Fatalf("the active token: %v", err)
		}
		if _, err := e.verify(prefix + "2"); !errors.Is(err, introspect.ErrInactive) {
			t.Fatalf("the inactive token, after the active one: %v, want ErrInactive", err)
		}
	}
	if n := e.requests.Load(); n != 2 {
		t.Fatalf("%d requests, want 2 (one per token, then the caches)", n)
	}
}
