package verifier

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// TestVerifier_UnknownKidFloodCostsOneFetch sends 10,000 concurrent
// verifications of validly signed tokens naming 1,000 distinct unknown kids
// (the shape of a forged-kid flood) from more workers than
// DefaultMaxKeyWaiters, and counts the key-set requests the issuer sees.
//
// The first unknown kid fetches. From then on the rate limit (an hour here;
// the injected clock never moves) forbids another fetch, so lookups wait for
// the next permitted one: DefaultMaxKeyWaiters of them hold their workers,
// and every other verification is refused at once with ErrUnknownKey. The
// test then cancels the waiters' context: they return with it, and the
// flood has cost at most one fetch (none when the warm-up's lookup, racing
// the initial background fetch, was itself the miss that used the
// allowance).
func TestVerifier_UnknownKidFloodCostsOneFetch(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, func(c *Config) {
		c.MinRefreshInterval = time.Hour
	})
	// Warm up: the key set is loaded once.
	if _, err := f.verify(t, f.mint(t, nil)); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	before := f.iss.JWKSRequests()

	const kids, verifications, free = 1000, 10000, 64
	const workers = DefaultMaxKeyWaiters + free
	toks := make([]string, kids)
	for i := range toks {
		toks[i] = f.mint(t, nil, grpcauthtest.WithKidHeader(fmt.Sprintf("forged-%d", i)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type tally struct {
		unknown, canceled int
		bad               error
	}
	work := make(chan string)
	tallies := make(chan tally, workers)
	for range workers {
		go func() {
			var tl tally
			for tok := range work {
				_, err := f.v.VerifyAccessToken(ctx, tok)
				switch {
				case errors.Is(err, ErrUnknownKey):
					tl.unknown++
				case errors.Is(err, context.Canceled):
					tl.canceled++
				case tl.bad == nil:
					tl.bad = fmt.Errorf("verify = %v, want ErrUnknownKey or, once cancelled, context.Canceled", err)
				}
			}
			tallies <- tl
		}()
	}
	for i := range verifications {
		work <- toks[i%kids]
	}
	close(work)
	var total tally
	add := func(tl tally) {
		total.unknown += tl.unknown
		total.canceled += tl.canceled
		if tl.bad != nil {
			t.Fatal(tl.bad)
		}
	}
	// The waiters hold their workers; every other worker finishes.
	for range free {
		add(<-tallies)
	}
	if total.canceled != 0 {
		t.Fatalf("%d verifications cancelled before the test cancelled them", total.canceled)
	}
	cancel()
	for range workers - free {
		add(<-tallies)
	}
	if total.canceled != DefaultMaxKeyWaiters || total.unknown != verifications-DefaultMaxKeyWaiters {
		t.Fatalf("%d refused at once, %d held until cancelled; want %d and DefaultMaxKeyWaiters (%d)",
			total.unknown, total.canceled, verifications-DefaultMaxKeyWaiters, DefaultMaxKeyWaiters)
	}
	if got := f.iss.JWKSRequests() - before; got > 1 {
		t.Fatalf("%d key-set requests during the flood, want at most 1 (one per MinRefreshInterval)", got)
	}
}
