package main

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a test leaves a goroutine behind: a server,
// a stream, a watcher or a connection that outlived its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A second signal that cannot be sent again (Windows sends no os.Interrupt
// to a process) still ends the process, with the shell's code for that
// signal, instead of logging that it ends and running on.
func TestEndBySignal_SignalThatCannotBeRaisedStillEndsTheProcess(t *testing.T) {
	for sig, want := range map[os.Signal]int{os.Interrupt: 130, syscall.SIGTERM: 143} {
		code := -1
		endBySignal(sig, func(os.Signal) error { return errors.New("not supported by windows") }, func(c int) { code = c })
		if code != want {
			t.Errorf("%v: exit code %d, want %d (-1: the process was not ended)", sig, code, want)
		}
	}
}
