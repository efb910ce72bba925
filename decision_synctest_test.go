package grpcauth

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"

	"github.com/grpcauth/grpcauth/verifier"
)

// slowRefusal refuses every token after a second.
type slowRefusal struct{}

func (slowRefusal) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	time.Sleep(time.Second)
	return verifier.Claims{}, verifier.ErrMalformed
}

// Inside a testing/synctest bubble time.Now is the bubble's fake clock,
// which starts at midnight 2000-01-01, long before the process started: a
// decision's latency must still be the time the bubble saw it take, not
// the distance between the two clocks.
func TestDecision_LatencyInASynctestBubbleIsTheBubblesTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		decisions := make(chan Decision, 1)
		a, err := New(Config{Verifier: slowRefusal{}, Logger: discardLogger(),
			OnDecision: func(_ context.Context, d Decision) { decisions <- d }})
		if err != nil {
			t.Fatal(err)
		}
		lis := newPipeListener() // channels: a call blocks durably, so the bubble's clock runs
		serveOn(t, lis, &testService{}, grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()))
		conn, err := grpc.NewClient("passthrough:///pipe", grpc.WithContextDialer(lis.dial), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_, err = authtestv1.NewTestServiceClient(conn).AllOf(withAuth(t.Context(), bearer("a.b.c")), &authtestv1.AllOfRequest{})
		checkStatus(t, err, codes.Unauthenticated, ReasonTokenInvalid)
		if d := <-decisions; d.Latency != time.Second {
			t.Fatalf("Decision.Latency = %v, want the second the verifier took", d.Latency)
		}
	})
}
