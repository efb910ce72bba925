// Package benchcpu reports the CPU time a benchmark's process used per
// operation, for the benchmarks run on a shared machine, where wall time
// is inflated and scattered by other processes and CPU time is the
// steadier figure (though inflated too).
//
//	func BenchmarkVerify(b *testing.B) {
//		// ... setup ...
//		b.ResetTimer()
//		defer benchcpu.Report(b)() // reports cpu-ns/op when the loop is done
//		for b.Loop() {
//			// ...
//		}
//	}
//
// It builds on Unix only (getrusage).
package benchcpu
