package verifier

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// TestVerifier_UnknownKidFloodCostsOneFetch sends 10,000 concurrent
// verifications of validly signed tokens naming 1,000 distinct unknown kids
// (the shape of a forged-kid flood) and counts the key-set requests the
// issuer sees: at most one per MinRefreshInterval, here exactly one, since
// the injected clock never moves.
func TestVerifier_UnknownKidFloodCostsOneFetch(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, func(c *Config) {
		c.MinRefreshInterval = time.Minute
	})
	// Warm up: the key set is loaded once.
	if _, err := f.verify(t, f.mint(t, nil)); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	before := f.iss.JWKSRequests()

	const kids, verifications, workers = 1000, 10000, 64
	toks := make([]string, kids)
	for i := range toks {
		toks[i] = f.mint(t, nil, grpcauthtest.WithKidHeader(fmt.Sprintf("forged-%d", i)))
	}
	work := make(chan string)
	errs := make(chan error, workers)
	for range workers {
		go func() {
			var bad error
			for tok := range work {
				if _, err := f.verify(t, tok); !errors.Is(err, ErrUnknownKey) && bad == nil {
					bad = fmt.Errorf("verify = %v, want ErrUnknownKey", err)
				}
			}
			errs <- bad
		}()
	}
	for i := range verifications {
		work <- toks[i%kids]
	}
	close(work)
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := f.iss.JWKSRequests() - before; got > 1 {
		t.Fatalf("%d key-set requests during the flood, want at most 1 (one per MinRefreshInterval)", got)
	}
}
