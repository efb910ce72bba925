package grpcauth

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// chanRevalidator is a TokenVerifier and Revalidator whose answers a test
// sends: VerifyAccessToken answers each call with the claims received on
// answers (the zero Claims, neither claims nor an error, a refusal), or
// the context's error once the call's context ends; RevalidateAt answers
// at, the time of every re-verification.
type chanRevalidator struct {
	answers chan verifier.Claims
	at      time.Time
}

// newChanRevalidator returns a chanRevalidator whose answers hold up to
// four claims ahead (a fake timer's firing re-verifies on the test's
// goroutine), the first queued: the stream's opening gets it.
func newChanRevalidator(first verifier.Claims) *chanRevalidator {
	v := &chanRevalidator{answers: make(chan verifier.Claims, 4), at: t0.Add(time.Minute)}
	v.answers <- first
	return v
}

func (v *chanRevalidator) VerifyAccessToken(ctx context.Context, _ string) (verifier.Claims, error) {
	select {
	case c := <-v.answers:
		return c, nil
	case <-ctx.Done():
		return verifier.Claims{}, ctx.Err()
	}
}

func (v *chanRevalidator) RevalidateAt(string, verifier.Claims) time.Time { return v.at }

// claimsOf returns the claims of user-1 with scope, and more.
func claimsOf(t *testing.T, scope string, more map[string]any) verifier.Claims {
	t.Helper()
	m := map[string]any{"sub": "user-1", "scope": scope}
	for k, x := range more {
		m[k] = x
	}
	c, err := verifier.NewClaims(m)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// reverifyWith fires recheck, a stream's re-verification timer, with the
// clock at the time it is set for, the verifier answering c.
func reverifyWith(fake *fakeClock, v *chanRevalidator, recheck *fakeTimer, c verifier.Claims) {
	<-reverifyApart(fake, v, recheck, c)
}

// reverifyApart is reverifyWith on a goroutine of its own, as a timer
// fires: it returns at once, and the channel closes once the
// re-verification has returned.
func reverifyApart(fake *fakeClock, v *chanRevalidator, recheck *fakeTimer, c verifier.Claims) <-chan struct{} {
	v.answers <- c
	fake.setNow(v.at)
	rechecked := make(chan struct{})
	go func() {
		defer close(rechecked)
		recheck.fire()
	}()
	return rechecked
}

// TestStream_RevalidatedClaimsWithoutScopeAreCut: a stream opened with
// the scopes its method requires is re-verified, and the verifier now
// answers claims without one of them (the scope was removed, the consent
// revoked): the stream is cut with the refusal a new call with those
// claims gets, PermissionDenied and ACCESS_TOKEN_SCOPE_INSUFFICIENT with
// its fixed message, reported as a denied Decision carrying the claims
// that failed. Before, only the token was re-verified, and the stream ran
// on with the scope gone.
func TestStream_RevalidatedClaimsWithoutScopeAreCut(t *testing.T) {
	var rec recorder
	fake := newFakeClock()
	v := newChanRevalidator(claimsOf(t, "test:read test:stream", nil))
	e, s := openWatchedStream(t, v, fake, func(c *Config, _ *verifier.Config) { c.OnDecision = rec.record })
	recheck := fake.next(t)

	narrower := claimsOf(t, "test:read", nil)
	reverifyWith(fake, v, recheck, narrower)
	if err := await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Send after the cut = %v, want PermissionDenied", err)
	}
	_, cutErr := s.Recv()
	checkStatus(t, cutErr, codes.PermissionDenied, ReasonScopeInsufficient)
	d := rec.last(t)
	if d.Allowed || d.DryRun || d.Reason != ReasonScopeInsufficient || d.Code != codes.PermissionDenied ||
		!slices.Equal(d.Claims.Scopes(), []string{"test:read"}) {
		t.Errorf("cut's decision = %+v, want denied %s with the re-verified claims", d, ReasonScopeInsufficient)
	}

	// A new stream with the same claims gets the same status.
	v.answers <- narrower
	n, err := e.client.ServerStream(withAuth(bounded(t), bearer("opaque-token")), &authtestv1.ServerStreamRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, newErr := n.Recv()
	if got, want := status.Convert(cutErr), status.Convert(newErr); got.Code() != want.Code() || got.Message() != want.Message() {
		t.Errorf("cut = %v, want what a new call gets, %v", cutErr, newErr)
	}
}

// TestStream_RevalidatedClaimsThatStillPassKeepTheStreamAndItsClaims: a
// re-verification whose claims are narrower but still satisfy the rule
// leaves the stream running, re-verified again later, and its handler's
// context keeps the claims the stream opened with (ClaimsFromContext):
// the re-verified ones only judge the rule.
func TestStream_RevalidatedClaimsThatStillPassKeepTheStreamAndItsClaims(t *testing.T) {
	var rec recorder
	fake := newFakeClock()
	v := newChanRevalidator(claimsOf(t, "test:stream test:write", nil))
	e := newEnv(t, func(c *Config, _ *verifier.Config) {
		c.Verifier, c.Now, c.afterFunc, c.OnDecision = v, fake.Now, fake.AfterFunc, rec.record
	})
	e.svc.streamStarted = make(chan struct{}, 1)
	s := openBidiStarted(t, e, "opaque-token")
	recheck := fake.next(t)

	reverifyWith(fake, v, recheck, claimsOf(t, "test:stream", nil))
	next := fake.next(t) // the next re-verification: the stream goes on
	if next.stopped.Load() {
		t.Fatal("the next re-verification's timer was stopped: the stream was cut")
	}
	if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Recv()
	if err != nil {
		t.Fatalf("Recv after a passing re-verification = %v, want the stream going on", err)
	}
	if got := resp.GetCaller().GetScopes(); !slices.Equal(got, []string{"test:stream", "test:write"}) {
		t.Errorf("handler's claims have scopes %q, want those the stream opened with", got)
	}
	if denied := rec.denied(); len(denied) != 0 {
		t.Errorf("denied decisions %q, want none", denied)
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err == nil {
		t.Fatal("Recv after CloseSend returned a message")
	}
}

// TestStream_RevalidatedClaimsFailingADryRunRuleAreReportedOnceNotCut: in
// dry run, a re-verification whose claims fail the rule reports a
// would-deny (with the claims that failed) and the stream goes on; a
// second one that fails again reports nothing more (enforcement would
// have cut the stream at the first); a refused token still cuts it.
func TestStream_RevalidatedClaimsFailingADryRunRuleAreReportedOnceNotCut(t *testing.T) {
	var rec recorder
	fake := newFakeClock()
	v := newChanRevalidator(claimsOf(t, "test:read test:stream", nil))
	e, s := openWatchedStream(t, v, fake, func(c *Config, _ *verifier.Config) {
		c.OnDecision, c.DryRun = rec.record, true
	})
	recheck := fake.next(t)

	reverifyWith(fake, v, recheck, claimsOf(t, "test:read", nil))
	recheck = fake.next(t)
	e.stillRunning(t)
	d := rec.last(t)
	if d.Outcome() != OutcomeWouldDeny || d.Reason != ReasonScopeInsufficient || !slices.Equal(d.Claims.Scopes(), []string{"test:read"}) {
		t.Fatalf("decision = %+v, want a would-deny %s with the re-verified claims", d, ReasonScopeInsufficient)
	}
	v.at = v.at.Add(time.Minute) // set before the next timer reads it: no race
	reverifyWith(fake, v, recheck, claimsOf(t, "test:read", nil))
	recheck = fake.next(t)
	e.stillRunning(t)
	rec.mu.Lock()
	n := len(rec.ds)
	rec.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d decisions, want 2: the start and one would-deny", n)
	}

	reverifyWith(fake, v, recheck, verifier.Claims{}) // refused: neither claims nor an error
	await(t, e.svc.streamEnded, "the stream's handler did not end")
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenRevoked)
}

// TestStream_CutIsReportedAfterAnEarlierReverificationsWouldDeny: a
// re-verification's would-deny (dry run) is being reported, OnDecision
// still running, when the expiry timer, on a goroutine of its own, cuts
// the stream: the cut reaches OnDecision only once the would-deny's
// OnDecision has returned, in the order the two were decided in. Before,
// each was reported outside the watch's lock as soon as decided, so a
// reader could see the cut first and then a would-deny of a stream
// already cut. The would-deny's OnDecision waits for the cut's report
// (it comes: wrong order) or for the cut to wait its turn
// (Config.reportWaits), so the test is deterministic both ways.
func TestStream_CutIsReportedAfterAnEarlierReverificationsWouldDeny(t *testing.T) {
	var (
		mu      sync.Mutex
		order   []string
		cutSeen = make(chan struct{})
		waiting = make(chan struct{})
		inHook  = make(chan struct{})
		once    sync.Once
	)
	add := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, s)
	}
	fake := newFakeClock()
	v := newChanRevalidator(claimsOf(t, "test:read test:stream", map[string]any{"exp": t0.Add(time.Hour).Unix()}))
	e, s := openWatchedStream(t, v, fake, func(c *Config, _ *verifier.Config) {
		c.DryRun = true
		c.reportWaits = func() { once.Do(func() { close(waiting) }) }
		c.OnDecision = func(_ context.Context, d Decision) {
			switch d.Outcome() {
			case OutcomeWouldDeny:
				close(inHook)
				select {
				case <-cutSeen:
					add("cut reported while the would-deny was")
				case <-waiting:
				}
				add("would-deny")
			case OutcomeDenied:
				add("cut")
				close(cutSeen)
			}
		}
	})
	expiry, recheck := fake.next(t), fake.next(t)

	rechecked := reverifyApart(fake, v, recheck, claimsOf(t, "test:read", nil))
	await(t, inHook, "the re-verification's would-deny was not reported")
	fake.expire(expiry) // returns once the cut is reported
	await(t, rechecked, "the re-verification did not return")
	await(t, e.svc.streamEnded, "the stream's handler did not end")
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"would-deny", "cut"}; !slices.Equal(order, want) {
		t.Errorf("reports in the order %q, want %q", order, want)
	}
}
