package introspect_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// TestVerify_AnUncachedActiveAnswerReplacesTheEndedOnesExp: an ended
// answer's exp is kept to tell an expired token from a revoked one, until
// the server's next verdict. An active verdict that is not cached (too
// large for Cache.MaxBytes) is such a verdict too: the older answer's exp,
// which the server has since moved, no longer refuses the token as
// expired without asking.
func TestVerify_AnUncachedActiveAnswerReplacesTheEndedOnesExp(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	var body atomic.Pointer[string]
	set := func(exp time.Time, pad int) {
		s := fmt.Sprintf(`{"active":true,"aud":"api://x","exp":%d,"pad":%q}`, exp.Unix(), strings.Repeat("p", pad))
		body.Store(&s)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, *body.Load())
	}))
	defer srv.Close()
	v := newVerifier(t, introspect.Config{
		Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{"api://x"}, Logger: slog.New(slog.DiscardHandler), Now: clk.Now,
		Cache: introspect.CacheConfig{TTL: 10 * time.Second, MaxBytes: 4 << 10},
	})
	const tok = "dG9rZW4"
	set(t0.Add(20*time.Second), 0)
	if _, err := v.VerifyAccessToken(t.Context(), tok); err != nil { // cached until t0+10s
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	set(t0.Add(time.Hour), 8<<10) // exp moved on; too large to cache
	if _, err := v.VerifyAccessToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	clk.Advance(80 * time.Second) // past the first answer's exp plus skew
	if _, err := v.VerifyAccessToken(t.Context(), tok); err != nil {
		var expired *verifier.TokenExpiredError
		if errors.As(err, &expired) {
			t.Fatalf("refused as expired at %v by an answer the server has replaced: %v", expired.Expiry, err)
		}
		t.Fatal(err)
	}
	if st := v.Stats(); st.Requests != 3 {
		t.Fatalf("Requests %d, want 3", st.Requests)
	}
}

// TestVerify_AnInactiveAnswerIsExpiredFromExpAndAnEndedEntryFromExpPlusSkew
// pins the two instants pastExp decides, by the injected clock: after an
// answer gave exp and ended (at its TTL), the server's "active": false is
// reported expired from exp on (the server has refused the token; only
// the reason is at stake), while the Verifier refuses the token as expired
// on its own, without asking, only from exp plus ClockSkew on, as a JWT
// verifier with that skew would.
func TestVerify_AnInactiveAnswerIsExpiredFromExpAndAnEndedEntryFromExpPlusSkew(t *testing.T) {
	const skew = time.Minute
	for _, tc := range []struct {
		after    time.Duration // from the first answer
		expired  bool
		requests int64
	}{
		{20*time.Second - time.Nanosecond, false, 2}, // before exp: the server's bare refusal
		{20 * time.Second, true, 2},                  // at exp: the server's refusal, as expiry
		{20*time.Second + skew - time.Nanosecond, true, 2},
		{20*time.Second + skew, true, 1}, // at exp plus skew: no request
	} {
		t.Run(tc.after.String(), func(t *testing.T) {
			clk := newClock()
			exp := clk.Now().Add(20 * time.Second)
			var active atomic.Bool
			active.Store(true)
			v, requests := expVerifier(t, clk, exp, &active, skew, 10*time.Second)
			const tok = "dG9rZW4"
			if _, err := v.VerifyAccessToken(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
			active.Store(false)
			clk.Advance(tc.after)
			_, err := v.VerifyAccessToken(t.Context(), tok)
			var expired *verifier.TokenExpiredError
			switch {
			case tc.expired && (!errors.As(err, &expired) || !expired.Expiry.Equal(exp)):
				t.Fatalf("%v: %v, want *verifier.TokenExpiredError at %v", tc.after, err, exp)
			case !tc.expired && !errors.Is(err, introspect.ErrInactive):
				t.Fatalf("%v: %v, want ErrInactive", tc.after, err)
			}
			if n := requests.Load(); n != tc.requests {
				t.Fatalf("%v: %d requests, want %d", tc.after, n, tc.requests)
			}
		})
	}
}

// TestVerify_AnActiveAnswerPastExpWithinSkewIsAcceptedUntilExpPlusSkew pins
// the third instant pastExp decides: an active answer whose exp has passed
// on the Verifier's clock (the server's runs behind), but not exp plus
// ClockSkew, is accepted, and answers the same token from the cache until
// exp plus skew, as a JWT verifier with that skew accepts the JWT; from
// then on the token is expired without a request. Judged without the skew,
// the answer would be accepted once and then refused from the negative
// cache, within the skew.
func TestVerify_AnActiveAnswerPastExpWithinSkewIsAcceptedUntilExpPlusSkew(t *testing.T) {
	const skew = time.Minute
	clk := newClock()
	exp := clk.Now().Add(-30 * time.Second)
	var active atomic.Bool
	active.Store(true)
	v, requests := expVerifier(t, clk, exp, &active, skew, 10*time.Minute)
	const tok = "dG9rZW4"
	for _, after := range []time.Duration{0, 30*time.Second - time.Nanosecond} { // 30 s past exp, then exp plus skew less 1 ns
		clk.Advance(after)
		if _, err := v.VerifyAccessToken(t.Context(), tok); err != nil {
			t.Fatalf("%v past exp, within the skew: %v, want the token accepted", clk.Now().Sub(exp), err)
		}
	}
	clk.Advance(time.Nanosecond) // exp plus skew
	var expired *verifier.TokenExpiredError
	if _, err := v.VerifyAccessToken(t.Context(), tok); !errors.As(err, &expired) || !expired.Expiry.Equal(exp) {
		t.Fatalf("at exp plus skew: %v, want *verifier.TokenExpiredError at %v", err, exp)
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("%d requests, want 1 (the answer cached until exp plus skew)", n)
	}
}

// expVerifier returns a Verifier on clk, with skew and a positive cache of
// ttl, whose endpoint answers active with exp while active is set, and
// "active": false otherwise; and the count of the requests it answered.
func expVerifier(t *testing.T, clk *clock, exp time.Time, active *atomic.Bool, skew, ttl time.Duration) (*introspect.Verifier, *atomic.Int64) {
	t.Helper()
	requests := new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if active.Load() {
			_, _ = fmt.Fprintf(w, `{"active":true,"aud":"api://x","exp":%d}`, exp.Unix())
			return
		}
		_, _ = io.WriteString(w, `{"active":false}`)
	}))
	t.Cleanup(srv.Close)
	v := newVerifier(t, introspect.Config{
		Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{"api://x"}, Logger: slog.New(slog.DiscardHandler), Now: clk.Now,
		ClockSkew: skew, Cache: introspect.CacheConfig{TTL: ttl},
	})
	return v, requests
}
