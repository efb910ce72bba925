// Command bench compares grpcauth's token verifier with jwx v2, golang-jwt v5
// + keyfunc v3 and go-oidc v3 on the same tokens from the same in-process
// issuer, against the bare signature check measured in the same run, and
// prints Markdown tables. Every server it starts listens on 127.0.0.1.
//
//	cd bench && go run . [-benchtime 1s] [-count 1] [-cost=true] [-unknown 1000] [-e2e=true] [-calls 20000] [-callers 50]
//		[-rounds 3] [-rate 0] [-pair] [-controls] [-spin 0] [-ballast 0] [-variant name] [-serverprofile prefix] [-v]
//
// docs/benchmarks.md explains each flag and table.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"testing"
	"time"
)

func main() {
	if os.Getenv(clientEnv) != "" {
		clientMain()
		return
	}
	testing.Init() // registers test.benchtime, which testing.Benchmark reads
	benchtime := flag.Duration("benchtime", time.Second, "run each benchmark for about this long")
	cost := flag.Bool("cost", true, "run the per-token cost table")
	unknown := flag.Int("unknown", 1000, "unknown-kid tokens (distinct random kids) for the JWKS request count; 0 skips it")
	e2e := flag.Bool("e2e", true, "also run the end-to-end loopback gRPC benchmark")
	calls := flag.Int("calls", 20000, "RPCs per end-to-end run")
	callers := flag.Int("callers", 50, "concurrent callers in the end-to-end run (and the concurrent unknown-kid count)")
	rounds := flag.Int("rounds", 3, "interleaved rounds of the end-to-end run (the median is shown)")
	flag.IntVar(&count, "count", 1, "time each benchmark this many times, interleaved within its row, and show the median run")
	flag.Float64Var(&callRate, "rate", 0, "end to end, pace the callers to this many calls a second in total (0: each caller calls again as soon as its last call returns)")
	flag.BoolVar(&pairOnly, "pair", false, "time only the no-authentication server and grpcauth with its cache on in the end-to-end run (for many -rounds)")
	flag.BoolVar(&controls, "controls", false, "also time, end to end, a server with a no-op interceptor and grpcauth with a verifier that returns fixed claims (to split grpcauth's cost)")
	flag.DurationVar(&spin, "spin", 0, "with -controls, also time end to end a server whose only interceptor burns about this much CPU a call (e.g. 300ns), to calibrate what the run makes of an interceptor's cost")
	flag.IntVar(&ballast, "ballast", 0, "with -controls, also time end to end the server without authentication holding this many KiB more live heap, to measure what the memory an interceptor keeps costs the garbage collector")
	flag.StringVar(&onlyVariant, "variant", "", "end to end, run only the server whose name contains this (e.g. \"no authentication\", \"no-op\", \"fixed claims\", \"cache on\"; the controls need -controls)")
	flag.StringVar(&serverProfile, "serverprofile", "", "write a CPU profile of the server process during each end-to-end variant's timed calls to `prefix`-<variant>.pprof")
	verbose := flag.Bool("v", false, "print each library's rejection error (to check every library rejects for the intended reason)")
	flag.Parse()
	if err := flag.Set("test.benchtime", benchtime.String()); err != nil {
		fatal(err)
	}
	if count < 1 || *rounds < 1 || *unknown < 0 || *calls < 1 || *callers < 1 {
		fatal(fmt.Errorf("-count, -rounds, -calls and -callers must be positive, -unknown not negative"))
	}

	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := newFixture()
	if err != nil {
		fatal(err)
	}
	defer f.close()

	out := os.Stdout
	printMachine(out, *benchtime, f)
	libs := libraries()
	if *cost {
		if err := costTable(ctx, out, f, libs, *verbose); err != nil {
			fatal(err)
		}
	}
	if *unknown > 0 {
		if err := unknownKidTable(ctx, out, f, libs, *unknown, *callers); err != nil {
			fatal(err)
		}
	}
	if *e2e {
		if err := e2eTable(ctx, out, f, *calls, *callers, *rounds); err != nil {
			fatal(err)
		}
	}
	fmt.Fprintf(out, "Load average at the end: %s; wall time %s.\n", loadAverage(), time.Since(start).Round(time.Second))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// measured is one benchmark's outcome; err is set when the code under test
// gave the wrong answer (accepted a bad token or rejected a good one).
type measured struct {
	r   testing.BenchmarkResult
	err error
	cpu time.Duration // process CPU time (user+system) of the reported run
}

// count is how many times each benchmark runs (-count); tables show the
// median.
var count = 1

// measure benchmarks fn once; fn returns an error when the outcome is wrong.
// Besides wall time it records the process CPU time over the same
// iterations, which a busy machine distorts far less: testing.Benchmark runs
// a b.Loop benchmark function once, and reports every iteration of its loop.
func measure(fn func() error) measured {
	var bad error
	var cpu time.Duration
	r := testing.Benchmark(func(b *testing.B) {
		c0 := cpuTime()
		for b.Loop() {
			if err := fn(); err != nil && bad == nil {
				bad = err
			}
		}
		cpu = cpuTime() - c0
	})
	return measured{r: r, err: bad, cpu: cpu}
}

// openWarm opens a fresh instance of lib and verifies every valid token
// once, so its key set (and any cache) is warm before timing.
func openWarm(ctx context.Context, lib library, f *fixture) (verifyFunc, func(), error) {
	verify, closeFn, err := lib.open(ctx, f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: open: %w", lib.name, err)
	}
	for _, alg := range algs {
		if err := verify(ctx, f.valid[alg].token); err != nil {
			closeFn()
			return nil, nil, fmt.Errorf("%s: warm-up rejected the valid %s token: %w", lib.name, alg, err)
		}
	}
	return verify, closeFn, nil
}

func printMachine(w io.Writer, benchtime time.Duration, f *fixture) {
	m := describeMachine()
	fmt.Fprintf(w, "Machine: %s; load average at start %s; benchtime %s, count %d (median shown); token sizes: RS256 %d B, ES256 %d B, EdDSA %d B.\n\n",
		m, loadAverage(), benchtime, count, len(f.valid["RS256"].token), len(f.valid["ES256"].token), len(f.valid["EdDSA"].token))
}
