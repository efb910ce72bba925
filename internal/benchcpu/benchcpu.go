//go:build unix

// Package benchcpu reports the CPU time a benchmark's process used per
// operation, for the benchmarks run on a shared machine, where wall time
// is inflated and scattered by other processes and CPU time is the
// steadier figure (though inflated too).
//
//	defer benchcpu.Report(b)() // after the setup, with b.ResetTimer
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
