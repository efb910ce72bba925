package grpcauth

import (
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// keyRemovalEnv is a server whose verifier refreshes its key set every
// hour, on a settable clock (the verifier's and Config.Now) and fake timers,
// with a BidiStream open with a JWT valid for a day: it returns the stream
// and its re-verification timer.
type keyRemovalEnv struct {
	*env
	clk     *settableClock
	fake    *fakeClock
	oldKid  string // the kid of the stream's token
	s       grpc.BidiStreamingClient[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse]
	recheck *fakeTimer
}

func newKeyRemovalEnv(t *testing.T) *keyRemovalEnv {
	t.Helper()
	k := &keyRemovalEnv{clk: &settableClock{}}
	k.clk.ns.Store(t0.UnixNano())
	k.env, k.fake, _ = expiryEnv(t, func(c *Config, v *verifier.Config) {
		v.Now, c.Now = k.clk.Now, k.clk.Now
		v.RefreshInterval = time.Hour
	})
	k.oldKid = k.iss.KeyID()
	k.s = openBidiStarted(t, k.env, k.dayToken(t))
	k.fake.next(t) // the expiry timer
	select {
	case k.recheck = <-k.fake.added:
	default:
		t.Fatal("the stream's JWT is never re-verified")
	}
	return k
}

// dayToken returns a JWT for the stream methods, valid for a day from t0,
// under the issuer's current key.
func (k *keyRemovalEnv) dayToken(t *testing.T) string {
	return k.token(t, map[string]any{"sub": "user-1", "exp": t0.Add(24 * time.Hour), "scp": []string{"test:read", "test:stream"}})
}

// withdrawKey has the issuer rotate and withdraw the stream's key, and,
// after moving the clock by wait (at least the verifier's
// MinRefreshInterval), the verifier refresh its key set, which drops that
// key: a token under the new kid makes it refresh.
func (k *keyRemovalEnv) withdrawKey(t *testing.T, wait time.Duration) {
	t.Helper()
	if _, err := k.iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	k.iss.RemoveKey(k.oldKid)
	k.clk.Advance(wait)
	if _, err := k.v.VerifyAccessToken(t.Context(), k.dayToken(t)); err != nil {
		t.Fatalf("token under the new key: %v", err)
	}
}

// reverifyToTheCut walks the stream's re-verification timer to the
// re-verification, which must cut the stream with ACCESS_TOKEN_REVOKED,
// and returns when it came after the walk started, by the wall clock,
// and how long the timers waited.
func (k *keyRemovalEnv) reverifyToTheCut(t *testing.T) (at, waited time.Duration) {
	t.Helper()
	at, waited, next := k.fake.reverify(t, k.recheck, k.clk.Advance, 0, nil)
	if next != nil {
		t.Fatalf("the stream went on, re-verified again in %v", next.d)
	}
	if err := k.s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err := k.s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenRevoked)
	return at, waited
}

// A stream opened with a JWT whose key the issuer then withdraws (a
// compromised key, whose holder could mint tokens with any exp) ends at its
// next re-verification after the verifier's key set dropped the key, one
// RefreshInterval after it opened, with ACCESS_TOKEN_REVOKED, as the
// token's unary calls are refused from that refresh on: it does not run
// until the token's exp.
func TestStream_JWTWhoseKeyWasRemovedEndsAtTheNextRevalidation(t *testing.T) {
	k := newKeyRemovalEnv(t)
	wait := verifier.DefaultMinRefreshInterval + time.Second
	k.withdrawKey(t, wait)
	if at, _ := k.reverifyToTheCut(t); wait+at != time.Hour {
		t.Errorf("re-verified %v after the stream opened, want the key set's RefreshInterval (1h)", wait+at)
	}
}

// A stream's re-verification follows the wall clock (Config.Now), as its
// expiry cut does, not the monotonic clock its timer runs on, which stands
// still while the host is suspended: the timer waits at most maxTimerWait
// at a time, so a stream whose JWT's key was withdrawn while the host
// slept past the re-verification's time ends within maxTimerWait of the
// host waking, not RefreshInterval later.
func TestStream_ReverificationAfterTheWallClockPassedItsTimeWhileTimersStood(t *testing.T) {
	k := newKeyRemovalEnv(t)
	k.withdrawKey(t, 2*time.Hour) // the host slept 2h, past the re-verification due in 1h
	if _, waited := k.reverifyToTheCut(t); waited > maxTimerWait {
		t.Errorf("re-verified %v after the host woke, past its time by the wall clock: want within %v", waited, maxTimerWait)
	}
}
