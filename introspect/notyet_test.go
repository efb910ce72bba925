package introspect_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// notYetAnswer is an active answer for muIssuer's "api" whose claim (nbf
// or iat) is at, expiring three hours after start.
func notYetAnswer(claim string, at, start time.Time) string {
	return `{"active":true,"iss":"` + muIssuer + `","aud":"api","exp":` + unix(start.Add(3*time.Hour)) +
		`,"` + claim + `":` + unix(at) + `}`
}

// wantNotYet verifies notYetToken, which must be refused as not yet valid,
// with requests requests sent by then; when says when, for the message.
func (e *answerEnv) wantNotYet(t *testing.T, when string, requests int64) {
	t.Helper()
	if _, err := e.verify(notYetToken); !errors.Is(err, verifier.ErrNotYetValid) {
		t.Fatalf("%s: %v, want verifier.ErrNotYetValid", when, err)
	}
	if n := e.requests.Load(); n != requests {
		t.Fatalf("%s: %d requests sent, want %d", when, n, requests)
	}
}

// notYetToken is the token the tests of not-yet-valid answers verify.
const notYetToken = "bm90LXlldA"

// An active answer whose nbf or iat lies in the future is a refusal, not a
// positive answer: it is reused for Cache.NegativeTTL without a request,
// and it does not make the token known, so that once the refusal ends the
// token's next request is held to MaxRequestRate like any token's. Before,
// the answer was cached as positive and the token remembered as accepted:
// every Cache.TTL its request passed MaxRequestRate, however spent.
func TestVerify_NotYetValidAnswerDoesNotLetRepeatsPassMaxRequestRate(t *testing.T) {
	for _, claim := range []string{"nbf", "iat"} {
		t.Run(claim, func(t *testing.T) {
			var e *answerEnv
			start := newClock().Now()
			e = newAnswerEnv(t, func(string) string { return notYetAnswer(claim, start.Add(time.Hour), start) },
				func(c *introspect.Config) {
					c.MaxRequestRate = 0.001 // one request, then one per 1000 s
					c.ClockSkew = time.Minute
					c.Cache.TTL = time.Minute
					c.Cache.NegativeTTL = 10 * time.Second
				})
			e.wantNotYet(t, "first call", 1)
			if n := introspect.KnownLen(e.v); n != 0 {
				t.Fatalf("%d tokens known after a not-yet-valid answer, want 0", n)
			}
			e.clk.Advance(5 * time.Second)
			e.wantNotYet(t, "within NegativeTTL", 1)
			e.clk.Advance(2 * time.Minute) // past TTL and NegativeTTL; the bucket refills 0.125
			if _, err := e.verify(notYetToken); !errors.Is(err, introspect.ErrUnavailable) {
				t.Fatalf("repeat with MaxRequestRate spent: %v, want introspect.ErrUnavailable (rate limited)", err)
			}
			if n := e.requests.Load(); n != 1 {
				t.Fatalf("%d requests, want 1: the repeat passed MaxRequestRate", n)
			}
			if got := e.v.Stats().RateLimited; got != 1 {
				t.Fatalf("Stats.RateLimited %d, want 1", got)
			}
		})
	}
}

// A not-yet-valid refusal is reused only until the token's nbf and iat come
// within ClockSkew, when the Verifier would accept it: the next call then
// asks the server again and is accepted, rather than told "not yet" for
// the rest of Cache.NegativeTTL.
func TestVerify_NotYetValidRefusalEndsWhenTheTokenBecomesValid(t *testing.T) {
	for _, claim := range []string{"nbf", "iat"} {
		t.Run(claim, func(t *testing.T) {
			var e *answerEnv
			start := newClock().Now()
			// Valid from start+5s: its claim is ClockSkew (1m) later.
			e = newAnswerEnv(t, func(string) string { return notYetAnswer(claim, start.Add(65*time.Second), start) },
				func(c *introspect.Config) {
					c.ClockSkew = time.Minute
					c.Cache.NegativeTTL = 30 * time.Second
				})
			e.wantNotYet(t, "at start", 1)
			e.clk.Advance(4 * time.Second)
			e.wantNotYet(t, "at start+4s (the refusal reused)", 1)
			e.clk.Advance(time.Second)
			if _, err := e.verify(notYetToken); err != nil {
				t.Fatalf("at start+5s, once valid: %v, want accepted", err)
			}
			if n := e.requests.Load(); n != 2 {
				t.Fatalf("%d requests by start+5s, want 2 (asked again once valid)", n)
			}
		})
	}
}

// A cached positive answer is checked against nbf and iat again on every
// hit: an answer that became valid while its request was on its way (here
// the clock moves 2 s while the server answers) is cached from when the
// request was sent, and a hit at a time before the token was valid (the
// clock set back 1 s, still within the entry's life) is refused, not
// accepted from the cache.
func TestVerify_CacheHitBeforeTheTokenBecameValidIsRefused(t *testing.T) {
	for _, claim := range []string{"nbf", "iat"} {
		t.Run(claim, func(t *testing.T) {
			var e *answerEnv
			start := newClock().Now()
			// Valid from start+2s: its claim is ClockSkew (1m) later.
			e = newAnswerEnv(t, func(string) string {
				e.clk.Advance(2 * time.Second)
				return notYetAnswer(claim, start.Add(62*time.Second), start)
			}, func(c *introspect.Config) { c.ClockSkew = time.Minute })
			if _, err := e.verify(notYetToken); err != nil {
				t.Fatalf("at start+2s, as the answer comes: %v, want accepted", err)
			}
			e.clk.Advance(-time.Second)
			if _, err := e.verify(notYetToken); !errors.Is(err, verifier.ErrNotYetValid) {
				t.Fatalf("at start+1s, from the cache: %v, want verifier.ErrNotYetValid", err)
			}
			if n := e.requests.Load(); n != 1 {
				t.Fatalf("%d requests, want 1 (the second call answered from the cache)", n)
			}
		})
	}
}

// A token refused as not yet valid, and answered inactive once its exp has
// passed, is reported expired (ACCESS_TOKEN_EXPIRED), as it was before
// such an answer became a refusal: the refused answer's exp is kept, as an
// ended positive answer's is, to tell an expired token from a revoked one.
// Before, the refusal dropped it (and any ended answer before it), and the
// token read as inactive (ACCESS_TOKEN_INVALID): whether it had been
// accepted before (an authorization server whose clock then jumped ahead
// answers iat ahead) or not (nbf ahead from the first answer).
func TestVerify_NotYetValidTokenAnsweredInactivePastItsExpIsExpired(t *testing.T) {
	for _, tc := range []struct {
		name           string
		acceptedBefore bool
		claim          string
	}{
		{"accepted, then iat ahead", true, "iat"},
		{"nbf ahead from the first answer", false, "nbf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := newClock().Now()
			var phase atomic.Int32 // 0: valid; 1: not yet valid; 2: inactive
			if !tc.acceptedBefore {
				phase.Store(1)
			}
			e := newAnswerEnv(t, func(string) string {
				switch phase.Load() {
				case 0:
					return notYetAnswer(tc.claim, start, start)
				case 1:
					return notYetAnswer(tc.claim, start.Add(time.Hour), start)
				}
				return `{"active":false}`
			}, nil)
			if tc.acceptedBefore {
				if _, err := e.verify(notYetToken); err != nil {
					t.Fatalf("first answer: %v, want accepted", err)
				}
				e.clk.Advance(2 * time.Minute) // the answer ends
				phase.Store(1)
			}
			e.wantNotYet(t, "not yet valid", e.requests.Load()+1)
			e.clk.Advance(4 * time.Hour) // past exp (start+3h) and ClockSkew
			phase.Store(2)
			var expired *verifier.TokenExpiredError
			if _, err := e.verify(notYetToken); !errors.As(err, &expired) {
				t.Fatalf("past its exp, answered inactive: %v, want a *verifier.TokenExpiredError", err)
			}
		})
	}
}

// A token answered active but expired on this clock (the server's clock
// behind) is refused as expired for Cache.NegativeTTL; then, answered
// inactive, it is ACCESS_TOKEN_INVALID, as docs/introspection.md says of
// every expiry verdict: unlike a not-yet-valid refusal
// (TestVerify_NotYetValidTokenAnsweredInactivePastItsExpIsExpired), which
// has not yet said "expired", this one does not keep its exp for later.
func TestVerify_ActiveButExpiredHereIsInactiveOnceItsRefusalHasEnded(t *testing.T) {
	start := newClock().Now()
	var inactive atomic.Bool
	e := newAnswerEnv(t, func(string) string {
		if inactive.Load() {
			return `{"active":false}`
		}
		return `{"active":true,"iss":"` + muIssuer + `","aud":"api","exp":` + unix(start.Add(-time.Hour)) + `}`
	}, nil)
	var expired *verifier.TokenExpiredError
	if _, err := e.verify(notYetToken); !errors.As(err, &expired) {
		t.Fatalf("active, exp an hour ago here: %v, want a *verifier.TokenExpiredError", err)
	}
	e.clk.Advance(time.Minute) // past NegativeTTL: the refusal ends
	inactive.Store(true)
	if _, err := e.verify(notYetToken); err != introspect.ErrInactive {
		t.Fatalf("answered inactive after the refusal ended: %v, want introspect.ErrInactive", err)
	}
	if n := e.requests.Load(); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

// A not-yet-valid refusal, as any refusal, covers the instants from when
// its request was sent and runs Cache.NegativeTTL from its answer: here
// the clock moves 2 s while the server answers, and neither a call at a
// time the request was on its way (the clock set back 1 s) nor one 9 s
// after the answer (11 s after the request) sends a request.
func TestVerify_NotYetValidRefusalRunsFromTheRequestToNegativeTTLAfterTheAnswer(t *testing.T) {
	var e *answerEnv
	start := newClock().Now()
	e = newAnswerEnv(t, func(string) string {
		e.clk.Advance(2 * time.Second)
		return notYetAnswer("nbf", start.Add(time.Hour), start)
	}, func(c *introspect.Config) { c.Cache.NegativeTTL = 10 * time.Second })
	e.wantNotYet(t, "first call", 1)
	e.clk.Advance(-time.Second)
	e.wantNotYet(t, "while the request was on its way", 1)
	e.clk.Advance(10 * time.Second)
	e.wantNotYet(t, "9 s after the answer", 1)
	e.clk.Advance(time.Second)
	e.wantNotYet(t, "NegativeTTL after the answer", 2)
}

// A not-yet-valid refusal's error names the claim that lies ahead, nbf or
// iat, for the log of the rejection: the two call for different looks
// (a token used before its start, or an issuer's clock ahead).
func TestVerify_NotYetValidRefusalNamesTheClaimAhead(t *testing.T) {
	for _, claim := range []string{"nbf", "iat"} {
		t.Run(claim, func(t *testing.T) {
			start := newClock().Now()
			e := newAnswerEnv(t, func(string) string { return notYetAnswer(claim, start.Add(time.Hour), start) }, nil)
			_, err := e.verify(notYetToken)
			if !errors.Is(err, verifier.ErrNotYetValid) || !strings.Contains(err.Error(), claim+" in the future") {
				t.Fatalf("%s an hour ahead: %v, want verifier.ErrNotYetValid naming %s", claim, err, claim)
			}
		})
	}
}
