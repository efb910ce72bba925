package jitter

import (
	"math"
	"testing"
	"time"
)

// TestEarlier_NeverLaterAndAtMostATenthOrMaxSooner: over the extremes of
// r and waits from a nanosecond to a week, Earlier stays within
// [d - min(d/10, Max), d].
func TestEarlier_NeverLaterAndAtMostATenthOrMaxSooner(t *testing.T) {
	for _, d := range []time.Duration{1, 9, 10, time.Second, time.Minute, time.Hour, 7 * 24 * time.Hour, math.MaxInt64} {
		for _, r := range []float64{0, 0.5, math.Nextafter(1, 0), 1} {
			got := Earlier(d, r)
			if lo := d - min(d/10, Max); got < lo || got > d {
				t.Errorf("Earlier(%v, %v) = %v, want within [%v, %v]", d, r, got, lo, d)
			}
			if r == 0 && got != d {
				t.Errorf("Earlier(%v, 0) = %v, want %v", d, got, d)
			}
		}
	}
	if got := Earlier(time.Hour, 1); got != time.Hour-Max {
		t.Errorf("Earlier(1h, 1) = %v, want 1h less Max", got)
	}
	if got := Earlier(-time.Second, 1); got != -time.Second {
		t.Errorf("Earlier(-1s, 1) = %v, want it as it is", got)
	}
}
