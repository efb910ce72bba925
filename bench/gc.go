package main

import (
	"fmt"
	"io"
	"runtime/metrics"
	"slices"
	"time"
)

// gcReading is the Go runtime's own account of its garbage collector, read
// before and after an end-to-end variant's timed calls to split the server's
// CPU into the collector's share and the rest.
type gcReading struct {
	cpu    time.Duration // GC CPU time so far, estimated by the runtime (/cpu/classes/gc/total)
	cycles uint64        // completed GC cycles (/gc/cycles/total)
	allocs uint64        // bytes allocated on the heap so far (/gc/heap/allocs)
	live   uint64        // heap bytes marked live by the last GC (/gc/heap/live)
}

var gcMetrics = []string{
	"/cpu/classes/gc/total:cpu-seconds",
	"/gc/cycles/total:gc-cycles",
	"/gc/heap/allocs:bytes",
	"/gc/heap/live:bytes",
}

// readGC reads the process's GC metrics. A metric this Go version does not
// have reads as zero.
func readGC() gcReading {
	s := make([]metrics.Sample, len(gcMetrics))
	for i, name := range gcMetrics {
		s[i].Name = name
	}
	metrics.Read(s)
	u := func(v metrics.Value) uint64 {
		if v.Kind() == metrics.KindUint64 {
			return v.Uint64()
		}
		return 0
	}
	var r gcReading
	if s[0].Value.Kind() == metrics.KindFloat64 {
		r.cpu = time.Duration(s[0].Value.Float64() * float64(time.Second))
	}
	r.cycles, r.allocs, r.live = u(s[1].Value), u(s[2].Value), u(s[3].Value)
	return r
}

// gcTable prints, for each end-to-end variant, the garbage collector's
// share of the server's CPU: the median over rounds of its GC CPU per call,
// of the round-by-round difference from the server without authentication
// (results[0]), of its GC cycles and heap bytes allocated per call, and of
// its live heap when the timed calls start.
func gcTable(w io.Writer, variants []serverVariant, results [][]e2eResult) {
	fmt.Fprintln(w, "| server | GC CPU µs/call | + GC µs/call over no auth (range) | GC cycles | heap allocated B/call | live heap at start KiB |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|")
	base := results[0]
	for i, v := range variants {
		rs := results[i]
		gc, extra, cycles, allocs, live := make([]float64, len(rs)), make([]float64, len(rs)), make([]float64, len(rs)), make([]float64, len(rs)), make([]float64, len(rs))
		for r, x := range rs {
			gc[r] = perCall(x.gcCPU, x.calls)
			extra[r] = gc[r] - perCall(base[r].gcCPU, base[r].calls)
			cycles[r] = float64(x.gcCycles)
			allocs[r] = float64(x.allocs) / float64(x.calls)
			live[r] = float64(x.live) / 1024
		}
		for _, xs := range [][]float64{gc, extra, cycles, allocs, live} {
			slices.Sort(xs)
		}
		fmt.Fprintf(w, "| %s | %.2f | %+.2f (%+.2f to %+.2f) | %.0f | %.0f | %.0f |\n", v.name,
			median(gc), median(extra), extra[0], extra[len(extra)-1], median(cycles), median(allocs), median(live))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "GC CPU is the Go runtime's estimate of its collector's CPU time (runtime/metrics /cpu/classes/gc/total, "+
		"which counts idle-priority mark workers too) over the same timed calls, all figures medians over the rounds. It is part "+
		"of the server CPU above: the + GC column is the part of the + µs/call column that the collector took.")
	fmt.Fprintln(w)
}
