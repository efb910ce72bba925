package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
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
	elapsed  time.Duration
	cpu      time.Duration // process CPU time: client and server together
	calls    int
	failures int64
	p50, p99 time.Duration
}

// runE2E starts a loopback gRPC server built by v, then makes calls
// ListItems RPCs from callers goroutines, caller i always sending token
// i%len(tokens), and times them after a warm-up of one call per caller.
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

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return e2eResult{}, err
	}
	defer conn.Close()
	client := itemsv1.NewItemServiceClient(conn)
	call := func(i int) error {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cctx = metadata.AppendToOutgoingContext(cctx, "authorization", "Bearer "+tokens[i%len(tokens)])
		resp, err := client.ListItems(cctx, &itemsv1.ListItemsRequest{})
		if err == nil && len(resp.GetItems()) == 0 {
			err = fmt.Errorf("empty response")
		}
		return err
	}
	for i := range callers {
		if err := call(i); err != nil {
			return e2eResult{}, fmt.Errorf("%s: warm-up call failed: %w", v.name, err)
		}
	}

	runtime.GC()
	cpu0 := cpuTime()
	var next, failures atomic.Int64
	lat := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(calls) {
				t0 := time.Now()
				if call(c) != nil {
					failures.Add(1)
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	res := e2eResult{elapsed: time.Since(start), cpu: cpuTime() - cpu0, calls: calls, failures: failures.Load()}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	res.p50, res.p99 = all[len(all)/2], all[len(all)*99/100]
	return res, nil
}

// e2eTable runs every server variant rounds times, interleaved, and prints
// the median round's throughput and its ratio to the server without
// authentication.
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
	results := make([][]e2eResult, len(variants))
	for range rounds {
		for i, v := range variants {
			r, err := runE2E(ctx, f, v, tokens, calls, callers)
			if err != nil {
				return err
			}
			results[i] = append(results[i], r)
		}
	}
	fmt.Fprintf(w, "## End to end: unary ListItems over loopback gRPC\n\n")
	fmt.Fprintf(w, "%d calls from %d concurrent callers on one connection, each caller reusing its own RS256 token; "+
		"%d interleaved rounds, median round shown.\n\n", calls, callers, rounds)
	fmt.Fprintln(w, "| server | calls/s | × no auth | CPU µs/call | p50 | p99 | failed calls |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|")
	var base float64
	for i, v := range variants {
		rs := results[i]
		slices.SortFunc(rs, func(a, b e2eResult) int { return cmp.Compare(a.elapsed, b.elapsed) })
		r := rs[len(rs)/2]
		var failed int64
		for _, x := range rs {
			failed += x.failures
		}
		rate := float64(r.calls) / r.elapsed.Seconds()
		if base == 0 {
			base = rate
		}
		fmt.Fprintf(w, "| %s | %.0f | %.2f× | %.1f | %s | %s | %d |\n", v.name, rate, rate/base,
			float64(r.cpu.Microseconds())/float64(r.calls), r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), failed)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CPU µs/call is the process's CPU time (client and server share the process) over the calls; "+
		"its difference from the no-authentication row is what authentication costs per call.")
	fmt.Fprintln(w)
	return nil
}
