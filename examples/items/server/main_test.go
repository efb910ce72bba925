package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a test leaves a goroutine behind: a server,
// a stream, a watcher or a connection that outlived its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
