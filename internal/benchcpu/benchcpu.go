//go:build unix

package benchcpu

import (
	"syscall"
	"testing"
	"time"
)

// Report starts measuring the process's CPU time (user and system); the
// function it returns reports it per operation as cpu-ns/op.
func Report(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() { b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op") }
}
