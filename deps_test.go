package grpcauth

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// libraryDeps returns, for each library package of the module (every
// package that a program outside it can import: not under examples/ nor
// internal/), the packages it builds, its whole dependency list from go
// list.
func libraryDeps(t *testing.T) map[string][]string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const module = "github.com/grpcauth/grpcauth"
	deps := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg := fields[0]
		if rel, ok := strings.CutPrefix(pkg, module+"/"); ok && (strings.HasPrefix(rel, "examples/") || strings.HasPrefix(rel, "internal/") || strings.Contains(rel, "/internal/")) {
			continue
		}
		deps[pkg] = fields[1:]
	}
	// The packages the docs name, at least: a go list that printed
	// something else fails here rather than passing with nothing to check.
	for _, p := range []string{"", "/verifier", "/introspect", "/grpcauthtest", "/otelmetrics", "/dpop", "/tokencreds", "/celcond"} {
		if len(deps[module+p]) == 0 {
			t.Fatalf("go list listed no dependencies of %s:\n%s", module+p, out)
		}
	}
	return deps
}

// TestLibraryDeps_NoConnectOrBrowserModules keeps what the example needs
// for browsers (connectrpc.com/vanguard and connect, in the main module's
// go.mod for examples/items/server only) and what its browser test needs
// (chromedp, in a module of its own) out of every library package's build:
// a program that imports grpcauth links neither. docs/browsers.md says so.
func TestLibraryDeps_NoConnectOrBrowserModules(t *testing.T) {
	for pkg, deps := range libraryDeps(t) {
		for _, p := range deps {
			for _, banned := range []string{"connectrpc.com/", "github.com/chromedp/"} {
				if strings.HasPrefix(p, banned) {
					t.Errorf("%s depends on %s", pkg, p)
				}
			}
		}
	}
}

// TestLibraryDeps_OnlyCelcondBuildsCEL guards the promise that a server
// without conditions does not build cel-go: no library package but celcond
// (grpcauth, verifier, introspect, grpcauthtest, otelmetrics, dpop,
// tokencreds, and any other a program can import) depends on cel-go or on
// celcond. docs/conditions.md says so.
func TestLibraryDeps_OnlyCelcondBuildsCEL(t *testing.T) {
	const celcond = "github.com/grpcauth/grpcauth/celcond"
	isCEL := func(p string) bool {
		return strings.HasPrefix(p, "github.com/google/cel-go/") || strings.HasPrefix(p, "cel.dev/") || p == celcond
	}
	all := libraryDeps(t)
	// celcond does build cel-go: a check that cannot see it would pass
	// whatever the others import.
	if !slices.ContainsFunc(all[celcond], isCEL) {
		t.Fatalf("celcond's dependencies hold no cel-go package: %v", all[celcond])
	}
	for pkg, deps := range all {
		if pkg == celcond {
			continue
		}
		var cel []string
		for _, p := range deps {
			if p == celcond {
				cel = append([]string{p}, cel...) // named first
			} else if isCEL(p) {
				cel = append(cel, p)
			}
		}
		if len(cel) > 0 {
			t.Errorf("%s builds %d CEL packages, among them %s", pkg, len(cel), strings.Join(cel[:min(3, len(cel))], ", "))
		}
	}
}
