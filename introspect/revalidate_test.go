package introspect_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// Streams opened with either kind's tokens are re-verified.
var (
	_ grpcauth.Revalidator = (*introspect.Verifier)(nil)
	_ grpcauth.Revalidator = (*introspect.Combined)(nil)
)

func TestRevalidateAt_IsWhenTheCachedAnswerEnds(t *testing.T) {
	e := newEnv(t, func(c *introspect.Config) { c.ClockSkew = 10 * time.Second })
	start := e.clk.Now()
	long := e.opaque(t, map[string]any{"exp": e.issClk.Now().Add(time.Hour)})
	short := e.opaque(t, map[string]any{"exp": e.issClk.Now().Add(10 * time.Second)})
	tests := []struct {
		name  string
		token string
		want  time.Time
	}{
		{"TTL first", long, start.Add(introspect.DefaultCacheTTL)},
		{"exp plus skew first", short, start.Add(20 * time.Second)},
		{"no answer cached: soon", "dW5rbm93bg", start.Add(introspect.DefaultNegativeCacheTTL)},
	}
	for _, tc := range tests {
		c, _ := e.verify(t, tc.token)
		if got := e.v.RevalidateAt(tc.token, c); !got.Equal(tc.want) {
			t.Errorf("%s: RevalidateAt = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestVerify_TokensIntrospectedTogetherAreCachedUntilDifferentTimes: the
// cached answers of tokens introspected in the same instant (every stream
// reopened after a restart) end up to a tenth of Cache.TTL sooner, at
// random, never later: their streams' re-verifications (RevalidateAt), and
// so the requests they make, are spread out, while a revoked token still
// works at most Cache.TTL. With the random source's extremes: 0 is the
// full TTL, the largest number just over 6s sooner.
func TestVerify_TokensIntrospectedTogetherAreCachedUntilDifferentTimes(t *testing.T) {
	e := newEnv(t, nil)
	var r atomic.Uint64
	introspect.SetRandom(e.v, func() float64 { return math.Float64frombits(r.Load()) })
	start := e.clk.Now()
	ttl := introspect.DefaultCacheTTL
	draws := []float64{0, 0.25, 0.75, math.Nextafter(1, 0)}
	want := []time.Duration{ttl, ttl - 1500*time.Millisecond, ttl - 4500*time.Millisecond, ttl - ttl/10}
	tokens := make([]string, len(draws))
	for i, f := range draws {
		r.Store(math.Float64bits(f))
		tokens[i] = e.opaque(t, map[string]any{"exp": e.issClk.Now().Add(time.Hour)})
		c, err := e.verify(t, tokens[i])
		if err != nil {
			t.Fatal(err)
		}
		got := e.v.RevalidateAt(tokens[i], c).Sub(start)
		if got > ttl || got < ttl-ttl/10 {
			t.Errorf("random %v: cached for %v, want within [%v, %v]", f, got, ttl-ttl/10, ttl)
		}
		if got-want[i] > time.Microsecond || want[i]-got > time.Microsecond {
			t.Errorf("random %v: cached for %v, want %v", f, got, want[i])
		}
	}
	// 55.5s on: the third token's answer has ended, the second's has not.
	e.clk.Advance(ttl - 4500*time.Millisecond)
	before := e.iss.IntrospectionRequests()
	for _, tok := range tokens[1:3] {
		if _, err := e.verify(t, tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.iss.IntrospectionRequests() - before; got != 1 {
		t.Errorf("%d introspection requests 55.5s on, want 1: only the answer cached for 55.5s has ended", got)
	}
}

// newOutageEnv is newEnv with the Verifier's requests passing through an
// httptest server that forwards them to the issuer's introspection
// endpoint, or answers 503 while down is set.
func newOutageEnv(t *testing.T, mutate func(*introspect.Config)) (e *env, down *atomic.Bool) {
	t.Helper()
	down = new(atomic.Bool)
	e = newFrontedEnv(t, mutate, func(w http.ResponseWriter) bool {
		isDown := down.Load()
		if isDown {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
		return isDown
	})
	return e, down
}

// newFrontedEnv is newEnv with the Verifier's requests passing through an
// httptest server that lets answer answer them, or, when it does not
// (returns false), forwards them to the issuer's introspection endpoint.
func newFrontedEnv(t *testing.T, mutate func(*introspect.Config), answer func(http.ResponseWriter) bool) *env {
	t.Helper()
	return newEnv(t, func(c *introspect.Config) {
		target, err := url.Parse(c.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.URL.Path, pr.Out.Host = target.Scheme, target.Host, target.Path, target.Host
		}}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !answer(w) {
				proxy.ServeHTTP(w, r)
			}
		}))
		t.Cleanup(srv.Close)
		c.Endpoint = srv.URL
		if mutate != nil {
			mutate(c)
		}
	})
}

// TestRevalidateAt_KeepsTheExpOfAnAnswerThatEnded: asking RevalidateAt
// about a token whose cached answer has ended (a stream's re-verification
// scheduled as it ends) leaves the exp that answer gave known, so that the
// token is still reported expired (ACCESS_TOKEN_EXPIRED, which makes
// clients refresh) rather than the server's bare "active": false
// (ErrInactive).
func TestRevalidateAt_KeepsTheExpOfAnAnswerThatEnded(t *testing.T) {
	e := newEnv(t, func(c *introspect.Config) { c.ClockSkew = 10 * time.Second })
	tok := e.opaque(t, map[string]any{"exp": e.issClk.Now().Add(30 * time.Second)})
	c, err := e.verify(t, tok)
	if err != nil {
		t.Fatal(err)
	}
	e.advance(40 * time.Second) // exp plus skew: the answer has ended
	e.v.RevalidateAt(tok, c)
	var expired *verifier.TokenExpiredError
	if _, err := e.verify(t, tok); !errors.As(err, &expired) {
		t.Fatalf("past exp plus skew, after RevalidateAt: %v, want *verifier.TokenExpiredError", err)
	}
	if n := e.iss.IntrospectionRequests(); n != 1 {
		t.Errorf("%d introspection requests, want 1: the expiry is known without asking", n)
	}
}

// TestVerify_ExpiryKnownBeforeAnOutageIsReportedAfterIt: a token whose
// cached answer ended at its TTL, re-verified while the endpoint is down
// (a stream goes on, as ErrUnavailable is not a verdict), is reported
// expired once its exp has passed, as it would have been without the
// outage: the failed attempt does not forget the exp the answer gave.
func TestVerify_ExpiryKnownBeforeAnOutageIsReportedAfterIt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration // from the outage's end
	}{
		{"within the skew: the server says inactive", 35 * time.Second},
		{"past exp plus skew: no request", 45 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, down := newOutageEnv(t, func(c *introspect.Config) { c.ClockSkew = 10 * time.Second })
			tok := e.opaque(t, map[string]any{"exp": e.issClk.Now().Add(90 * time.Second)})
			if _, err := e.verify(t, tok); err != nil {
				t.Fatal(err)
			}
			e.advance(introspect.DefaultCacheTTL) // the answer has ended; exp has not
			down.Store(true)
			if _, err := e.verify(t, tok); !errors.Is(err, introspect.ErrUnavailable) {
				t.Fatalf("endpoint down: %v, want ErrUnavailable", err)
			}
			down.Store(false)
			e.advance(tc.after)
			var expired *verifier.TokenExpiredError
			if _, err := e.verify(t, tok); !errors.As(err, &expired) {
				t.Fatalf("%v past exp: %v, want *verifier.TokenExpiredError", 60*time.Second+tc.after-90*time.Second, err)
			}
		})
	}
}

func TestRevalidateAt_CacheOffIsOneTTLAway(t *testing.T) {
	e := newEnv(t, func(c *introspect.Config) { c.Cache.Disabled = true })
	tok := e.opaque(t, nil)
	c, err := e.verify(t, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.v.RevalidateAt(tok, c), e.clk.Now().Add(introspect.DefaultCacheTTL); !got.Equal(want) {
		t.Fatalf("RevalidateAt = %v, want %v", got, want)
	}
}

// A Combined asks the verifier that accepted the token: the JWT
// verifier's time for a JWT (its key may leave the key set), the
// introspection Verifier's for an opaque token.
func TestCombinedRevalidateAt_AsksTheVerifierThatAcceptedTheToken(t *testing.T) {
	e := newCombinedEnv(t, nil)
	ctx := context.Background()
	jwtTok, err := e.custom.Token("svc", "items:read")
	if err != nil {
		t.Fatal(err)
	}
	opaqueTok, err := e.org.MintOpaque("svc")
	if err != nil {
		t.Fatal(err)
	}
	jc, err := e.c.VerifyAccessToken(ctx, jwtTok)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := e.c.VerifyAccessToken(ctx, opaqueTok)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.c.RevalidateAt(jwtTok, jc), e.jwt.RevalidateAt(jwtTok, jc); got.IsZero() || !got.Equal(want) {
		t.Errorf("a JWT: RevalidateAt = %v, want the JWT verifier's %v", got, want)
	}
	if got, want := e.c.RevalidateAt(opaqueTok, oc), e.opaque.RevalidateAt(opaqueTok, oc); got.IsZero() || !got.Equal(want) {
		t.Errorf("an opaque token: RevalidateAt = %v, want the introspection Verifier's %v", got, want)
	}
	if jwt, opaque := e.c.Parts(); jwt != e.jwt || opaque != e.opaque {
		t.Error("Parts does not return the verifiers given to Combine")
	}
}
