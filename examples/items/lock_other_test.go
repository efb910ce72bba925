//go:build !(darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd)

package items_test

import (
	"errors"
	"os"
)

// lockFile fails here: this system's syscall package has no Flock
// (Windows, AIX, Solaris, ...), and keptBinaries then builds into a
// temporary directory instead of the kept one.
func lockFile(*os.File, bool) error {
	return errors.New("items_test: no file locks on this system")
}
