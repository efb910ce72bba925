//go:build !unix

package items_test

import (
	"errors"
	"os"
)

// lockFile fails here: only Unix has flock(2), and keptBinaries then
// builds into a temporary directory instead of the kept one.
func lockFile(*os.File, bool) error {
	return errors.New("items_test: no file locks on this system")
}
