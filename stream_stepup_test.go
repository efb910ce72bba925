package grpcauth

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// staleChallenge is the www-authenticate challenge of a step-up refusal
// by a rule whose max_age_seconds is 300, and nothing else: the one a
// stream opened with a stale sign-in gets, and one cut once its sign-in
// went stale.
const staleChallenge = `Bearer error="insufficient_user_authentication", error_description="this method requires a stronger or more recent sign-in", max_age="300"`

// signInRules require a sign-in at most 300 s old on BidiStream and, for
// unary calls, AllOf.
var signInRules = map[string]*grpcauthv1.Rule{
	mBidi:  {Scopes: []string{"test:stream"}, MaxAgeSeconds: 300},
	mAllOf: {Scopes: []string{"test:read"}, MaxAgeSeconds: 300},
}

// staleIn is when a sign-in 200 s old at t0 goes stale under
// signInRules: once it is more than 300 s old, a nanosecond past t0 plus
// 100 s. (More than maxTimerWait, so that checkCutIn sees the timer wait
// for Config.Now.)
const staleIn = 100*time.Second + time.Nanosecond

// signInEnv is expiryEnv with signInRules and decisions recorded, then
// opts.
func signInEnv(t *testing.T, opts ...envOption) (*env, *fakeClock, *recorder) {
	t.Helper()
	rec := &recorder{}
	e, clock, _ := expiryEnv(t, append([]envOption{func(c *Config, _ *verifier.Config) {
		c.OnDecision = rec.record
		c.Rules = signInRules
	}}, opts...)...)
	return e, clock, rec
}

// signedIn returns a token of e's issuer for a user who signed in at
// authTime, expiring at exp.
func signedIn(t *testing.T, e *env, authTime, exp time.Time) string {
	t.Helper()
	return e.token(t, map[string]any{"sub": "user-1", "exp": exp, "auth_time": authTime.Unix(), "scp": []string{"test:read", "test:stream"}})
}

// staleClaims returns claims of user-1 with the scope test:stream and the
// other claims m.
func staleClaims(t *testing.T, m map[string]any) verifier.Claims {
	t.Helper()
	m["sub"], m["scp"] = "user-1", []string{"test:stream"}
	c, err := verifier.NewClaims(m)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signInAuth returns an Authenticator with v, rules and fake timers, and
// its clock and the recorder of its decisions, for ServeCall.
func signInAuth(t *testing.T, v TokenVerifier, rules map[string]*grpcauthv1.Rule) (*Authenticator, *fakeClock, *recorder) {
	t.Helper()
	clock, rec := newFakeClock(), &recorder{}
	return mustNew(t, Config{Verifier: v, Now: clock.Now, afterFunc: clock.AfterFunc, Rules: rules, OnDecision: rec.record}), clock, rec
}

// checkStaleCut checks err, the status of a stream cut because its
// sign-in went stale, and challenges, its www-authenticate values: the
// rule's own step-up refusal, with its max_age, as at the stream's start.
func checkStaleCut(t *testing.T, err error, challenges []string) {
	t.Helper()
	checkStatus(t, err, codes.Unauthenticated, ReasonInsufficientUserAuthentication)
	if got := errorInfo(err).GetMetadata()[MetadataMaxAge]; got != "300" {
		t.Errorf("ErrorInfo max_age = %q, want the rule's 300", got)
	}
	if !slices.Equal(challenges, []string{staleChallenge}) {
		t.Errorf("www-authenticate = %q, want [%q]", challenges, staleChallenge)
	}
	for _, v := range challenges {
		checkChallengeSyntax(t, v)
	}
}

// A stream on a method whose rule sets max_age_seconds is cut once its
// sign-in is older than that, the instant a unary call with the same
// token starts being refused (auth_time plus max_age, and a nanosecond:
// no clock skew, as the check at the start allows none on the age), with
// the rule's own refusal and challenge, when that comes before the
// token's expiry; otherwise the expiry cuts it, as before. Through the
// interceptor and through ServeCall. A unary call sets no timer.
func TestStream_CutOnceTheSignInIsOlderThanTheRulesMaxAge(t *testing.T) {
	for _, tt := range []struct {
		name     string
		authTime time.Time
		exp      time.Time
		cutIn    time.Duration // from t0
		reason   string
	}{
		// A sign-in 200 s old at the start: stale 100 s later, an hour
		// before the token expires.
		{"the sign-in goes stale first", t0.Add(-200 * time.Second), t0.Add(time.Hour), staleIn, ReasonInsufficientUserAuthentication},
		// A fresh sign-in, stale in 5 min; the token expires in 2 (plus
		// the minute of clock skew).
		{"the token expires first", t0, t0.Add(2 * time.Minute), 3 * time.Minute, ReasonTokenExpired},
	} {
		for _, viaServeCall := range []bool{false, true} {
			t.Run(tt.name+map[bool]string{false: ", interceptor", true: ", ServeCall"}[viaServeCall], func(t *testing.T) {
				e, clock, rec := signInEnv(t)
				tok := signedIn(t, e, tt.authTime, tt.exp)
				if _, err := callAllOf(withAuth(bounded(t), bearer(tok)), e); err != nil {
					t.Fatalf("unary call at the start: %v", err)
				}
				if n := len(clock.added); n != 0 {
					t.Fatalf("a unary call set %d timers", n)
				}
				var cut func() (error, []string)
				if viaServeCall {
					ts := &trailerStream{}
					result, cause := make(chan error, 1), make(chan error, 1)
					go func() {
						result <- e.auth.ServeCall(grpc.NewContextWithServerTransportStream(adapterContext(bearer(tok)), ts), mBidi, true, nil,
							func(ctx context.Context, g *Guard) error {
								<-ctx.Done()
								cause <- context.Cause(ctx)
								if g.Err() == nil {
									t.Error("Guard.Err is nil after the cut")
								}
								return nil // a handler that takes the cut for a normal end
							})
					}()
					cut = func() (error, []string) {
						err := await(t, result, "ServeCall did not return: the stream was not cut")
						checkStatus(t, await(t, cause, "the handler's context did not end"), codes.Unauthenticated, tt.reason)
						return err, ts.challenges()
					}
				} else {
					s := openBidiStarted(t, e, tok)
					cut = func() (error, []string) {
						_ = s.Send(&authtestv1.BidiStreamRequest{})
						_, err := s.Recv()
						return err, s.Trailer().Get(MetadataWWWAuthenticate)
					}
				}
				clock.checkCutIn(t, clock.next(t), tt.cutIn)
				err, challenges := cut()
				if tt.reason == ReasonInsufficientUserAuthentication {
					checkStaleCut(t, err, challenges)
					d := rec.last(t)
					if d.Allowed || d.Reason != tt.reason || !errors.Is(d.Err, errSignInStale) || d.Method != mBidi || d.Claims.Subject() != "user-1" {
						t.Errorf("the cut's decision %+v, want denied %s for %s", d, tt.reason, mBidi)
					}
					// The cut comes as unary calls start being refused.
					_, err := callAllOf(withAuth(bounded(t), bearer(tok)), e)
					checkStatus(t, err, codes.Unauthenticated, ReasonInsufficientUserAuthentication)
				} else {
					checkStatus(t, err, codes.Unauthenticated, tt.reason)
				}
				if denied := rec.denied(); len(denied) == 0 || denied[0] != tt.reason {
					t.Errorf("denials %v, want the cut (%s) first", denied, tt.reason)
				}
			})
		}
	}
}

// A token without exp on a method whose rule sets max_age_seconds is
// watched all the same: its stream is cut once the sign-in goes stale.
func TestStream_WithoutExpIsCutOnceTheSignInGoesStale(t *testing.T) {
	a, clock, rec := signInAuth(t, staticVerifier{claims: staleClaims(t, map[string]any{"auth_time": t0.Add(-200 * time.Second).Unix()})}, signInRules)
	ts := &trailerStream{}
	result := make(chan error, 1)
	go func() {
		result <- a.ServeCall(grpc.NewContextWithServerTransportStream(adapterContext(bearer("tok")), ts), mBidi, true, nil,
			func(ctx context.Context, _ *Guard) error {
				<-ctx.Done()
				return nil
			})
	}()
	clock.checkCutIn(t, clock.next(t), staleIn)
	checkStaleCut(t, await(t, result, "ServeCall did not return: the stream was not cut"), ts.challenges())
	if denied := rec.denied(); !slices.Equal(denied, []string{ReasonInsufficientUserAuthentication}) {
		t.Errorf("denials %v, want the cut only", denied)
	}
}

// In dry run a stream whose sign-in goes stale is not cut: the refusal is
// reported once, as a would-deny, when the sign-in goes stale (as dry run
// reports each refused stream message), and the stream goes on until its
// token expires. A stream opened with a stale sign-in is reported as it
// opens, and not again.
func TestStream_DryRunReportsTheStaleSignInWithoutACut(t *testing.T) {
	t.Run("goes stale during the stream", func(t *testing.T) {
		e, clock, rec := signInEnv(t, func(c *Config, _ *verifier.Config) { c.DryRun = true })
		s := openBidiStarted(t, e, signedIn(t, e, t0.Add(-200*time.Second), t0.Add(10*time.Minute)))
		stale := clock.next(t)
		clock.setNow(t0.Add(staleIn - time.Nanosecond))
		again := clock.fireNext(stale)
		if again == nil || again.d != time.Nanosecond {
			t.Fatalf("first timer fired a nanosecond before the sign-in goes stale: set again %v, want for 1ns", again)
		}
		clock.setNow(t0.Add(staleIn))
		expiry := clock.fireNext(again)
		if expiry == nil {
			t.Fatal("no timer set for the expiry once the stale sign-in was reported")
		}
		d := rec.last(t)
		if !d.Allowed || !d.DryRun || d.Reason != ReasonInsufficientUserAuthentication || !errors.Is(d.Err, errSignInStale) {
			t.Errorf("decision %+v, want a would-deny for the stale sign-in", d)
		}
		if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatalf("the stream was cut in dry run: %v", err)
		}
		clock.checkCutIn(t, expiry, t0.Add(11*time.Minute).Sub(expiry.set))
		_ = s.Send(&authtestv1.BidiStreamRequest{})
		_, err := s.Recv()
		checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
		if n := rec.count(); n != 3 {
			t.Errorf("%d decisions, want the start, the would-deny and the expiry", n)
		}
	})
	t.Run("stale at the start", func(t *testing.T) {
		e, clock, rec := signInEnv(t, func(c *Config, _ *verifier.Config) { c.DryRun = true })
		openBidiStarted(t, e, signedIn(t, e, t0.Add(-301*time.Second), t0.Add(10*time.Minute)))
		if expiry := clock.next(t); expiry.d != maxTimerWait {
			t.Errorf("first timer set for %v, want the expiry's (%v)", expiry.d, maxTimerWait)
		}
		d := rec.last(t)
		if rec.count() != 1 || !d.DryRun || d.Reason != ReasonInsufficientUserAuthentication {
			t.Errorf("decisions %+v, want the start's would-deny only", rec.ds)
		}
	})
}

// Config.SkipStreamExpiry turns off the cut at the sign-in's max age, as it
// does the one at the token's expiry: a stream is then judged at its start
// only, and no timer is set.
func TestStream_SkipStreamExpiryTurnsOffTheStaleSignInCut(t *testing.T) {
	for _, skip := range []bool{false, true} {
		t.Run(map[bool]string{false: "cut", true: "SkipStreamExpiry"}[skip], func(t *testing.T) {
			e, clock, rec := signInEnv(t, func(c *Config, _ *verifier.Config) { c.SkipStreamExpiry = skip })
			s := openBidiStarted(t, e, signedIn(t, e, t0.Add(-200*time.Second), t0.Add(time.Hour)))
			if !skip {
				clock.checkCutIn(t, clock.next(t), staleIn)
				_ = s.Send(&authtestv1.BidiStreamRequest{})
				_, err := s.Recv()
				checkStaleCut(t, err, s.Trailer().Get(MetadataWWWAuthenticate))
				return
			}
			if n := len(clock.added); n != 0 {
				t.Fatalf("%d timers set with SkipStreamExpiry", n)
			}
			clock.setNow(t0.Add(2 * time.Hour)) // past the sign-in's max age and the token's exp
			if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Recv(); err != nil {
				t.Fatalf("the stream was cut with SkipStreamExpiry: %v", err)
			}
			if denied := rec.denied(); len(denied) != 0 {
				t.Errorf("denials %v, want none", denied)
			}
		})
	}
}

// A sign-in that goes stale between the stream's decision and the start
// of its watch (each reads the clock) refuses the stream before the
// handler runs, with the rule's refusal and challenge, as a denied
// Decision after the allowed one. In dry run the stream is served, and
// the refusal is reported as a would-deny after the allowed start: the
// start did not report it, and no later timer would.
func TestStream_StaleBetweenTheDecisionAndTheStartIsRefused(t *testing.T) {
	for _, dryRun := range []bool{false, true} {
		t.Run(map[bool]string{false: "enforced", true: "dry run"}[dryRun], func(t *testing.T) {
			claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scp": []string{"test:stream"},
				"exp": t0.Add(2 * time.Hour).Unix(), "auth_time": t0.Add(-200 * time.Second).Unix()})
			if err != nil {
				t.Fatal(err)
			}
			var reads atomic.Int32
			rec := &recorder{}
			a := mustNew(t, Config{Verifier: staticVerifier{claims: claims}, Rules: signInRules, OnDecision: rec.record, DryRun: dryRun,
				Now: func() time.Time { // the decision reads t0, the watch an hour later
					if reads.Add(1) == 1 {
						return t0
					}
					return t0.Add(time.Hour)
				}})
			ts := &trailerStream{}
			served := false
			err = a.ServeCall(grpc.NewContextWithServerTransportStream(adapterContext(bearer("tok")), ts), mBidi, true, nil,
				func(context.Context, *Guard) error { served = true; return nil })
			if dryRun {
				if err != nil || !served {
					t.Fatalf("dry run: ServeCall = %v, served %v; want the stream served", err, served)
				}
				rec.mu.Lock()
				defer rec.mu.Unlock()
				if len(rec.ds) != 2 || !rec.ds[0].Allowed || rec.ds[0].DryRun ||
					!rec.ds[1].Allowed || !rec.ds[1].DryRun || rec.ds[1].Reason != ReasonInsufficientUserAuthentication || !errors.Is(rec.ds[1].Err, errSignInStale) {
					t.Errorf("decisions %+v, want the allowed start, then the stale sign-in's would-deny", rec.ds)
				}
				if got := ts.challenges(); len(got) != 0 {
					t.Errorf("www-authenticate = %q on a stream dry run served, want none", got)
				}
				return
			}
			if served {
				t.Error("serve ran")
			}
			checkStaleCut(t, err, ts.challenges())
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.ds) != 2 || !rec.ds[0].Allowed || rec.ds[1].Allowed || rec.ds[1].Reason != ReasonInsufficientUserAuthentication || !errors.Is(rec.ds[1].Err, errSignInStale) {
				t.Errorf("decisions %+v, want allowed then denied %s", rec.ds, ReasonInsufficientUserAuthentication)
			}
		})
	}
}

// A DPoP stream cut because its sign-in went stale carries the step-up
// challenge in the DPoP scheme, with the accepted algs, as the same
// refusal at its start would.
func TestStream_StaleSignInCutOfADPoPStreamIsChallengedInDPoP(t *testing.T) {
	clock := newFakeClock()
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) {
		c.Now, c.afterFunc, c.Rules = clock.Now, clock.AfterFunc, signInRules
	})
	d.svc.streamStarted = make(chan struct{}, 1)
	tok := d.token(t, map[string]any{"sub": "user-1", "exp": t0.Add(time.Hour), "auth_time": t0.Add(-200 * time.Second).Unix()},
		grpcauthtest.WithScopes("test:stream"), grpcauthtest.WithDPoPKey(d.key.PublicKey()))
	s := startBidi(t, dpopCtx(bounded(t), "DPoP "+tok, d.proof(t, d.key, mBidi, tok, grpcauthtest.ProofOptions{})), d.env)
	clock.checkCutIn(t, clock.next(t), staleIn)
	_ = s.Send(&authtestv1.BidiStreamRequest{})
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonInsufficientUserAuthentication)
	want := []string{`DPoP error="insufficient_user_authentication", error_description="this method requires a stronger or more recent sign-in", max_age="300", algs="ES256 EdDSA Ed25519"`}
	if got := s.Trailer().Get(MetadataWWWAuthenticate); !slices.Equal(got, want) {
		t.Errorf("www-authenticate = %q, want %q", got, want)
	}
}

// In dry run a stream whose start was reported as a would-deny (here for
// its scopes; under enforcement it would never have run) is not reported
// again when its sign-in goes stale: no timer is set for the sign-in's
// age, only for the token's expiry, and the stream runs on.
func TestStream_DryRunStreamDeniedAtItsStartIsNotReportedStaleAgain(t *testing.T) {
	e, clock, rec := signInEnv(t, func(c *Config, _ *verifier.Config) { c.DryRun = true })
	// Stale in 30 s, within maxTimerWait, so that a timer for it would be
	// set for less than the expiry's.
	tok := e.token(t, map[string]any{"sub": "user-1", "exp": t0.Add(time.Hour), "auth_time": t0.Add(-270 * time.Second).Unix(), "scp": []string{"test:read"}})
	s := openBidiStarted(t, e, tok)
	if d := rec.last(t); rec.count() != 1 || !d.DryRun || d.Reason != ReasonScopeInsufficient {
		t.Fatalf("decisions %+v, want the start's would-deny for its scopes", rec.ds)
	}
	first := clock.next(t)
	if first.d != maxTimerWait {
		t.Fatalf("first timer set for %v, want the expiry's (%v), no timer for the sign-in's age", first.d, maxTimerWait)
	}
	clock.setNow(t0.Add(5 * time.Minute)) // the sign-in is stale
	if again := clock.fireNext(first); again == nil {
		t.Fatal("no timer set again for the expiry")
	}
	if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("the stream was cut in dry run: %v", err)
	}
	if n := rec.count(); n != 1 {
		t.Errorf("decisions %+v, want the start's would-deny only", rec.ds)
	}
}

// The cut at the sign-in's max age neither wraps nor comes at once at the
// ends of the ranges: a sign-in at the latest auth_time accepted (2262;
// also ahead of the clock, within the skew, when it goes stale further
// from now than a time.Duration reaches) or at 1970, under the longest
// max_age_seconds (292 years), goes stale centuries on, so the stream is
// admitted, its timer waits maxTimerWait and is set again, and nothing
// is cut or reported.
func TestStream_StaleCutAtTheEndsOfTimeNeitherWrapsNorComesAtOnce(t *testing.T) {
	latest := time.Unix(int64(maxUnixSeconds), 0)
	for _, tt := range []struct {
		name          string
		authTime, now time.Time
	}{
		{"signed in at the latest auth_time, now", latest, latest},
		// Stale more than time.Duration's range from now: the wait
		// saturates, it does not wrap.
		{"signed in at the latest auth_time, 30 s ahead of the clock", latest, latest.Add(-30 * time.Second)},
		{"signed in at 1970", time.Unix(0, 0), t0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, clock, rec := signInAuth(t, staticVerifier{claims: staleClaims(t, map[string]any{"auth_time": tt.authTime.Unix()})},
				map[string]*grpcauthv1.Rule{mBidi: {Scopes: []string{"test:stream"}, MaxAgeSeconds: maxAgeSeconds}})
			clock.setNow(tt.now)
			proceed, result := make(chan struct{}), make(chan error, 1)
			go func() {
				result <- a.ServeCall(grpc.NewContextWithServerTransportStream(adapterContext(bearer("tok")), &trailerStream{}), mBidi, true, nil,
					func(ctx context.Context, g *Guard) error {
						<-proceed
						if g.Err() != nil || ctx.Err() != nil {
							t.Errorf("the stream was cut: %v, %v", g.Err(), context.Cause(ctx))
						}
						return nil
					})
			}()
			ft := clock.next(t)
			if ft.d != maxTimerWait {
				t.Fatalf("timer set for %v, want %v", ft.d, maxTimerWait)
			}
			clock.advance(maxTimerWait)
			if again := clock.fireNext(ft); again == nil || again.d != maxTimerWait {
				t.Fatalf("timer fired a minute on: set again %v, want for %v", again, maxTimerWait)
			}
			close(proceed)
			if err := await(t, result, "ServeCall did not return"); err != nil {
				t.Fatalf("ServeCall = %v, want nil", err)
			}
			if d := rec.last(t); rec.count() != 1 || !d.Allowed || d.DryRun {
				t.Errorf("decisions %+v, want the allowed start only", rec.ds)
			}
		})
	}
}

// A stream whose handler returns before its sign-in goes stale stops the
// timer: fired late anyway, it cuts nothing and reports nothing.
func TestStream_StaleTimerIsStoppedWhenTheStreamEndsFirst(t *testing.T) {
	a, clock, rec := signInAuth(t, staticVerifier{claims: staleClaims(t, map[string]any{"auth_time": t0.Add(-200 * time.Second).Unix()})}, signInRules)
	err := a.ServeCall(grpc.NewContextWithServerTransportStream(adapterContext(bearer("tok")), &trailerStream{}), mBidi, true, nil,
		func(context.Context, *Guard) error { return nil })
	if err != nil {
		t.Fatalf("ServeCall = %v, want nil", err)
	}
	ft := clock.next(t)
	await(t, ft.stopCalled, "the stale sign-in's timer was never stopped")
	clock.setNow(t0.Add(time.Hour))
	ft.f() // had its goroutine been on its way
	if d := rec.last(t); rec.count() != 1 || !d.Allowed {
		t.Errorf("decisions %+v, want the allowed start only", rec.ds)
	}
}

// A re-verification that refuses the token and the sign-in's staleness,
// due at the same instant, cut the stream once: whichever timer runs
// first decides the status and the one denied Decision, which agree; the
// other, already running as the cut stopped it, does nothing.
func TestStream_StaleCutAndRevocationTogetherCutOnce(t *testing.T) {
	for _, staleFirst := range []bool{true, false} {
		t.Run(map[bool]string{true: "stale first", false: "revocation first"}[staleFirst], func(t *testing.T) {
			b := &buggyRevalidator{claims: staleClaims(t, map[string]any{"exp": t0.Add(time.Hour).Unix(), "auth_time": t0.Add(-240 * time.Second).Unix()})}
			a, clock, rec := signInAuth(t, b, signInRules)
			result := make(chan error, 1)
			go func() {
				result <- a.ServeCall(grpc.NewContextWithServerTransportStream(adapterContext(bearer("tok")), &trailerStream{}), mBidi, true, nil,
					func(ctx context.Context, _ *Guard) error {
						<-ctx.Done()
						return nil
					})
			}()
			stale, recheck := clock.next(t), clock.next(t)
			clock.setNow(t0.Add(2 * time.Minute)) // both due
			b.refuse.Store(true)
			want := ReasonInsufficientUserAuthentication
			// The second runs as a timer already on its way when the
			// first cut the stream and stopped it.
			if staleFirst {
				stale.fire()
				recheck.f()
			} else {
				want = ReasonTokenRevoked
				recheck.fire()
				stale.f()
			}
			checkStatus(t, await(t, result, "ServeCall did not return: the stream was not cut"), codes.Unauthenticated, want)
			if denied := rec.denied(); !slices.Equal(denied, []string{want}) {
				t.Errorf("denials %v, want one: %s", denied, want)
			}
		})
	}
}

// On a method whose rule has a condition too, the stale sign-in's cut is
// the stream's one refusal: a message sent after it is refused before the
// condition sees it, and fails with the step-up refusal.
func TestStream_StaleCutOfAConditionedStreamIsItsOnlyRefusal(t *testing.T) {
	evals := &atomic.Int32{}
	e, clock, rec := signInEnv(t, func(c *Config, _ *verifier.Config) {
		c.Conditions = firstOnly{evals}
		c.Rules = map[string]*grpcauthv1.Rule{mBidi: {Scopes: []string{"test:stream"}, MaxAgeSeconds: 300, Condition: "first only"}}
	})
	s := openBidiStarted(t, e, signedIn(t, e, t0.Add(-200*time.Second), t0.Add(time.Hour)))
	clock.checkCutIn(t, clock.next(t), staleIn)
	if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Recv()
	checkStaleCut(t, err, s.Trailer().Get(MetadataWWWAuthenticate))
	if denied := rec.denied(); !slices.Equal(denied, []string{ReasonInsufficientUserAuthentication}) || evals.Load() != 1 {
		t.Errorf("denials %v, condition evaluated %d times; want only the cut and one evaluation (the stream's first message)", denied, evals.Load())
	}
}
