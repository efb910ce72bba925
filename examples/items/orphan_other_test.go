//go:build !linux

package items_test

import "os/exec"

// dieWithTest does nothing here: only Linux can tie a child's life to its
// parent's (Pdeathsig).
func dieWithTest(*exec.Cmd) {}
