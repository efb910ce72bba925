package grpcauth

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth/verifier"
)

// TestStream_CutStopsBothTimersWhileTheHandlerStillRuns: a stream cut at
// its token's expiry, or on re-verification, has both its timers stopped
// at the cut, not when its handler returns, which may be long after (a
// handler blocked in Recv waits for the client): the other timer would
// otherwise go on firing, reading Config.Now every minute, and re-verify
// the token of a stream that has ended, in user code.
func TestStream_CutStopsBothTimersWhileTheHandlerStillRuns(t *testing.T) {
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scp": []string{"test:stream"}, "exp": t0.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		reason string
	}{{"at the expiry", ReasonTokenExpired}, {"on re-verification", ReasonTokenRevoked}} {
		t.Run(tt.name, func(t *testing.T) {
			b := &buggyRevalidator{claims: claims}
			clock := newFakeClock()
			a := mustNew(t, Config{Verifier: b, Now: clock.Now, afterFunc: clock.AfterFunc, Logger: discardLogger()})
			cut, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
			go func() {
				done <- a.ServeCall(adapterContext(bearer("tok")), "/authtest.v1.TestService/BidiStream", true, nil,
					func(ctx context.Context, _ *Guard) error {
						<-ctx.Done()
						close(cut)
						<-release // still running, as a handler blocked in Recv is
						return nil
					})
			}()
			expiry, recheck := clock.next(t), clock.next(t)
			other := recheck
			if tt.reason == ReasonTokenExpired {
				clock.expire(expiry)
			} else {
				b.refuse.Store(true)
				clock.setNow(t0.Add(time.Minute))
				recheck.fire()
				other = expiry
			}
			await(t, cut, "the stream's context was not cancelled")
			select {
			case <-other.stopCalled:
			default:
				t.Errorf("the stream was cut %s, and its other timer (%v) was not stopped while the handler runs", tt.name, other.d)
			}
			close(release)
			checkStatus(t, await(t, done, "ServeCall did not return"), codes.Unauthenticated, tt.reason)
		})
	}
}
