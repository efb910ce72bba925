package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// kernelReading counts what the server process asked of the kernel: its
// read and write system calls (/proc/self/io's syscr and syscw, which
// count read, readv, write, writev and the like, the calls Go's network
// poller uses for a TCP connection) and its context switches (getrusage:
// voluntary, a thread that blocked, as in a futex wait or epoll_wait with
// nothing ready, and involuntary, a thread preempted). Read before and
// after an end-to-end variant's timed calls, it shows whether a server
// spends its extra CPU in the kernel: a call that makes the server answer
// later can change how many calls each read and write carries.
type kernelReading struct {
	reads, writes uint64
	vcsw, ivcsw   int64
}

func readKernel() kernelReading {
	var k kernelReading
	if f, err := os.Open("/proc/self/io"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			name, val, ok := strings.Cut(s.Text(), ":")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(strings.TrimSpace(val), 10, 64)
			if err != nil {
				continue
			}
			switch name {
			case "syscr":
				k.reads = n
			case "syscw":
				k.writes = n
			}
		}
		f.Close()
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		k.vcsw, k.ivcsw = ru.Nvcsw, ru.Nivcsw
	}
	return k
}

func (a kernelReading) sub(b kernelReading) kernelReading {
	return kernelReading{reads: a.reads - b.reads, writes: a.writes - b.writes, vcsw: a.vcsw - b.vcsw, ivcsw: a.ivcsw - b.ivcsw}
}

// kernelTable prints, for each end-to-end variant, the medians over rounds
// of its user and system CPU per call and of its read and write system
// calls and context switches per 100 calls.
func kernelTable(w io.Writer, variants []serverVariant, results [][]e2eResult) {
	fmt.Fprintln(w, "| server | user CPU µs/call | system CPU µs/call | reads /100 calls | writes /100 calls | voluntary switches /100 calls | involuntary /100 calls |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|")
	for i, v := range variants {
		rs := results[i]
		cols := make([][]float64, 6)
		for _, x := range rs {
			per100 := func(n float64) float64 { return 100 * n / float64(x.calls) }
			vals := []float64{perCall(x.userCPU, x.calls), perCall(x.serverCPU-x.userCPU, x.calls),
				per100(float64(x.kernel.reads)), per100(float64(x.kernel.writes)), per100(float64(x.kernel.vcsw)), per100(float64(x.kernel.ivcsw))}
			for c, val := range vals {
				cols[c] = append(cols[c], val)
			}
		}
		meds := make([]any, 0, 7)
		meds = append(meds, v.name)
		for _, c := range cols {
			slices.Sort(c)
			meds = append(meds, median(c))
		}
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.1f | %.1f | %.1f | %.1f |\n", meds...)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Medians over the rounds. Reads and writes are the server process's read- and write-family system calls "+
		"(/proc/self/io syscr and syscw), switches its context switches (getrusage), each over the timed calls.")
	fmt.Fprintln(w)
}
