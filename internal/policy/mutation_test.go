package policy

import (
	"testing"
	"time"
)

// ScopeClaims the caller sets, not only the default ones, are copied: a
// later change to the caller's slice does not change the policy.
func TestValidate_CopiesTheCallersScopeClaims(t *testing.T) {
	in := valid()
	in.ScopeClaims = []string{"scope"}
	got, err := Validate(in, defaults)
	if err != nil {
		t.Fatal(err)
	}
	in.ScopeClaims[0] = "x"
	if got.ScopeClaims[0] != "scope" {
		t.Errorf("ScopeClaims alias the caller's: %q", got.ScopeClaims)
	}
}

// The bounds are inclusive: a ClockSkew of an hour and a MaxResponseSize
// of 1 GiB are accepted, a nanosecond or a byte more refused.
func TestValidate_BoundsAreInclusive(t *testing.T) {
	for _, tc := range []struct {
		skew    time.Duration
		size    int64
		wantErr bool
	}{
		{time.Hour, 0, false},
		{time.Hour + time.Nanosecond, 0, true},
		{0, 1 << 30, false},
		{0, 1<<30 + 1, true},
	} {
		in := valid()
		in.ClockSkew, in.MaxResponseSize = tc.skew, tc.size
		if _, err := Validate(in, defaults); (err != nil) != tc.wantErr {
			t.Errorf("ClockSkew %v, MaxResponseSize %d: err = %v, want an error: %v", tc.skew, tc.size, err, tc.wantErr)
		}
	}
}
