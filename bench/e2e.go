package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
)

// listService answers ListItems with a fixed page of items; every other
// method is unimplemented.
type listService struct {
	itemsv1.UnimplementedItemServiceServer
	resp *itemsv1.ListItemsResponse
}

func (s *listService) ListItems(context.Context, *itemsv1.ListItemsRequest) (*itemsv1.ListItemsResponse, error) {
	return s.resp, nil
}

func newListService() *listService {
	resp := &itemsv1.ListItemsResponse{}
	created := timestamppb.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	for i := range 10 {
		resp.Items = append(resp.Items, &itemsv1.Item{
			Id: fmt.Sprintf("item-%d", i+1), Name: fmt.Sprintf("item number %d", i+1),
			CreatedBy: "test-client", CreatedByClient: "test-client", CreateTime: created,
		})
	}
	return &listService{resp: resp}
}

// serverVariant is one way of building the server under test.
type serverVariant struct {
	name string
	// options returns the server options (interceptors) and a cleanup.
	options func(ctx context.Context, f *fixture) ([]grpc.ServerOption, func(), error)
}

func noAuth(context.Context, *fixture) ([]grpc.ServerOption, func(), error) {
	return nil, func() {}, nil
}

// e2eResult is one timed run.
type e2eResult struct {
	elapsed   time.Duration
	serverCPU time.Duration // CPU time of the server's process, which runs no client
	clientCPU time.Duration // CPU time of the client's process
	calls     int
	failures  int64
	p50, p99  time.Duration
	// gcCPU, gcCycles and allocs are the server process's garbage
	// collection CPU time, completed GC cycles and heap bytes allocated
	// over the timed calls; live is its live heap when they start (just
	// after a forced GC): see readGC.
	gcCPU    time.Duration
	gcCycles uint64
	allocs   uint64
	live     uint64
	// userCPU is the user part of serverCPU, and kernel what the server
	// asked of the kernel over the timed calls (see kernelReading).
	userCPU time.Duration
	kernel  kernelReading
}

// runE2E starts a loopback gRPC server built by v in this process, then has
// a child process (this program again, see clientMain) make calls ListItems
// RPCs from callers goroutines, caller i always sending token
// i%len(tokens). The child warms up with one call per caller, then times
// the calls; this process measures its own CPU time over the timed part,
// which is the server's alone.
func runE2E(ctx context.Context, f *fixture, v serverVariant, tokens []string, calls, callers int) (e2eResult, error) {
	opts, cleanup, err := v.options(ctx, f)
	if err != nil {
		return e2eResult{}, fmt.Errorf("%s: %w", v.name, err)
	}
	defer cleanup()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return e2eResult{}, err
	}
	srv := grpc.NewServer(opts...)
	itemsv1.RegisterItemServiceServer(srv, newListService())
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(lis) }()
	defer func() { srv.Stop(); <-served }()

	c, err := startClient(ctx, clientJob{Addr: lis.Addr().String(), Calls: calls, Callers: callers, Tokens: tokens, Rate: callRate})
	if err != nil {
		return e2eResult{}, fmt.Errorf("%s: %w", v.name, err)
	}
	defer c.close()
	if err := c.waitWarm(); err != nil {
		return e2eResult{}, fmt.Errorf("%s: warm-up: %w", v.name, err)
	}
	runtime.GC()
	stopProfile, err := startServerProfile(v.name)
	if err != nil {
		return e2eResult{}, err
	}
	gc0, k0, user0, cpu0 := readGC(), readKernel(), userTime(), cpuTime()
	timedCallsStart()
	r, err := c.run()
	timedCallsEnd()
	cpu, user, k1, gc1 := cpuTime()-cpu0, userTime()-user0, readKernel(), readGC()
	stopProfile()
	if err != nil {
		return e2eResult{}, fmt.Errorf("%s: %w", v.name, err)
	}
	return e2eResult{
		elapsed: r.Elapsed, serverCPU: cpu, clientCPU: r.CPU, calls: calls, failures: r.Failures, p50: r.P50, p99: r.P99,
		gcCPU: gc1.cpu - gc0.cpu, gcCycles: gc1.cycles - gc0.cycles, allocs: gc1.allocs - gc0.allocs, live: gc0.live,
		userCPU: user, kernel: k1.sub(k0),
	}, nil
}

// e2eTable runs every server variant rounds times, interleaved, and prints
// for each the median round's figures and, against the server without
// authentication, the median (and range) of the ratios taken round by round:
// the variants of one round run back to back, so a ratio within a round is
// less exposed to the machine's drift than a ratio of medians.
func e2eTable(ctx context.Context, w io.Writer, f *fixture, calls, callers, rounds int) error {
	tokens := make([]string, callers)
	for i := range tokens {
		var err error
		if tokens[i], err = f.listToken(); err != nil {
			return err
		}
	}
	variants := append([]serverVariant{{name: "no authentication", options: noAuth}}, grpcauthVariants()...)
	variants = append(variants, serverVariant{name: "go-grpc-middleware auth + golang-jwt v5/keyfunc v3 (no token cache)", options: middlewareJWTServer})
	if pairOnly {
		variants = variants[:2] // no authentication, and grpcauth with its cache on
	}
	if controls {
		variants = slices.Insert(variants, 1, controlVariants()...)
		if spin > 0 {
			variants = slices.Insert(variants, 2, spinVariant())
		}
		if ballast > 0 {
			variants = slices.Insert(variants, 1, ballastVariant())
		}
	}
	if onlyVariant != "" {
		var err error
		if variants, err = selectVariant(variants, onlyVariant); err != nil {
			return err
		}
	}
	results := make([][]e2eResult, len(variants))
	for round := range rounds {
		// Odd rounds run the variants in reverse, so that none always runs
		// first, on a machine still settling from the previous one.
		for j := range variants {
			i := j
			if round%2 == 1 {
				i = len(variants) - 1 - j
			}
			r, err := runE2E(ctx, f, variants[i], tokens, calls, callers)
			if err != nil {
				return err
			}
			results[i] = append(results[i], r)
		}
	}
	fmt.Fprintf(w, "## End to end: unary ListItems over loopback gRPC\n\n")
	pace := "each caller calling again as soon as its last call returns"
	if callRate > 0 {
		pace = fmt.Sprintf("paced to %.0f calls/s in total", callRate)
	}
	fmt.Fprintf(w, "%d calls from %d concurrent callers on one connection (%s), each caller reusing its own RS256 token "+
		"(%d distinct tokens); %d interleaved rounds.\n\n", calls, callers, pace, min(callers, len(tokens)), rounds)
	fmt.Fprintln(w, "| server | calls/s | × no auth | server CPU µs/call | × no auth (range) | + µs/call over no auth (range) | client CPU µs/call | p50 | p99 | failed calls |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	base := results[0]
	var withFailures []string
	for i, v := range variants {
		rs := results[i]
		rate := make([]float64, len(rs))
		cpu := make([]float64, len(rs))
		extra := make([]float64, len(rs))
		var failed int64
		for r, x := range rs {
			rate[r] = x.rate() / base[r].rate()
			cpu[r] = x.serverCPU.Seconds() / base[r].serverCPU.Seconds()
			extra[r] = perCall(x.serverCPU, x.calls) - perCall(base[r].serverCPU, base[r].calls)
			failed += x.failures
		}
		if failed > 0 {
			withFailures = append(withFailures, v.name)
		}
		slices.Sort(rate)
		slices.Sort(cpu)
		slices.Sort(extra)
		med := slices.Clone(rs)
		slices.SortFunc(med, func(a, b e2eResult) int { return cmp.Compare(a.elapsed, b.elapsed) })
		m := med[len(med)/2]
		fmt.Fprintf(w, "| %s | %.0f | %.2f× | %.2f | %.3f× (%.3f–%.3f) | %+.2f (%+.2f to %+.2f) | %.1f | %s | %s | %d |\n", v.name,
			m.rate(), median(rate), perCall(m.serverCPU, m.calls), median(cpu), cpu[0], cpu[len(cpu)-1],
			median(extra), extra[0], extra[len(extra)-1], perCall(m.clientCPU, m.calls), m.p50.Round(time.Microsecond), m.p99.Round(time.Microsecond), failed)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Server CPU µs/call is the server process's CPU time (user + system) over the timed calls; "+
		"the client runs in a child process, so none of its work is counted. The × columns are the median of the "+
		"round-by-round ratios to the no-authentication server (the CPU ratio's range in brackets), and the "+
		"+ µs/call column the median (and range) of the round-by-round differences in server CPU per call: what "+
		"authentication costs the server per call. calls/s, µs/call and latencies are the round of median elapsed time.")
	fmt.Fprintln(w)
	if onlyVariant != "" {
		fmt.Fprintf(w, "(-variant: only %s ran, so the × and + columns compare it with itself.)\n\n", variants[0].name)
	}
	gcTable(w, variants, results)
	kernelTable(w, variants, results)
	if len(withFailures) > 0 {
		fmt.Fprintf(w, "**Not comparable:** calls failed on %s; a failed call costs the server less than a served one, "+
			"and those figures count it as a call.\n\n", strings.Join(withFailures, "; "))
	}
	return nil
}

func (r e2eResult) rate() float64 { return float64(r.calls) / r.elapsed.Seconds() }

// median returns the median of sorted xs (the mean of the middle two for
// an even count).
func median(xs []float64) float64 {
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// selectVariant returns the one variant whose name contains sub (the
// -variant flag), or an error naming the choices.
func selectVariant(variants []serverVariant, sub string) ([]serverVariant, error) {
	var found []serverVariant
	var names []string
	for _, v := range variants {
		names = append(names, fmt.Sprintf("%q", v.name))
		if strings.Contains(v.name, sub) {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("-variant %q matches %d of the servers %s (-controls adds two); it must match one", sub, len(found), strings.Join(names, ", "))
	}
	return found, nil
}

// timedCallsStart and timedCallsEnd do nothing; runE2E calls them just
// before and just after a variant's timed calls, so that a tool can find
// that window by function name: valgrind's callgrind, run with
// --zero-before=main.timedCallsStart --dump-before=main.timedCallsEnd,
// counts only the server's work during the calls (docs/benchmarks.md, "End
// to end under callgrind").
//
//go:noinline
func timedCallsStart() {}

//go:noinline
func timedCallsEnd() {}
