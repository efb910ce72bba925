package unixnano

import (
	"math"
	"testing"
	"time"
)

// Times outside the int64 nanosecond range clamp to its ends, in the
// past or the future where they are, and times inside it read as
// UnixNano does.
func TestOf_ClampsTimesOutsideTheRangeToItsEnds(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), math.MinInt64},
		{time.Time{}, math.MinInt64},
		{time.Unix(0, math.MinInt64), math.MinInt64},
		{time.Unix(0, 0), 0},
		{time.Unix(0, math.MaxInt64), math.MaxInt64},
		{time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt64},
	} {
		if got := Of(tc.t); got != tc.want {
			t.Errorf("Of(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}
