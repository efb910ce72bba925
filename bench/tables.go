package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var errAccepted = errors.New("accepted a token it must reject")

// entry is one line of a row group: something to time, returning an error
// when it gives the wrong verdict.
type entry struct {
	name   string
	fn     func() error
	hidden bool // timed for the ratio only (the RS256 check beside a rejection row)
}

// costTable times every library on every row and prints one Markdown table.
// Each row group (a token) times its baseline and every library -count
// times, interleaved, and shows each one's median, so a burst of load on
// the machine hits every verifier alike.
func costTable(ctx context.Context, w io.Writer, f *fixture, libs []library, verbose bool) error {
	fmt.Fprintf(w, "## Token verification cost\n\n")
	fmt.Fprintln(w, "| token | verifier | ns/op | CPU ns/op | B/op | allocs/op | × sig check |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|")
	var reasons []string
	groups := append(append([]string{}, algs...), rejections...)
	for _, g := range groups {
		v, valid := f.valid[g]
		label, token := g+" valid", v.token
		if !valid {
			v, label, token = f.valid["RS256"], g, f.rejected[g]
		}
		jb, err := jwxBaseline(v)
		if err != nil {
			return err
		}
		entries := []entry{{name: "signature check only (jwx jws.Verifier)", fn: jb, hidden: !valid}}
		if valid {
			sb, err := stdlibBaseline(v)
			if err != nil {
				return err
			}
			entries = append(entries, entry{name: "signature check only (crypto/* stdlib)", fn: sb})
		}
		var closers []func()
		closeAll := func() {
			for _, c := range closers {
				c()
			}
		}
		for _, lib := range libs {
			fn, reason, closeFn, err := openForRow(ctx, f, lib, token, valid)
			if err != nil {
				closeAll()
				return err
			}
			closers = append(closers, closeFn)
			entries = append(entries, entry{name: lib.name, fn: fn})
			if !valid {
				reasons = append(reasons, fmt.Sprintf("- %s / %s: %s", g, lib.name, oneLine(reason)))
			}
		}
		results := measureGroup(entries)
		closeAll()
		base := cpuPerOp(results[0])
		for i, e := range entries {
			if !e.hidden {
				row(w, label, e.name, results[i], base)
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ns/op is wall time. CPU ns/op is the process's CPU time (user+system) over the same run: it includes the "+
		"garbage collector's work on the other core, and stays steady when other programs load the machine, so the ratio "+
		"and the median use it.")
	fmt.Fprintln(w, "× sig check: CPU ns/op over that of the jwx signature check of the same algorithm, timed in the same row "+
		"group (for a rejected token: the RS256 check, timed beside it).")
	fmt.Fprintln(w)
	if verbose {
		fmt.Fprintln(w, "Rejection errors:")
		fmt.Fprintln(w)
		fmt.Fprintln(w, strings.Join(reasons, "\n"))
		fmt.Fprintln(w)
	}
	return nil
}

// measureGroup times every entry count times, round-robin, and returns each
// entry's median run.
func measureGroup(entries []entry) []measured {
	runs := make([][]measured, len(entries))
	for range count {
		for i, e := range entries {
			runs[i] = append(runs[i], measure(e.fn))
		}
	}
	out := make([]measured, len(entries))
	for i, rs := range runs {
		slices.SortFunc(rs, func(a, b measured) int { return cmp.Compare(cpuPerOp(a), cpuPerOp(b)) })
		out[i] = rs[len(rs)/2]
		for _, r := range rs {
			if r.err != nil {
				out[i].err = r.err
			}
		}
	}
	return out
}

// openForRow opens a fresh warmed instance of lib, checks its verdict on
// token once (returning the rejection error's text), and returns the
// function to time, which fails on a wrong verdict.
func openForRow(ctx context.Context, f *fixture, lib library, token string, valid bool) (func() error, string, func(), error) {
	verify, closeFn, err := openWarm(ctx, lib, f)
	if err != nil {
		return nil, "", nil, err
	}
	first := verify(ctx, token)
	switch {
	case valid && first != nil:
		closeFn()
		return nil, "", nil, fmt.Errorf("%s rejected a valid token: %w", lib.name, first)
	case !valid && first == nil:
		closeFn()
		return nil, "", nil, fmt.Errorf("%s accepted a token it must reject", lib.name)
	}
	reason := ""
	if first != nil {
		reason = first.Error()
	}
	fn := func() error {
		err := verify(ctx, token)
		if valid {
			return err
		}
		if err == nil {
			return errAccepted
		}
		return nil
	}
	return fn, reason, closeFn, nil
}

// cpuPerOp is the process CPU time per operation of m's reported run.
func cpuPerOp(m measured) float64 {
	if m.r.N == 0 {
		return 0
	}
	return float64(m.cpu.Nanoseconds()) / float64(m.r.N)
}

func nsPerOp(m measured) float64 {
	if m.r.N == 0 {
		return 0
	}
	return float64(m.r.T.Nanoseconds()) / float64(m.r.N)
}

func row(w io.Writer, token, name string, m measured, base float64) {
	if m.err != nil || m.r.N == 0 {
		fmt.Fprintf(w, "| %s | %s | FAILED: %v | | | | |\n", token, name, m.err)
		return
	}
	cpu := cpuPerOp(m)
	fmt.Fprintf(w, "| %s | %s | %.0f | %.0f | %d | %d | %.2f× |\n",
		token, name, nsPerOp(m), cpu, m.r.AllocedBytesPerOp(), m.r.AllocsPerOp(), cpu/base)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// unknownKidTable counts the JWKS requests each library makes at the issuer
// while rejecting n well-signed tokens whose kids are distinct and unknown,
// after warm-up: once one token at a time, once from callers concurrent
// goroutines (each run on a fresh instance).
func unknownKidTable(ctx context.Context, w io.Writer, f *fixture, libs []library, n, callers int) error {
	tokens := make([]string, n)
	for i := range tokens {
		var err error
		if tokens[i], err = f.unknownKid(randomKid()); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "## JWKS requests while rejecting %d unknown-kid tokens\n\n", n)
	fmt.Fprintf(w, "Each token has a distinct random kid, and each call a deadline of %s; counted at the issuer after warm-up (the key set was fetched moments before).\n\n", unknownKidDeadline)
	fmt.Fprintf(w, "| verifier | requests, sequential | wall time | requests, %d callers | wall time | accepted | behaviour on an unknown kid |\n", callers)
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|---|")
	for _, lib := range libs {
		seq, err := rejectAll(ctx, f, lib, tokens, 1)
		if err != nil {
			return err
		}
		con, err := rejectAll(ctx, f, lib, tokens, callers)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "| %s | %d | %s | %d | %s | %d | %s |\n", lib.name,
			seq.requests, seq.elapsed.Round(time.Millisecond), con.requests, con.elapsed.Round(time.Millisecond),
			seq.accepted+con.accepted, lib.rateLimit)
	}
	fmt.Fprintln(w)
	return nil
}

type rejectRun struct {
	requests, accepted int64
	elapsed            time.Duration
}

// rejectAll verifies every token on a fresh warmed instance of lib from
// callers goroutines and counts the JWKS requests the issuer served
// meanwhile.
// unknownKidDeadline is each call's deadline in the unknown-kid table, as
// an RPC's would be: grpcauth's verifier lets a call with an unknown kid
// wait, within its deadline, for the next key-set fetch the rate limit
// allows (docs/key-set.md), so without one, 1,000 sequential forged kids
// would take 1,000 refresh intervals.
const unknownKidDeadline = 20 * time.Millisecond

func rejectAll(ctx context.Context, f *fixture, lib library, tokens []string, callers int) (rejectRun, error) {
	verify, closeFn, err := openWarm(ctx, lib, f)
	if err != nil {
		return rejectRun{}, err
	}
	defer closeFn()
	var next, accepted atomic.Int64
	before := f.requests()
	start := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(tokens)); i = next.Add(1) - 1 {
				callCtx, cancel := context.WithTimeout(ctx, unknownKidDeadline)
				if verify(callCtx, tokens[i]) == nil {
					accepted.Add(1)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	return rejectRun{requests: f.requests() - before, accepted: accepted.Load(), elapsed: time.Since(start)}, nil
}
