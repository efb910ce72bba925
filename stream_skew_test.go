package grpcauth

import (
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// TestStream_MultiVerifierCutsAtTheAcceptingIssuersSkew: behind a
// MultiVerifier whose issuers allow different clock skews, a stream is cut
// at its token's exp plus the skew of the issuer that accepted it, when
// that issuer's unary calls start being refused: not the largest skew of
// all issuers, which would let a strict issuer's token's stream outlive it.
func TestStream_MultiVerifierCutsAtTheAcceptingIssuersSkew(t *testing.T) {
	now := func() time.Time { return t0 }
	strict := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/strict", Now: now})
	lenient := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/lenient", Now: now})
	mv, err := verifier.NewMulti(t.Context(),
		verifier.Config{Issuer: strict.URL(), Audiences: []string{strict.Audience()}, Now: now, ClockSkew: -1},
		verifier.Config{Issuer: lenient.URL(), Audiences: []string{lenient.Audience()}, Now: now, ClockSkew: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mv.Close() })
	clock := newFakeClock()
	e := newEnv(t, func(c *Config, _ *verifier.Config) {
		c.Verifier, c.Now, c.afterFunc = mv, clock.Now, clock.AfterFunc
	})
	e.svc.streamStarted = make(chan struct{}, 1)
	for _, c := range []struct {
		iss  *grpcauthtest.Issuer
		want time.Duration
	}{{strict, 10 * time.Minute}, {lenient, 15 * time.Minute}} {
		tok, err := c.iss.Mint(map[string]any{"sub": "user-1", "exp": t0.Add(10 * time.Minute), "scp": []string{"test:read", "test:stream"}})
		if err != nil {
			t.Fatal(err)
		}
		clock.setNow(t0)
		openStarted(t, e, tok)
		expiry, _ := clock.next(t), clock.next(t) // the expiry, then the re-verification
		clock.checkCutIn(t, expiry, c.want)       // exp plus that issuer's skew
		for len(clock.added) > 0 {
			clock.next(t) // the expiry timer checkCutIn saw set again
		}
	}
}
