package ascii

import "testing"

// Lower maps every upper-case ASCII letter, A and Z included, and
// nothing else.
func TestLower_MapsAToZInclusive(t *testing.T) {
	if got := Lower("AZ@[az`{É"); got != "az@[az`{É" {
		t.Errorf("Lower = %q, want %q", got, "az@[az`{É")
	}
}
