//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package items_test

import (
	"os"
	"syscall"
)

// lockFile locks f, shared or exclusively (flock(2)), waiting until it
// can; locking again changes the lock held. Closing f releases it. The
// build constraint lists the systems whose syscall package has Flock: not
// every Unix (AIX and Solaris lack it; lock_other_test.go serves them).
func lockFile(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	return syscall.Flock(int(f.Fd()), how)
}
