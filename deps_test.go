package grpcauth

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLibraryDeps_NoConnectOrBrowserModules keeps what the example needs
// for browsers (connectrpc.com/vanguard and connect, in the main module's
// go.mod for examples/items/server only) and what its browser test needs
// (chromedp, in a module of its own) out of every library package's build:
// a program that imports grpcauth links neither. docs/browsers.md says so.
func TestLibraryDeps_NoConnectOrBrowserModules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	pkgs := []string{".", "./verifier", "./introspect", "./grpcauthtest", "./otelmetrics", "./dpop", "./tokencreds", "./celcond"}
	out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < len(pkgs) {
		t.Fatalf("go list -deps listed %d packages, fewer than it was asked about", len(deps))
	}
	for _, p := range deps {
		for _, banned := range []string{"connectrpc.com/", "github.com/chromedp/"} {
			if strings.HasPrefix(p, banned) {
				t.Errorf("a library package depends on %s", p)
			}
		}
	}
}
