package web

import (
	"regexp"
	"strconv"
	"testing"
)

// The page cuts a server's strings in its call log at the bound the Go
// client's report uses: app.js's MAX_SHOWN is MaxShown.
func TestAppJS_MaxShownIsWebMaxShown(t *testing.T) {
	js, err := Files.ReadFile("app.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^const MAX_SHOWN = ([0-9]+);$`).FindAllSubmatch(js, -1)
	if len(m) != 1 {
		t.Fatalf("app.js declares MAX_SHOWN %d times, want once, as `const MAX_SHOWN = <n>;`", len(m))
	}
	if got := string(m[0][1]); got != strconv.Itoa(MaxShown) {
		t.Errorf("app.js's MAX_SHOWN is %s, want MaxShown, %d", got, MaxShown)
	}
}
