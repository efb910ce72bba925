package httpheader

import "testing"

// The ceiling is RFC 9111's, 2147483648 (2^31) seconds: a larger value
// reads as exactly that.
func TestDeltaSeconds_CeilingIsRFC9111s2To31(t *testing.T) {
	for _, v := range []string{"2147483648", "2147483649", "99999999999999999999"} {
		if secs, ok := DeltaSeconds(v); !ok || secs != 2147483648 {
			t.Errorf("DeltaSeconds(%q) = %d, %v, want 2147483648, true", v, secs, ok)
		}
	}
	if secs, ok := DeltaSeconds("2147483647"); !ok || secs != 2147483647 {
		t.Errorf("DeltaSeconds(2147483647) = %d, %v", secs, ok)
	}
}
