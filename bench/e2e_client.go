package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
)

// clientEnv, set in the environment of a child process, makes this program
// the end-to-end run's client (clientMain) instead of the benchmark.
const clientEnv = "GRPCAUTH_BENCH_E2E_CLIENT"

// clientJob is what the parent sends the client process: one JSON line.
type clientJob struct {
	Addr           string
	Calls, Callers int
	Tokens         []string
	// Rate, when not zero, paces the calls: together the callers start
	// Rate calls a second, each on its own fixed schedule.
	Rate float64
}

// clientResult is what the client process sends back: one JSON line.
type clientResult struct {
	Elapsed, P50, P99, CPU time.Duration
	Failures               int64
	Err                    string
}

// clientProc is a running client process.
type clientProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startClient starts this program as a client process and sends it job.
func startClient(ctx context.Context, job clientJob) (*clientProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), clientEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &clientProc{cmd: cmd, in: in, out: bufio.NewReader(out)}
	if err := json.NewEncoder(in).Encode(job); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// waitWarm waits until the client has made its warm-up calls.
func (c *clientProc) waitWarm() error {
	line, err := c.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("client process: %w", err)
	}
	if line != "warm\n" {
		return errors.New("client process: " + line)
	}
	return nil
}

// run starts the timed calls and returns the client's result.
func (c *clientProc) run() (clientResult, error) {
	var r clientResult
	if _, err := io.WriteString(c.in, "go\n"); err != nil {
		return r, err
	}
	line, err := c.out.ReadBytes('\n')
	if err != nil {
		return r, fmt.Errorf("client process: %w", err)
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return r, err
	}
	if r.Err != "" {
		return r, errors.New(r.Err)
	}
	return r, nil
}

func (c *clientProc) close() {
	c.in.Close()
	if c.cmd.Wait() != nil {
		c.cmd.Process.Kill()
	}
}

// clientMain is the client process: it reads a clientJob from stdin, makes
// one warm-up call per caller, prints "warm", waits for "go", makes the
// calls and prints a clientResult.
func clientMain() {
	in := bufio.NewReader(os.Stdin)
	var job clientJob
	line, err := in.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &job)
	}
	if err != nil {
		fatal(err)
	}
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) {
		out.Encode(clientResult{Err: err.Error()})
		os.Exit(1)
	}
	conn, err := grpc.NewClient(job.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	client := itemsv1.NewItemServiceClient(conn)
	call := func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+job.Tokens[i%len(job.Tokens)])
		resp, err := client.ListItems(ctx, &itemsv1.ListItemsRequest{})
		if err == nil && len(resp.GetItems()) == 0 {
			err = errors.New("empty response")
		}
		return err
	}
	for i := range job.Callers {
		if err := call(i); err != nil {
			fail(fmt.Errorf("warm-up call failed: %w", err))
		}
	}
	fmt.Println("warm")
	if line, err := in.ReadString('\n'); err != nil || line != "go\n" {
		os.Exit(1)
	}

	cpu0 := cpuTime()
	var next, failures atomic.Int64
	lat := make([][]time.Duration, job.Callers)
	var wg sync.WaitGroup
	timed := func(c int) {
		t0 := time.Now()
		if call(c) != nil {
			failures.Add(1)
		}
		lat[c] = append(lat[c], time.Since(t0))
	}
	start := time.Now()
	for c := range job.Callers {
		wg.Go(func() {
			if job.Rate > 0 {
				// Caller c makes calls c, c+Callers, c+2*Callers, ... of
				// the schedule, call i due at start + i/Rate.
				for i := c; i < job.Calls; i += job.Callers {
					due := start.Add(time.Duration(float64(i) / job.Rate * float64(time.Second)))
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
					timed(c)
				}
				return
			}
			for next.Add(1) <= int64(job.Calls) {
				timed(c)
			}
		})
	}
	wg.Wait()
	r := clientResult{Elapsed: time.Since(start), CPU: cpuTime() - cpu0, Failures: failures.Load()}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r.P50, r.P99 = all[len(all)/2], all[len(all)*99/100]
	out.Encode(r)
}

// perCall is d over n calls, in microseconds.
func perCall(d time.Duration, n int) float64 {
	return float64(d.Nanoseconds()) / 1e3 / float64(n)
}

// pairOnly is the -pair flag: the end-to-end run times only the server
// without authentication and grpcauth with its cache on (the default), so
// that many rounds fit in little time.
var pairOnly bool

// controls is the -controls flag: the end-to-end run also times the two
// control servers of controlVariants, to split what grpcauth costs a call
// into the interceptor's presence, its own work and the verifier's.
var controls bool

// onlyVariant is the -variant flag: when set, the end-to-end run starts
// only the one server whose name contains it (see selectVariant).
var onlyVariant string

// serverProfile is the -serverprofile flag: a file name prefix for CPU
// profiles of the server process during each variant's timed calls.
var serverProfile string

// startServerProfile starts a CPU profile for variant when -serverprofile
// is set; the profiles of every round of a variant go to one file each
// (the last round's).
func startServerProfile(variant string) (stop func(), err error) {
	if serverProfile == "" {
		return func() {}, nil
	}
	name := serverProfile + "-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(variant)) + ".pprof"
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// callRate is the -rate flag: when not zero, the end-to-end client paces its
// callers to this many calls a second in total.
var callRate float64
