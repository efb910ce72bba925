package jitter

import (
	"testing"
	"time"
)

// Earlier brings a long wait forward by at most the documented 5 minutes
// (docs/introspection.md), not by a tenth of it.
func TestEarlier_BringsALongWaitForwardByAtMostFiveMinutes(t *testing.T) {
	if got := Earlier(24*time.Hour, 1); got != 24*time.Hour-5*time.Minute {
		t.Errorf("Earlier(24h, 1) = %v, want 23h55m", got)
	}
}
