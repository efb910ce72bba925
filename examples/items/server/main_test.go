package main

import (
	"errors"
	"log/slog"
	"os"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// TestMain fails the run when a test leaves a goroutine behind: a server,
// a stream, a watcher or a connection that outlived its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestServer is newServer with a verifier of iss's tokens, closed when
// the test ends, logging to log.
func newTestServer(t *testing.T, iss *grpcauthtest.Issuer, log *slog.Logger) *server {
	t.Helper()
	v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	s, err := newServer(v, iss.URL(), iss.Audience(), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

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
