package httpheader

import (
	"net/http"
	"strconv"
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
		{"+30", 0, false}, // 1*DIGIT: no sign
		{"-0", 0, false},
		{"3 0", 0, false},
		{"\u0660", 0, false}, // an Arabic-Indic zero is no DIGIT
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

func TestRateLimitReset_ReadsAUnixTimeAgainstTheGivenClock(t *testing.T) {
	now := time.Date(2032, 3, 4, 5, 6, 7, 500_000_000, time.UTC)
	unix := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	tests := []struct {
		in   string
		want time.Duration
	}{
		{unix(30 * time.Second), 29*time.Second + 500*time.Millisecond}, // whole seconds, against now's fraction
		{" " + unix(2*time.Minute) + " ", 2*time.Minute - 500*time.Millisecond},
		{unix(200 * 365 * 24 * time.Hour), DeltaCeiling * time.Second},
		{"9223372036854775807", DeltaCeiling * time.Second},
		{"99999999999999999999", DeltaCeiling * time.Second}, // overflows int64: far in the future
		{unix(0), 0},
		{unix(-time.Hour), 0},
		{"0", 0},
		{"-5", 0},
		{"", 0},
		{"1.5e9", 0},
		{"30", 0},                       // a delay, as some servers mean it: a time in 1970
		{"+" + unix(30*time.Second), 0}, // 1*DIGIT: a sign makes it unparsable
		// Milliseconds, as some servers send it: read as seconds it would
		// be 58,000 years away, and hold the caller back for its whole cap.
		{strconv.FormatInt(now.Add(30*time.Second).UnixMilli(), 10), 30 * time.Second}, // to the millisecond
		{strconv.FormatInt(now.Add(1500*time.Millisecond).UnixMilli(), 10), 1500 * time.Millisecond},
		{strconv.FormatInt(now.Add(-time.Minute).UnixMilli(), 10), 0},
		{strconv.FormatInt(now.Add(200*365*24*time.Hour).UnixMilli(), 10), DeltaCeiling * time.Second},
		{"999999999999", DeltaCeiling * time.Second}, // the largest in seconds: the year 33658
		{"1000000000000", 0}, // the smallest in milliseconds: 2001
		{"-" + strconv.FormatInt(now.Add(30*time.Second).UnixMilli(), 10), 0},
		{strconv.FormatInt(now.Add(30*time.Second).UnixMilli(), 10) + ".5", 0}, // not an integer: unparsable
		{strconv.FormatInt(now.Add(30*time.Second).Unix(), 10) + ".250", 0},
		{now.Add(time.Minute).Format(http.TimeFormat), 0}, // a date is Retry-After's form, not this header's
	}
	for _, tc := range tests {
		if got := RateLimitReset(tc.in, now); got != tc.want {
			t.Errorf("RateLimitReset(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzRetryAfter checks that RetryAfter and RateLimitReset never panic and
// always return a wait within [0, DeltaCeiling seconds], whatever the
// header says.
func FuzzRetryAfter(f *testing.F) {
	for _, seed := range []string{"0", "120", "-1", "99999999999999999999", "+5", " 7 ", "Wed, 21 Oct 2015 07:28:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "", "1962162397", "9223372036854775807", "-9223372036854775808"} {
		f.Add(seed)
	}
	now := time.Date(2032, 3, 4, 5, 6, 7, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := RetryAfter(v, now); d < 0 || d > DeltaCeiling*time.Second {
			t.Fatalf("RetryAfter(%q) = %v, outside [0, %ds]", v, d, int64(DeltaCeiling))
		}
		if d := RateLimitReset(v, now); d < 0 || d > DeltaCeiling*time.Second {
			t.Fatalf("RateLimitReset(%q) = %v, outside [0, %ds]", v, d, int64(DeltaCeiling))
		}
	})
}

func TestWait_RetryAfterDecidesAndA429FallsBackToTheRateLimitReset(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	reset := strconv.FormatInt(now.Add(40*time.Second).Unix(), 10)
	tests := []struct {
		name   string
		status int
		header map[string]string
		d      time.Duration
		from   string
	}{
		{"429 Retry-After", 429, map[string]string{"Retry-After": "30", "X-Rate-Limit-Reset": reset}, 30 * time.Second, "Retry-After"},
		{"503 Retry-After", 503, map[string]string{"Retry-After": "30"}, 30 * time.Second, "Retry-After"},
		{"429 reset alone", 429, map[string]string{"X-Rate-Limit-Reset": reset}, 40 * time.Second, "X-Rate-Limit-Reset"},
		{"429 blank Retry-After: the reset", 429, map[string]string{"Retry-After": "  ", "X-Rate-Limit-Reset": reset}, 40 * time.Second, "X-Rate-Limit-Reset"},
		{"429 unparsable Retry-After decides", 429, map[string]string{"Retry-After": "soon", "X-Rate-Limit-Reset": reset}, 0, "Retry-After"},
		{"429 Retry-After 0 decides", 429, map[string]string{"Retry-After": "0", "X-Rate-Limit-Reset": reset}, 0, "Retry-After"},
		{"503 reset alone: nothing", 503, map[string]string{"X-Rate-Limit-Reset": reset}, 0, "Retry-After"},
		{"429 reset in milliseconds", 429, map[string]string{"X-Rate-Limit-Reset": strconv.FormatInt(now.Add(40*time.Second).UnixMilli(), 10)}, 40 * time.Second, "X-Rate-Limit-Reset"},
		{"429 Retry-After date", 429, map[string]string{"Retry-After": now.Add(time.Minute).Format(http.TimeFormat), "X-Rate-Limit-Reset": reset}, time.Minute, "Retry-After"},
		{"429 past Retry-After date decides", 429, map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat), "X-Rate-Limit-Reset": reset}, 0, "Retry-After"},
		{"429 neither", 429, nil, 0, "X-Rate-Limit-Reset"},
		{"503 blank Retry-After and a reset: nothing", 503, map[string]string{"Retry-After": " ", "X-Rate-Limit-Reset": reset}, 0, "Retry-After"},
		{"503 neither", 503, nil, 0, "Retry-After"},
		{"200 reset alone: nothing", 200, map[string]string{"X-Rate-Limit-Reset": reset}, 0, ""},
		{"200: nothing", 200, map[string]string{"Retry-After": "30", "X-Rate-Limit-Reset": reset}, 0, ""},
		{"500: nothing", 500, map[string]string{"Retry-After": "30"}, 0, ""},
	}
	for _, tt := range tests {
		resp := &http.Response{StatusCode: tt.status, Header: http.Header{}}
		for k, v := range tt.header {
			resp.Header.Set(k, v)
		}
		if d, from := Wait(resp, now); d != tt.d || from != tt.from {
			t.Errorf("%s: Wait = %v, %q; want %v, %q", tt.name, d, from, tt.d, tt.from)
		}
	}
	if d, from := Wait(nil, now); d != 0 || from != "" {
		t.Errorf("Wait(nil) = %v, %q; want 0, \"\"", d, from)
	}
}
