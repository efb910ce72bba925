package grpcauth

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// A stream opened with a JWT whose key the issuer then withdraws (a
// compromised key, whose holder could mint tokens with any exp) ends at its
// next re-verification after the verifier's key set dropped the key, with
// ACCESS_TOKEN_REVOKED, as the token's unary calls are refused from that
// refresh on: it does not run until the token's exp.
func TestStream_JWTWhoseKeyWasRemovedEndsAtTheNextRevalidation(t *testing.T) {
	clk := &settableClock{}
	clk.ns.Store(t0.UnixNano())
	e, fake, tok := expiryEnv(t, func(c *Config, v *verifier.Config) {
		v.Now, c.Now = clk.Now, clk.Now
		v.RefreshInterval = time.Hour
	})
	oldKid := e.iss.KeyID()
	s := openBidiStarted(t, e, tok)
	<-fake.added // the expiry timer
	var recheck *fakeTimer
	select {
	case recheck = <-fake.added:
	default:
		t.Fatal("the stream's JWT is never re-verified")
	}
	if recheck.d != time.Hour {
		t.Errorf("re-verification in %v, want the key set's RefreshInterval (1h)", recheck.d)
	}

	// The issuer rotates and withdraws the old key; a token under the new
	// kid makes the verifier refresh its key set, which drops the old key.
	if _, err := e.iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	e.iss.RemoveKey(oldKid)
	clk.Advance(verifier.DefaultMinRefreshInterval + time.Second)
	if _, err := e.v.VerifyAccessToken(t.Context(), e.scoped(t, "test:stream")); err != nil {
		t.Fatalf("token under the new key: %v", err)
	}

	recheck.fire()
	if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenRevoked)
}
