package unixnano

import (
	"math"
	"time"
)

// Of is t.UnixNano, clamped to the int64 range: math.MinInt64 before it,
// math.MaxInt64 after it.
func Of(t time.Time) int64 {
	switch {
	case t.Before(minUnixNano):
		return math.MinInt64
	case t.After(maxUnixNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var minUnixNano, maxUnixNano = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
