package httpheader

import (
	"net/http"
	"testing"
	"time"
)

func TestDeltaSeconds_ReadsSecondsUpToTheCeiling(t *testing.T) {
	tests := []struct {
		in   string
		secs int64
		ok   bool
	}{
		{"0", 0, true},
		{"30", 30, true},
		{"2147483648", DeltaCeiling, true},
		{"3000000000", DeltaCeiling, true},
		{"99999999999999999999", DeltaCeiling, true}, // overflows int64: the ceiling, not invalid
		{"-1", 0, false},
		{"-99999999999999999999", 0, false},
		{"", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range tests {
		if secs, ok := DeltaSeconds(tc.in); secs != tc.secs || ok != tc.ok {
			t.Errorf("DeltaSeconds(%q) = %d, %v, want %d, %v", tc.in, secs, ok, tc.secs, tc.ok)
		}
	}
}

func TestRetryAfter_ReadsSecondsOrADateAgainstTheGivenClock(t *testing.T) {
	now := time.Date(2032, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"99999999999999999999", DeltaCeiling * time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.AddDate(200, 0, 0).Format(http.TimeFormat), DeltaCeiling * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"", 0},
		{"-5", 0},
		{"tomorrow", 0},
	}
	for _, tc := range tests {
		if got := RetryAfter(tc.in, now); got != tc.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzRetryAfter checks that RetryAfter never panics and always returns a
// wait within [0, DeltaCeiling seconds], whatever the header says.
func FuzzRetryAfter(f *testing.F) {
	for _, seed := range []string{"0", "120", "-1", "99999999999999999999", "+5", " 7 ", "Wed, 21 Oct 2015 07:28:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", ""} {
		f.Add(seed)
	}
	now := time.Date(2032, 3, 4, 5, 6, 7, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := RetryAfter(v, now); d < 0 || d > DeltaCeiling*time.Second {
			t.Fatalf("RetryAfter(%q) = %v, outside [0, %ds]", v, d, int64(DeltaCeiling))
		}
	})
}
