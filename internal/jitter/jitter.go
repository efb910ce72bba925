package jitter

import (
	"math/rand/v2"
	"time"
)

// Max is the most Earlier brings a time forward.
const Max = 5 * time.Minute

// Random returns a pseudo-random number in [0, 1): rand.Float64. A seam
// for tests, which replace it in TestMain, before anything reads it: the
// Authenticator and the introspection Verifier take it when built.
var Random = rand.Float64

// Earlier returns d less r, a number in [0, 1], times a tenth of d (at
// most Max): a wait brought forward by up to a tenth, never made longer.
// A d of zero or less is returned as it is.
func Earlier(d time.Duration, r float64) time.Duration {
	if d <= 0 {
		return d
	}
	return d - time.Duration(r*float64(min(d/10, Max)))
}
