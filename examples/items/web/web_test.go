package web

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/grpcauth/grpcauth/examples/items/internal/display"
)

// The page cuts a server's strings in its call log at the bound the Go
// client's report uses: app.js's MAX_SHOWN is display.MaxShown.
func TestAppJS_MaxShownIsDisplayMaxShown(t *testing.T) {
	js, err := Files.ReadFile("app.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^const MAX_SHOWN = ([0-9]+);$`).FindAllSubmatch(js, -1)
	if len(m) != 1 {
		t.Fatalf("app.js declares MAX_SHOWN %d times, want once, as `const MAX_SHOWN = <n>;`", len(m))
	}
	if got := string(m[0][1]); got != strconv.Itoa(display.MaxShown) {
		t.Errorf("app.js's MAX_SHOWN is %s, want display.MaxShown, %d", got, display.MaxShown)
	}
}
