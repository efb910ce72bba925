//go:build unix

package items_test

import (
	"os"
	"syscall"
)

// lockFile locks f, shared or exclusively (flock(2)), waiting until it
// can; locking again changes the lock held. Closing f releases it.
func lockFile(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	return syscall.Flock(int(f.Fd()), how)
}
