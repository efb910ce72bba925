package verifier

import (
	"syscall"
	"testing"
)

// BenchmarkHitFloorWallClock times the cheapest wall-clock reading Linux
// offers, gettimeofday through the vDSO: one clock, where time.Now reads
// two (the wall clock and the monotonic one). It is the floor of a cache
// hit that reads the cheapest clock there is on every hit; the verifier's
// hits share a coarse reading instead (docs/verifier.md, Benchmarks):
//
//	go test -run='^$' -bench=BenchmarkHitFloor -count=3 ./verifier/
func BenchmarkHitFloorWallClock(b *testing.B) {
	var tv syscall.Timeval
	var sec int64
	for b.Loop() {
		if err := syscall.Gettimeofday(&tv); err != nil {
			b.Fatal(err)
		}
		sec += int64(tv.Sec) // int32 on 386
	}
	if sec == 0 {
		b.Fatal("no reading")
	}
}
